// The agent console: softphone (softphone.js, JsSIP bundled at build time), CTI controls,
// screen pop and wrap-up. Plain script, no framework. Every text comes from strings.js;
// every value from the server is put in the page as text (textContent), never as markup.
"use strict";

(() => {
  const STRINGS = window.CONSOLE_STRINGS;
  const session = window.callcenterSession;
  const $ = (id) => document.getElementById(id);
  const LANG_KEY = "cc.console.lang";

  const app = {
    me: null, agentId: null, csrf: "", phone: null, agent: null, pop: null, call: null,
    ws: null, wsUp: false, retryMs: 1000, talkStarted: null, lang: "en", wrapUntil: null,
    reasons: [], dispositions: [], campaigns: [], lead: null, skipped: {},
  };
  const enc = encodeURIComponent;
  window.consoleApp = app; // for people debugging in DevTools (and the browser tests)

  // --- language ------------------------------------------------------------------------
  function initialLang() {
    const asked = new URLSearchParams(location.search).get("lang");
    if (asked) return asked.toLowerCase().startsWith("zh") ? "zh-CN" : "en";
    try {
      const saved = localStorage.getItem(LANG_KEY);
      if (saved && STRINGS[saved]) return saved;
    } catch (_) { /* storage off */ }
    return String(navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }

  function t(key, vars) {
    let value = key.split(".").reduce((node, part) => (node ? node[part] : undefined),
      STRINGS[app.lang]);
    if (value === undefined) value = key.split(".").pop().replaceAll("_", " ");
    return String(value).replace(/\{(\w+)\}/g, (_, name) =>
      (vars && vars[name] !== undefined ? String(vars[name]) : ""));
  }

  /** A churn reason in the page's language from its code and figures; the server's English
   *  wording when the code or the figures are not known here (rows computed before params). */
  function churnReason(reason) {
    const params = reason && typeof reason.params === "object" ? reason.params : null;
    let key = reason && reason.code;
    if (key === "falling_satisfaction" && params && params.before === undefined) {
      key = "falling_satisfaction_first";
    }
    const templates = STRINGS[app.lang].churn_reason || {};
    if (params && typeof key === "string" && Object.hasOwn(templates, key)) {
      return t(`churn_reason.${key}`, params);
    }
    return String((reason && (reason.text || reason.code)) || "");
  }

  function applyLang() {
    document.documentElement.lang = app.lang;
    document.title = t("title");
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
    for (const el of document.querySelectorAll("[data-i18n-aria]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nAria));
    }
    $("lang").textContent = t("lang_button");
    fillDispositions();
    fillReasons();
    renderAll();
  }

  function toggleLang() {
    app.lang = app.lang === "en" ? "zh-CN" : "en";
    try { localStorage.setItem(LANG_KEY, app.lang); } catch (_) { /* storage off */ }
    applyLang();
  }

  // --- small helpers ---------------------------------------------------------------------
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(app.lang);
  }

  function banner(text) {
    const b = $("banner");
    b.hidden = !text;
    b.textContent = text || "";
  }

  async function api(method, path, body) {
    const headers = { "X-CSRF-Token": app.csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, credentials: "same-origin", headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) { session.toLogin(false); throw new Error("signed out"); }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      // the server's errors are {"error": {"code", "message"}} (callcenter/web/errors.py)
      const detail = (data && typeof data.error === "object" && data.error) || data || {};
      const error = new Error(detail.message || `HTTP ${response.status}`);
      error.status = response.status;
      error.code = detail.code || (typeof detail.error === "string" ? detail.error : undefined);
      error.data = data;
      throw error;
    }
    return data;
  }

  // --- agent state (CTI) -----------------------------------------------------------------
  function renderAgent() {
    const a = app.agent;
    const pill = $("agent-state");
    const state = a ? a.state : "offline";
    pill.dataset.state = state;
    pill.textContent = t(`state.${state}`);
    const detail = [];
    if (a && a.state === "paused" && a.reason) detail.push(t("reason_label", { reason: reasonLabel(a.reason) }));
    if (a && a.pause_after_work) detail.push(t("after_work", { reason: reasonLabel(a.pause_after_work) }));
    if (a && a.state === "wrap_up" && app.wrapUntil) {
      detail.push(t("until", { time: new Date(app.wrapUntil * 1000).toLocaleTimeString(app.lang) }));
    }
    $("state-detail").textContent = detail.join(" · ");
    $("ready").disabled = !a || a.state === "ready" || a.state === "on_call" || a.state === "reserved";
    $("pause").disabled = !a || (a.state === "paused" && !a.pause_after_work);
  }

  function reasonLabel(code) {
    const found = app.reasons.find((r) => r.code === code);
    return found ? (found.label || found.code) : code;
  }

  function fillReasons() {
    const select = $("pause-reason");
    const chosen = select.value;
    select.replaceChildren(...app.reasons.map((r) => {
      const option = el("option", r.label || r.code);
      option.value = r.code;
      return option;
    }));
    if (chosen) select.value = chosen;
  }

  async function setState(state) {
    const body = { state };
    if (state === "paused") body.reason = $("pause-reason").value;
    try {
      app.agent = await api("PUT", `/api/agents/${encodeURIComponent(app.agentId)}/state`, body);
      renderAgent();
      renderLead();
    } catch (err) { banner(t("refused", { error: err.message })); }
  }

  // --- screen pop ------------------------------------------------------------------------
  function renderPop() {
    const pop = app.pop;
    const card = pop && pop.card;
    $("pop-empty").hidden = Boolean(pop);
    $("card").hidden = !card;
    $("candidates").hidden = !(pop && pop.candidates && pop.candidates.length);
    $("new-caller").hidden = !(pop && pop.new_caller);
    $("complaint-btn").disabled = !card || Boolean(pop.preview);
    if (pop && pop.error) $("new-caller").textContent = t("lookup_error", { error: pop.error });
    if (pop && pop.candidates) {
      $("candidate-list").replaceChildren(...pop.candidates.map((c) =>
        el("li", `${c.name || ""} · ${c.customer_code || ""} · ${c.company || ""}`)));
    }
    if (!card) return;
    $("c-name").textContent = card.name || "";
    $("c-sub").textContent = [card.title, card.company, card.region].filter(Boolean).join(" · ");
    const tier = $("c-tier");
    tier.dataset.tier = card.value_tier;
    tier.textContent = t(`tier.${card.value_tier}`);
    const churn = card.churn || {};
    $("c-churn").hidden = !churn.at_risk;
    $("c-churn").textContent = churn.at_risk ? t("churn", {
      reasons: (churn.reasons || []).map(churnReason).join(app.lang === "zh-CN" ? "；" : "; "),
    }) : "";
    const facts = [
      ["f_code", card.customer_code],
      ["f_phones", (card.phones || []).join(", ")],
      ["f_value", card.value_12m ? `${card.value_12m.total} (${card.value_12m.orders})` : ""],
      ["f_email", card.email],
      ["f_tags", (card.tags || []).join(", ")],
      ["f_satisfaction", card.satisfaction && card.satisfaction.average !== null
        ? `${card.satisfaction.average} / 5 (${card.satisfaction.count})` : ""],
    ];
    if (card.do_not_call) facts.push(["f_dnc", t("yes")]);
    $("c-facts").replaceChildren(...facts.filter(([, v]) => v).flatMap(([k, v]) =>
      [el("dt", t(k)), el("dd", v)]));
    rows("c-orders", card.recent_orders, (o) => [when(o.ordered_at), o.product,
      `${o.amount} ${o.currency}`], [2]);
    rows("c-history", card.recent_interactions, (i) => [when(i.started_at), i.queue || "",
      i.agent || "", dispositionLabel(i.disposition), i.notes || "", recordingCell(i)]);
    rows("c-complaints", card.open_complaints, (k) => [when(k.opened_at), k.category,
      t(`complaint_status.${k.status}`), k.summary]);
  }

  function rows(id, items, cells, numeric) {
    const list = items || [];
    if (!list.length) {
      const td = el("td", t("none"), "muted");
      td.colSpan = 6;
      const tr = el("tr");
      tr.append(td);
      $(id).replaceChildren(tr);
      return;
    }
    $(id).replaceChildren(...list.map((item) => {
      const tr = el("tr");
      cells(item).forEach((value, i) => {
        if (value instanceof Node) { const td = el("td"); td.append(value); tr.append(td); return; }
        tr.append(el("td", value, numeric && numeric.includes(i) ? "num" : undefined));
      });
      return tr;
    }));
  }

  /** A past call's recording: the server decides who may hear it (HEAD first, so a player
   *  appears only where one would play; otherwise the reason). The audio streams from the
   *  authenticated route with the session's cookie; nothing from the pop goes into markup. */
  function recordingCell(item) {
    if (!item.recording_ref || !item.interaction_id) return "";
    const box = el("span", "…", "muted rec");
    const url = `/api/interactions/${encodeURIComponent(item.interaction_id)}/recording`;
    fetch(url, { method: "HEAD", credentials: "same-origin" }).then((answer) => {
      if (answer.ok) {
        const audio = document.createElement("audio");
        audio.controls = true;
        audio.preload = "metadata";
        audio.className = "rec-player";
        audio.setAttribute("aria-label", t("rec_label", { date: when(item.started_at) }));
        audio.src = url;
        box.className = "rec";
        box.replaceChildren(audio);
      } else {
        box.textContent = t(answer.status === 403 ? "rec_forbidden"
          : answer.status === 410 ? "rec_purged" : "rec_missing");
      }
    }).catch(() => { box.textContent = t("rec_missing"); });
    return box;
  }

  /** Alt+V: play (or pause) the newest playable recording on the card. */
  function toggleRecording() {
    const audio = document.querySelector("#c-history audio");
    if (!audio) return;
    if (audio.paused) audio.play().catch(() => {}); else audio.pause();
  }

  function onPop(message) {
    app.pop = message;
    app.call = { call_id: message.call_id, who: (message.card && message.card.name)
      || message.caller_number || "" };
    $("complaint-panel").hidden = true;
    // a draft written before a reload (or on another tab) for this call comes back
    const draft = drafts()[message.call_id];
    $("disposition").value = draft ? draft.disposition || "" : "";
    $("notes").value = draft ? draft.notes || "" : "";
    $("wrap-status").textContent = "";
    renderPop();
    renderWrap();
  }

  async function openComplaint() {
    if (!app.pop || !app.pop.card) return;
    const panel = $("complaint-panel");
    panel.hidden = false;
    panel.replaceChildren();
    try {
      const module = await import("/complaints/complaint-form.js");
      const created = await module.mountComplaintForm(panel, {
        customer: app.pop.card, callId: app.pop.call_id, csrf: app.csrf, lang: app.lang,
      });
      if (created && !$("disposition").value) {
        $("disposition").value = "complaint";
        keepDraft();
      }
      if (!created) panel.hidden = true; // cancelled
    } catch (err) {
      panel.replaceChildren(el("p", t("complaints_unavailable"), "muted"));
    }
  }

  // --- wrap-up: drafts survive reloads and network blips; sends are idempotent -----------
  function draftKey() { return `cc.console.drafts.${app.agentId}`; }

  function drafts() {
    try { return JSON.parse(localStorage.getItem(draftKey()) || "{}"); } catch (_) { return {}; }
  }

  function saveDrafts(all) {
    try { localStorage.setItem(draftKey(), JSON.stringify(all)); } catch (_) { /* full */ }
    renderOutbox();
  }

  function keepDraft(pending) {
    if (!app.call) return;
    const all = drafts();
    const old = all[app.call.call_id] || {};
    all[app.call.call_id] = {
      call_id: app.call.call_id, who: app.call.who,
      disposition: $("disposition").value, notes: $("notes").value,
      pending: pending === undefined ? Boolean(old.pending) : pending, at: Date.now(),
    };
    saveDrafts(all);
  }

  /** After a reload or a crash of the tab: the newest draft (under 12 h old) comes back. */
  function restoreDraft() {
    const newest = Object.values(drafts()).filter((d) => Date.now() - (d.at || 0) < 12 * 3600e3)
      .sort((a, b) => (b.at || 0) - (a.at || 0))[0];
    if (!newest || app.call) return;
    app.call = { call_id: newest.call_id, who: newest.who || "" };
    $("disposition").value = newest.disposition || "";
    $("notes").value = newest.notes || "";
    renderWrap();
  }

  function renderWrap() {
    $("wrap-call").textContent = app.call
      ? t("wrap_for", { call: app.call.call_id, who: app.call.who }) : t("wrap_none");
    for (const id of ["disposition", "notes", "wrap-save"]) $(id).disabled = !app.call;
  }

  /** A disposition's label in the page's language (the server's table: per language,
   *  English the fallback); a code the table does not know shows as itself. */
  function dispositionLabel(code) {
    if (!code) return "";
    const found = app.dispositions.find((d) => d.code === code);
    const labels = (found && found.labels) || {};
    return labels[app.lang] || labels.en || code;
  }

  /** The wrap-up list: the active dispositions of /api/dispositions, in their order. A code
   *  the agent had chosen and an admin has since disabled stays, marked, so the choice is not
   *  lost without a word (the server says why when it is saved). */
  function fillDispositions() {
    const select = $("disposition");
    const chosen = select.value;
    const blank = el("option", t("choose"));
    blank.value = "";
    const offered = app.dispositions.filter((d) => d.active).map((d) => {
      const option = el("option", dispositionLabel(d.code));
      option.value = d.code;
      return option;
    });
    if (chosen && !offered.some((o) => o.value === chosen)) {
      const gone = el("option", t("disposition_withdrawn", { label: dispositionLabel(chosen) }));
      gone.value = chosen;
      offered.push(gone);
    }
    select.replaceChildren(blank, ...offered);
    select.value = chosen;
  }

  async function loadDispositions() {
    try {
      app.dispositions = (await api("GET", "/api/dispositions")).dispositions || [];
    } catch (err) {
      app.dispositions = [];
      banner(t("dispositions_failed", { error: err.message }));
    }
    fillDispositions();
  }

  function renderOutbox() {
    const pending = Object.values(drafts()).filter((d) => d.pending);
    const list = $("outbox");
    if (!pending.length) { list.replaceChildren(el("li", t("outbox_empty"), "muted")); return; }
    list.replaceChildren(...pending.map((d) =>
      el("li", `${d.call_id} · ${d.who || ""} · ${dispositionLabel(d.disposition)}`)));
  }

  async function submitWrap(event) {
    if (event) event.preventDefault();
    if (!app.call) return;
    if (!$("disposition").value) { $("wrap-status").textContent = t("need_disposition"); return; }
    keepDraft(true);
    await flush();
  }

  /** Send every pending draft; a failure by network or server keeps it for the next try. */
  async function flush() {
    for (const draft of Object.values(drafts()).filter((d) => d.pending)) {
      try {
        const answer = await api("POST", `/api/agents/${encodeURIComponent(app.agentId)}/wrap-up`, {
          call_id: draft.call_id, disposition: draft.disposition, notes: draft.notes, done: true,
        });
        const all = drafts();
        delete all[draft.call_id];
        saveDrafts(all);
        app.agent = answer;
        renderAgent();
        if (app.call && app.call.call_id === draft.call_id) {
          $("wrap-status").textContent = t("saved", { disposition: dispositionLabel(draft.disposition) });
        }
      } catch (err) {
        const retry = !err.status || err.status >= 500 || err.status === 408 || err.status === 429;
        if (!retry) {
          const all = drafts();
          if (all[draft.call_id]) all[draft.call_id].pending = false;
          saveDrafts(all);
        }
        $("wrap-status").textContent = retry ? t("pending") : t("refused", { error: err.message });
      }
    }
  }

  // --- preview dialling: the next lead of a campaign in preview mode, Dial or Skip --------
  function leadStatus(text) { $("lead-status").textContent = text || ""; }

  function renderLead() {
    const lead = app.lead;
    $("lead-name").textContent = lead ? (lead.name || "") : t("lead_none");
    $("lead-number").textContent = lead ? lead.number : "";
    $("lead-meta").textContent = lead ? t("lead_meta", {
      attempts: lead.attempts, last: lead.last_outcome || t("none") }) : "";
    const ready = Boolean(app.agent && app.agent.state === "ready");
    $("lead-dial").disabled = !lead || lead.dialled || !ready;
    $("lead-skip").disabled = !lead || lead.dialled;
  }

  /** Running campaigns in preview mode (the server's list); the panel shows while any is. */
  async function loadCampaigns() {
    if (!app.agentId) return;
    let list = [];
    try {
      list = (await api("GET", `/api/agents/${enc(app.agentId)}/campaigns`)).campaigns || [];
    } catch (_) { list = []; }
    app.campaigns = list;
    const select = $("preview-campaign");
    const chosen = select.value;
    select.replaceChildren(...list.map((c) => {
      const option = el("option", c.company ? `${c.name} · ${c.company}` : c.name);
      option.value = c.name;
      return option;
    }));
    if (list.some((c) => c.name === chosen)) select.value = chosen;
    $("preview").hidden = !list.length;
    if (!list.length) { app.lead = null; renderLead(); return; }
    if (!app.lead || (app.lead.campaign !== select.value && !app.lead.dialled)) await loadLead();
  }

  /** The next lead past the ones this agent skipped (they stay for the others). */
  async function loadLead() {
    const name = $("preview-campaign").value;
    if (!name) return;
    const skip = [...(app.skipped[name] || [])].join(",");
    try {
      const answer = await api("GET", `/api/campaigns/${enc(name)}/preview?skip=${enc(skip)}`);
      app.lead = answer.lead ? { ...answer.lead, campaign: name } : null;
    } catch (err) {
      app.lead = null;
      leadStatus(t("refused", { error: err.message }));
    }
    renderLead();
    if (app.lead && app.lead.customer_id) showLeadCard(app.lead);
  }

  /** The lead's customer card in the customer panel, unless a call's card is there. */
  async function showLeadCard(lead) {
    const busy = app.agent && ["reserved", "on_call", "wrap_up"].includes(app.agent.state);
    if (busy) return;
    try {
      const card = await api("GET", `/api/customers/${enc(lead.customer_id)}`);
      if (app.lead !== lead) return; // skipped meanwhile
      app.pop = { preview: true, card, caller_number: lead.number, candidates: [],
        new_caller: false };
      renderPop();
    } catch (_) { /* the card is a help, not a must */ }
  }

  async function dialLead() {
    const lead = app.lead;
    if (!lead || lead.dialled) return;
    if (!app.agent || app.agent.state !== "ready") { leadStatus(t("lead_not_ready")); return; }
    try {
      await api("POST", `/api/campaigns/${enc(lead.campaign)}/leads/${enc(lead.lead_id)}/dial`);
      lead.dialled = true; // its card stays: the call comes to this agent
      leadStatus(t("lead_dialling", { number: lead.number }));
      renderLead();
      return;
    } catch (err) {
      const decision = err.data || {};
      if (decision.verdict) {
        const times = (decision.local_times || []).join(", ");
        leadStatus(t("lead_refused", { who: lead.name || lead.number,
          reason: t(`gate.${decision.reason}`) }) + (times ? t("lead_refused_at", { times }) : ""));
      } else if (err.code === "agent_not_ready") {
        leadStatus(t("lead_not_ready"));
        return;
      } else {
        leadStatus(t("refused", { error: err.message }));
      }
    }
    await loadLead();
  }

  async function skipLead() {
    const lead = app.lead;
    if (!lead || lead.dialled) return;
    (app.skipped[lead.campaign] = app.skipped[lead.campaign] || new Set()).add(lead.lead_id);
    leadStatus(t("lead_skipped", { who: lead.name || lead.number }));
    await loadLead();
  }

  // --- the phone -------------------------------------------------------------------------
  let phoneStatus = { registered: false, call: "idle", held: false, muted: false };

  function renderPhone() {
    const s = phoneStatus;
    const light = $("sip-light");
    light.dataset.on = String(Boolean(s.registered));
    light.title = s.registered ? t("registered") : t("not_registered");
    const parts = [t(`call_${s.call}`)];
    if (s.held) parts.push(t("held"));
    if (s.muted) parts.push(t("muted"));
    $("call-state").dataset.call = s.call;
    $("call-state").textContent = parts.join(" · ");
    $("caller").textContent = s.call !== "idle" ? (app.pop && app.pop.caller_number) || s.remote || "" : "";
    $("answer").disabled = s.call !== "ringing";
    $("hangup").disabled = s.call === "idle";
    const talking = s.call === "talking";
    for (const id of ["hold", "mute", "blind", "consult"]) $(id).disabled = !talking;
    $("complete").disabled = !s.consulting;
    $("hold").querySelector("span").textContent = s.held ? t("unhold") : t("hold");
    $("mute").querySelector("span").textContent = s.muted ? t("unmute") : t("mute");
    for (const key of $("dialpad").children) key.disabled = !talking;
  }

  function onPhone(status) {
    if (status.call === "talking" && phoneStatus.call !== "talking") app.talkStarted = Date.now();
    if (status.call === "idle") app.talkStarted = null;
    phoneStatus = status;
    if (status.error && !status.registered) banner(t("sip_failed", { error: status.error }));
    else if ($("banner").dataset.kind !== "ws") banner("");
    renderPhone();
  }

  async function startPhone() {
    if (!window.CallcenterPhone) { banner(t("bundle_missing")); return; }
    let account;
    try {
      account = await api("GET", `/api/agents/${encodeURIComponent(app.agentId)}/sip`);
    } catch (err) {
      banner(err.status === 404 ? t("sip_missing") : t("sip_failed", { error: err.message }));
      return;
    }
    app.phone = new window.CallcenterPhone.Softphone(account, $("speaker"));
    account = null;
    app.phone.onchange = onPhone;
    app.phone.start();
  }

  function buildDialpad() {
    for (const tone of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]) {
      const key = el("button", tone);
      key.type = "button";
      key.addEventListener("click", () => app.phone && app.phone.dtmf(tone));
      $("dialpad").append(key);
    }
  }

  setInterval(async () => {
    $("timer").textContent = app.talkStarted
      ? new Date(Date.now() - app.talkStarted).toISOString().slice(14, 19) : "";
    if (app.phone && phoneStatus.call === "talking") {
      const stats = await app.phone.mediaStats();
      app.media = stats;
      $("media").textContent = t("media", { rx: stats.packetsReceived, tx: stats.packetsSent });
    } else {
      $("media").textContent = "";
    }
  }, 1000);

  // --- the console stream (screen pops, own state) ---------------------------------------
  async function connect() {
    let ticket;
    try {
      ticket = await session.ticket(false);
    } catch (err) {
      return retry();
    }
    if (!ticket) return undefined;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/agents/${encodeURIComponent(app.agentId)}?ticket=${encodeURIComponent(ticket)}`);
    app.ws = ws;
    ws.onopen = () => {
      app.wsUp = true;
      app.retryMs = 1000;
      $("ws-light").dataset.on = "true";
      $("banner").dataset.kind = "";
      banner("");
      flush(); // drafts written while the server was away
      if (app.reconnected) loadDispositions(); // a change may have gone by meanwhile
      app.reconnected = true;
    };
    ws.onmessage = (e) => {
      let message;
      try { message = JSON.parse(e.data); } catch (_) { return; }
      if (message.type === "screen_pop") onPop(message);
      else if (message.type === "agent") {
        app.agent = message;
        renderAgent();
        renderLead();
        // ready again after a preview call: the next lead
        if (message.state === "ready" && app.lead && app.lead.dialled) loadLead();
      }
      else if (message.type === "agent.wrap_up") { app.wrapUntil = message.until; renderAgent(); }
      else if (message.type === "dispositions.changed") loadDispositions();
    };
    ws.onclose = () => {
      if (app.ws !== ws) return;
      app.wsUp = false;
      $("ws-light").dataset.on = "false";
      $("banner").dataset.kind = "ws";
      banner(t("reconnecting"));
      retry();
    };
    return undefined;
  }

  function retry() {
    setTimeout(connect, app.retryMs);
    app.retryMs = Math.min(app.retryMs * 2, 10000);
  }

  // --- keyboard --------------------------------------------------------------------------
  const KEYS = {
    a: () => app.phone && app.phone.answer(),
    h: () => app.phone && app.phone.hangUp(),
    o: () => app.phone && app.phone.toggleHold(),
    m: () => app.phone && app.phone.toggleMute(),
    t: () => { const to = $("transfer-to").value.trim(); if (to) app.phone.blindTransfer(to); else $("transfer-to").focus(); },
    r: () => setState("ready"),
    p: () => setState("paused"),
    n: () => $("notes").focus(),
    s: () => submitWrap(),
    c: () => openComplaint(),
    v: () => toggleRecording(),
    d: () => dialLead(),
    k: () => skipLead(),
    l: () => toggleLang(),
  };

  function onKey(event) {
    if (event.altKey && !event.ctrlKey && !event.metaKey) {
      const action = KEYS[event.key.toLowerCase()] || KEYS[(event.code || "").replace("Key", "").toLowerCase()];
      if (action) { event.preventDefault(); action(); }
      return;
    }
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test((event.target && event.target.tagName) || "");
    if (!typing && /^[0-9*#]$/.test(event.key) && phoneStatus.call === "talking") {
      app.phone.dtmf(event.key);
    }
  }

  function renderAll() {
    renderAgent();
    renderLead();
    renderPop();
    renderWrap();
    renderPhone();
    renderOutbox();
  }

  // --- start -----------------------------------------------------------------------------
  async function main() {
    app.lang = initialLang();
    buildDialpad();
    applyLang();
    const me = await fetch("/api/auth/session", { credentials: "same-origin" });
    if (me.status === 401) { session.toLogin(false); return; }
    app.me = await me.json();
    app.csrf = app.me.csrf_token;
    session.csrf = app.csrf;
    $("who").textContent = `${app.me.username}${app.me.agent_id ? ` · ${app.me.agent_id}` : ""}`;
    if (!app.me.agent_id) { $("not-agent").hidden = false; return; }
    app.agentId = app.me.agent_id;
    $("main").hidden = false;
    try {
      app.reasons = (await api("GET", "/api/config/pause-reasons")).pause_reasons || [];
    } catch (_) { app.reasons = []; }
    fillReasons();
    await loadDispositions();
    renderAll();
    restoreDraft();
    $("answer").addEventListener("click", () => app.phone && app.phone.answer());
    $("hangup").addEventListener("click", () => app.phone && app.phone.hangUp());
    $("hold").addEventListener("click", () => app.phone && app.phone.toggleHold());
    $("mute").addEventListener("click", () => app.phone && app.phone.toggleMute());
    $("blind").addEventListener("click", () => KEYS.t());
    $("consult").addEventListener("click", () => {
      const to = $("transfer-to").value.trim();
      if (to && app.phone) app.phone.startConsult(to);
    });
    $("complete").addEventListener("click", () => app.phone && app.phone.completeConsult());
    $("ready").addEventListener("click", () => setState("ready"));
    $("pause").addEventListener("click", () => setState("paused"));
    $("complaint-btn").addEventListener("click", openComplaint);
    $("wrap-form").addEventListener("submit", submitWrap);
    $("disposition").addEventListener("change", () => keepDraft());
    $("notes").addEventListener("input", () => keepDraft());
    $("lead-dial").addEventListener("click", dialLead);
    $("lead-skip").addEventListener("click", skipLead);
    $("preview-campaign").addEventListener("change", loadLead);
    loadCampaigns();
    setInterval(loadCampaigns, 10000);
    window.addEventListener("online", flush);
    setInterval(flush, 5000);
    connect();
    startPhone();
  }

  $("lang").addEventListener("click", toggleLang);
  $("logout").addEventListener("click", async () => {
    if (app.phone) app.phone.stop();
    try { await api("POST", "/api/auth/logout"); } catch (_) { /* gone anyway */ }
    session.toLogin(false);
  });
  document.addEventListener("keydown", onKey);
  main().catch((err) => banner(String(err && err.message ? err.message : err)));
})();
