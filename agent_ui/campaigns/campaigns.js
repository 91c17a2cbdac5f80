// The supervisors' campaign page: the campaigns (GET /api/campaigns), their live status and
// abandonment gauge (campaign.status on /ws/events, the snapshot's campaign_status), the
// compliance gate at work (refusals by reason from GET /api/campaigns/{name}/report, the
// latest decisions from GET /api/campaigns/{name}/decisions, both kept current by
// dial.decision on the stream), and the controls (POST /api/campaigns/{name}/control with the
// session's CSRF token). Everything shown is set as text (never as markup): names come from
// the database.
"use strict";

const cards = new Map();  // campaign name -> its card element
const refusals = new Map();  // campaign name -> {reason: count} of the gate's refusals
// How many of the latest gate decisions a card lists.
const SHOWN_DECISIONS = 8;
// The gauge's scale: the bar is full at twice the limit, so the limit sits in the middle.
const SCALE = 2;

function el(card, selector) { return card.querySelector(selector); }

function pct(value) { return `${Number(value || 0).toFixed(2)} %`; }

function cardFor(name) {
  let card = cards.get(name);
  if (card) return card;
  const template = document.getElementById("card");
  card = template.content.firstElementChild.cloneNode(true);
  card.dataset.name = name;
  el(card, ".name").textContent = name;
  for (const button of card.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => control(name, button.dataset.action, card));
  }
  document.getElementById("list").appendChild(card);
  document.getElementById("empty").hidden = true;
  cards.set(name, card);
  return card;
}

function gauge(card, which, rate, limit, answered, abandoned) {
  const box = card.querySelector(`.gauge[data-which="${which}"]`);
  el(box, ".rate").textContent = pct(rate);
  const fill = el(box, ".fill");
  fill.style.width = `${Math.min(100, (100 * rate) / (limit * SCALE))}%`;
  fill.classList.toggle("warn", rate > 0.8 * limit && rate <= limit);
  fill.classList.toggle("over", rate > limit);
  el(box, ".limit").style.left = `${100 / SCALE}%`;
  el(box, ".counts").textContent =
    `${abandoned} abandoned of ${answered} answered — limit ${pct(limit)}`;
}

function showState(card, state) {
  const pill = el(card, ".state");
  pill.textContent = state;
  pill.className = `state pill state-${state}`;
}

function showStatus(status) {
  const card = cardFor(String(status.campaign));
  showState(card, String(status.state));
  el(card, ".mode").textContent = String(status.mode);
  el(card, ".mode-select").value = String(status.mode);
  el(card, ".effective").textContent = String(status.effective_mode);
  el(card, ".reason").textContent = status.reason === "abandonment_budget_spent"
    ? "abandonment budget spent: dialling progressively" : "";
  gauge(card, "today", status.rate_today_pct, status.limit_pct, status.answered_today,
        status.abandoned_today);
  gauge(card, "30d", status.rate_30d_pct, status.limit_pct, status.answered_30d,
        status.abandoned_30d);
  el(card, ".pending").textContent = `${status.pending_leads} leads to go`;
  el(card, ".placed").textContent = `${status.placed} lines placed`;
}

function showRefused(name) {
  const card = cardFor(name);
  const counts = refusals.get(name) || {};
  const parts = Object.entries(counts).sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}`);
  el(card, ".refused").textContent = parts.length ? `refused: ${parts.join(" · ")}` : "";
}

function clock(at) {
  const when = typeof at === "number" ? new Date(at * 1000) : new Date(at);
  return when.toLocaleTimeString([], { hour12: false });
}

/** One gate decision (a dial.decision event or a row of the dial audit) at the top of the
 *  card's list. */
function showDecision(name, d) {
  const card = cardFor(name);
  const item = document.createElement("li");
  item.className = `v-${d.verdict}`;
  const local = String(d.local_times || "").split(",")[0];
  for (const [cls, text] of [["at", clock(d.at)], ["verdict", d.verdict],
                             ["number", d.number], ["why", local
                               ? `${d.reason} — callee's time ${local.slice(11)}` : d.reason]]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = String(text);
    item.appendChild(span);
  }
  const list = el(card, ".decisions");
  list.prepend(item);
  while (list.children.length > SHOWN_DECISIONS) list.lastElementChild.remove();
}

