#!/usr/bin/env python3
"""Renders every HTML report the pagekv CLI writes in headless Chromium and
checks the rendered pages.

For each report (REPORTS below) it runs `pagekv simulate ... --json --html`,
loads the page at a laptop width (1366 px) and a phone width (390 px, mobile
emulation) and fails when:
  - a chart the data calls for is missing, blank, or its title, axis labels
    (with units), legend (one entry per series) or bar values do not match
    the JSON written by the same run;
  - an axis has ticks that are not round numbers (1, 2 or 5 x 10^k steps);
  - text overflows its chart or box, or two labels overlap;
  - the page scrolls sideways, text is smaller than 9 px, or the phone
    viewport is not the device width;
  - the console shows an error, a script throws, or the browser makes any
    network request besides the report file itself (the page must be
    self-contained).

  check_reports.py --pagekv BIN [--trace FILE] [--max-requests N]
                   [--screenshots DIR]
  check_reports.py --selftest     # the checks catch a broken page

Exits 0 when every check passes, 1 listing every failure otherwise (also
when Chromium is not installed: install it with scripts/setup.sh).
"""

import argparse
import base64
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
PROBE = (HERE / "page_probe.js").read_text()

# Viewports: (name, width, height, mobile emulation).
VIEWPORTS = [("laptop", 1366, 768, False), ("phone", 390, 844, True)]
MIN_FONT_PX = 9

PARTS = ["token states", "reserved", "internal frag.", "external frag.",
         "cached", "free"]


# ---------------------------------------------------------------------------
# What each report must show, derived from the JSON of the same run.

def simulate_expectations(data):
    """The charts and table of a `pagekv simulate --html` page."""
    results = data["results"]
    allocs = [r["allocator"] for r in results]
    time_axes = {"xlabel": "time (s)"}
    charts = []
    for r in results:
        # Preemptions and rejections are marked, with a legend entry each,
        # on the run's memory chart.
        events = {"preemption": r["preemptions"] > 0,
                  "rejection": r["rejected"] > 0}
        charts.append({"title": f"KV memory over time: {r['allocator']}",
                       "legend": PARTS + [k for k, v in events.items() if v],
                       "events": events, "ylabel": "% of KV memory",
                       "shared_time": True, **time_axes})
    charts.append({"title": "Sequences per step", "legend": allocs,
                   "ylabel": "sequences", "shared_time": True, **time_axes})
    charts.append({"title": "Waiting requests", "legend": allocs,
                   "ylabel": "requests", "shared_time": True, **time_axes})
    for name in ("TTFT", "TPOT"):
        unit = re.compile(rf"^{name} \((s|ms)(, log scale)?\)$")
        charts.append({"title": f"{name} (CDF)", "legend": allocs,
                       "xlabel": unit, "ylabel": "% of requests"})
    charts.append({"title": "Mean KV memory by allocator", "legend": PARTS,
                   "cats": allocs})
    charts.append({"title": "Mean batch size (sequences per step)",
                   "cats": allocs, "ylabel": "sequences",
                   "values": [r["mean_batch_size"] for r in results]})
    charts.append({"title": "Output throughput (tokens/s)", "cats": allocs,
                   "ylabel": "tokens/s",
                   "values": [r["output_throughput"] for r in results]})
    table = {"first_column": allocs,
             "columns": {"completed": [r["completed"] for r in results],
                         "rejected": [r["rejected"] for r in results],
                         "preemptions": [r["preemptions"] for r in results]}}
    return {"charts": charts, "table": table}


def reports(args):
    """(name, pagekv arguments, expectations, viewports kept as screenshots)
    of every report the CLI writes. A new report type adds a row here and,
    if its charts differ, an expectations function like
    simulate_expectations."""
    n = ["--max-requests", str(args.max_requests)]
    trace = ["--workload", args.trace, "--format", "mooncake"]
    # Half a GiB of KV (4096 llama-3-8b tokens): long requests are rejected
    # and the rest preempt each other, so both kinds of marks are drawn.
    tight = ["--kv-memory-gib", "0.5"]
    return [
        ("allocators", ["simulate", "--allocator", "all", *n],
         simulate_expectations, ("laptop", "phone")),
        ("single", ["simulate", "--allocator", "paged", *n],
         simulate_expectations, ()),
        ("trace", ["simulate", "--allocator", "all", *trace, *n],
         simulate_expectations, ("laptop",)),
        ("tight", ["simulate", "--allocator", "paged", *tight, *n],
         simulate_expectations, ()),
    ]


