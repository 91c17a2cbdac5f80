// The complaint pages (docs/COMPLAINTS.md): ?view=queue — a department's work queue, one
// complaint's history and its next step; ?view=overview — the supervisor's overview (open by
// department and status, overdue, escalations); ?view=new&customer=ID[&call=CALL] — the form
// module on its own. Live: supervisors read complaint.* from /ws/events; department staff
// (agents: no event stream) re-read every 10 s. Text from the server is only ever set as text.

import { categoryLabel, mountComplaintForm, pickLang } from "./complaint-form.js";

const STRINGS = {
  en: {
    title: "Complaints", queue: "Work queue", overview: "Overview", new: "New complaint",
    live: "live", polling: "updates every 10 s", offline: "not connected",
    department: "Department", status: "Status", all: "all", open_only: "open",
    all_mine: "mine and not assigned",
    from_survey: "the customer's IVR survey answer",
    overdue_only: "overdue only", none: "No complaint here.", pick: "Pick a complaint.",
    id: "#", customer: "Customer", category: "Category", object: "About", severity: "Severity",
    deadline: "Due", escalation: "Escalation", request: "Request", details: "Details",
    registered: "Registered", by: "by", cause: "Cause", responsible: "Responsible",
    remedy: "Remedy", amount: "Amount", rating: "Rating", source: "Source",
    resolution: "Resolution", summary: "Summary", call: "Call", ivr_path: "IVR path",
    recording: "Recording", duplicate_of: "Repeats", history: "History", when: "When",
    step: "Step", actor: "Who", text: "Text", next: "Next step", take: "Take step",
    by_rule: "{d} (the category's rule)",
    closed: "Closed: no further step.", not_yours: "Only {dept} staff or a supervisor works this step.",
    overdue: "overdue", level: "level {n}", dup: "duplicate of #{id}",
    by_department: "Open complaints by department and status", open: "open",
    escalated: "escalated", unassigned: "not assigned", overdue_list: "Overdue now",
    feed: "Escalations and steps (live)", total_open: "open", total_overdue: "overdue",
    total_escalated: "escalated", step_done: "Done: {step}.", failed: "Refused: {why}",
    no_customer: "Open this page from a caller's screen pop (customer=ID).",
    "st.registered": "registered", "st.accepted": "accepted", "st.assigned": "assigned",
    "st.analysed": "analysed", "st.remedy_proposed": "remedy proposed",
    "st.carried_out": "carried out", "st.feedback_collected": "feedback collected",
    "st.closed": "closed",
    "act.accept": "accept", "act.dismiss": "answer and close (misunderstanding)",
    "act.assign": "assign department", "act.analyse": "cause analysis",
    "act.propose_remedy": "propose remedy", "act.carry_out": "carry out and notify customer",
    "act.collect_feedback": "collect feedback", "act.evaluate": "evaluate and close",
    "act.register": "registered", "act.notify": "customer notified", "act.escalate": "escalated",
    "sev.low": "low", "sev.normal": "normal", "sev.high": "high", "sev.critical": "critical",
    "rem.return": "return", "rem.exchange": "exchange", "rem.repair": "repair",
    "rem.discount": "discount", "rem.compensation": "compensation",
    "res.resolved": "resolved", "res.misunderstanding": "misunderstanding (answered)",
    "src.agent": "agent", "src.ivr": "IVR survey",
  },
  zh: {
    title: "投诉", queue: "工作队列", overview: "总览", new: "新投诉",
    live: "实时", polling: "每 10 秒更新", offline: "未连接",
    department: "部门", status: "状态", all: "全部", open_only: "未结",
    all_mine: "本部门及未分派",
    from_survey: "客户的 IVR 回访评分",
    overdue_only: "仅超时", none: "暂无投诉。", pick: "请选择一条投诉。",
    id: "#", customer: "客户", category: "类别", object: "投诉对象", severity: "严重程度",
    deadline: "期限", escalation: "升级", request: "诉求", details: "详情",
    registered: "登记", by: "由", cause: "原因", responsible: "责任人",
    remedy: "处理方案", amount: "金额", rating: "评分", source: "来源",
    resolution: "结果", summary: "总结", call: "通话", ivr_path: "IVR 路径",
    recording: "录音", duplicate_of: "重复于", history: "处理记录", when: "时间",
    step: "步骤", actor: "处理人", text: "说明", next: "下一步", take: "执行",
    by_rule: "{d}（按类别规则）",
    closed: "已结案，无后续步骤。", not_yours: "此步骤由{dept}人员或主管处理。",
    overdue: "超时", level: "{n} 级", dup: "重复于 #{id}",
    by_department: "各部门未结投诉（按状态）", open: "未结",
    escalated: "已升级", unassigned: "未分派", overdue_list: "当前超时",
    feed: "升级与处理（实时）", total_open: "未结", total_overdue: "超时",
    total_escalated: "已升级", step_done: "已完成：{step}。", failed: "被拒绝：{why}",
    no_customer: "请从来电弹屏打开此页（customer=ID）。",
    "st.registered": "已登记", "st.accepted": "已受理", "st.assigned": "已分派",
    "st.analysed": "已分析", "st.remedy_proposed": "已提出方案",
    "st.carried_out": "已执行", "st.feedback_collected": "已回访", "st.closed": "已结案",
    "act.accept": "受理", "act.dismiss": "答复并结案（误解）", "act.assign": "分派部门",
    "act.analyse": "原因分析", "act.propose_remedy": "提出处理方案",
    "act.carry_out": "执行并通知客户", "act.collect_feedback": "收集反馈",
    "act.evaluate": "评估并结案", "act.register": "登记", "act.notify": "已通知客户",
    "act.escalate": "升级",
    "sev.low": "低", "sev.normal": "一般", "sev.high": "高", "sev.critical": "紧急",
    "rem.return": "退货", "rem.exchange": "换货", "rem.repair": "维修", "rem.discount": "折扣",
    "rem.compensation": "赔偿", "res.resolved": "已解决", "res.misunderstanding": "误解（已答复）",
    "src.agent": "坐席", "src.ivr": "IVR 回访",
  },
};

