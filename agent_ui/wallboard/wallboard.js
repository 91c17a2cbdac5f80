// The supervisors' wallboard: every figure is computed here from the server's /ws/events
// WebSocket (a snapshot, then every domain event); nothing is polled, nothing is made up.
//
// What comes from where:
//   waiting, longest wait        last queue.changed of the queue (snapshot `queues`, then
//                                events); the longest wait ticks locally from its `at`
//   server totals                queue.changed `answered` / `abandoned`: the ACD's counters
//                                since the server started (the page cannot know since when)
//   offered, answered, abandoned counted by this page from queue.entered (not requeued),
//   ASA, service level           queue.connected (`waited_s`) and queue.abandoned (`waited_s`)
//                                since it received its snapshot: shown "since HH:MM", and
//                                counted again from zero after every new snapshot (a
//                                reconnect may have missed events)
//   agents                       snapshot `agents`, then agent.state, agent.wrap_up (`until`:
//                                the countdown), agent.registration and any other event whose
//                                type names a registration (`agent_id`, or `endpoint` ending
//                                in the agent's id, with `registered`)
//   recent decisions             queue.offered (`reason`: why this agent), then its outcome
//   escalated complaints         complaint.escalated (a workflow step past its deadline)
//                                from queue.connected / queue.not_connected / queue.abandoned
//
// Service level is the server's definition (README, queue figures): answered within T over
// answered plus abandoned after T; callers who gave up within T count neither way.
// Thresholds are settings of the page, not data: ?sl=20&target=80&warn=30&alarm=60.
//
// Safety: event data is only ever inserted as text, never parsed as HTML.

"use strict";

const PARAMS = new URLSearchParams(window.location.search);
const SETTINGS = {
  slSeconds: positive(PARAMS.get("sl"), 20),   // service level: answered within this
  slTarget: positive(PARAMS.get("target"), 80), // per cent; below it the figure is red
  waitWarn: positive(PARAMS.get("warn"), 30),   // longest wait amber from here (seconds)
  waitAlarm: positive(PARAMS.get("alarm"), 60), // and red from here
};
const DECISIONS_SHOWN = 5;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const AGENT_STATES = ["ready", "reserved", "on_call", "wrap_up", "paused", "offline"];

function positive(raw, fallback) {
  const value = Number(raw);
  return raw !== null && Number.isFinite(value) && value > 0 ? value : fallback;
}

// --- languages ---------------------------------------------------------------------------