# ---------------------------------------------------------------------------
# Comparing what the page shows with what it should.

def close(shown, want):
    """A bar label (3 significant digits, or an integer) matches the value."""
    try:
        v = float(shown)
    except (TypeError, ValueError):
        return False
    return math.isclose(v, want, rel_tol=5e-3, abs_tol=5e-3)


def matches(shown, want):
    return bool(want.match(shown or "")) if hasattr(want, "match") else \
        shown == want


def check_chart(where, chart, want, fails):
    for key in ("xlabel", "ylabel"):
        if key in want and not matches(chart[key], want[key]):
            fails.append(f"{where}: {key} is {chart[key]!r}, want "
                         f"{getattr(want[key], 'pattern', want[key])!r}")
    if ("xlabel" in want or "ylabel" in want) and not (chart["xticks"] or
                                                       chart["yticks"]):
        fails.append(f"{where}: axes have no ticks")
    if "legend" in want:
        labels = [item["label"] for item in chart["legend"]]
        if labels != want["legend"]:
            fails.append(f"{where}: legend {labels}, want {want['legend']} "
                         f"({len(want['legend'])} series)")
        colors = [item["color"] for item in chart["legend"]]
        if len(set(colors)) != len(colors):
            fails.append(f"{where}: legend repeats a colour: {colors}")
    if "cats" in want and chart["cats"] != want["cats"]:
        fails.append(f"{where}: categories {chart['cats']}, want "
                     f"{want['cats']}")
    if "values" in want:
        vals = chart["values"]
        if len(vals) != len(want["values"]) or not all(
                close(s, w) for s, w in zip(vals, want["values"])):
            fails.append(f"{where}: bar values {vals}, want "
                         f"{[round(v, 3) for v in want['values']]}")
    for kind, drawn in want.get("events", {}).items():
        count = chart["event_marks"][kind]
        if drawn != (count > 0):
            fails.append(f"{where}: {count} {kind} marks, want "
                         f"{'some' if drawn else 'none'}")
    if chart["min_font_px"] < MIN_FONT_PX:
        fails.append(f"{where}: text rendered at {chart['min_font_px']:.1f} "
                     f"px, below {MIN_FONT_PX} px")


def check_table(where, tables, want, fails):
    if len(tables) != 1:
        return fails.append(f"{where}: {len(tables)} tables, want 1")
    t = tables[0]
    first = [row[0] for row in t["rows"]]
    if first != want["first_column"]:
        fails.append(f"{where}: table rows {first}, want "
                     f"{want['first_column']}")
    for col, values in want["columns"].items():
        if col not in t["headers"]:
            fails.append(f"{where}: table has no column {col!r}")
            continue
        i = t["headers"].index(col)
        shown = [row[i] for row in t["rows"]]
        if shown != [str(v) for v in values]:
            fails.append(f"{where}: column {col!r} shows {shown}, want "
                         f"{values}")


def check_page(where, page, want, viewport, fails):
    """Generic failures of the probe plus the page against `want`."""
    _, width, _, mobile = viewport
    fails += [f"{where}: {f}" for f in page["failures"]]
    if page["inner_width"] != width:
        fails.append(f"{where}: layout viewport is {page['inner_width']} px, "
                     f"want the device width {width} (viewport meta tag?)")
    if page["scroll_width"] > page["inner_width"]:
        fails.append(f"{where}: page scrolls sideways ({page['scroll_width']}"
                     f" px wide in a {page['inner_width']} px viewport)")
    if not mobile:
        for box in page["scrolled"]:
            fails.append(f"{where}: {box['what']!r} is {box['content']} px "
                         f"wide in a {box['box']} px box: it scrolls sideways "
                         "at a laptop width")
    if page["body_font_px"] < 12:
        fails.append(f"{where}: body text {page['body_font_px']} px")
    titles = [c["title"] for c in page["charts"]]
    want_titles = [c["title"] for c in want["charts"]]
    if titles != want_titles:
        fails.append(f"{where}: charts {titles}, want {want_titles}")
    if page["svg_count"] != len(page["charts"]):
        fails.append(f"{where}: {page['svg_count']} <svg>, "
                     f"{len(page['charts'])} marked as charts")
    by_title = {c["title"]: c for c in page["charts"]}
    for w in want["charts"]:
        if w["title"] in by_title:
            check_chart(f"{where} chart \"{w['title']}\"",
                        by_title[w["title"]], w, fails)
    shared = [by_title[w["title"]] for w in want["charts"]
              if w.get("shared_time") and w["title"] in by_title]
    for c in shared[1:]:
        if c["xticks"] != shared[0]["xticks"]:
            fails.append(f"{where}: chart \"{c['title']}\" has time ticks "
                         f"{c['xticks']}, \"{shared[0]['title']}\" "
                         f"{shared[0]['xticks']}: the time axis is not shared")
    check_table(where, page["tables"], want["table"], fails)


