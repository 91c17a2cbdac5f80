// The live page: everything comes from the server's /ws/events WebSocket, nothing is polled.
//
// Protocol (callcenter/web/routes/events.py, openapi.yaml `/ws/events`):
//   1. {"type": "snapshot", "at", "calls": [...], "channels": [...], "bridges": [...]}
//      right after connecting: the calls in progress at that instant.
//   2. every domain event as {"type": "call.started", "at": <epoch s>, ...fields}.
//   3. {"type": "lagged", "dropped": N} when this client fell behind: we re-open the socket
//      to start again from a fresh snapshot.
// The snapshot also carries, when the server has them, the agents, the PBX link and the last
// status of each queue and campaign; events keep them current from then on.
//
// Safety: event data is only ever inserted as text (textContent / Node.append(string)),
// never parsed as HTML.

"use strict";

const LOG_SIZE = 50;           // events shown in the log
const LOG_KEEP = 200;          // events remembered (so the channel.* toggle can refill the log)
const RETRY_MIN_MS = 1000;     // first reconnect delay; doubles up to RETRY_MAX_MS
const RETRY_MAX_MS = 30000;
const AGENT_STATES = ["ready", "reserved", "on_call", "wrap_up", "paused", "offline"];

// --- state ------------------------------------------------------------------------------

const calls = new Map();      // call_id -> see newCall()
const inIvr = new Map();     // call_id -> {flow, node}: callers in an IVR flow now
const agents = new Map();     // agent_id -> {agent_id, state, since, reason, call_id}
const queues = new Map();     // queue name -> last queue.changed
const campaigns = new Map();  // campaign name -> last campaign.changed
// campaign name -> last campaign.status: the day's figures as the law counts them (stored, so
// they do not start again at zero when a campaign is started again)
const campaignStatus = new Map();
let log = [];                 // newest first: {at, type, text}
let snapshotReceived = false;
let clockOffset = 0;          // server clock minus local clock, seconds

/** Server time now (epoch seconds), so durations tick locally without drifting from `at`. */
function serverNow() {
  return Date.now() / 1000 + clockOffset;
}

/** Follow the server clock: set it from a snapshot, only move it forwards on events. */
function trackClock(at, reset) {
  if (typeof at !== "number") return;
  const offset = at - Date.now() / 1000;
  clockOffset = reset ? offset : Math.max(clockOffset, offset);
}

// --- event handlers: one per type the page understands -----------------------------------

const HANDLERS = {
  "snapshot": onSnapshot,
  "lagged": onLagged,
  "call.started": onCallStarted,
  "call.answered": onCallAnswered,
  "call.ended": onCallEnded,
  "channel.created": onChannelState,
  "channel.state": onChannelState,
  "channel.hangup": onChannelLeft,
  "channel.bridged": onChannelBridged,
  "channel.unbridged": onChannelLeft,
  "channel.variable": onChannelVariable,
  "channel.dtmf": logOnly,
  "screen.popped": logOnly,
  "agent.state": onAgentState,
  "ivr.started": (ev) => { inIvr.set(ev.call_id, { flow: ev.flow, node: "" }); },
  "ivr.node": (ev) => { inIvr.set(ev.call_id, { flow: ev.flow, node: ev.node }); },
  "ivr.exit": (ev) => { inIvr.delete(ev.call_id); },
  "agent.registration": onAgentRegistration,
  "queue.changed": onQueueChanged,
  "campaign.changed": onCampaignChanged,
  "campaign.status": (ev) => { campaignStatus.set(ev.campaign, ev); },
  "pbx.link_up": onPbxLink,
  "pbx.link_down": onPbxLink,
  "pbx.resynced": logOnly,
};

function handleMessage(msg) {
  trackClock(msg.at, msg.type === "snapshot");
  const handler = HANDLERS[msg.type];
  if (handler) handler(msg);
  if (msg.type !== "snapshot") addLog(msg.type, msg.at, describe(msg));
  scheduleRender();
}

/** What the page keeps of a call; `vars` are our CC_* channel variables (queue, campaign,
 *  agent...), `bridged` the ids of its channels now in a bridge (talking to someone). */
function newCall(fields) {
  return {
    call_id: fields.call_id,
    caller_num: fields.caller_num || "",
    caller_name: fields.caller_name || "",
    state: fields.state || "setup",   // the server's call state: setup, ringing, up
    started_at: fields.started_at,
    vars: { ...(fields.variables || {}) },
    bridged: new Set(fields.bridged || []),
  };
}