const params = new URLSearchParams(location.search);
let lang = params.get("lang") ? pickLang(params.get("lang")) : pickLang();
let session = null;
let opts = null;
let view = params.get("view") || "";
let selected = params.get("id") ? Number(params.get("id")) : null;
let feed = [];
let refreshTimer = null;
let liveState = "offline";

function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

const dept = (name) => (name ? name.replace(/_/g, " ") : t("unassigned"));

async function api(path, init = {}) {
  const resp = await fetch(path, { credentials: "same-origin", ...init });
  if (resp.status === 401) {
    location.assign(`/login/?${new URLSearchParams({ next: location.pathname + location.search })}`);
    throw new Error("signed out");
  }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error((body.error && body.error.message) || `HTTP ${resp.status}`);
  return body;
}

function setUrl() {
  if (view === "new") return;  // keeps customer= and call=
  const q = new URLSearchParams();
  q.set("view", view);
  if (selected && view === "queue") q.set("id", String(selected));
  if (params.get("lang")) q.set("lang", params.get("lang"));
  history.replaceState(null, "", `?${q}`);
}

// --- header ---------------------------------------------------------------------------------

function renderHeader() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t("title")} — call center`;
  document.getElementById("title").textContent = t("title");
  const tabs = [["queue", t("queue")]];
  if (session.role !== "agent") tabs.push(["overview", t("overview")]);
  document.getElementById("tabs").replaceChildren(...tabs.map(([name, label]) =>
    el("a", { href: `?view=${name}`, class: view === name ? "active" : "", "data-view": name,
              onclick: (e) => { e.preventDefault(); view = name; selected = null; show(); } },
      label)));
  document.getElementById("who").textContent = session.username;
  const live = document.getElementById("live");
  live.textContent = t(liveState);
  live.className = liveState === "offline" ? "pill" : "pill on";
  document.getElementById("lang").textContent = lang === "zh" ? "English" : "中文";
}

// --- work queue -----------------------------------------------------------------------------

const queueState = { department: "", status: "open", overdue: false };

async function renderQueue(main) {
  const mine = opts.works_all ? opts.departments : opts.my_departments;
  const deptSelect = el("select", { id: "f-department", onchange: (e) => {
    queueState.department = e.target.value; show(); } },
    el("option", { value: "" }, opts.works_all ? t("all") : t("all_mine")),
    ...mine.map((d) => el("option", { value: d, selected: d === queueState.department },
      dept(d))));
  const statusSelect = el("select", { id: "f-status", onchange: (e) => {
    queueState.status = e.target.value; show(); } },
    el("option", { value: "open", selected: queueState.status === "open" }, t("open_only")),
    el("option", { value: "", selected: queueState.status === "" }, t("all")),
    ...opts.statuses.map((s) => el("option", { value: s, selected: queueState.status === s },
      t(`st.${s}`))));
  const overdue = el("input", { type: "checkbox", id: "f-overdue", checked: queueState.overdue,
    style: "width:auto", onchange: (e) => { queueState.overdue = e.target.checked; show(); } });
  const q = new URLSearchParams({ limit: "100" });
  if (queueState.department) q.set("department", queueState.department);
  if (queueState.status) q.set("status", queueState.status);
  if (queueState.overdue) q.set("overdue", "true");
  const list = await api(`/api/complaints?${q}`);
  const rows = list.complaints.map((c) => el("tr", {
      class: `clickable${c.id === selected ? " selected" : ""}`, "data-id": c.id,
      onclick: () => { selected = c.id; show(); } },
    el("td", { class: "num" }, `#${c.id}`),
    el("td", {}, c.customer_name || `#${c.customer_id}`),
    el("td", { class: "obj" }, c.object, c.duplicate_of
      ? [" ", el("span", { class: "badge dup" }, t("dup", { id: c.duplicate_of }))] : null),
    el("td", {}, categoryLabel(lang, c.category)),
    el("td", {}, el("span", { class: `badge sev-${c.severity}` }, t(`sev.${c.severity}`))),
    el("td", { class: "nowrap" }, t(`st.${c.status}`)),
    el("td", { class: "nowrap" }, when(c.deadline), c.overdue ? [" ", el("span", { class: "badge overdue" },
      t("overdue"))] : null, c.escalation_level ? [" ", el("span", { class: "badge esc" },
      t("level", { n: c.escalation_level }))] : null)));
  const table = list.complaints.length
    ? el("table", { id: "queue-table" }, el("thead", {}, el("tr", {},
        el("th", { class: "num" }, t("id")), el("th", {}, t("customer")), el("th", {}, t("object")),
        el("th", {}, t("category")), el("th", {}, t("severity")), el("th", {}, t("status")),
        el("th", {}, t("deadline")))), el("tbody", {}, rows))
    : el("p", { class: "note" }, t("none"));
  const left = el("section", { class: "panel" },
    el("div", { class: "filters" },
      el("label", {}, t("department"), deptSelect), el("label", {}, t("status"), statusSelect),
      el("label", { style: "display:flex;gap:6px;align-items:center" }, overdue,
        t("overdue_only"))), table);
  const right = el("section", { class: "panel", id: "detail" },
    selected ? await detail(selected) : el("p", { class: "note" }, t("pick")));
  main.replaceChildren(el("div", { class: "queue-layout" }, left, right));
}