def check_events(where, events, session, url, fails):
    """Console errors, exceptions and network requests seen by the page."""
    for e in events:
        if e.get("sessionId") != session:
            continue
        m, p = e.get("method"), e.get("params", {})
        if m == "Network.requestWillBeSent" and p["request"]["url"] != url:
            fails.append(f"{where}: network request to {p['request']['url']}"
                         " (the report must be self-contained)")
        elif m == "Runtime.consoleAPICalled" and p["type"] in ("error",
                                                               "assert"):
            args = " ".join(str(a.get("value", a.get("description", "")))
                            for a in p.get("args", []))
            fails.append(f"{where}: console {p['type']}: {args}")
        elif m == "Runtime.exceptionThrown":
            fails.append(f"{where}: exception: "
                         f"{p['exceptionDetails'].get('text')}")
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            fails.append(f"{where}: console error: {p['entry']['text']}")


# ---------------------------------------------------------------------------
# Driving the browser.

def render(browser, path, viewport, screenshot=None):
    """Loads `path` at `viewport`; returns (probe result, session, url).
    With `screenshot`, also saves a PNG there: the whole page at a laptop
    width, the first screen on a phone."""
    _, width, height, mobile = viewport
    target = browser.call("Target.createTarget", {"url": "about:blank"})
    session = browser.call("Target.attachToTarget", {
        "targetId": target["targetId"], "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Network", "Log"):
        browser.call(f"{domain}.enable", session=session)
    browser.call("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1,
        "mobile": mobile}, session=session)
    url = pathlib.Path(path).resolve().as_uri()
    browser.call("Page.navigate", {"url": url}, session=session)
    browser.wait_event("Page.loadEventFired", session)
    result = browser.call("Runtime.evaluate", {
        "expression": PROBE, "returnByValue": True}, session=session)
    if "exceptionDetails" in result:
        raise cdp.BrowserError(f"probe failed: {result['exceptionDetails']}")
    if screenshot:
        shot = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": not mobile},
            session=session)
        pathlib.Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
    browser.call("Target.closeTarget", {"targetId": target["targetId"]})
    return result["result"]["value"], session, url


def run_pagekv(binary, argv, out_dir, name):
    json_path = out_dir / f"{name}.json"
    html_path = out_dir / f"{name}.html"
    cmd = [binary, *argv, "--json", str(json_path), "--html", str(html_path)]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: "
                           f"{done.stderr.strip()}")
    return json.loads(json_path.read_text()), html_path


def check_reports(args, browser):
    fails = []
    with tempfile.TemporaryDirectory(prefix="pagekv-reports-") as tmp:
        for name, argv, expect, shots in reports(args):
            data, html = run_pagekv(args.pagekv, argv, pathlib.Path(tmp), name)
            want = expect(data)
            for viewport in VIEWPORTS:
                shot = None
                if args.screenshots and viewport[0] in shots:
                    suffix = "" if viewport[0] == "laptop" else "-phone"
                    shot = pathlib.Path(args.screenshots) / \
                        f"report-{name}{suffix}.png"
                where = f"[{name} @ {viewport[0]} {viewport[1]}px]"
                start = len(browser.events)
                page, session, url = render(browser, html, viewport, shot)
                check_page(where, page, want, viewport, fails)
                check_events(where, browser.events[start:], session, url,
                             fails)
            print(f"check_reports: {name}: {len(want['charts'])} charts at "
                  f"{', '.join(str(v[1]) for v in VIEWPORTS)} px")
    return fails


# A page with one of each defect the checks exist to catch.
BROKEN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head>
<body style="font-size:10px">
<svg class="chart" width="200" height="100" viewBox="0 0 200 100">
<text class="t" x="10" y="15">Broken chart</text>
<g class="legend"><g class="item"><rect fill="#ff0000" width="5"
 height="5"/><text x="0" y="30">series</text></g></g>
