#!/usr/bin/env bash
# Renders a `pagekv simulate --html` report in headless Chromium and checks
# the screenshot is a non-empty PNG. Skips (exit 0) when chromium is missing.
#   scripts/check_html.sh [PAGEKV_BINARY]   (default: build/dev/tools/pagekv)
set -euo pipefail
bin="${1:-build/dev/tools/pagekv}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "${browser}" ]]; then
  echo "check_html: chromium not installed; skipped"
  exit 0
fi
dir="$(mktemp -d)"
trap 'rm -rf "${dir}"' EXIT
"${bin}" simulate --max-requests 200 --html "${dir}/report.html" >/dev/null
grep -q '<svg' "${dir}/report.html"
"${browser}" --headless --no-sandbox --disable-gpu --window-size=1000,3000 \
  --screenshot="${dir}/report.png" "file://${dir}/report.html" >/dev/null 2>&1
size="$(stat -c %s "${dir}/report.png" 2>/dev/null || echo 0)"
if [[ "${size}" -lt 10000 ]] || \
   [[ "$(head -c 8 "${dir}/report.png" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]]; then
  echo "check_html: screenshot missing or too small (${size} bytes)" >&2
  exit 1
fi
echo "check_html: rendered, ${size}-byte PNG"