async function detail(id) {
  let c;
  try { c = await api(`/api/complaints/${id}`); } catch (error) {
    return el("p", { class: "error" }, error.message);
  }
  const fact = (k, v) => (v === null || v === undefined || v === "" ? null
    : [el("dt", {}, t(k)), el("dd", {}, v)]);
  const facts = el("dl", { class: "facts" },
    fact("customer", `${c.customer_name || ""} (#${c.customer_id})`),
    fact("object", c.object), fact("request", c.request), fact("details", c.text),
    fact("category", categoryLabel(lang, c.category)), fact("severity", t(`sev.${c.severity}`)),
    fact("status", t(`st.${c.status}`)), fact("department", c.department && dept(c.department)),
    fact("deadline", c.deadline && `${when(c.deadline)}${c.overdue ? ` — ${t("overdue")}` : ""}`),
    fact("escalation", c.escalation_level ? t("level", { n: c.escalation_level }) : null),
    fact("registered", `${when(c.registered_at)} ${t("by")} ${c.registered_by || "?"}`),
    fact("cause", c.cause), fact("responsible", c.responsible),
    fact("remedy", c.remedy && `${t(`rem.${c.remedy}`)}${c.remedy_amount
      ? ` · ${c.remedy_amount}` : ""}`),
    fact("rating", c.feedback_rating && `${c.feedback_rating}/5 (${t(`src.${c.feedback_source}`)})`),
    fact("resolution", c.resolution && t(`res.${c.resolution}`)), fact("summary", c.summary),
    fact("duplicate_of", c.duplicate_of && `#${c.duplicate_of}`),
    fact("call", c.call && c.call.call_id), fact("ivr_path", c.call && c.call.ivr_path),
    fact("recording", c.call && c.call.recording_ref));
  const history = el("table", { class: "history", id: "history" },
    el("thead", {}, el("tr", {}, el("th", {}, t("when")), el("th", {}, t("step")),
      el("th", {}, t("actor")), el("th", {}, t("text")))),
    el("tbody", {}, c.history.map((s) => el("tr", { "data-kind": s.kind },
      el("td", {}, when(s.at)), el("td", {}, t(`act.${s.kind}`)), el("td", {}, s.actor),
      el("td", {}, s.text, Object.keys(s.data).length ? el("div", { class: "data" },
        Object.entries(s.data).map(([k, v]) => `${k}: ${v}`).join(" · ")) : null)))));
  return el("div", {}, el("h2", {}, `#${c.id} · ${t(`st.${c.status}`)}`), facts,
    el("h3", {}, t("history")), history, stepForm(c));
}

