#!/usr/bin/env bash
# Regenerates the report screenshots the README shows (docs/img/report-*.png):
# renders `pagekv simulate --html` on the whole built-in workload and on the
# shipped Mooncake trace in headless Chromium, checks each page as the
# report_browser test does, and saves the laptop view (whole page) and the
# first screen on a phone. Commit the PNGs when they change.
#   scripts/report_screenshots.sh [PAGEKV_BINARY]
# Without a binary, builds the CLI with the `app` preset first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
if [[ -z "${bin}" ]]; then
  scripts/setup.sh
  cmake --preset app >/dev/null
  cmake --build --preset app
  bin=build/app/tools/pagekv
fi
mkdir -p docs/img
/usr/bin/python3 tests/browser/check_reports.py --pagekv "${bin}" \
  --max-requests 0 --screenshots docs/img
ls -l docs/img/report-*.png
