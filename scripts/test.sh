#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite: a release build
# (contract checks) and an ASan+UBSan build with every check on, then a short
# bounded fuzz run. Ends with one line "pagekv: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
# --- Python package (python/): built and tested by the ci workflow's ctest
# (python_tests, example_engine_loop_py) against Debian's interpreter, which
# CMake picks explicitly, whatever python3 comes first on PATH.
echo "== pagekv: Python package for /usr/bin/python3 ($(/usr/bin/python3 --version 2>&1)) ==" >&2
# --- end Python package
for workflow in ci ci-asan; do
  echo "== pagekv: workflow ${workflow} (configure, build, test) ==" >&2
  cmake --workflow --preset "${workflow}" 2>&1 | tee -a "${log}"
done
# A short bounded fuzz run (about 10 s per target, clang + libFuzzer); a
# longer one is `scripts/fuzz.sh [seconds]`.
echo "== pagekv: fuzz (10 s per target) ==" >&2
scripts/fuzz.sh 10
# Both ctest runs passed (set -e and pipefail stop on a failure); add them up.
passed=$(grep -oE '[0-9]+ tests failed out of [0-9]+' "${log}" |
         awk '{n += $NF} END {print n + 0}')
echo "pagekv: ${passed} passed, 0 failed"
