// Runs inside a rendered report page (Runtime.evaluate) and returns what the
// checker needs as one JSON-able object: the page's layout facts, every
// chart's title, legend, axes, ticks and drawing area, every table, and a
// list of generic failures (overflowing or overlapping text, blank charts,
// ticks that are not round, legends naming colours no mark uses).
//
// The report marks its parts with classes: svg.chart[data-kind], text.t
// (title), g.legend > g.item, text.xlabel / text.ylabel, text.xtick /
// text.ytick, g.marks (the drawn data), text.value / text.cat (bar values and
// categories).
(() => {
  const failures = [];
  const fail = (where, what) => failures.push(`${where}: ${what}`);
  const text = (el) => (el ? el.textContent.trim() : null);
  const rect = (el) => el.getBoundingClientRect();
  const slack = 1;  // px of rounding allowed in containment tests

  function inside(r, box) {
    return r.left >= box.left - slack && r.right <= box.right + slack &&
           r.top >= box.top - slack && r.bottom <= box.bottom + slack;
  }
  function overlapArea(a, b) {
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    return w > 0 && h > 0 ? w * h : 0;
  }
  // On a log axis the ticks must be successive powers of ten.
  function checkLogTicks(where, vals) {
    const exps = vals.map(Math.log10);
    for (let i = 0; i < exps.length; ++i) {
      if (!(vals[i] > 0) || Math.abs(exps[i] - Math.round(exps[i])) > 1e-9 ||
          (i > 0 && Math.abs(exps[i] - exps[i - 1] - 1) > 1e-9)) {
        return fail(where, `log axis ticks not successive powers of ten: ${vals}`);
      }
    }
  }
  // The tick values must be evenly spaced by 1, 2 or 5 times a power of ten
  // (on a log axis: successive powers of ten).
  function checkTicks(where, els, axis, log) {
    const vals = els.map((e) => Number(text(e)));
    if (els.length < 2) return fail(where, `${axis} axis has ${els.length} ticks`);
    if (vals.some((v) => !Number.isFinite(v))) {
      return fail(where, `${axis} tick not a plain number: ${els.map(text)}`);
    }
    const pos = els.map((e) => {
      const r = rect(e);
      return axis === "x" ? (r.left + r.right) / 2 : -(r.top + r.bottom) / 2;
    });
    for (let i = 1; i < vals.length; ++i) {
      if (!(vals[i] > vals[i - 1]) || !(pos[i] > pos[i - 1])) {
        return fail(where, `${axis} ticks not increasing: ${vals}`);
      }
    }
    if (log) return checkLogTicks(where, vals);
    const step = vals[1] - vals[0];
    for (let i = 2; i < vals.length; ++i) {
      if (Math.abs(vals[i] - vals[i - 1] - step) > 1e-9 * Math.abs(step) + 1e-12) {
        return fail(where, `${axis} ticks unevenly spaced: ${vals}`);
      }
    }
    const mant = step / Math.pow(10, Math.floor(Math.log10(step) + 1e-9));
    if (![1, 2, 5, 10].some((m) => Math.abs(mant - m) < 1e-6)) {
      fail(where, `${axis} tick step ${step} is not 1, 2 or 5 x 10^k`);
    }
    for (const v of vals) {
      const k = Math.round(v / step);
      if (Math.abs(v - k * step) > 1e-6 * Math.abs(step)) {
        fail(where, `${axis} tick ${v} is not a multiple of its step ${step}`);
      }
    }
  }
  function paints(el) {
    const s = getComputedStyle(el);
    return [s.fill, s.stroke].filter((c) => c && c !== "none");
  }
  function colorOf(c) {  // normalises "#1971c2" and "rgb(...)" alike
    const probe = document.createElement("div");
    probe.style.color = c;
    document.body.appendChild(probe);
    const out = getComputedStyle(probe).color;
    probe.remove();
    return out;
  }

  function probeChart(svg, index) {
    const title = text(svg.querySelector("text.t"));
    const where = `chart ${index + 1} "${title}"`;
    const box = rect(svg);
    const vb = svg.viewBox.baseVal;
    const scale = vb && vb.width ? box.width / vb.width : 1;
    const chart = {
      title, kind: svg.dataset.kind || null,
      width: box.width, height: box.height,
      xlabel: text(svg.querySelector("text.xlabel")),
      ylabel: text(svg.querySelector("text.ylabel")),
      xticks: [...svg.querySelectorAll("text.xtick")].map(text),
      yticks: [...svg.querySelectorAll("text.ytick")].map(text),
      legend: [...svg.querySelectorAll("g.legend g.item")].map((g) => ({
        label: text(g.querySelector("text")),
        color: colorOf(g.querySelector("rect").getAttribute("fill")),
      })),
      values: [...svg.querySelectorAll("text.value")].map(text),
      event_marks: {
        preemption: svg.querySelectorAll("g.marks .preempt").length,
        rejection: svg.querySelectorAll("g.marks .reject").length,
      },
      cats: [...svg.querySelectorAll("text.cat")].map(text),
      min_font_px: Infinity,
    };
    if (!title) fail(where, "no title");
    const marks = svg.querySelector("g.marks");
    const kShapes = "polygon,polyline,rect,path,circle,line";
    const shapes = marks ? [...marks.querySelectorAll(kShapes)] : [];
    const mr = marks ? rect(marks) : null;
    chart.marks =
        mr ? {width: mr.width, height: mr.height, shapes: shapes.length} : null;
    // A flat line (a series that stays at zero) is drawn, though its
    // geometric box has no height: its stroke has.
    const stroked = shapes.some((e) => getComputedStyle(e).stroke !== "none" &&
                                       rect(e).width >= 1);
    if (!mr || shapes.length === 0 || mr.width < 1 ||
        (mr.height < 1 && !stroked)) {
      fail(where, "blank drawing area (no marks with a non-empty box)");
    } else if (!inside(mr, box)) {
      fail(where, "marks drawn outside the chart");
    }
    // Every series a legend names is drawn. (A stacked bar leaves out a
    // share that is zero, so bar legends are checked against the data by
    // the caller instead.)
    const used = new Set(shapes.flatMap(paints));
    const series = chart.kind !== "hbars";
    for (const item of chart.legend) {
      if (!item.label) fail(where, "legend entry without a label");
      if (series && !used.has(item.color)) {
        fail(where, `legend "${item.label}" has a colour no mark uses`);
      }
    }
    // A distribution squashed against the y axis (a linear axis over series
    // orders of magnitude apart) tells the reader nothing.
    if (chart.kind === "cdf") {
      const axis = svg.querySelector("line.ax");
      const plotWidth = axis ? rect(axis).width : box.width;
      shapes.forEach((e, k) => {
        if (rect(e).width < 0.01 * plotWidth) {
          fail(where, `series ${k + 1} spans ${rect(e).width.toFixed(1)} px ` +
               `of a ${plotWidth.toFixed(0)} px axis`);
        }
      });
    }
    const texts = [...svg.querySelectorAll("text")].filter((t) => text(t));
    const boxes = texts.map(rect);
    texts.forEach((t, i) => {
      const px = parseFloat(getComputedStyle(t).fontSize) * scale;
      chart.min_font_px = Math.min(chart.min_font_px, px);
      if (!inside(boxes[i], box)) {
        fail(where, `text "${text(t)}" overflows the chart`);
      }
      for (let j = 0; j < i; ++j) {
        if (overlapArea(boxes[i], boxes[j]) > 2) {
          fail(where, `text "${text(t)}" overlaps "${text(texts[j])}"`);
        }
      }
    });
    const logX = svg.dataset.xscale === "log";
    if (chart.xticks.length) {
      checkTicks(where, [...svg.querySelectorAll("text.xtick")], "x", logX);
    }
    if (chart.yticks.length) {
      checkTicks(where, [...svg.querySelectorAll("text.ytick")], "y", false);
    }
    return chart;
  }

  // Every element outside the charts must fit the viewport horizontally or
  // sit in a container that scrolls; text must fit its own box.
  function probeLayout() {
    const vw = window.innerWidth;
    const scrolls = (el) => {
      for (let a = el.parentElement; a; a = a.parentElement) {
        const o = getComputedStyle(a).overflowX;
        if (o === "auto" || o === "scroll") return true;
      }
      return false;
    };
    for (const el of document.body.querySelectorAll("*")) {
      if (el.closest("svg") && el.tagName.toLowerCase() !== "svg") continue;
      const r = rect(el);
      if (r.width === 0 && r.height === 0) continue;
      const tag = el.tagName.toLowerCase();
      if ((r.right > vw + slack || r.left < -slack) && !scrolls(el)) {
        fail("page", `<${tag}> "${text(el).slice(0, 40)}" extends past the ` +
             `${vw}px viewport (${Math.round(r.left)}..${Math.round(r.right)})`);
      }
      const o = getComputedStyle(el).overflowX;
      if (o !== "auto" && o !== "scroll" && tag !== "svg" &&
          el.scrollWidth > el.clientWidth + slack && el.clientWidth > 0) {
        fail("page", `<${tag}> "${text(el).slice(0, 40)}" text overflows its box`);
      }
    }
  }

  const charts = [...document.querySelectorAll("svg.chart")].map(probeChart);
  probeLayout();
  const tables = [...document.querySelectorAll("table")].map((t) => ({
    headers: [...t.querySelectorAll("th")].map(text),
    rows: [...t.querySelectorAll("tr")].filter((r) => r.querySelector("td"))
        .map((r) => [...r.querySelectorAll("td")].map(text)),
  }));
  // Boxes whose content is wider than they are (they scroll sideways).
  const scrolled = [...document.querySelectorAll(".chart,.scroll")]
      .filter((el) => el.scrollWidth > el.clientWidth + slack)
      .map((el) => ({
        what: text(el.querySelector("text.t,th")) || el.className,
        content: el.scrollWidth, box: el.clientWidth,
      }));
  return {
    inner_width: window.innerWidth,
    scrolled,
    scroll_width: document.documentElement.scrollWidth,
    body_font_px: parseFloat(getComputedStyle(document.body).fontSize),
    headings: [...document.querySelectorAll("h1,h2")].map(text),
    svg_count: document.querySelectorAll("svg").length,
    charts, tables, failures,
  };
})()
