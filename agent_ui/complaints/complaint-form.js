// The complaint form: an ES module the agent console mounts from the screen pop (contract in
// docs/COMPLAINTS.md): mountComplaintForm(container, {customer, callId, csrf, lang}) draws the
// form with the caller filled in and resolves with the created complaint (POST /api/complaints).
// Three clicks from the screen pop: open the form, pick the category, submit — the object and
// the request may be left empty (then "<category> complaint" and "to be clarified" are sent).
// Every text from the server or the caller is set as text (textContent / value), never as HTML.

const STRINGS = {
  en: {
    title: "Log a complaint",
    caller: "Caller",
    category: "Category",
    pick: "— pick a category —",
    object: "What is it about",
    object_hint: "e.g. order 4411 arrived broken",
    request: "What the customer asks",
    request_hint: "e.g. a replacement",
    severity: "Severity",
    text: "Details",
    submit: "Register complaint",
    cancel: "Cancel",
    sending: "Registering…",
    need_category: "Pick a category first.",
    done: "Complaint #{id} registered: due {deadline}.",
    duplicate: "Repeats complaint #{id} (same customer and category).",
    failed: "Not registered: {why}",
    default_request: "to be clarified",
    default_object: "{category} complaint",
    "severity.low": "low", "severity.normal": "normal", "severity.high": "high",
    "severity.critical": "critical",
  },
  zh: {
    title: "登记投诉",
    caller: "来电客户",
    category: "类别",
    pick: "— 选择类别 —",
    object: "投诉对象",
    object_hint: "例如：订单 4411 到货破损",
    request: "客户诉求",
    request_hint: "例如：换货",
    severity: "严重程度",
    text: "详情",
    submit: "登记投诉",
    cancel: "取消",
    sending: "登记中…",
    need_category: "请先选择类别。",
    done: "投诉 #{id} 已登记，处理期限 {deadline}。",
    duplicate: "与投诉 #{id} 重复（同一客户、同一类别）。",
    failed: "未登记：{why}",
    default_request: "待确认",
    default_object: "{category}投诉",
    "severity.low": "低", "severity.normal": "一般", "severity.high": "高",
    "severity.critical": "紧急",
  },
};

export const CATEGORY_LABELS = {
  en: { shipping: "shipping", delivery: "delivery", quality: "quality", product: "product",
        billing: "billing", service: "service", other: "other" },
  zh: { shipping: "物流", delivery: "配送", quality: "质量", product: "产品", billing: "账单",
        service: "服务", other: "其他" },
};

export function pickLang(lang) {
  return String(lang || navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function say(lang, key, vars = {}) {
  const table = STRINGS[lang] || STRINGS.en;
  const text = table[key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function categoryLabel(lang, category) {
  return (CATEGORY_LABELS[lang] || CATEGORY_LABELS.en)[category] || category;
}

/** The form's style sheet, once per document (the console has its own styles). */
function ensureStyles() {
  if (document.querySelector("link[data-complaint-form]")) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("complaint-form.css", import.meta.url).href;
  link.dataset.complaintForm = "";
  document.head.append(link);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined)
    .map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

function localTime(iso, lang) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso
    : d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium",
                                                             timeStyle: "short" });
}

async function options() {
  const resp = await fetch("/api/complaints/options", { credentials: "same-origin" });
  if (!resp.ok) throw new Error(`options: HTTP ${resp.status}`);
  return resp.json();
}

/**
 * Draw the form in `container`; resolves with the created complaint (the API's JSON), or
 * with null when cancelled. `customer`: {customer_id, name} (the screen pop's card).
 */
export function mountComplaintForm(container, { customer, callId = null, csrf = "", lang } = {}) {
  const L = pickLang(lang);
  ensureStyles();
  const key = (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
  return new Promise((resolve, reject) => {
    if (!customer || !Number.isInteger(customer.customer_id)) {
      reject(new Error("mountComplaintForm needs customer.customer_id"));
      return;
    }
    const category = el("select", { name: "category", id: "cf-category", required: true },
      el("option", { value: "" }, say(L, "pick")));
    const severity = el("select", { name: "severity", id: "cf-severity" });
    for (const s of ["low", "normal", "high", "critical"]) {
      severity.append(el("option", { value: s, selected: s === "normal" },
        say(L, `severity.${s}`)));
    }
    const object = el("input", { name: "object", id: "cf-object", maxlength: 1000,
                                 placeholder: say(L, "object_hint") });
    const request = el("input", { name: "request", id: "cf-request", maxlength: 1000,
                                  placeholder: say(L, "request_hint") });
    const text = el("textarea", { name: "text", id: "cf-text", rows: 3, maxlength: 4000 });
    const note = el("output", { class: "cf-note", id: "cf-note", "aria-live": "polite" });
    const submit = el("button", { type: "submit", id: "cf-submit" }, say(L, "submit"));
    const cancel = el("button", { type: "button", class: "secondary" }, say(L, "cancel"));
    const who = `${customer.name || ""} (#${customer.customer_id})`;
    const form = el("form", { class: "complaint-form", autocomplete: "off" },
      el("h3", {}, say(L, "title")),
      el("p", { class: "cf-caller" }, el("span", { class: "cf-label" }, say(L, "caller")), " ",
        el("strong", { id: "cf-caller" }, who)),
      el("label", { for: "cf-category" }, say(L, "category")), category,
      el("label", { for: "cf-object" }, say(L, "object")), object,
      el("label", { for: "cf-request" }, say(L, "request")), request,
      el("label", { for: "cf-severity" }, say(L, "severity")), severity,
      el("label", { for: "cf-text" }, say(L, "text")), text,
      el("div", { class: "cf-actions" }, submit, cancel), note);
    container.replaceChildren(form);

    options().then((opts) => {
      for (const c of opts.categories) category.append(el("option", { value: c },
        categoryLabel(L, c)));
    }).catch((error) => { note.textContent = say(L, "failed", { why: error.message }); });

    cancel.addEventListener("click", () => { container.replaceChildren(); resolve(null); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!category.value) { note.textContent = say(L, "need_category"); category.focus(); return; }
      submit.disabled = true;
      note.textContent = say(L, "sending");
      const label = categoryLabel(L, category.value);
      const body = {
        customer_id: customer.customer_id, call_id: callId || null, category: category.value,
        object: object.value.trim() || say(L, "default_object", { category: label }),
        request: request.value.trim() || say(L, "default_request"),
        severity: severity.value, text: text.value,
      };
      try {
        const resp = await fetch("/api/complaints", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf,
                     "Idempotency-Key": key },
          body: JSON.stringify(body),
        });
        const answer = await resp.json().catch(() => ({}));
        if (!resp.ok) {
          const why = (answer.error && answer.error.message) || `HTTP ${resp.status}`;
          note.textContent = say(L, "failed", { why });
          submit.disabled = false;
          return;
        }
        note.textContent = say(L, "done", { id: answer.id, deadline: localTime(answer.deadline, L) });
        if (answer.duplicate_of) {
          note.append(el("br"), say(L, "duplicate", { id: answer.duplicate_of }));
        }
        form.dataset.complaintId = String(answer.id);
        resolve(answer);
      } catch (error) {
        note.textContent = say(L, "failed", { why: error.message });
        submit.disabled = false;
      }
    });
  });
}