function onSnapshot(msg) {
  calls.clear();
  inIvr.clear();
  for (const call of msg.calls || []) {
    if (call.state === "ended") continue;

    const bridged = (call.legs || [])
      .filter((leg) => leg.bridge_id && leg.state !== "hungup")
      .map((leg) => leg.channel_id);
    calls.set(call.call_id, newCall({ ...call, bridged }));
  }
  if (Array.isArray(msg.agents)) {
    agents.clear();
    for (const agent of msg.agents) {
      if (agent.state === "offline") continue;
      agents.set(agent.agent_id, {
        agent_id: agent.agent_id,
        state: agent.state,
        since: agent.since,
        reason: agent.reason || "",
        call_id: agent.call_id || "",
        registered: typeof agent.registered === "boolean" ? agent.registered : null,
      });
    }
  }
  if (msg.pbx) {
    onPbxLink({ type: msg.pbx.connected ? "pbx.link_up" : "pbx.link_down", pbx: msg.pbx.pbx });
  }
  for (const status of msg.queues || []) onQueueChanged(status);
  for (const where of msg.ivr || []) inIvr.set(where.call_id, where);
  for (const status of msg.campaigns || []) onCampaignChanged(status);
  for (const status of msg.campaign_status || []) campaignStatus.set(status.campaign, status);
  snapshotReceived = true;
  connection.healthy();
}

function onLagged() {
  connection.resync();
}

function onCallStarted(ev) {
  calls.set(ev.call_id, newCall({ ...ev, state: "setup", started_at: ev.at }));
}

function onCallAnswered(ev) {
  const call = calls.get(ev.call_id);
  if (call) call.state = "up";
}

function onCallEnded(ev) {
  calls.delete(ev.call_id);
  inIvr.delete(ev.call_id);  // hung up in the IVR (its ivr.exit may follow)
}

/** A leg ringing makes a call that is still being set up "ringing" (as the server's model). */
function onChannelState(ev) {
  const call = calls.get(ev.call_id);
  if (call && call.state === "setup" && (ev.state === "ring" || ev.state === "ringing")) {
    call.state = "ringing";
  }
}

function onChannelBridged(ev) {
  calls.get(ev.call_id)?.bridged.add(ev.channel_id);
}

function onChannelLeft(ev) {
  calls.get(ev.call_id)?.bridged.delete(ev.channel_id);
}

function onChannelVariable(ev) {
  const call = calls.get(ev.call_id);
  if (call) call.vars[ev.name] = ev.value;
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
  });
}

/** agent.registration: the agent's phone came or went (never offered a call without one). */
function onAgentRegistration(ev) {
  const agent = agents.get(ev.agent_id);
  if (agent && typeof ev.registered === "boolean") agent.registered = ev.registered;
}

function onQueueChanged(ev) {
  queues.set(ev.queue, ev);
}

function onCampaignChanged(ev) {
  campaigns.set(ev.campaign, ev);
}

function onPbxLink(ev) {
  const pill = document.getElementById("pbx");
  const up = ev.type === "pbx.link_up";
  pill.className = "pill " + (up ? "pbx-up" : "pbx-down");
  pill.textContent = `PBX ${ev.pbx}: ${up ? "up" : "down"}`;
}

function logOnly() {}

