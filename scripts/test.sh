#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite: a release build
# (contract checks) and an ASan+UBSan build with every check on.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
for preset in release asan; do
  echo "== pagekv: ${preset} build and tests ==" >&2
  cmake --workflow --preset "ci$([[ $preset == asan ]] && echo -asan || true)"
done
# A short bounded fuzz run (about 10 s per target, clang + libFuzzer); a
# longer one is `scripts/fuzz.sh [seconds]`.
echo "== pagekv: fuzz (10 s per target) ==" >&2
scripts/fuzz.sh 10