function onDecision(d) {
  const name = String(d.campaign);
  showDecision(name, d);
  if (d.verdict !== "dial") {
    const counts = refusals.get(name) || {};
    counts[d.reason] = (counts[d.reason] || 0) + 1;
    refusals.set(name, counts);
    showRefused(name);
  }
}

/** What the gate decided so far for ``name``; read before the stream is opened, whose
 *  dial.decision events then keep it current. */
async function loadGate(name) {
  const base = `/api/campaigns/${encodeURIComponent(name)}`;
  const [report, audit] = await Promise.all([
    fetch(`${base}/report`, { credentials: "same-origin" }),
    fetch(`${base}/decisions`, { credentials: "same-origin" })]);
  if (report.ok) {
    const counts = refusals.get(name) || {};
    for (const [reason, n] of Object.entries((await report.json()).refused || {})) {
      counts[reason] = (counts[reason] || 0) + Number(n);
    }
    refusals.set(name, counts);
    showRefused(name);
  }
  if (audit.ok) {
    const rows = (await audit.json()).decisions.slice(0, SHOWN_DECISIONS).reverse();
    for (const row of rows) showDecision(name, row);
  }
}

function showDefinition(view) {
  const card = cardFor(String(view.name));
  if (view.status) { showStatus(view.status); return; }
  showState(card, String(view.state));
  const mode = String(view.definition.mode);
  el(card, ".mode").textContent = mode;
  el(card, ".mode-select").value = mode;
  el(card, ".effective").textContent = "none";
  const limit = Number(view.definition.abandon_limit_pct);
  gauge(card, "today", 0, limit, 0, 0);
  gauge(card, "30d", 0, limit, 0, 0);
}

async function control(name, action, card) {
  const body = { action };
  if (action === "mode") body.mode = el(card, ".mode-select").value;
  const message = document.getElementById("message");
  const resp = await fetch(`/api/campaigns/${encodeURIComponent(name)}/control`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json",
               "X-CSRF-Token": await window.callcenterSession.csrfToken() },
    body: JSON.stringify(body),
  });
  const answer = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    message.textContent = `${name}: ${(answer.error && answer.error.message) || resp.status}`;
    return;
  }
  message.textContent = "";
  showStatus(answer);
}

/** The campaigns now; false when the visitor was sent to sign in (then nothing else runs:
 *  a second redirect would reload the sign-in page under the visitor's fingers). */
async function loadCampaigns() {
  const resp = await fetch("/api/campaigns", { credentials: "same-origin" });
  if (resp.status === 401) { window.callcenterSession.toLogin(false); return false; }
  if (resp.status === 403) { window.callcenterSession.toLogin(true); return false; }
  if (resp.ok) {
    const views = (await resp.json()).campaigns;
    for (const view of views) showDefinition(view);
    await Promise.all(views.map((view) => loadGate(String(view.name))));
  }
  return true;
}

function setConn(state, text) {
  const pill = document.getElementById("conn");
  pill.className = `pill conn-${state}`;
  document.getElementById("conn-text").textContent = text;
}

async function connect() {
  const path = document.querySelector('meta[name="callcenter-events"]').content;
  const url = new URL(path, window.location.href);
  url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
  let ticket;
  try {
    ticket = await window.callcenterSession.ticket(true);
  } catch (err) {
    setConn("down", "offline");
    setTimeout(connect, 3000);
    return;
  }
  if (ticket === null) return;
  url.searchParams.set("ticket", ticket);
  const ws = new WebSocket(url.toString());
  ws.onopen = () => setConn("live", "live");
  ws.onmessage = (msg) => {
    let data;
    try { data = JSON.parse(msg.data); } catch (err) { return; }
    if (data.type === "snapshot") {
      for (const status of data.campaign_status || []) showStatus(status);
    } else if (data.type === "campaign.status") {
      showStatus(data);
    } else if (data.type === "dial.decision") {
      onDecision(data);
    }
  };
  ws.onclose = () => { setConn("down", "reconnecting"); setTimeout(connect, 2000); };
}

loadCampaigns().then((go) => { if (go) connect(); });