<g class="marks"></g>
<text class="xtick" x="20" y="90">0</text><text class="xtick" x="60"
 y="90">3</text><text class="xtick" x="100" y="90">7</text>
<text class="ytick" x="5" y="80">0</text><text class="ytick" x="5"
 y="60">3</text><text class="ytick" x="5" y="40">6</text>
<text x="150" y="50">a label far too long to fit in this chart</text>
<text x="100" y="25">AAAA</text><text x="102" y="26">BBBB</text>
<text x="120" y="70" style="font-size:5px">tiny</text>
<text class="value" x="170" y="90">2.00</text>
</svg>
<svg class="chart" data-kind="cdf" data-xscale="log" width="300"
 height="100" viewBox="0 0 300 100">
<text class="t" x="10" y="15">Squashed CDF</text>
<line class="ax" x1="20" y1="80" x2="280" y2="80" stroke="#000"/>
<g class="marks"><polyline points="20,80 21,20" fill="none"
 stroke="#000"/></g>
<text class="xtick" x="20" y="95">1</text><text class="xtick" x="120"
 y="95">10</text><text class="xtick" x="220" y="95">1000</text>
</svg>
<table><tr><th>allocator</th></tr><tr><td>paged</td></tr></table>
<div style="width:2000px">wide</div>
<img src="http://127.0.0.1:9/tracker.png">
<script>console.error("broken on purpose")</script>
</body></html>
"""

# What the self-test requires the checks to report for BROKEN_PAGE.
BROKEN_FINDINGS = [
    "blank drawing area", "overflows the chart", "unevenly spaced",
    "colour no mark uses", "extends past", "page scrolls sideways",
    "layout viewport is", "body text", "network request to",
    "console error", "legend", "charts [", "is not 1, 2 or 5", "overlaps",
    "below 9 px", "bar values", "of a 260 px axis",
    "not successive powers of ten",
]


def selftest(browser):
    """The checks report every defect of BROKEN_PAGE (so they can fail)."""
    want = {"charts": [{"title": "Broken chart", "legend": ["a", "b"],
                        "xlabel": "time (s)", "values": [1.0]},
                       {"title": "Squashed CDF"}, {"title": "Missing chart"}],
            "table": {"first_column": ["paged"], "columns": {}}}
    fails = []
    with tempfile.TemporaryDirectory(prefix="pagekv-selftest-") as tmp:
        path = pathlib.Path(tmp) / "broken.html"
        path.write_text(BROKEN_PAGE)
        viewport = VIEWPORTS[1]
        start = len(browser.events)
        page, session, url = render(browser, path, viewport)
        found = []
        check_page("[broken]", page, want, viewport, found)
        check_events("[broken]", browser.events[start:], session, url, found)
    for needle in BROKEN_FINDINGS:
        if not any(needle in f for f in found):
            fails.append(f"selftest: no failure mentioning {needle!r} for the "
                         f"broken page; found: {found}")
    print(f"check_reports: selftest: the broken page raised {len(found)} "
          f"failures, {len(BROKEN_FINDINGS) - len(fails)} of "
          f"{len(BROKEN_FINDINGS)} kinds expected")
    return fails


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pagekv", help="the pagekv binary")
    parser.add_argument("--trace", help="a Mooncake JSONL trace",
                        default=str(HERE.parents[1] / "data" / "traces" /
                                    "mooncake" / "conversation_trace.jsonl"))
    parser.add_argument("--max-requests", type=int, default=300)
    parser.add_argument("--screenshots", help="write report-<name>.png here")
    parser.add_argument("--selftest", action="store_true")
    args = parser.parse_args()
    if not args.selftest and not args.pagekv:
        parser.error("--pagekv is required")
    chromium = cdp.find_chromium()
    if not chromium:
        print("check_reports: FAILED: chromium is not installed, so the HTML "
              "reports cannot be checked. Install the Debian package "
              "'chromium' (scripts/setup.sh does).", file=sys.stderr)
        return 1
    start = time.monotonic()
    with cdp.Browser(chromium) as browser:
        fails = selftest(browser) if args.selftest else \
            check_reports(args, browser)
    took = time.monotonic() - start
    for f in fails:
        print(f"check_reports: FAIL {f}", file=sys.stderr)
    print(f"check_reports: {'FAILED' if fails else 'passed'}, "
          f"{len(fails)} failures, {took:.1f} s")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
