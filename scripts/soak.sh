#!/usr/bin/env bash
# Soak: builds the release preset (contract checks only, so the run is about
# the workload, not the expensive checks) and runs tests/soak_test.cc for N
# seconds per configuration (default 120): millions of manager operations with
# prefix sharing and eviction pressure, Verify() and a shadow KV memory check
# every 2000 operations and at the end of every cycle, and the live heap at
# each cycle's end compared with the end of warm-up. Exits non-zero on any
# failure. The figures are printed as "[soak <config>] ..." lines.
#
#   scripts/soak.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
echo "== pagekv: building soak_test (preset release) ==" >&2
cmake --preset release >/dev/null
cmake --build --preset release --target soak_test
PAGEKV_SOAK_SECONDS="${seconds}" build/release/tests/soak_test \
  --gtest_brief=1 2>&1 | tee build/release/soak.log
grep -q "^\[  PASSED  \]" build/release/soak.log
! grep -q "FAILED" build/release/soak.log