const FIELDS = {
  accept: ["text"], dismiss: ["text"], assign: ["department", "text"],
  analyse: ["cause", "responsible", "text"], propose_remedy: ["remedy", "amount", "text"],
  carry_out: ["text"], collect_feedback: ["rating", "source", "text"], evaluate: ["text"],
};

function stepForm(c) {
  if (!c.next_steps.length) return el("p", { class: "note" }, t("closed"));
  const action = el("select", { id: "step-action", name: "action" },
    c.next_steps.map((a) => el("option", { value: a }, t(`act.${a}`))));
  const fields = el("div", { class: "step-form full", id: "step-fields" });
  const note = el("output", { class: "note full", id: "step-note", "aria-live": "polite" });
  const inputs = {};
  const draw = () => {
    const parts = [];
    for (const name of FIELDS[action.value]) {
      let input;
      if (name === "department") {
        const byRule = opts.routing[c.category] || opts.routing.other;
        input = el("select", { name },
          c.department ? null : el("option", { value: "" }, t("by_rule", { d: dept(byRule) })),
          opts.departments.filter((d) => d !== c.department).map((d) => el("option", {
            value: d }, dept(d))));
      } else if (name === "remedy") {
        input = el("select", { name }, opts.remedies.map((r) => el("option", { value: r },
          t(`rem.${r}`))));
      } else if (name === "source") {
        input = el("select", { name }, el("option", { value: "agent" }, t("src.agent")),
          el("option", { value: "ivr" }, t("src.ivr")));
      } else if (name === "rating") {
        input = el("select", { name }, [5, 4, 3, 2, 1].map((n) => el("option", { value: n }, n)),
          el("option", { value: "" }, t("from_survey")));
      } else if (name === "text" || name === "cause") {
        input = el("textarea", { name, rows: 2, maxlength: 4000 });
      } else {
        input = el("input", { name, maxlength: name === "amount" ? 20 : 200 });
      }
      input.id = `step-${name}`;
      inputs[name] = input;
      parts.push(el("label", { for: input.id }, t(name === "text" ? (action.value === "evaluate"
        ? "summary" : "text") : name)), input);
    }
    fields.replaceChildren(...parts);
  };
  action.addEventListener("change", draw);
  draw();
  const submit = el("button", { type: "submit", id: "step-submit" }, t("take"));
  return el("form", { class: "step-form", id: "step-form", onsubmit: async (e) => {
    e.preventDefault();
    const body = { action: action.value, version: c.version };
    for (const [name, input] of Object.entries(inputs)) {
      if (!FIELDS[action.value].includes(name)) continue;
      const value = input.value.trim();
      if (name === "rating") { if (value !== "") body.rating = Number(value); }
      else if (value !== "" || name === "text") body[name] = value;
    }
    if (body.action === "assign" && !body.department) delete body.department;
    submit.disabled = true;
    try {
      await api(`/api/complaints/${c.id}/steps`, {
        method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf_token } });
      note.textContent = t("step_done", { step: t(`act.${body.action}`) });
      await show();
    } catch (error) {
      note.textContent = t("failed", { why: error.message });
      submit.disabled = false;
    }
  } }, el("h3", { class: "full" }, t("next")), el("label", { for: "step-action" }, t("step")),
  action, fields, el("div", { class: "full" }, submit), note);
}

