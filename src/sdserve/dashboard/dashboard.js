// sdserve dashboard: polls the gateway's /-/status and /-/metrics and plots the last
// minutes with uPlot (vendored beside this file, so the page needs no internet).
// `?interval=S` changes the refresh period (seconds).
"use strict";

const REFRESH_S = Math.max(0.25, Number(new URLSearchParams(location.search).get("interval")) || 2);
const HISTORY_S = 10 * 60; // what the charts show
const WINDOW_S = 15; // rates and percentiles are taken over this much of the past
const COLORS = {
  "2xx": "#2f9e44", "3xx": "#1971c2", "4xx": "#f08c00", "5xx": "#e03131",
  p50: "#2f9e44", p90: "#1971c2", p95: "#f08c00", p99: "#e03131",
  stable: "#1971c2", panic: "#e03131", target: "#868e96",
  desired: "#f08c00", ready: "#2f9e44", starting: "#1971c2", draining: "#868e96",
  queue: "#7048e8", success: "#2f9e44",
};

const $ = (id) => document.getElementById(id);

// Per service: the summaries of recent scrapes (for windowed rates) and the plotted series.
const services = new Map();
let charts = null;

// Chart id → the series it plots (each a key of a point).
const CHARTS = {
  rate: SdMetrics.CODE_CLASSES,
  success: ["success"],
  latency: ["p50", "p90", "p95", "p99"],
  concurrency: ["stable", "panic", "target"],
  replicas: ["desired", "ready", "starting", "draining"],
  queue: ["queue"],
};

function emptyHistory() {
  const series = { t: [] };
  for (const names of Object.values(CHARTS)) for (const n of names) series[n] = [];
  return { scrapes: [], series, latest: null };
}

function makeChart(id, names) {
  const el = $(`chart-${id}`);
  const options = {
    width: el.clientWidth || 400,
    height: 180,
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1)] } },
    series: [{}, ...names.map((n) => ({ label: n, stroke: COLORS[n], width: 2, dash: n === "target" ? [6, 4] : undefined }))],
    axes: [{}, { size: (u, labels) => SdMetrics.axisWidth(labels) }],
  };
  return new uPlot(options, [[], ...names.map(() => [])], el);
}

function ensureCharts() {
  if (charts) return;
  charts = Object.fromEntries(Object.entries(CHARTS).map(([id, names]) => [id, makeChart(id, names)]));
  window.addEventListener("resize", () => {
    for (const [id, chart] of Object.entries(charts)) chart.setSize({ width: $(`chart-${id}`).clientWidth, height: 180 });
  });
}

function record(history, t, point) {
  const s = history.series;
  s.t.push(t);
  for (const name of Object.keys(s)) if (name !== "t") s[name].push(point[name] ?? null);
  while (s.t.length && s.t[0] < t - HISTORY_S) for (const name of Object.keys(s)) s[name].shift();
}

// The oldest scrape still inside the window: rates cover up to WINDOW_S seconds.
function windowStart(scrapes, t) {
  return scrapes.find((s) => s.t >= t - WINDOW_S - 1e-6) || scrapes[scrapes.length - 1];
}

function point(service, stats) {
  const replicas = service.replicas || [];
  const count = (state) => replicas.filter((r) => r.state === state).length;
  return {
    ...(stats ? stats.rate : {}),
    success: stats ? stats.successRate : null,
    ...(stats ? stats.latency : {}),
    stable: service.stable_concurrency,
    panic: service.panic_concurrency,
    target: service.target,
    desired: service.desired,
    ready: service.ready ?? count("ready"),
    starting: count("starting"),
    draining: count("draining"),
    queue: service.queue,
  };
}

function update(status, samples, t) {
  const select = $("service");
  const names = status.services.map((s) => s.name);
  if ([...select.options].map((o) => o.value).join() !== names.join()) {
    const chosen = select.value;
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (names.includes(chosen)) select.value = chosen;
  }
  for (const service of status.services) {
    if (!services.has(service.name)) services.set(service.name, emptyHistory());
    const history = services.get(service.name);
    const summary = { t, ...SdMetrics.summarize(samples, service.name) };
    const start = history.scrapes.length ? windowStart(history.scrapes, t) : null;
    const stats = start ? SdMetrics.windowStats(summary, start, t - start.t) : null;
    history.scrapes.push(summary);
    history.scrapes = history.scrapes.filter((s) => s.t >= t - WINDOW_S - REFRESH_S * 2);
    history.latest = { service, p: point(service, stats) };
    record(history, t, history.latest.p);
  }
  renderSelected();
}

function renderSelected() {
  const history = services.get($("service").value);
  if (history && history.latest) render(history);
}

function fmt(value, digits = 1, unit = "") {
  return value === null || value === undefined || Number.isNaN(value) ? "-" : `${Number(value).toFixed(digits)}${unit}`;
}

function render(history) {
  const { service, p } = history.latest;
  ensureCharts();
  $("host").textContent = service.host || "";
  $("tile-desired").textContent = fmt(service.desired, 0);
  $("tile-ready").textContent = fmt(p.ready, 0);
  $("tile-starting").textContent = fmt(p.starting, 0);
  $("tile-queue").textContent = fmt(service.queue, 0);
  $("tile-panic").textContent = service.panic ? "yes" : "no";
  $("tile-panic").classList.toggle("alarm", Boolean(service.panic));
  const rps = SdMetrics.CODE_CLASSES.reduce((sum, c) => sum + (p[c] || 0), 0);
  $("tile-rps").textContent = fmt(rps, 2);
  $("tile-success").textContent = fmt(p.success, 1, " %");
  $("tile-p95").textContent = fmt(p.p95, 0, " ms");
  for (const [id, names] of Object.entries(CHARTS)) {
    charts[id].setData([history.series.t, ...names.map((n) => history.series[n])]);
  }
  renderReplicas(service.replicas || []);
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderReplicas(replicas) {
  const rows = replicas.map((r) => {
    const tr = document.createElement("tr");
    const served = r.images_served ?? null;
    tr.append(
      cell(r.id), cell(r.state, `state state-${r.state}`), cell(r.device ?? "-"),
      cell(fmt(r.in_flight, 0)), cell(served === null ? "-" : String(served)),
      cell(SdMetrics.formatAge(r.uptime)), cell(r.pid ?? "-"),
    );
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.append(cell("No replicas (scaled to zero).", "muted"));
    tr.firstChild.colSpan = 7;
    rows.push(tr);
  }
  $("replica-rows").replaceChildren(...rows);
}

async function fetchText(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path} answered ${response.status} ${response.statusText}`);
  return response.text();
}

async function refresh() {
  const t = Date.now() / 1000;
  try {
    const [statusText, metricsText] = await Promise.all([fetchText("/-/status"), fetchText("/-/metrics")]);
    const status = JSON.parse(statusText);
    if (!Array.isArray(status.services)) throw new Error('/-/status has no "services" list');
    update(status, SdMetrics.parsePrometheus(metricsText), t);
    $("error").hidden = true;
    $("updated").textContent = `updated ${new Date(t * 1000).toLocaleTimeString()}`;
  } catch (e) {
    $("error").textContent = `Cannot read the gateway: ${e.message}`;
    $("error").hidden = false;
  } finally {
    setTimeout(refresh, REFRESH_S * 1000);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("service").addEventListener("change", renderSelected);
  refresh();
});
