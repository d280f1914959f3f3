#!/usr/bin/env bash
# Installs dependencies, builds the pagekv CLI (release) and runs the main job:
# the simulator on the built-in workload, comparing paged allocation with
# contiguous baselines. Extra arguments go to `pagekv simulate`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset app >/dev/null
cmake --build --preset app
mkdir -p out
exec build/app/tools/pagekv simulate --html out/report.html --json out/report.json \
  --csv out/timeline.csv "$@"
