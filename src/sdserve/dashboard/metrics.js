// Pure helpers of the dashboard: Prometheus text in, numbers out. No DOM, no fetch, no
// clock: the page passes times in. Loaded by the page (window.SdMetrics) and by Node in
// the tests (module.exports).
"use strict";

(function (root) {
  const METRIC_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
  const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
  const SPECIAL_VALUES = { "+Inf": Infinity, "-Inf": -Infinity, NaN: NaN };
  const CODE_CLASSES = ["2xx", "3xx", "4xx", "5xx"];

  function unescapeLabel(value) {
    return value.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
  }

  function parseValue(text) {
    return text in SPECIAL_VALUES ? SPECIAL_VALUES[text] : Number(text);
  }

  // Exposition text → [{name, labels, value}], skipping comments and malformed lines.
  function parsePrometheus(text) {
    const samples = [];
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const match = METRIC_LINE.exec(line);
      if (!match) continue;
      const labels = {};
      for (const pair of (match[2] || "").matchAll(LABEL_PAIR)) {
        labels[pair[1]] = unescapeLabel(pair[2]);
      }
      samples.push({ name: match[1], labels, value: parseValue(match[3]) });
    }
    return samples;
  }

  // Knative labels a series with service_name; a series with no service label is
  // the gateway's only service, so it counts for any.
  function belongsTo(labels, service) {
    const owner = labels.service_name ?? labels.service;
    return owner === undefined || owner === service;
  }

  // prometheus-client appends _total to counters; Knative's exporter does not.
  function isCounter(sample, name) {
    return sample.name === name || sample.name === `${name}_total`;
  }

  // One scrape reduced to what the charts need, for one service: cumulative request
  // counts by code class and cumulative latency buckets [{le, count}] sorted by le.
  function summarize(samples, service) {
    const requests = Object.fromEntries(CODE_CLASSES.map((c) => [c, 0]));
    const buckets = new Map();
    const gauges = {};
    for (const s of samples) {
      if (!belongsTo(s.labels, service)) continue;
      if (isCounter(s, "revision_request_count")) {
        const cls = s.labels.response_code_class || `${String(s.labels.response_code)[0]}xx`;
        requests[cls] = (requests[cls] || 0) + s.value;
      } else if (s.name === "revision_request_latencies_bucket") {
        const le = parseValue(s.labels.le);
        buckets.set(le, (buckets.get(le) || 0) + s.value);
      } else {
        gauges[s.name] = (gauges[s.name] || 0) + s.value;
      }
    }
    const sorted = [...buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
    return { requests, buckets: sorted, gauges };
  }

  // A counter's increase; a counter that went down was reset (restart), so all of
  // its current value is new.
  function increase(now, before) {
    return now >= before ? now - before : now;
  }

  function bucketIncrease(now, before) {
    const old = new Map(before.map((b) => [b.le, b.count]));
    return now.map((b) => ({ le: b.le, count: increase(b.count, old.get(b.le) || 0) }));
  }

  // Prometheus' histogram_quantile: linear interpolation inside the bucket where the
  // rank falls; a rank in the +Inf bucket answers the highest finite bound.
  function quantile(q, buckets) {
    if (!buckets.length) return null;
    const total = buckets[buckets.length - 1].count;
    if (!(total > 0)) return null;
    const rank = q * total;
    let lowerBound = 0;
    let lowerCount = 0;
    for (const { le, count } of buckets) {
      if (count >= rank) {
        if (le === Infinity) return lowerBound;
        const inBucket = count - lowerCount;
        return inBucket > 0 ? lowerBound + ((le - lowerBound) * (rank - lowerCount)) / inBucket : le;
      }
      lowerBound = le;
      lowerCount = count;
    }
    return lowerBound;
  }

  // Rates and percentiles between two summaries taken `seconds` apart.
  function windowStats(now, before, seconds) {
    const perClass = {};
    let total = 0;
    for (const cls of Object.keys(now.requests)) {
      const n = increase(now.requests[cls], before.requests[cls] || 0);
      perClass[cls] = seconds > 0 ? n / seconds : null;
      total += n;
    }
    const buckets = bucketIncrease(now.buckets, before.buckets);
    return {
      rate: perClass,
      successRate: total > 0 ? (100 * increase(now.requests["2xx"], before.requests["2xx"] || 0)) / total : null,
      latency: Object.fromEntries(
        [0.5, 0.9, 0.95, 0.99].map((q) => [`p${Math.round(q * 100)}`, quantile(q, buckets)]),
      ),
    };
  }

  // "2m13s"-style age, as `sdserve status` prints it.
  function formatAge(seconds) {
    if (seconds === null || seconds === undefined || !(seconds >= 0)) return "-";
    const total = Math.floor(seconds);
    const m = Math.floor(total / 60);
    const h = Math.floor(total / 3600);
    const d = Math.floor(total / 86400);
    const pair = (a, ua, b, ub) => (b ? `${a}${ua}${b}${ub}` : `${a}${ua}`);
    if (total < 120) return `${total}s`;
    if (m < 10) return pair(m, "m", total % 60, "s");
    if (h < 3) return `${m}m`;
    if (h < 8) return pair(h, "h", m % 60, "m");
    if (h < 48) return `${h}h`;
    if (d < 8) return pair(d, "d", h % 24, "h");
    return `${d}d`;
  }

  // Width in px of a y axis whose tick labels are `labels` (uPlot passes null before it
  // has any), so that a label like "10,000" is not clipped at the chart's left edge.
  const AXIS_MIN_PX = 50;
  const AXIS_CHAR_PX = 7; // a digit or comma of the axis font, with room to spare
  const AXIS_GAP_PX = 16; // the tick and the gap between tick and label
  function axisWidth(labels) {
    const longest = Math.max(0, ...(labels || []).map((label) => String(label ?? "").length));
    return Math.max(AXIS_MIN_PX, longest * AXIS_CHAR_PX + AXIS_GAP_PX);
  }

  const api = { parsePrometheus, summarize, quantile, windowStats, formatAge, axisWidth, CODE_CLASSES };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.SdMetrics = api;
})(typeof self !== "undefined" ? self : this);
