// The supervisors' analytics page: asks the server for the report (HTML with SVG charts,
// drawn by crm_bridge.analytics.report) and shows it. Supervisors only: without a session the
// visitor goes to /login/, an agent's session is sent back there as denied.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const report = $("report");
  const status = $("status");

  function query() {
    return new URLSearchParams({ days: $("days").value, interval: $("interval").value });
  }

  async function answer(resp) {
    if (resp.status === 401) { window.callcenterSession.toLogin(false); return null; }
    if (resp.status === 403) { window.callcenterSession.toLogin(true); return null; }
    if (!resp.ok) {
      let message = `${resp.status}`;
      try { message = (await resp.json()).error.message || message; } catch (_) { /* text */ }
      throw new Error(message);
    }
    return resp;
  }

  async function show(note) {
    const params = query();
    $("pdf").href = `/api/analytics/report?${params}&format=pdf`;
    report.setAttribute("aria-busy", "true");
    status.textContent = "loading…";
    try {
      const resp = await answer(await fetch(`/api/analytics/report?${params}&format=fragment`,
                                            { credentials: "same-origin" }));
      if (resp === null) return;
      // the server's own HTML: tables and charts it escaped and drew itself
      report.innerHTML = await resp.text();
      status.textContent = `${note ? `${note} · ` : ""}as of ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      status.textContent = `could not load the report: ${error.message}`;
    } finally {
      report.setAttribute("aria-busy", "false");
      document.body.dataset.loaded = String(Date.now());
    }
  }

  async function recompute() {
    status.textContent = "recomputing tiers…";
    try {
      const resp = await answer(await fetch("/api/analytics/refresh", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": await window.callcenterSession.csrfToken() },
      }));
      if (resp === null) return;
      const counts = await resp.json();
      await show(`tiers recomputed: ${counts.customers} customers, ` +
                 `${counts.churn_risk} with a churn warning`);
    } catch (error) {
      status.textContent = `could not recompute: ${error.message}`;
    }
  }

  $("controls").addEventListener("submit", (event) => { event.preventDefault(); show(""); });
  $("recompute").addEventListener("click", recompute);
  show("");
})();