/** One line of text for the log. */
function describe(ev) {
  switch (ev.type) {
    case "lagged": return `fell behind, ${ev.dropped} events dropped: re-reading the snapshot`;
    case "call.started":
      return `${ev.caller_num || "?"}${ev.caller_name ? ` ${ev.caller_name}` : ""} → ` +
        `${ev.exten || "?"}`;
    case "call.answered": return `call ${ev.call_id}`;
    case "call.ended":
      return `call ${ev.call_id}: ${ev.hangup_cause_text || ev.hangup_cause}, ` +
        `${formatDuration(ev.duration_s)}${ev.answered ? "" : " (not answered)"}`;
    case "channel.created": return `${ev.name} (${ev.state})`;
    case "channel.state": return `${ev.name}: ${ev.previous} → ${ev.state}`;
    case "channel.hangup": return `${ev.name}: ${ev.cause_text || ev.cause}`;
    case "channel.bridged": return `${ev.channel_id} joined bridge ${ev.bridge_id}`;
    case "channel.unbridged": return `${ev.channel_id} left bridge ${ev.bridge_id}`;
    case "channel.variable": return `${ev.name} = ${ev.value}`;
    case "channel.dtmf": return `digit ${ev.digit} (${ev.direction})`;
    case "screen.popped":
      return `agent ${ev.agent_id} ← ${ev.caller_number}` +
        (ev.customer_id === null ? " (unknown caller)" : ` (customer ${ev.customer_id})`);
    case "agent.state":
      return `agent ${ev.agent_id}: ${ev.previous} → ${ev.state}` +
        (ev.reason ? ` (${ev.reason})` : "");
    case "ivr.started": return `call ${ev.call_id} entered IVR ${ev.flow} (${ev.language})`;
    case "ivr.node": return `call ${ev.call_id}: ${ev.flow} › ${ev.node} (${ev.kind})`;
    case "ivr.input": return `call ${ev.call_id} at ${ev.node}: ${ev.via} ${ev.value} → ${ev.result}`;
    case "ivr.recognition":
      return `call ${ev.call_id} at ${ev.node}: heard "${ev.text}" ` +
        `(${Math.round(ev.confidence * 100)} %${ev.accepted ? "" : ", not accepted"})`;
    case "ivr.exit":
      return `call ${ev.call_id} left IVR ${ev.flow}: ${ev.outcome}` +
        (ev.queue ? ` → ${ev.queue}` : "") + (ev.intent ? ` (${ev.intent})` : "");
    case "agent.registration":
      return `agent ${ev.agent_id}: phone ${ev.registered ? "registered" : "not registered"}`;
    case "queue.changed":
      return `${ev.queue}: ${ev.waiting} waiting, oldest ${formatDuration(ev.oldest_wait_s)}, ` +
        `${ev.answered} answered, ${ev.abandoned} abandoned`;
    case "campaign.changed":
      return `${ev.campaign}: ${ev.outcome} — ${ev.dialing} dialing, ${ev.waiting} waiting, ` +
        `${ev.connected} connected`;
    case "pbx.link_up": return `${ev.pbx} ${ev.version || ""}`;
    case "pbx.link_down": return `${ev.pbx}: ${ev.reason || "link lost"}`;
    case "pbx.resynced":
      return `${ev.pbx}: ${ev.calls} calls, ${ev.ghosts_removed} ghosts removed, ` +
        `${ev.discovered} discovered`;
    default: {
      const { type, at, ...fields } = ev;
      return JSON.stringify(fields).slice(0, 200);
    }
  }
}

function addLog(type, at, text) {
  log.unshift({ type: String(type), at: typeof at === "number" ? at : serverNow(), text });
  if (log.length > LOG_KEEP) log = log.slice(0, LOG_KEEP);
}

// --- the connection ---------------------------------------------------------------------

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
    setStatus("connecting", "connecting…");
    let url;
    try {
      url = await this.url();
    } catch (err) {  // the server is unreachable: try again later like a closed socket
      this.retry("unreachable");
      return;
    }
    if (url === null) return;
    const ws = new WebSocket(url);
    this.socket = ws;
    // Messages and closes of a socket we already replaced are ignored.
    ws.onmessage = (msg) => {
      if (ws !== this.socket) return;
      let data;
      try {
        data = JSON.parse(msg.data);
      } catch (err) {
        addLog("page", serverNow(), `unreadable message: ${err}`);
        return;
      }
      handleMessage(data);
    };
    ws.onclose = (close) => {
      if (ws !== this.socket) return;
      this.socket = null;
      this.retry(close.code);
    };
  },

  /** The snapshot arrived: the connection works, so the next failure starts a fresh backoff. */
  healthy() {
    this.retryMs = RETRY_MIN_MS;
    setStatus("live", "live");
  },

  /** After `lagged`: start again from a fresh snapshot on a new socket. */
  resync() {
    setStatus("resync", "resyncing…");
    const old = this.socket;
    this.socket = null;
    if (old) old.close(1000, "resync");
    this.open();
  },

  /** The socket closed: try again after a delay that doubles each time (with some jitter). */
  retry(code) {
    const delay = this.retryMs * (0.8 + Math.random() * 0.4);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    const until = Date.now() + delay;
    const seconds = Math.ceil(delay / 1000);
    addLog("page", serverNow(), `connection closed (code ${code}), retrying in ${seconds} s`);
    scheduleRender();
    const countdown = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setStatus("down", `disconnected — retrying in ${left} s`);
    };
    countdown();
    const tick = setInterval(countdown, 1000);
    this.timer = setTimeout(() => { clearInterval(tick); this.open(); }, delay);
  },
};

