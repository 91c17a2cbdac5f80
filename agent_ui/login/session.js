// Shared by the live page and the wallboard: a single-use WebSocket ticket for the signed-in
// session, or off to the sign-in page. The session cookie is HttpOnly (this script never
// sees it); the CSRF token read from /api/auth/session goes back in X-CSRF-Token on the POST.
"use strict";

window.callcenterSession = {
  csrf: null,

  /** The session's CSRF token, for the X-CSRF-Token header of a write ("" when signed out). */
  async csrfToken() {
    if (this.csrf === null) {
      const me = await fetch("/api/auth/session", { credentials: "same-origin" });
      if (me.ok) this.csrf = (await me.json()).csrf_token;
    }
    return this.csrf || "";
  },

  toLogin(denied) {
    const next = window.location.pathname + window.location.search;
    const query = new URLSearchParams({ next });
    if (denied) query.set("denied", "1");
    window.location.assign(`/login/?${query}`);
  },

  /** A ticket for `?ticket=`, or null after sending the visitor to sign in. */
  async ticket(needsSupervisor) {
    const me = await fetch("/api/auth/session", { credentials: "same-origin" });
    if (me.status === 401) { this.toLogin(false); return null; }
    if (!me.ok) throw new Error(`session: ${me.status}`);
    const session = await me.json();
    this.csrf = session.csrf_token;
    if (needsSupervisor && session.role === "agent") { this.toLogin(true); return null; }
    const answer = await fetch("/api/auth/ws-ticket", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": session.csrf_token },
    });
    if (answer.status === 401) { this.toLogin(false); return null; }
    if (!answer.ok) throw new Error(`ticket: ${answer.status}`);
    return (await answer.json()).ticket;
  },
};
