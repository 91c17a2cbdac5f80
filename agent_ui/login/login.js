// The sign-in page: POST /api/auth/login (the server sets the HttpOnly session cookie), then
// go where ?next= says (same-site paths only). English or Chinese: ?lang=, the saved choice,
// or the browser's language. Nothing here ever sees the session token.
"use strict";

const TEXT = {
  en: {
    title: "Call center", lead: "Sign in to continue.", username: "Username",
    password: "Password", submit: "Sign in", lang: "中文",
    bad: "Wrong username or password.",
    throttled: "Too many failed attempts. Try again in {s} s.",
    denied: "This page needs a supervisor account. Sign in with one.",
    failed: "The server did not answer ({status}). Try again.",
    missing: "Enter your username and password.",
  },
  zh: {
    title: "呼叫中心", lead: "请登录后继续。", username: "用户名", password: "密码",
    submit: "登录", lang: "EN",
    bad: "用户名或密码错误。",
    throttled: "失败次数过多，请在 {s} 秒后重试。",
    denied: "此页面需要主管账号，请使用主管账号登录。",
    failed: "服务器没有响应（{status}），请重试。",
    missing: "请输入用户名和密码。",
  },
};

const PARAMS = new URLSearchParams(window.location.search);

function initialLanguage() {
  const asked = PARAMS.get("lang");
  if (asked) return asked.toLowerCase().startsWith("zh") ? "zh" : "en";
  try {
    const saved = window.localStorage.getItem("callcenter.lang");
    if (saved === "zh" || saved === "en") return saved;
  } catch (err) { /* storage disabled */ }
  return String(navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

let lang = initialLanguage();
let shownError = null;  // [key, vars] so a language switch re-renders it

function t(key, vars = {}) {
  return TEXT[lang][key].replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function render() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t("title")} — ${t("submit")}`;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  document.getElementById("lang").textContent = t("lang");
  const error = document.getElementById("error");
  error.hidden = shownError === null;
  error.textContent = shownError === null ? "" : t(shownError[0], shownError[1]);
}

function showError(key, vars = {}) {
  shownError = [key, vars];
  render();
}

/** Where to go after signing in: a path on this site only (never another origin). */
function nextPath() {
  const next = PARAMS.get("next") || "/live/";
  return next.startsWith("/") && !next.startsWith("//") && !next.includes("\\") ? next : "/live/";
}

async function signIn(event) {
  event.preventDefault();
  const username = document.getElementById("username").value.trim();
  const password = document.getElementById("password").value;
  if (!username || !password) return showError("missing");
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    const response = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
      credentials: "same-origin",
    });
    if (response.ok) {
      window.location.assign(nextPath());
      return;
    }
    if (response.status === 401) showError("bad");
    else if (response.status === 429) {
      showError("throttled", { s: response.headers.get("Retry-After") || "60" });
    } else showError("failed", { status: response.status });
  } catch (err) {
    showError("failed", { status: String(err) });
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (PARAMS.get("denied")) shownError = ["denied", {}];
  render();
  const form = document.getElementById("form");
  form.addEventListener("submit", signIn);
  // Enabled only now: a click or Enter before this script ran would submit the form natively
  // (a GET with the password in the URL). Tests wait for the marker.
  document.getElementById("submit").disabled = false;
  form.dataset.ready = "yes";
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    try { window.localStorage.setItem("callcenter.lang", lang); } catch (err) { /* ignore */ }
    render();
  });
  document.getElementById("username").focus();
});