function setStatus(kind, text) {
  document.getElementById("conn").className = `pill conn-${kind}`;
  document.getElementById("conn-text").textContent = text;
}

// --- rendering --------------------------------------------------------------------------

let renderPending = false;

/** Many events can arrive in one frame: render at most once per frame. */
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

function render() {
  renderCallsTile();
  renderQueueTile();
  renderCampaignTile();
  renderAgents();
  renderCalls();
  renderLog();
  tick();
}

/** Build an element; children are nodes or strings (strings become text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;  // an attribute left out
    if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined)
    .map((child) => (child instanceof Node ? child : String(child))));
  return node;
}

function setText(id, value) {
  document.getElementById(id).textContent = String(value);
}

/** Show a tile's body once it has data, its "waiting for events" note until then. */
function showTile(id, hasData) {
  const tile = document.getElementById(id);
  tile.querySelector(".waiting-note").hidden = hasData;
  tile.querySelector(".tile-body").hidden = !hasData;
}

function renderCallsTile() {
  if (!snapshotReceived) return;
  const counts = new Map();
  for (const call of calls.values()) {
    const shown = callState(call);
    counts.set(shown, (counts.get(shown) || 0) + 1);
  }
  setText("calls-count", calls.size);
  const parts = [...counts].map(([shown, n]) => `${n} ${shown}`);
  setText("calls-sub", parts.length ? parts.join(" · ") : "none right now");
}

function renderQueueTile() {
  showTile("tile-queue", queues.size > 0);
  if (queues.size === 0) return;
  let waiting = 0;
  let answered = 0;
  let abandoned = 0;
  let oldestSince = null; // server time the longest-waiting caller started waiting
  for (const q of queues.values()) {
    waiting += q.waiting;
    answered += q.answered;
    abandoned += q.abandoned;
    if (q.waiting > 0) {
      const since = q.at - q.oldest_wait_s; // oldest_wait_s was measured at `at`
      oldestSince = oldestSince === null ? since : Math.min(oldestSince, since);
    }
  }
  setText("queue-name", names(queues));
  setText("queue-waiting", waiting);
  const oldest = document.getElementById("queue-oldest");
  if (oldestSince === null) {
    delete oldest.dataset.since;
    oldest.textContent = "—";
  } else {
    oldest.dataset.since = String(oldestSince);
  }
  setText("queue-answered", answered);
  setText("queue-abandoned", abandoned);
  setText("queue-abandon-pct", percent(abandoned, answered + abandoned));
}

function renderCampaignTile() {
  showTile("tile-campaign", campaigns.size > 0);
  if (campaigns.size === 0) return;
  const sum = { placed: 0, humans: 0, dropped: 0, dialing: 0, waiting: 0, connected: 0 };
  const pacings = new Set();
  for (const c of campaigns.values()) {
    for (const key of Object.keys(sum)) sum[key] += c[key];
    pacings.add(c.pacing);
  }
  setText("campaign-name", names(campaigns));
  setText("campaign-placed", sum.placed);
  setText("campaign-humans", sum.humans);
  setText("campaign-dropped", sum.dropped);
  setText("campaign-drop-pct", percent(sum.dropped, sum.humans));
  setText("campaign-lines",
    `${sum.dialing} dialing · ${sum.waiting} waiting · ${sum.connected} connected`);
  setText("campaign-pacing", [...pacings].join(", "));
  let answered = 0;
  let abandoned = 0;
  for (const s of campaignStatus.values()) {
    answered += s.answered_today;
    abandoned += s.abandoned_today;
  }
  const shown = Number.isInteger(abandoned) ? abandoned : abandoned.toFixed(1);
  setText("campaign-today", campaignStatus.size === 0 ? "—"
    : `${answered} answered · ${shown} abandoned ${percent(abandoned, answered)}`);
}