// --- overview -------------------------------------------------------------------------------

async function renderOverview(main) {
  const [summary, overdue] = await Promise.all([
    api("/api/complaints/summary"), api("/api/complaints?overdue=true&limit=50")]);
  const rows = summary.departments;
  const sum = (key) => rows.reduce((n, r) => n + r[key], 0);
  const cards = el("div", { class: "cards", id: "cards" },
    el("div", { class: "card" }, el("div", { class: "v" }, sum("open")),
      el("div", { class: "k" }, t("total_open"))),
    el("div", { class: `card${sum("overdue") ? " alarm" : ""}` }, el("div", { class: "v" },
      sum("overdue")), el("div", { class: "k" }, t("total_overdue"))),
    el("div", { class: `card${sum("escalated") ? " warn" : ""}` }, el("div", { class: "v" },
      sum("escalated")), el("div", { class: "k" }, t("total_escalated"))));
  const stages = opts.statuses.filter((s) => s !== "closed");
  const table = rows.length ? el("table", { id: "by-department" },
    el("thead", {}, el("tr", {}, el("th", {}, t("department")),
      stages.map((s) => el("th", { class: "num" }, t(`st.${s}`))),
      el("th", { class: "num" }, t("open")), el("th", { class: "num" }, t("overdue")),
      el("th", { class: "num" }, t("escalated")))),
    el("tbody", {}, rows.map((r) => el("tr", {}, el("td", {}, dept(r.department === "unassigned"
      ? null : r.department)),
      stages.map((s) => el("td", { class: "num" }, r.by_status[s] || "·")),
      el("td", { class: "num" }, r.open),
      el("td", { class: "num" }, r.overdue ? el("span", { class: "badge overdue" }, r.overdue)
        : "0"),
      el("td", { class: "num" }, r.escalated ? el("span", { class: "badge esc" }, r.escalated)
        : "0")))))
    : el("p", { class: "note" }, t("none"));
  const late = overdue.complaints.length ? el("table", { id: "overdue" },
    el("thead", {}, el("tr", {}, el("th", { class: "num" }, t("id")), el("th", {}, t("customer")),
      el("th", {}, t("object")), el("th", {}, t("department")), el("th", {}, t("status")),
      el("th", {}, t("deadline")), el("th", {}, t("escalation")))),
    el("tbody", {}, overdue.complaints.map((c) => el("tr", {},
      el("td", { class: "num" }, el("a", { href: `?view=queue&id=${c.id}` }, `#${c.id}`)),
      el("td", {}, c.customer_name || ""), el("td", { class: "obj" }, c.object),
      el("td", {}, dept(c.department)), el("td", {}, t(`st.${c.status}`)),
      el("td", {}, when(c.deadline)),
      el("td", {}, c.escalation_level ? el("span", { class: "badge esc" },
        t("level", { n: c.escalation_level })) : "0")))))
    : el("p", { class: "note" }, t("none"));
  const feedList = el("ul", { class: "feed", id: "feed" }, feed.map((e) => el("li", {},
    el("time", {}, new Date(e.at * 1000).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB")),
    `#${e.complaint_id} `, e.type === "complaint.escalated"
      ? el("span", { class: "badge esc" }, `${t("act.escalate")} · ${t("level", { n: e.level })}`)
      : t(`act.${e.kind || "register"}`), e.actor ? ` · ${e.actor}` : "")));
  main.replaceChildren(el("div", { class: "overview-grid" }, cards,
    el("section", { class: "panel" }, el("h2", {}, t("by_department")), table),
    el("section", { class: "panel" }, el("h2", {}, t("overdue_list")), late),
    el("section", { class: "panel" }, el("h2", {}, t("feed")),
      feed.length ? feedList : el("p", { class: "note" }, "—"))));
}

// --- new ------------------------------------------------------------------------------------

async function renderNew(main) {
  const id = Number(params.get("customer"));
  if (!Number.isInteger(id) || id < 1) {
    main.replaceChildren(el("p", { class: "note" }, t("no_customer")));
    return;
  }
  const card = await api(`/api/customers/${id}`);
  const box = el("section", { class: "panel", id: "new-complaint" });
  main.replaceChildren(box);
  const created = await mountComplaintForm(box, { customer: card, callId: params.get("call"),
                                                  csrf: session.csrf_token, lang });
  if (created) {
    box.append(el("p", {}, el("a", { href: `?view=queue&id=${created.id}`, id: "open-created" },
      `#${created.id} → ${t("queue")}`)));
  }
}

// --- live -----------------------------------------------------------------------------------

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { if (view !== "new") show(); }, 250);
}

