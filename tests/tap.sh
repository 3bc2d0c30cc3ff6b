# SPDX-License-Identifier: GPL-2.0
#
# Test output shared by the shell test suites: one "ok N - name" or
# "not ok N - name: why" line per check, and "N passed, N failed" last.

passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok $((passed + failed)) - $1"
}

not_ok() {
	failed=$((failed + 1))
	echo "not ok $((passed + failed)) - $1: $2"
}

# check NAME COMMAND...: ok when COMMAND succeeds, else show its output
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$name${out:+ ($out)}"
	else
		not_ok "$name" "$(echo "$out" | head -n 5)"
	fi
}

# summary: the closing line; the exit status says whether all passed
summary() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}

# await NAME PATTERN FILE [LINE]: ok once FILE has a line matching
# PATTERN after its first LINE lines, polling for up to 8 s
await() {
	local from=$((${4:-0} + 1)) i
	for i in $(seq 80); do
		tail -n +$from "$3" | grep -q -e "$2" && break
		sleep 0.1
	done
	check "$1" sh -c "tail -n +$from '$3' | grep -q -e '$2'"
}