function renderAgents() {
  showTile("tile-agents", agents.size > 0);
  document.getElementById("agents-empty").hidden = agents.size > 0;
  const counts = Object.fromEntries(AGENT_STATES.map((s) => [s, 0]));
  const boxes = [];
  const sorted = [...agents.values()].sort((a, b) =>
    a.agent_id.localeCompare(b.agent_id, undefined, { numeric: true }));
  for (const agent of sorted) {
    counts[agent.state] = (counts[agent.state] || 0) + 1;
    const detail = agent.reason || (agent.call_id ? `call ${agent.call_id}` : "");
    const noPhone = agent.registered === false;
    boxes.push(el("div", { class: `agent state-${agent.state}${noPhone ? " no-phone" : ""}`,
      title: noPhone ? `phone not registered${detail ? ` · ${detail}` : ""}` : detail,
      "data-agent": agent.agent_id, "data-registered": agent.registered === null ? null
        : (agent.registered ? "yes" : "no") },
      el("div", { class: "id" }, agent.agent_id,
        noPhone ? el("span", { class: "badge-no-phone" }, "no phone") : null),
      el("div", { class: "state" }, label(agent.state)),
      el("div", { class: "time", "data-since": agent.since }, ""),
      el("div", { class: "detail" }, detail)));
  }
  document.getElementById("agents").replaceChildren(...boxes);
  if (agents.size === 0) return;
  setText("agents-ready", counts.ready);
  setText("agents-total", agents.size);
  const legend = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => el("li", { class: `state-${state}` }, `${label(state)} ${n}`));
  document.getElementById("agents-legend").replaceChildren(...legend);
}

function renderCalls() {
  const body = document.getElementById("calls");
  if (calls.size === 0) {
    const text = snapshotReceived ? "No calls in progress" : "waiting for the snapshot…";
    body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 5 }, text)));
    return;
  }
  const rows = [...calls.values()]
    .sort((a, b) => a.started_at - b.started_at)
    .map((call) => {
      const shown = callState(call);
      return el("tr", {},
        el("td", {}, callNumber(call), " ", el("span", { class: "muted" }, call.caller_name)),
        el("td", {}, callRoute(call)),
        el("td", {}, call.vars.CC_AGENT || ""),
        el("td", {}, el("span", { class: `badge call-${shown.replace(" ", "-")}` }, shown)),
        el("td", { class: "num", "data-since": call.started_at }, ""));
    });
  body.replaceChildren(...rows);
}

/** The state a person would name: a caller on hold music is "in queue", not just "up". */
function callState(call) {
  if (call.state !== "up") return call.state;
  if (call.bridged.size > 0) return "talking";
  if (inIvr.has(call.call_id)) return "in IVR";
  // an agent leg ringing for the caller is a leg of the caller's call: still in queue
  if (call.vars.CC_HOLD_START) return "in queue";
  return "answered";
}

/** The other party: the caller, or for an outbound call the number dialled. */
function callNumber(call) {
  if (call.vars.CC_DIRECTION === "outbound") return call.vars.CC_DNIS || "—";
  return call.caller_num || "—";
}

/** "inbound · support", "outbound · renewals", "agent leg · support" ... */
function callRoute(call) {
  const direction = call.vars.CC_DIRECTION || (call.vars.CC_AGENT ? "agent leg" : "");
  const ivr = inIvr.get(call.call_id);
  if (ivr) {
    return [direction, `IVR ${ivr.flow}${ivr.node ? ` › ${ivr.node}` : ""}`]
      .filter(Boolean).join(" · ");
  }
  const via = call.vars.CC_QUEUE || call.vars.CC_CAMPAIGN || "";
  return [direction, via].filter(Boolean).join(" · ");
}

function renderLog() {
  const showChannels = document.getElementById("log-channels").checked;
  const items = log
    .filter((entry) => showChannels || !entry.type.startsWith("channel."))
    .slice(0, LOG_SIZE)
    .map((entry) => el("li", { class: `fam-${entry.type.split(".")[0]}` },
      el("time", {}, clockTime(entry.at)),
      el("span", { class: "type" }, entry.type),
      el("span", { class: "what" }, entry.text)));
  document.getElementById("log").replaceChildren(...items);
}

/** Every second: durations and times in state count up locally, between events. */
function tick() {
  const now = serverNow();
  for (const node of document.querySelectorAll("[data-since]")) {
    node.textContent = formatDuration(now - Number(node.dataset.since));
  }
}

// --- formatting -------------------------------------------------------------------------

function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function percent(part, whole) {
  return whole > 0 ? `(${((100 * part) / whole).toFixed(1)} %)` : "";
}

function clockTime(at) {
  return new Date(at * 1000).toLocaleTimeString([], { hour12: false });
}

function label(state) {
  return String(state).replaceAll("_", " ");
}

function names(map) {
  return map.size === 1 ? [...map.keys()][0] : `${map.size} in all`;
}

// --- start ------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("log-channels").addEventListener("change", renderLog);
  setInterval(tick, 1000);
  render();
  connection.open();
});
