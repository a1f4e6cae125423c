#!/usr/bin/env python3
"""Prints meson's test results of one or more builds as one line, 'N passed, N failed, N skipped'.

Usage: test_summary.py TESTLOG.json [TESTLOG.json ...]. Exit status 1 when a test failed or when no test
ran at all."""
import json
import sys

counts = {}
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as log:
        for line in log:
            if line.strip():
                result = json.loads(line)["result"]
                counts[result] = counts.get(result, 0) + 1

passed = counts.get("OK", 0) + counts.get("EXPECTEDFAIL", 0)
failed = sum(counts.get(k, 0) for k in ("FAIL", "UNEXPECTEDPASS", "TIMEOUT", "ERROR"))
skipped = counts.get("SKIP", 0)
if passed + failed == 0:
    failed = 1
    print("no test ran", file=sys.stderr)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
