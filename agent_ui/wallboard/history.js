// Today by 15-minute interval: offered / answered / abandoned, service level and ASA, as
// charts (inline SVG, no library). Loaded after wallboard.js, whose helpers it uses (t, el,
// SETTINGS, scheduleRender, pad).
//
// Where the numbers come from: what happened up to the snapshot the page (re)connects with is
// read once from GET /api/queues/stats?to=<snapshot's last_event_at> (recomputed by the server from
// the queue_log, the same rows every report uses); from then on the page counts the same
// events as the tiles into the interval of each event's time. The cut between the two is the
// snapshot's time on the server's clock (not the browser's, not the wall clock: the simulator
// runs faster): an event at or before it is in the rows, one after it comes on the stream.
// (The queue-log writer is a few milliseconds behind the events; a row still unwritten when
// the request runs is missing until the next snapshot.)
// Events arriving while the request is in flight wait for its answer. Nothing is polled: the
// request is made again only after a new snapshot (a reconnect may have missed events) and at
// midnight.
//
// Formulas are the server's (crm_bridge/queue_figures.py): service level = answered within T
// / (answered + abandoned after T); ASA = total wait of the answered / answered.

"use strict";

const HISTORY_INTERVAL_S = 900;
const HISTORY_MIN_SHOWN = 8;       // at least two hours on the axis
const SVG_NS = "http://www.w3.org/2000/svg";

const HISTORY_TEXT = {
  en: {
    history: "Today by 15 minutes",
    history_all: "all queues",
    history_loading: "reading today's queue log…",
    history_failed: "today's history could not be read ({why}); live intervals only",
    history_empty: "no call today yet",
    chart_calls: "Calls",
    chart_sl: "Service level ≤ {t} s (target {p} %)",
    chart_asa: "ASA (seconds)",
    offered: "offered",
    answered: "answered",
    abandoned_short: "abandoned",
    bar_title: "{t}: {o} offered, {a} answered, {b} abandoned, service level {sl}, ASA {asa}",
  },
  zh: {
    history: "今日（每 15 分钟）",
    history_all: "全部队列",
    history_loading: "正在读取今日队列日志…",
    history_failed: "无法读取今日历史（{why}），仅显示实时区间",
    history_empty: "今日尚无来电",
    chart_calls: "来电",
    chart_sl: "服务水平 ≤ {t} 秒（目标 {p} %）",
    chart_asa: "平均应答时间（秒）",
    offered: "进线",
    answered: "接通",
    abandoned_short: "放弃",
    bar_title: "{t}：进线 {o}，接通 {a}，放弃 {b}，服务水平 {sl}，平均应答 {asa}",
  },
};
for (const code of Object.keys(HISTORY_TEXT)) Object.assign(TEXT[code], HISTORY_TEXT[code]);

const history = {
  dayStart: null,     // epoch seconds of local midnight the intervals count from
  cutoff: null,       // events after this time (epoch s) are counted by the page
  loading: false,
  error: "",
  request: 0,         // the newest request; older answers are dropped
  pending: [],        // queue events received while the request was in flight
  queues: new Map(),  // queue -> Map(interval start -> tally)
  selected: "",       // "" = all queues
};

function newTally(start) {
  return { start, offered: 0, answered: 0, abandoned: 0, answeredWithin: 0,
    abandonedWithin: 0, waitSum: 0 };
}

function localMidnight(epochS) {
  const d = new Date(epochS * 1000);
  d.setHours(0, 0, 0, 0);
  return d;
}

/** ISO 8601 with the browser's UTC offset: the server reads the day as the page sees it. */
function isoWithOffset(date) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Read the day's intervals up to ``asOf`` (epoch s: the snapshot's ``last_event_at``, the
 *  last event before the snapshot on the server's clock; those after it come on the stream). */
