#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run test suites and add up their closing "N passed, N failed" lines.
#   tests/run.sh NAME=COMMAND...
# A suite that ends without such a line counts as one failure.

set -u
total_pass=0
total_fail=0
summary=""

for suite in "$@"; do
	name=${suite%%=*}
	cmd=${suite#*=}
	echo "=== $name: $cmd"
	start=$(date +%s)
	log=$(mktemp)
	bash -c "$cmd" 2>&1 | tee "$log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	rm -f "$log"
	if [ -z "$line" ]; then
		line="0 passed, 1 failed (no closing line)"
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	summary="$summary$(printf '%-10s %s (%ss)' "$name" "$line" $(($(date +%s) - start)))\n"
done

echo "=== summary"
printf "%b" "$summary"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