const TEXT = {
  en: {
    title: "Wallboard",
    lang_button: "中文",
    lang_title: "Switch to Chinese",
    pbx_title: "The server's link to the PBX",
    counting_title: "Figures marked \"since\" are counted by this page from the events it received",
    connecting: "connecting…",
    live: "live",
    resync: "resyncing…",
    down: "disconnected — retrying in {s} s",
    pbx_up: "PBX {pbx}: up",
    pbx_down: "PBX {pbx}: down",
    counting: "counting since {t}",
    no_queue: "No queue has reported yet: a tile appears with the queue's first event.",
    no_agents: "waiting for the snapshot…",
    no_decisions: "No call offered since the page opened.",
    agents: "Agents",
    decisions: "Recent decisions: why this agent",
    escalations: "Escalated complaints",
    unassigned: "not assigned",
    escalation: "#{id} level {level}: {status} overdue {d}",
    legend: "Legend",
    queue: "Queue",
    waiting: "waiting",
    longest_wait: "longest wait",
    service_level: "Service level ≤ {t} s",
    sl_target: "target {p} %",
    asa: "ASA",
    abandoned: "Abandoned",
    offered_answered: "Offered / answered",
    agents_ready_paused: "Agents ready / paused",
    all_queues: "all queues",
    since: "since {t}",
    server_totals: "Server totals since it started: {a} answered · {b} abandoned",
    no_phone: "{n} without phone",
    legend_wait_warn: "longest wait ≥ {s} s",
    legend_wait_alarm: "longest wait ≥ {s} s",
    legend_sl: "service level below {p} % (answered within {t} s)",
    legend_phone: "phone not registered",
    legend_since: "\"since {t}\": counted by this page from the events received since then",
    phone_ok: "phone registered",
    phone_off: "phone not registered",
    in_ivr: "in the menus now",
    contained: "Contained (finished in the IVR)",
    to_agents: "To an agent",
    hung_up_in_ivr: "Hung up in the IVR",
    spy_phone: "My phone for listen / whisper / barge",
    spy: { listen: "Listen", whisper: "Whisper", barge: "Barge" },
    spy_title: {
      listen: "ring my phone to hear this call", whisper: "ring my phone to speak to the agent only",
      barge: "ring my phone to speak to both",
    },
    spy_no_phone: "Enter your phone first (e.g. PJSIP/9001).",
    spy_ringing: "{mode} {agent}: your phone {phone} is ringing.",
    spy_failed: "{mode} {agent} refused: {why}",
    spy_seen: "{who} {mode} {agent}",
    wrap_left: "wrap-up {d} left",
    wrap_over: "wrap-up over",
    waited: "waited {d}",
    state: {
      ready: "Ready", reserved: "Ringing", on_call: "On call", wrap_up: "Wrap-up",
      paused: "Paused", offline: "Offline",
    },
    reason: { break: "break", lunch: "lunch", no_answer: "no answer", training: "training" },
    outcome: {
      ringing: "ringing", connected: "connected", abandoned: "caller hung up",
      not_answered: "not answered", unknown: "outcome unknown", not_sent: "not sent",
      bridge_failed: "bridge failed",
    },
  },
  zh: {
    title: "监控大屏",
    lang_button: "EN",
    lang_title: "切换为英文",
    pbx_title: "服务器与交换机的连接",
    counting_title: "标有“自…起”的数字由本页根据收到的事件统计",
    connecting: "连接中…",
    live: "实时",
    resync: "重新同步…",
    down: "连接断开 — {s} 秒后重试",
    pbx_up: "交换机 {pbx}：正常",
    pbx_down: "交换机 {pbx}：断开",
    counting: "自 {t} 起统计",
    no_queue: "尚无队列上报：队列的第一个事件到达后显示。",
    no_agents: "等待快照…",
    no_decisions: "本页打开以来尚无分配。",
    agents: "坐席",
    decisions: "最近分配：为何选这位坐席",
    escalations: "已升级的投诉",
    unassigned: "未分派",
    escalation: "#{id} 升级至 {level} 级：{status} 超时 {d}",
    legend: "图例",
    queue: "队列",
    waiting: "排队中",
    longest_wait: "最长等待",
    service_level: "服务水平 ≤ {t} 秒",
    sl_target: "目标 {p} %",
    asa: "平均应答时间",
    abandoned: "放弃",
    offered_answered: "进线 / 接通",
    agents_ready_paused: "坐席 就绪 / 暂停",
    all_queues: "全部队列",
    since: "自 {t} 起",
    server_totals: "服务器启动以来累计：接通 {a} · 放弃 {b}",
    no_phone: "{n} 位话机未注册",
    legend_wait_warn: "最长等待 ≥ {s} 秒",
    legend_wait_alarm: "最长等待 ≥ {s} 秒",
    legend_sl: "服务水平低于 {p} %（{t} 秒内接通）",
    legend_phone: "话机未注册",
    legend_since: "“自 {t} 起”：本页根据此后收到的事件统计",
    phone_ok: "话机已注册",
    phone_off: "话机未注册",
    in_ivr: "正在语音导航",
    contained: "自助完成率",
    to_agents: "转人工",
    hung_up_in_ivr: "导航中挂断",
    spy_phone: "我的话机（监听 / 耳语 / 强插）",
    spy: { listen: "监听", whisper: "耳语", barge: "强插" },
    spy_title: {
      listen: "呼叫我的话机，旁听此通话", whisper: "呼叫我的话机，只对坐席说话",
      barge: "呼叫我的话机，与双方通话",
    },
    spy_no_phone: "请先填写您的话机（如 PJSIP/9001）。",
    spy_ringing: "{mode} {agent}：您的话机 {phone} 正在振铃。",
    spy_failed: "{mode} {agent} 被拒绝：{why}",
    spy_seen: "{who} {mode} {agent}",
    wrap_left: "话后处理剩余 {d}",
    wrap_over: "话后处理已到时",
    waited: "等待 {d}",
    state: {
      ready: "就绪", reserved: "振铃中", on_call: "通话中", wrap_up: "话后处理",
      paused: "暂停", offline: "离线",
    },
    reason: { break: "休息", lunch: "午餐", no_answer: "未接听", training: "培训" },
    outcome: {
      ringing: "振铃中", connected: "已接通", abandoned: "来电方挂断",
      not_answered: "未接听", unknown: "结果未知", not_sent: "未发出",
      bridge_failed: "桥接失败",
    },
  },
};

