#!/bin/sh
# A long fuzzing run over the harnesses of tests/fuzz (see tests/fuzz/README.md), after ./setup.sh test has
# made build-asan:   sh scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Each target runs SECONDS_PER_TARGET (default 600) on its work folder and checked-in seeds, then prints
# libFuzzer's final statistics (executions, edge coverage). Exit status 1 when a target found something.
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-600}"
[ $# -gt 0 ] && shift
targets="${*:-safetensors config tokenizer_load tokenizer_roundtrip chat image video}"
export VF_TEST_DATA="$PWD/tests/data"
rc=0
for t in $targets; do
  exe="build-asan/tests/fuzz/fuzz-$t"
  [ -x "$exe" ] || { echo "fuzz.sh: $exe missing: run ./setup.sh test first" >&2; exit 2; }
  mkdir -p "build-asan/tests/fuzz/work/$t"
  dict=""
  [ -f "tests/fuzz/dict/$t.dict" ] && dict="-dict=tests/fuzz/dict/$t.dict"
  echo "== $t: $seconds s"
  # shellcheck disable=SC2086
  "$exe" "build-asan/tests/fuzz/work/$t" "tests/fuzz/corpus/$t" -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="build-asan/tests/fuzz/crash-$t-" $dict 2>&1 |
    grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|crash-' || true
  ls build-asan/tests/fuzz/crash-"$t"-* >/dev/null 2>&1 && rc=1
done
exit $rc
