// The console's softphone: JsSIP (from npm, bundled by scripts/build-ui.sh into softphone.js;
// nothing is fetched at run time) registered to Asterisk PJSIP over a WebSocket as the signed-in
// agent's own SIP account (GET /api/agents/{id}/sip). One call at a time, plus a consultation
// call during an attended transfer. The page (console.js) drives it and listens to `onchange`.
import JsSIP from "jssip";

const AUDIO_ONLY = { audio: true, video: false };

export class Softphone {
  /**
   * @param {{ws_url: string, uri: string, username: string, password: string,
   *          display_name?: string, ice_servers?: RTCIceServer[]}} account
   * @param {HTMLAudioElement} speaker where the far end is heard
   */
  constructor(account, speaker) {
    this.account = account;
    this.speaker = speaker;
    this.ua = null;
    this.session = null;       // the customer's call
    this.consult = null;       // the consultation leg of an attended transfer
    this.registered = false;
    this.connected = false;
    this.held = false;
    this.muted = false;
    this.reinviting = false;
    this.lastError = "";
    this.onchange = () => {};
  }

  start() {
    const socket = new JsSIP.WebSocketInterface(this.account.ws_url);
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri: this.account.uri,
      authorization_user: this.account.username,
      password: this.account.password,
      display_name: this.account.display_name || this.account.username,
      register: true,
      register_expires: 120,
      session_timers: false,
      // reconnect quickly after a network blip (JsSIP's own back-off, capped)
      connection_recovery_min_interval: 1,
      connection_recovery_max_interval: 10,
      user_agent: "callcenter-console",
    });
    // the password is not kept beyond the UA: nothing else in the page can read it back
    this.account = { ...this.account, password: undefined };
    this.ua.on("connected", () => { this.connected = true; this.changed(); });
    this.ua.on("disconnected", () => { this.connected = false; this.changed(); });
    this.ua.on("registered", () => { this.registered = true; this.lastError = ""; this.changed(); });
    this.ua.on("unregistered", () => { this.registered = false; this.changed(); });
    this.ua.on("registrationFailed", (e) => {
      this.registered = false;
      this.lastError = String(e.cause || "registration failed");
      this.changed();
    });
    this.ua.on("newRTCSession", (e) => this.onSession(e.session, e.originator));
    this.ua.start();
  }

  stop() {
    if (this.ua) this.ua.stop();
  }

  onSession(session, originator) {
    if (originator === "remote" && this.session && !this.session.isEnded()) {
      session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    if (originator === "remote") {
      this.session = session;
      this.held = false;
      this.muted = false;
    }
    session.on("peerconnection", (e) => this.attach(e.peerconnection));
    if (session.connection) this.attach(session.connection);
    for (const name of ["progress", "accepted", "confirmed", "hold", "unhold", "muted",
      "unmuted"]) {
      session.on(name, () => {
        if (session === this.session) {
          this.held = session.isOnHold().local;
          this.muted = session.isMuted().audio;
        }
        this.changed();
      });
    }
    const gone = () => {
      if (session === this.session) {
        this.session = null;
        this.held = false;
        this.muted = false;
        this.reinviting = false;
      }
      if (session === this.consult) this.consult = null;
      this.changed();
    };
    session.on("ended", gone);
    session.on("failed", gone);
    this.changed();
  }

  attach(pc) {
    pc.addEventListener("track", (e) => {
      if (e.streams && e.streams[0]) {
        this.speaker.srcObject = e.streams[0];
        this.speaker.play().catch(() => {});
      }
    });
  }

  changed() {
    try { this.onchange(this.status()); } catch (err) { console.error(err); }
  }

  /** What the page shows: idle | ringing | calling | talking, held, muted, registered. */
  status() {
    const s = this.session;
    let call = "idle";
    if (s && !s.isEnded()) {
      if (s.isEstablished()) call = "talking";
      else call = s.direction === "incoming" ? "ringing" : "calling";
    }
    return {
      registered: this.registered, connected: this.connected, call, held: this.held,
      muted: this.muted, reinviting: Boolean(this.reinviting), consulting: Boolean(this.consult && !this.consult.isEnded()),
      remote: s ? (s.remote_identity && s.remote_identity.uri && s.remote_identity.uri.user) || "" : "",
      error: this.lastError,
    };
  }

  answer() {
    if (!this.session || this.session.isEstablished()) return false;
    this.session.answer({
      mediaConstraints: AUDIO_ONLY,
      pcConfig: { iceServers: this.account.ice_servers || [] },
    });
    return true;
  }

  hangUp() {
    if (this.consult && !this.consult.isEnded()) { this.consult.terminate(); return true; }
    if (!this.session || this.session.isEnded()) return false;
    this.session.terminate();
    return true;
  }

  /** Hold or resume. `status().reinviting` is true until Asterisk answered the re-INVITE
   * (JsSIP marks the hold at once; a second press during the re-INVITE would be lost). */
  toggleHold() {
    const session = this.session;
    if (!session || !session.isEstablished() || this.reinviting) return false;
    const done = () => { this.reinviting = false; this.changed(); };
    const started = session.isOnHold().local ? session.unhold({}, done) : session.hold({}, done);
    if (started === false) return false;
    this.reinviting = true;
    clearTimeout(this.reinviteTimer);
    this.reinviteTimer = setTimeout(done, 10000); // no answer: let the agent try again
    this.changed();
    return true;
  }

  toggleMute() {
    if (!this.session || !this.session.isEstablished()) return false;
    if (this.session.isMuted().audio) this.session.unmute(AUDIO_ONLY);
    else this.session.mute(AUDIO_ONLY);
    return true;
  }

  dtmf(tone) {
    if (!this.session || !this.session.isEstablished()) return false;
    this.session.sendDTMF(tone, { duration: 120, interToneGap: 80 });
    return true;
  }

  target(number) {
    const host = this.account.uri.split("@")[1] || "";
    return number.includes("@") ? `sip:${number.replace(/^sip:/, "")}` : `sip:${number}@${host}`;
  }

  /** Blind transfer: REFER the customer to `number`; the call leaves this phone when it works. */
  blindTransfer(number) {
    if (!this.session || !this.session.isEstablished()) return false;
    const session = this.session;
    session.refer(this.target(number), { eventHandlers: this.referHandlers(session) });
    return true;
  }

  /** The far end took the transfer (NOTIFY 2xx): this leg is done, hang it up; a refusal
   * leaves the call as it was and says so. */
  referHandlers(session) {
    return {
      accepted: () => { if (!session.isEnded()) session.terminate(); },
      requestFailed: (e) => { this.lastError = `transfer refused: ${e && e.cause}`; this.changed(); },
      failed: (e) => { this.lastError = `transfer failed: ${e && e.cause}`; this.changed(); },
    };
  }

  /** Attended transfer, step 1: hold the customer, call `number` to consult. */
  startConsult(number) {
    if (!this.session || !this.session.isEstablished() || this.consult) return false;
    if (!this.session.isOnHold().local) this.session.hold();
    this.consult = this.ua.call(this.target(number), {
      mediaConstraints: AUDIO_ONLY,
      pcConfig: { iceServers: this.account.ice_servers || [] },
    });
    this.onSession(this.consult, "local");
    return true;
  }

  /** Attended transfer, step 2: join the customer to the consulted party (REFER/Replaces). */
  completeConsult() {
    if (!this.session || !this.consult || !this.consult.isEstablished()) return false;
    const session = this.session;
    const consult = this.consult;
    session.refer(consult.remote_identity.uri.toString(), {
      replaces: consult,
      eventHandlers: {
        ...this.referHandlers(session),
        accepted: () => {
          if (!session.isEnded()) session.terminate();
          if (!consult.isEnded()) consult.terminate();
        },
      },
    });
    return true;
  }

  /** Inbound RTP packets and bytes of the call so far (for the page's "media" light and tests). */
  async mediaStats() {
    const pc = this.session && this.session.connection;
    if (!pc) return { packetsReceived: 0, packetsSent: 0 };
    let packetsReceived = 0;
    let packetsSent = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") packetsReceived += r.packetsReceived || 0;
      if (r.type === "outbound-rtp" && r.kind === "audio") packetsSent += r.packetsSent || 0;
    });
    return { packetsReceived, packetsSent };
  }
}

export const version = JsSIP.version;