async function connectLive() {
  if (session.role === "agent") {
    liveState = "polling";
    setInterval(() => { if (view !== "new") show(); }, 10000);
    return;
  }
  const answer = await fetch("/api/auth/ws-ticket", { method: "POST", credentials: "same-origin",
    headers: { "X-CSRF-Token": session.csrf_token } });
  if (!answer.ok) { liveState = "offline"; return; }
  const { ticket } = await answer.json();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/events?types=complaint.*&ticket=${
    encodeURIComponent(ticket)}`);
  ws.onopen = () => { liveState = "live"; renderHeader(); };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (!msg.type || !msg.type.startsWith("complaint.")) return;
    feed = [msg, ...feed].slice(0, 12);
    scheduleRefresh();
  };
  ws.onclose = () => { liveState = "offline"; renderHeader(); setTimeout(connectLive, 3000); };
}

async function show() {
  setUrl();
  renderHeader();
  const main = document.getElementById("main");
  try {
    if (view === "overview") await renderOverview(main);
    else if (view === "new") await renderNew(main);
    else await renderQueue(main);
  } catch (error) {
    main.replaceChildren(el("p", { class: "error" }, error.message));
  }
  document.body.dataset.ready = "yes";
}

async function start() {
  const me = await fetch("/api/auth/session", { credentials: "same-origin" });
  if (me.status === 401) {
    location.assign(`/login/?${new URLSearchParams({ next: location.pathname + location.search })}`);
    return;
  }
  session = await me.json();
  opts = await api("/api/complaints/options");
  if (!view) view = session.role === "agent" ? "queue" : "overview";
  if (view === "overview" && session.role === "agent") view = "queue";
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    if (view !== "new") show(); else renderHeader();
  });
  await connectLive();
  await show();
}

start();