let lang = initialLanguage();

function initialLanguage() {
  const asked = PARAMS.get("lang");
  if (asked) return asked.toLowerCase().startsWith("zh") ? "zh" : "en";
  try {
    const saved = window.localStorage.getItem("wallboard.lang");
    if (saved === "zh" || saved === "en") return saved;
  } catch (err) { /* storage may be disabled */ }
  return String(navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

/** The text `key` (a dotted path) in the page's language, `{name}`s filled from `vars`. */
function t(key, vars = {}) {
  let value = key.split(".").reduce((node, part) => (node ? node[part] : undefined), TEXT[lang]);
  if (value === undefined) {
    value = key.split(".").reduce((node, part) => (node ? node[part] : undefined), TEXT.en);
  }
  if (value === undefined) return key.split(".").pop();
  return String(value).replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function stateLabel(state) {
  return TEXT[lang].state[state] || String(state).replaceAll("_", " ");
}

function reasonLabel(reason) {
  return TEXT[lang].reason[reason] || String(reason).replaceAll("_", " ");
}

// --- state -------------------------------------------------------------------------------

const queues = new Map();    // queue name -> see newQueue()
const agents = new Map();    // agent_id -> {agent_id, state, since, reason, call_id,
                             //              registered (true/false/null), wrapUntil}
let decisions = [];          // newest first: see onOffered()
let escalations = [];        // complaint.escalated, newest first
let countingSince = null;    // server time (ms) of the snapshot the page counts from
let snapshotReceived = false;
let lastEvent = "";          // "type@at" of the last message applied, and of the first one
let countedFrom = "";        // after the snapshot (a test compares the figures with these)
let clockOffset = 0;         // server clock minus local clock, seconds
let connState = { kind: "connecting", key: "connecting", vars: {} };
let pbxState = null;         // {pbx, up}
const ivrNow = new Map();     // call_id -> {flow, node}: callers in an IVR flow now
const ivrExits = new Map();   // flow -> {queue, completed, hung_up, error}, since countingSince
let lastSpy = null;          // the last spy.started seen (any supervisor)
let spyNote = null;          // {key, vars, kind} the answer to this page's last spy request

function serverNow() {
  return Date.now() / 1000 + clockOffset;
}

/** Follow the server clock: set from a snapshot, only moved forwards by events. */
function trackClock(at, reset) {
  if (typeof at !== "number") return;
  const offset = at - Date.now() / 1000;
  clockOffset = reset ? offset : Math.max(clockOffset, offset);
}

function newQueue(name) {
  return {
    name,
    status: null,       // last queue.changed
    offered: 0,         // counted since countingSince
    answered: 0,
    abandoned: 0,
    answeredWithin: 0,  // answered within SETTINGS.slSeconds
    abandonedAfter: 0,  // gave up after SETTINGS.slSeconds
    waitSum: 0,         // seconds waited by the answered
  };
}

function queueOf(name) {
  if (!queues.has(name)) queues.set(name, newQueue(name));
  return queues.get(name);
}

// --- event handlers ----------------------------------------------------------------------

const HANDLERS = {
  "snapshot": onSnapshot,
  "lagged": () => connection.resync(),
  "queue.changed": (ev) => { queueOf(ev.queue).status = ev; },
  "ivr.started": (ev) => { ivrNow.set(ev.call_id, { flow: ev.flow, node: "" }); },
  "ivr.node": (ev) => { ivrNow.set(ev.call_id, { flow: ev.flow, node: ev.node }); },
  "ivr.exit": onIvrExit,
  "call.ended": (ev) => { ivrNow.delete(ev.call_id); },
  "queue.entered": onEntered,
  "queue.offered": onOffered,
  "queue.connected": onConnected,
  "queue.not_connected": onNotConnected,
  "queue.abandoned": onAbandoned,
  "agent.state": onAgentState,
  "agent.wrap_up": onWrapUp,
  "spy.started": (ev) => { lastSpy = ev; },
  "complaint.escalated": (ev) => {
    escalations = [ev, ...escalations.filter((e) => e.complaint_id !== ev.complaint_id)]
      .slice(0, DECISIONS_SHOWN);
  },
  "pbx.link_up": (ev) => { pbxState = { pbx: ev.pbx, up: true }; },
  "pbx.link_down": (ev) => { pbxState = { pbx: ev.pbx, up: false }; },
};

function handleMessage(msg) {
  trackClock(msg.at, msg.type === "snapshot");
  const handler = HANDLERS[msg.type];
  if (handler) handler(msg);
  else if (typeof msg.type === "string" && msg.type.includes("registration")) onRegistration(msg);
  historyEvent(msg);  // history.js: today's intervals
  if (msg.type !== "lagged") lastEvent = `${msg.type}@${msg.at}`;
  if (msg.type === "snapshot") countedFrom = "";
  else if (countedFrom === "" && msg.type !== "lagged") countedFrom = lastEvent;
  scheduleRender();
}

function onSnapshot(msg) {
  // A snapshot starts (or starts again, after a reconnect that may have lost events) the
  // figures this page counts itself.
  countingSince = 1000 * (typeof msg.at === "number" ? msg.at : serverNow());
  queues.clear();
  for (const status of msg.queues || []) queueOf(status.queue).status = status;
  if (Array.isArray(msg.agents)) {
    const before = new Map(agents);
    agents.clear();
    for (const agent of msg.agents) {
      const old = before.get(agent.agent_id);
      const sameWrapUp = old && old.state === "wrap_up" && agent.state === "wrap_up";
      agents.set(agent.agent_id, {
        agent_id: agent.agent_id,
        state: agent.state,
        since: agent.since,
        reason: agent.reason || "",
        call_id: agent.call_id || "",
        registered: typeof agent.registered === "boolean" ? agent.registered
          : (old ? old.registered : null),
        wrapUntil: sameWrapUp ? old.wrapUntil : null,
      });
    }
  }
  if (msg.pbx) pbxState = { pbx: msg.pbx.pbx, up: Boolean(msg.pbx.connected) };
  ivrNow.clear();
  ivrExits.clear();
  for (const where of msg.ivr || []) ivrNow.set(where.call_id, where);
  snapshotReceived = true;
  connection.healthy();
  // history.js: the day so far up to the last event the snapshot reflects, read again after
  // every snapshot
  loadHistory(typeof msg.last_event_at === "number" ? msg.last_event_at : msg.at);
}

function onIvrExit(ev) {
  ivrNow.delete(ev.call_id);
  if (!ivrExits.has(ev.flow)) ivrExits.set(ev.flow, { queue: 0, completed: 0, hung_up: 0, error: 0 });
  const exits = ivrExits.get(ev.flow);
  exits[ev.outcome] = (exits[ev.outcome] || 0) + 1;
}

function onEntered(ev) {
  const queue = queueOf(ev.queue);
  if (!ev.requeued) queue.offered += 1;
}

function onOffered(ev) {
  queueOf(ev.queue);
  decisions.unshift({
    at: ev.at, queue: ev.queue, call_id: ev.call_id, channel_id: ev.channel_id,
    agent_id: ev.agent_id, waited_s: ev.waited_s, reason: ev.reason || "", outcome: "ringing",
  });
  decisions = decisions.slice(0, DECISIONS_SHOWN);
}

/** The newest decision for this caller (and agent, when given) still showing "ringing". */
function decisionOf(ev) {
  return decisions.find((d) => d.channel_id === ev.channel_id && d.outcome === "ringing"
    && (!ev.agent_id || d.agent_id === ev.agent_id));
}

function onConnected(ev) {
  const queue = queueOf(ev.queue);
  queue.answered += 1;
  queue.waitSum += Number(ev.waited_s) || 0;
  if (ev.waited_s <= SETTINGS.slSeconds) queue.answeredWithin += 1;
  const decision = decisionOf(ev);
  if (decision) decision.outcome = "connected";
}

function onNotConnected(ev) {
  queueOf(ev.queue);
  const decision = decisionOf(ev);
  if (decision) decision.outcome = ev.result || "not_answered";
}

function onAbandoned(ev) {
  const queue = queueOf(ev.queue);
  queue.abandoned += 1;
  if (ev.waited_s > SETTINGS.slSeconds) queue.abandonedAfter += 1;
  const decision = decisionOf({ channel_id: ev.channel_id });
  if (decision) decision.outcome = "abandoned";
}

function onAgentState(ev) {
  const old = agents.get(ev.agent_id);
  agents.set(ev.agent_id, {
    agent_id: ev.agent_id,
    state: ev.state,
    since: ev.at,
    reason: ev.reason || "",
    call_id: ev.call_id || "",
    registered: old ? old.registered : null,
    wrapUntil: ev.state === "wrap_up" && old && old.state === "wrap_up" ? old.wrapUntil : null,
  });
}

function onWrapUp(ev) {
  const agent = agents.get(ev.agent_id);
  if (agent) agent.wrapUntil = ev.until;
}

/** agent.registration, device.registration or a later event naming a registration: the
 *  agent is `agent_id`, or the agent whose id ends the `endpoint` ("PJSIP/2001" -> 2001). */
function onRegistration(ev) {
  if (typeof ev.registered !== "boolean") return;
  let agent = ev.agent_id ? agents.get(String(ev.agent_id)) : undefined;
  if (!agent && ev.endpoint) {
    const tail = String(ev.endpoint).split("/").pop().split("@")[0];
    agent = agents.get(tail);
  }
  if (agent) agent.registered = ev.registered;
}

// --- the connection ----------------------------------------------------------------------

const connection = {
  socket: null,
  retryMs: RETRY_MIN_MS,
  timer: null,

  async url() {
    const path = document.querySelector('meta[name="callcenter-events"]').content;
    const url = new URL(path, window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    // Browsers cannot set headers on a WebSocket: a single-use ticket of the signed-in
    // session goes in the URL instead (dead seconds later; /login/session.js).
    const ticket = await window.callcenterSession.ticket(true);
    if (ticket === null) return null;  // off to the sign-in page
    url.searchParams.set("ticket", ticket);
    return url.toString();
  },

  async open() {
    clearTimeout(this.timer);
    setStatus("connecting", "connecting");
    let url;
    try {
      url = await this.url();
    } catch (err) {  // the server is unreachable: try again later like a closed socket
      this.retry();
      return;
    }
    if (url === null) return;
    const ws = new WebSocket(url);
    this.socket = ws;
    ws.onmessage = (msg) => {
      if (ws !== this.socket) return;
      let data;
      try {
        data = JSON.parse(msg.data);
      } catch (err) {
        return;
      }
      handleMessage(data);
    };
    ws.onclose = () => {
      if (ws !== this.socket) return;
      this.socket = null;
      this.retry();
    };
  },

  healthy() {
    this.retryMs = RETRY_MIN_MS;
    setStatus("live", "live");
  },

  resync() {
    setStatus("resync", "resync");
    const old = this.socket;
    this.socket = null;
    if (old) old.close(1000, "resync");
    this.open();
  },

  retry() {
    const delay = this.retryMs * (0.8 + Math.random() * 0.4);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    const until = Date.now() + delay;
    const countdown = () => {
      setStatus("down", "down", { s: Math.max(0, Math.ceil((until - Date.now()) / 1000)) });
    };
    countdown();
    const tick = setInterval(countdown, 1000);
    this.timer = setTimeout(() => { clearInterval(tick); this.open(); }, delay);
  },
};

function setStatus(kind, key, vars = {}) {
  connState = { kind, key, vars };
  renderStatus();
}

// --- rendering ---------------------------------------------------------------------------

let renderPending = false;

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

function render() {
  renderStatic();
  renderStatus();
  renderQueues();
  renderAgents();
  renderDecisions();
  renderHistory();  // history.js
  renderLegend();
  document.body.dataset.lastEvent = lastEvent;
  document.body.dataset.countedFrom = countedFrom;
  document.body.dataset.ready = snapshotReceived ? "yes" : "no";
  tick();
}

/** Build an element; children are nodes or strings (strings become text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined)
    .map((child) => (child instanceof Node ? child : String(child))));
  return node;
}

function renderStatic() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t("title")} — call center`;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll("[data-i18n-title]")) {
    node.title = t(node.dataset.i18nTitle);
  }
  document.getElementById("lang").textContent = t("lang_button");
  const counting = document.getElementById("counting");
  counting.hidden = countingSince === null;
  if (countingSince !== null) counting.textContent = t("counting", { t: hhmm(countingSince) });
}

function renderStatus() {
  const conn = document.getElementById("conn");
  conn.className = `pill conn-${connState.kind}`;
  document.getElementById("conn-text").textContent = t(connState.key, connState.vars);
  const pbx = document.getElementById("pbx");
  if (pbxState) {
    pbx.className = `pill ${pbxState.up ? "pbx-up" : "pbx-down"}`;
    pbx.textContent = t(pbxState.up ? "pbx_up" : "pbx_down", { pbx: pbxState.pbx });
  }
}

function agentCounts() {
  const counts = Object.fromEntries(AGENT_STATES.map((s) => [s, 0]));
  let noPhone = 0;
  for (const agent of agents.values()) {
    counts[agent.state] = (counts[agent.state] || 0) + 1;
    if (agent.state !== "offline" && agent.registered === false) noPhone += 1;
  }
  return { counts, noPhone };
}

function renderQueues() {
  const section = document.getElementById("queues");
  document.getElementById("queues-empty").hidden = queues.size > 0;
  const { counts } = agentCounts();
  const since = countingSince === null ? "" : t("since", { t: hhmm(countingSince) });
  const tiles = [...queues.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((queue) => queueTile(queue, counts, since));
  const flows = new Set([...ivrExits.keys(), ...[...ivrNow.values()].map((w) => w.flow)]);
  const ivrTiles = [...flows].filter(Boolean).sort().map((flow) => ivrTile(flow, since));
  section.querySelectorAll(".qtile").forEach((node) => node.remove());
  section.append(...ivrTiles, ...tiles);
}

/** Callers in an IVR flow now, and what became of those who left it since the snapshot:
 *  containment = finished in the IVR (self-service, survey) over every exit. */
function ivrTile(flow, since) {
  const now = [...ivrNow.values()].filter((w) => w.flow === flow).length;
  const exits = ivrExits.get(flow) || { queue: 0, completed: 0, hung_up: 0, error: 0 };
  const left = exits.queue + exits.completed + exits.hung_up + exits.error;
  const contained = left > 0 ? `${((100 * exits.completed) / left).toFixed(0)} %` : "—";
  return el("article", { class: "qtile ivr-tile", "data-ivr-flow": flow },
    el("h2", {}, el("span", { class: "muted" }, "IVR"), " ", flow),
    el("div", { class: "qbody" },
      el("div", { class: "hero" },
        el("div", { class: "fig" },
          el("span", { class: "big", "data-figure": "in-ivr" }, now),
          el("label", {}, t("in_ivr")))),
      el("div", { class: "figs" },
        figure("contained", t("contained"), contained, since),
        figure("to-agents", t("to_agents"), exits.queue, since),
        figure("hung-up-in-ivr", t("hung_up_in_ivr"), exits.hung_up, since))));
}

function queueTile(queue, counts, since) {
  const status = queue.status;
  const waiting = status ? status.waiting : null;
  const oldestSince = status && status.waiting > 0 ? status.at - status.oldest_wait_s : null;

  // service level (the server's definition) and ASA, from what this page counted
  const slBase = queue.answered + queue.abandonedAfter;
  const sl = slBase > 0 ? (100 * queue.answeredWithin) / slBase : null;
  const slBad = sl !== null && sl < SETTINGS.slTarget;
  const asa = queue.answered > 0 ? queue.waitSum / queue.answered : null;
  const left = queue.answered + queue.abandoned;
  const abandonPct = left > 0 ? ` (${((100 * queue.abandoned) / left).toFixed(0)} %)` : "";
  const scope = queues.size > 1 ? t("all_queues") : null;

  const longest = el("span", { class: "big wait", "data-wait-since": oldestSince }, "0:00");
  if (oldestSince === null) longest.textContent = "—";

  return el("article", {
    class: `qtile${slBad ? " sl-bad" : ""}`, "data-queue": queue.name,
  },
  el("h2", {}, el("span", { class: "muted" }, t("queue")), " ", queue.name),
  el("div", { class: "qbody" },
  el("div", { class: "hero" },
    el("div", { class: "fig" },
      el("span", { class: "big", "data-figure": "waiting" }, waiting === null ? "—" : waiting),
      el("label", {}, t("waiting"))),
    el("div", { class: "fig" }, longest, el("label", {}, t("longest_wait")))),
  el("div", { class: "figs" },
    figure("service-level", t("service_level", { t: SETTINGS.slSeconds }),
      sl === null ? "—" : `${sl.toFixed(0)} %`,
      `${since} · ${t("sl_target", { p: SETTINGS.slTarget })}`, slBad ? "alarm" : (sl === null ? "" : "ok")),
    figure("asa", t("asa"), asa === null ? "—" : formatDuration(asa), since),
    figure("abandoned", t("abandoned"), `${queue.abandoned}${abandonPct}`, since),
    figure("offered-answered", t("offered_answered"), `${queue.offered} / ${queue.answered}`,
      since),
    figure("agents-ready-paused", t("agents_ready_paused"),
      `${counts.ready} / ${counts.paused}`, scope))),
  status ? el("p", { class: "totals", "data-answered": status.answered,
    "data-abandoned": status.abandoned },
  t("server_totals", { a: status.answered, b: status.abandoned })) : null);
}

function figure(name, label, value, note, tone = "") {
  return el("div", { class: `cell ${tone}`, "data-figure": name },
    el("label", {}, label),
    el("span", { class: "value" }, value),
    note ? el("small", {}, note) : null);
}

function renderAgents() {
  document.getElementById("agents-empty").hidden = agents.size > 0;
  const { counts, noPhone } = agentCounts();
  const sorted = [...agents.values()].sort((a, b) =>
    a.agent_id.localeCompare(b.agent_id, undefined, { numeric: true }));
  const cards = sorted.map((agent) => {
    const detail = [];
    if (agent.state === "paused" && agent.reason) detail.push(reasonLabel(agent.reason));
    const phone = agent.registered === null ? null : el("span", {
      class: `phone ${agent.registered ? "on" : "off"}`,
      title: t(agent.registered ? "phone_ok" : "phone_off"),
      "data-registered": agent.registered ? "yes" : "no",
    }, "☎");
    return el("div", {
      class: `agent state-${agent.state}`, "data-agent": agent.agent_id,
      "data-state": agent.state,
    },
    el("div", { class: "row" }, el("span", { class: "id" }, agent.agent_id), phone),
    el("div", { class: "state" }, stateLabel(agent.state)),
    el("div", { class: "time", "data-since": agent.since }, ""),
    el("div", { class: "detail", "data-wrap-until": agent.state === "wrap_up"
      ? agent.wrapUntil : null }, detail.join(" · ")),
    agent.state === "on_call" ? el("div", { class: "spy" }, ...SPY_MODES.map((mode) =>
      el("button", { type: "button", "data-spy": mode, "data-spy-agent": agent.agent_id,
        title: t(`spy_title.${mode}`) }, t(`spy.${mode}`)))) : null);
  });
  document.getElementById("agents").replaceChildren(...cards);
  const chips = AGENT_STATES.filter((s) => counts[s] > 0).map((s) =>
    el("span", { class: `chip state-${s}`, "data-count": s }, `${stateLabel(s)} ${counts[s]}`));
  if (noPhone > 0) {
    chips.push(el("span", { class: "chip no-phone", "data-count": "no_phone" },
      t("no_phone", { n: noPhone })));
  }
  document.getElementById("agent-counts").replaceChildren(...chips);
  renderSpyStatus();
}

function renderSpyStatus() {
  const out = document.getElementById("spy-status");
  if (spyNote) {
    out.className = `spy-${spyNote.kind}`;
    out.textContent = t(spyNote.key, spyNote.vars);
  } else if (lastSpy) {
    out.className = "spy-seen";
    out.textContent = t("spy_seen", { who: lastSpy.supervisor || lastSpy.supervisor_endpoint,
      mode: t(`spy.${lastSpy.mode}`), agent: lastSpy.agent_id });
  } else {
    out.textContent = "";
  }
}

// --- listen / whisper / barge ------------------------------------------------------------

const SPY_MODES = ["listen", "whisper", "barge"];

/** Ask the server to ring the supervisor's phone into ChanSpy on the agent's leg. */
async function requestSpy(agentId, mode) {
  const phone = document.getElementById("spy-phone").value.trim();
  const vars = { mode: t(`spy.${mode}`), agent: agentId, phone };
  if (!phone) {
    spyNote = { key: "spy_no_phone", vars, kind: "error" };
    renderSpyStatus();
    document.getElementById("spy-phone").focus();
    return;
  }
  try { window.localStorage.setItem("wallboard.phone", phone); } catch (err) { /* ignore */ }
  let answer;
  try {
    const resp = await fetch(`/api/agents/${encodeURIComponent(agentId)}/spy`, {
      method: "POST",
      headers: { "Content-Type": "application/json",
                 "X-CSRF-Token": await window.callcenterSession.csrfToken() },
      credentials: "same-origin", body: JSON.stringify({ mode, endpoint: phone }),
    });
    answer = { ok: resp.ok, body: await resp.json().catch(() => ({})) };
  } catch (err) {
    answer = { ok: false, body: { error: { message: String(err) } } };
  }
  if (answer.ok) spyNote = { key: "spy_ringing", vars, kind: "ok" };
  else {
    const why = (answer.body.error && answer.body.error.message) || "?";
    spyNote = { key: "spy_failed", vars: { ...vars, why }, kind: "error" };
  }
  renderSpyStatus();
}

function renderDecisions() {
  document.getElementById("decisions-empty").hidden = decisions.length > 0;
  const items = decisions.map((d) => el("li", { class: `outcome-${d.outcome}` },
    el("time", {}, clockTime(d.at)),
    el("span", { class: "who" }, `${d.queue} → ${d.agent_id}`),
    el("span", { class: "waited" }, t("waited", { d: formatDuration(d.waited_s) })),
    el("span", { class: "badge" }, t(`outcome.${d.outcome}`)),
    el("span", { class: "why" }, d.reason)));
  document.getElementById("decisions").replaceChildren(...items);
  const shown = document.getElementById("escalations");
  document.getElementById("escalations-box").hidden = escalations.length === 0;
  shown.replaceChildren(...escalations.map((e) => el("li", { class: "outcome-abandoned" },
    el("time", {}, clockTime(e.at)),
    el("span", { class: "who" }, e.department ? e.department.replace(/_/g, " ")
      : t("unassigned")),
    el("span", { class: "why" }, t("escalation", {
      id: e.complaint_id, level: e.level, status: e.status,
      d: formatDuration(e.overdue_s) })))));
}

function renderLegend() {
  const states = AGENT_STATES.map((s) => el("li", {},
    el("span", { class: `swatch state-${s}` }), stateLabel(s)));
  document.getElementById("legend-states").replaceChildren(...states);
  document.getElementById("legend-wait-warn").textContent =
    t("legend_wait_warn", { s: SETTINGS.waitWarn });
  document.getElementById("legend-wait-alarm").textContent =
    t("legend_wait_alarm", { s: SETTINGS.waitAlarm });
  document.getElementById("legend-sl").textContent =
    t("legend_sl", { p: SETTINGS.slTarget, t: SETTINGS.slSeconds });
  document.getElementById("legend-since").textContent = countingSince === null ? ""
    : t("legend_since", { t: hhmm(countingSince) });
}

/** Every second: times in state and the longest waits count up, wrap-ups count down. */
function tick() {
  const now = serverNow();
  for (const node of document.querySelectorAll("[data-since]")) {
    node.textContent = formatDuration(now - Number(node.dataset.since));
  }
  for (const node of document.querySelectorAll("[data-wait-since]")) {
    const waited = now - Number(node.dataset.waitSince);
    node.textContent = formatDuration(waited);
    node.classList.toggle("warn", waited >= SETTINGS.waitWarn && waited < SETTINGS.waitAlarm);
    node.classList.toggle("alarm", waited >= SETTINGS.waitAlarm);
    node.closest(".qtile")?.classList.toggle("wait-bad", waited >= SETTINGS.waitAlarm);
  }
  for (const node of document.querySelectorAll("[data-wrap-until]")) {
    const left = Number(node.dataset.wrapUntil) - now;
    node.textContent = left > 0 ? t("wrap_left", { d: formatDuration(Math.ceil(left)) })
      : t("wrap_over");
  }
  document.getElementById("clock").textContent = clockTime(now);  // the server's clock
}

// --- formatting --------------------------------------------------------------------------

function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** "14:05" (local time zone) of epoch milliseconds. */
function hhmm(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "14:05:09" (local time) of epoch seconds. */
function clockTime(at) {
  const d = new Date(at * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// --- start -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    try { window.localStorage.setItem("wallboard.lang", lang); } catch (err) { /* ignore */ }
    render();
  });
  const phone = document.getElementById("spy-phone");
  try { phone.value = window.localStorage.getItem("wallboard.phone") || ""; } catch (err) {
    /* ignore */
  }
  document.getElementById("spy-form").addEventListener("submit", (e) => e.preventDefault());
  document.getElementById("agents").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-spy]");
    if (button) requestSpy(button.dataset.spyAgent, button.dataset.spy);
  });
  setInterval(tick, 1000);
  render();
  connection.open();
});
