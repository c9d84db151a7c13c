// Charts: every <div class="chart" data-src="URL" data-title="…" data-unit="…"> is drawn with
// uPlot from a JSON answer of the control plane's series endpoints:
//   {"series": [{"label": "…" | "labels": {…}, "points": [[unix_seconds, value], …]}, …]}
// A table of the same numbers is kept beside each chart for screen readers (data-table="id").
(function () {
  function merge(series) {
    const xs = new Set();
    series.forEach(s => s.points.forEach(p => xs.add(p[0])));
    const x = Array.from(xs).sort((a, b) => a - b);
    const ys = series.map(s => {
      const m = new Map(s.points.map(p => [p[0], p[1]]));
      return x.map(t => (m.has(t) ? m.get(t) : null));
    });
    return [x, ...ys];
  }
  const palette = ["#0550ae", "#bc4c00", "#116329", "#8250df", "#a40e26", "#0a3069", "#4d2d00"];
  async function draw(el) {
    const resp = await fetch(el.dataset.src, { credentials: "same-origin" });
    if (!resp.ok) { el.textContent = "no data (" + resp.status + ")"; return; }
    const body = await resp.json();
    const series = (body.series || []).filter(s => s.points && s.points.length);
    el.dataset.points = String(series.reduce((n, s) => n + s.points.length, 0));
    if (!series.length) { el.textContent = "No data yet."; el.classList.add("empty"); return; }
    el.textContent = "";
    const opts = {
      title: el.dataset.title || "", width: Math.max(300, el.clientWidth || 600), height: 200,
      series: [{}].concat(series.map((s, i) => ({ label: s.label || Object.values(s.labels || {}).join(" ") || el.dataset.title || "value", stroke: palette[i % palette.length], width: 2,
        value: (u, v) => v == null ? "–" : (+v.toPrecision(4)) + (el.dataset.unit ? " " + el.dataset.unit : "") }))),
      axes: [{}, { label: el.dataset.unit || "" }],
    };
    const data = merge(series);
    if (data[0].length === 1) {  // one bucket: give the time axis some width around it
      const t = data[0][0];
      opts.scales = { x: { time: true, range: [t - 600, t + 600] } };
      opts.series.slice(1).forEach(s => { s.points = { show: true, size: 8 }; });
    }
    el.chart = new uPlot(opts, data, el);
    el.classList.add("drawn");
  }
  function all(root) { (root || document).querySelectorAll(".chart[data-src]").forEach(el => draw(el).catch(e => { el.textContent = "chart failed: " + e; })); }
  document.addEventListener("DOMContentLoaded", () => all());
  document.addEventListener("htmx:afterSwap", e => all(e.target));
})();
