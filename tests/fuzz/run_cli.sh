#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run fuzz_cli (libFuzzer) for SECONDS from the seeds in corpus/cli, as
# one check. New inputs go to a scratch directory; a crash, leak,
# sanitizer report or broken property leaves crash-* (or leak-*) in
# FUZZ_OUT (this directory).
#   tests/fuzz/run_cli.sh SECONDS

set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
secs=${1:-20}
out=${FUZZ_OUT:-$here}
work=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$work" "$log"' EXIT

rc=0
"$here/fuzz_cli" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -use_value_profile=1 -artifact_prefix="$out/" -dict="$here/cli.dict" \
	"$work" "$here/corpus/cli" >"$log" 2>&1 || rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
if [ $rc = 0 ] && [ "${runs:-0}" -gt 0 ]; then
	ok "fuzz_cli: $runs inputs in $secs s ($cov edges), no crash, leak, sanitizer report or broken property"
else
	grep -E 'ERROR|SUMMARY|property|Test unit written' "$log" | head -n 20
	not_ok "fuzz_cli" "exit $rc: $(grep -m1 -E 'ERROR|property' "$log")"
fi
summary