async function loadHistory(asOf) {
  const request = ++history.request;
  const until = (typeof asOf === "number" ? asOf : serverNow()) + 0.001;
  const midnight = localMidnight(until);
  history.loading = true;
  history.pending = [];
  scheduleRender();
  const url = `/api/queues/stats?interval=${HISTORY_INTERVAL_S}` +
    `&threshold=${Math.round(SETTINGS.slSeconds)}` +
    `&from=${encodeURIComponent(isoWithOffset(midnight))}` +
    `&to=${encodeURIComponent(new Date(until * 1000).toISOString())}`;
  let body;
  try {
    const resp = await fetch(url, { credentials: "same-origin" });
    body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error((body.error && body.error.message) || `HTTP ${resp.status}`);
  } catch (err) {
    if (request !== history.request) return;
    // live intervals still count from now on
    history.error = String(err.message || err);
    history.loading = false;
    history.dayStart = midnight.getTime() / 1000;
    history.cutoff = until;
    history.queues = new Map();
    replayPending();
    return;
  }
  if (request !== history.request) return;
  history.dayStart = midnight.getTime() / 1000;
  history.cutoff = Date.parse(body.to) / 1000;
  history.queues = new Map();
  for (const queue of body.queues || []) {
    const tallies = new Map();
    for (const row of queue.intervals || []) {
      const start = Date.parse(row.start) / 1000;
      tallies.set(start, {
        start, offered: row.offered, answered: row.answered, abandoned: row.abandoned,
        answeredWithin: row.answered_within_threshold,
        abandonedWithin: row.abandoned_within_threshold,
        waitSum: (row.asa_s || 0) * row.answered,
      });
    }
    history.queues.set(queue.queue, tallies);
  }
  history.error = "";
  history.loading = false;
  replayPending();
}

function replayPending() {
  const pending = history.pending;
  history.pending = [];
  for (const ev of pending) historyEvent(ev);
  scheduleRender();
}

/** Count a queue event into its interval (called by wallboard.js for every message). */
function historyEvent(ev) {
  if (!["queue.entered", "queue.connected", "queue.abandoned"].includes(ev.type)) return;
  if (history.loading) {
    history.pending.push(ev);
    return;
  }
  if (history.cutoff === null || !(ev.at > history.cutoff)) return;
  if (ev.at >= history.dayStart + 86400) {  // a new day: start it from the server's rows
    history.pending.push(ev);
    loadHistory(ev.at - 0.002);
    return;
  }
  const start = history.dayStart +
    Math.floor((ev.at - history.dayStart) / HISTORY_INTERVAL_S) * HISTORY_INTERVAL_S;
  if (!history.queues.has(ev.queue)) history.queues.set(ev.queue, new Map());
  const tallies = history.queues.get(ev.queue);
  if (!tallies.has(start)) tallies.set(start, newTally(start));
  const tally = tallies.get(start);
  const waited = Number(ev.waited_s) || 0;
  if (ev.type === "queue.entered") {
    if (!ev.requeued) tally.offered += 1;
  } else if (ev.type === "queue.connected") {
    tally.answered += 1;
    tally.waitSum += waited;
    if (waited <= SETTINGS.slSeconds) tally.answeredWithin += 1;
  } else {
    tally.abandoned += 1;
    if (waited <= SETTINGS.slSeconds) tally.abandonedWithin += 1;
  }
}

/** The intervals to draw for the selected queue (or all): first busy one to now. */
function historySeries() {
  if (history.dayStart === null) return [];
  const merged = new Map();
  for (const [name, tallies] of history.queues) {
    if (history.selected && name !== history.selected) continue;
    for (const [start, tally] of tallies) {
      if (!merged.has(start)) merged.set(start, newTally(start));
      const sum = merged.get(start);
      for (const key of ["offered", "answered", "abandoned", "answeredWithin",
        "abandonedWithin", "waitSum"]) sum[key] += tally[key];
    }
  }
  const now = serverNow();
  const last = history.dayStart +
    Math.floor((Math.max(now, history.dayStart) - history.dayStart) / HISTORY_INTERVAL_S) *
    HISTORY_INTERVAL_S;
  const busy = [...merged.values()].filter((s) => s.offered + s.answered + s.abandoned > 0)
    .map((s) => s.start);
  let first = busy.length ? Math.min(...busy) : last;
  first = Math.max(history.dayStart,
    Math.min(first, last - (HISTORY_MIN_SHOWN - 1) * HISTORY_INTERVAL_S));
  const series = [];
  for (let start = first; start <= last; start += HISTORY_INTERVAL_S) {
    const tally = merged.get(start) || newTally(start);
    const judged = tally.answered + tally.abandoned - tally.abandonedWithin;
    series.push({ ...tally,
      sl: judged > 0 ? (100 * tally.answeredWithin) / judged : null,
      asa: tally.answered > 0 ? tally.waitSum / tally.answered : null });
  }
  return series;
}

// --- drawing -----------------------------------------------------------------------------

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (value <= m * step) return m * step;
  return 10 * step;
}

/** 25, 2.5: a half-way tick keeps its decimal rather than rounding to a wrong label. */
function tickNumber(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

const CHART = { w: 600, h: 210, left: 44, right: 10, top: 12, bottom: 26 };

/** An empty chart frame with y ticks; returns {root, x(i), y(v), band}. */
function chartFrame(name, series, yMax, yLabel) {
  const n = Math.max(1, series.length);
  const plotW = CHART.w - CHART.left - CHART.right;
  const plotH = CHART.h - CHART.top - CHART.bottom;
  const band = plotW / n;
  const x = (i) => CHART.left + i * band;
  const y = (v) => CHART.top + plotH - (Math.min(v, yMax) / yMax) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${CHART.w} ${CHART.h}`, class: "chart",
    "data-chart": name, role: "img" });
  for (const tick of [0, yMax / 2, yMax]) {
    root.append(svg("line", { x1: CHART.left, x2: CHART.w - CHART.right, y1: y(tick),
      y2: y(tick), class: "grid" }));
    root.append(svg("text", { x: CHART.left - 6, y: y(tick) + 4, class: "tick",
      "text-anchor": "end" }, yLabel(tick)));
  }
  const every = n > 48 ? 8 : (n > 16 ? 4 : (n > 8 ? 2 : 1));
  series.forEach((s, i) => {
    if (i % every !== 0) return;
    const d = new Date(s.start * 1000);
    root.append(svg("text", { x: x(i) + band / 2, y: CHART.h - 8, class: "tick",
      "text-anchor": "middle" }, `${pad(d.getHours())}:${pad(d.getMinutes())}`));
  });
  return { root, x, y, band };
}

function callsChart(series) {
  const yMax = niceMax(Math.max(1, ...series.map((s) => Math.max(s.offered,
    s.answered + s.abandoned))));
  const { root, x, y, band } = chartFrame("calls", series, yMax, tickNumber);
  const barW = Math.max(2, band * 0.7);
  series.forEach((s, i) => {
    const left = x(i) + (band - barW) / 2;
    const d = new Date(s.start * 1000);
    const title = t("bar_title", { t: `${pad(d.getHours())}:${pad(d.getMinutes())}`,
      o: s.offered, a: s.answered, b: s.abandoned,
      sl: s.sl === null ? "—" : `${s.sl.toFixed(0)} %`,
      asa: s.asa === null ? "—" : formatDuration(s.asa) });
    const group = svg("g", { "data-interval": s.start, "data-offered": s.offered,
      "data-answered": s.answered, "data-abandoned": s.abandoned },
    svg("title", {}, title));
    if (s.offered > 0) {
      group.append(svg("rect", { x: left, y: y(s.offered), width: barW,
        height: y(0) - y(s.offered), class: "bar-offered" }));
    }
    if (s.answered > 0) {
      group.append(svg("rect", { x: left + barW * 0.15, y: y(s.answered), width: barW * 0.7,
        height: y(0) - y(s.answered), class: "bar-answered" }));
    }
    if (s.abandoned > 0) {
      const top = s.answered + s.abandoned;
      group.append(svg("rect", { x: left + barW * 0.15, y: y(top), width: barW * 0.7,
        height: y(s.answered) - y(top), class: "bar-abandoned" }));
    }
    root.append(group);
  });
  return root;
}

function slChart(series) {
  const { root, x, y, band } = chartFrame("service-level", series, 100, (v) => `${v} %`);
  root.append(svg("line", { x1: CHART.left, x2: CHART.w - CHART.right,
    y1: y(SETTINGS.slTarget), y2: y(SETTINGS.slTarget), class: "target" }));
  const segments = [[]];  // runs of intervals with a service level, joined by a line
  series.forEach((s, i) => {
    if (s.sl === null) {
      segments.push([]);
      return;
    }
    const cx = x(i) + band / 2;
    segments[segments.length - 1].push(`${cx.toFixed(1)},${y(s.sl).toFixed(1)}`);
    root.append(svg("circle", { cx, cy: y(s.sl), r: 3.5, "data-interval": s.start,
      "data-sl": s.sl.toFixed(1), class: s.sl < SETTINGS.slTarget ? "dot bad" : "dot" },
    svg("title", {}, `${s.sl.toFixed(0)} %`)));
  });
  const d = segments.filter((seg) => seg.length > 1).map((seg) => `M${seg.join("L")}`).join(" ");
  if (d) root.insertBefore(svg("path", { d, class: "line" }), root.querySelector("circle"));
  return root;
}

function asaChart(series) {
  const yMax = niceMax(Math.max(1, ...series.map((s) => s.asa || 0)));
  const { root, x, y, band } = chartFrame("asa", series, yMax, tickNumber);
  const barW = Math.max(2, band * 0.5);
  series.forEach((s, i) => {
    if (s.asa === null) return;
    root.append(svg("rect", { x: x(i) + (band - barW) / 2, y: y(s.asa), width: barW,
      height: Math.max(1, y(0) - y(s.asa)), class: "bar-asa", "data-interval": s.start,
      "data-asa": s.asa.toFixed(1) }, svg("title", {}, formatDuration(s.asa))));
  });
  return root;
}

function renderHistory() {
  const select = document.getElementById("history-queue");
  const names = [...history.queues.keys()].sort();
  const options = [["", t("history_all")], ...names.map((n) => [n, n])];
  if (select.options.length !== options.length ||
      [...select.options].some((o, i) => o.value !== options[i][0] || o.text !== options[i][1])) {
    select.replaceChildren(...options.map(([value, text]) => el("option", { value }, text)));
  }
  select.value = history.selected;
  const note = document.getElementById("history-note");
  const series = historySeries();
  const total = series.reduce((n, s) => n + s.offered + s.answered + s.abandoned, 0);
  note.hidden = !(history.loading || history.error || total === 0);
  note.textContent = history.loading ? t("history_loading")
    : (history.error ? t("history_failed", { why: history.error }) : t("history_empty"));
  const charts = document.getElementById("history-charts");
  charts.dataset.cutoff = history.cutoff === null ? "" : String(history.cutoff);
  charts.dataset.loading = history.loading ? "yes" : "no";
  if (history.dayStart === null) {
    charts.replaceChildren();
    return;
  }
  const legend = el("div", { class: "chart-legend" },
    el("span", {}, el("i", { class: "sw offered" }), t("offered")),
    el("span", {}, el("i", { class: "sw answered" }), t("answered")),
    el("span", {}, el("i", { class: "sw abandoned" }), t("abandoned_short")));
  charts.replaceChildren(
    el("figure", {}, el("figcaption", {}, t("chart_calls"), legend), callsChart(series)),
    el("figure", {}, el("figcaption", {},
      t("chart_sl", { t: SETTINGS.slSeconds, p: SETTINGS.slTarget })), slChart(series)),
    el("figure", {}, el("figcaption", {}, t("chart_asa")), asaChart(series)));
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("history-queue").addEventListener("change", (e) => {
    history.selected = e.target.value;
    scheduleRender();
  });
});
