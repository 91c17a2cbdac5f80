"""docker/asterisk/*.conf are consistent with each other, with the dialplan contract the server
relies on, and with the sandbox's port rewriting (pure functions, no Asterisk needed)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callcenter.config import AmiSettings, SandboxSettings
from callcenter.sandbox import debian_mirror
from callcenter.sandbox.configs import (
    ConfigRewriteError,
    config_digest,
    default_config_dir,
    render_configs,
    rewrite_config,
)

pytestmark = pytest.mark.unit

CONF_DIR = Path(__file__).resolve().parents[2] / "docker" / "asterisk"


# --------------------------------------------------------------------------- a tiny .conf parser


@dataclass
class Section:
    name: str
    template: bool = False
    parents: list[str] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        values = [v for k, v in self.items if k == key]
        return values[-1] if values else None

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.items if k == key]


def parse_conf(text: str) -> list[Section]:
    """Asterisk config syntax: [name](!,template) headers, key = value / key => value, ;
    comments (\\; is a literal semicolon), ``#include`` / ``#tryinclude`` directives (the
    included file is not read here)."""
    sections: list[Section] = []
    for raw in text.splitlines():
        line = re.sub(r"(?<!\\);.*", "", raw).strip()
        if not line:
            continue
        if re.fullmatch(r"#(try)?include\s+\S+", line):
            continue
        header = re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line)
        if header:
            options = [o.strip() for o in (header.group(2) or "").split(",") if o.strip()]
            sections.append(
                Section(
                    name=header.group(1),
                    template="!" in options,
                    parents=[o for o in options if o != "!"],
                )
            )
            continue
        parts = re.split(r"\s*(=>|=)\s*", line, maxsplit=1)
        assert len(parts) == 3, f"unparsable line: {raw!r}"
        key, _sep, value = parts
        assert sections, f"value outside a section: {raw!r}"
        sections[-1].items.append((key.strip(), value.strip()))
    return sections


def resolve(sections: list[Section], section: Section) -> dict[str, str]:
    """A section's settings with its templates' settings underneath."""
    merged: dict[str, str] = {}
    for parent in section.parents:
        template = next(s for s in sections if s.name == parent and s.template)
        merged.update(resolve(sections, template))
    for key, value in section.items:
        merged[key] = value
    return merged


def objects(sections: list[Section], type_: str) -> dict[str, dict[str, str]]:
    """Non-template pjsip objects of one type, by name, with templates applied."""
    found: dict[str, dict[str, str]] = {}
    for section in sections:
        if section.template:
            continue
        values = resolve(sections, section)
        if values.get("type") == type_:
            found[section.name] = values
    return found


def read(name: str) -> str:
    return (CONF_DIR / name).read_text()


def conf(name: str) -> list[Section]:
    return parse_conf(read(name))


def section(sections: list[Section], name: str) -> Section:
    matches = [s for s in sections if s.name == name]
    assert matches, f"no [{name}] section"
    return matches[0]


Dialplan = dict[str, dict[str, list[str]]]  # context -> extension -> applications in order


def parse_dialplan(text: str) -> Dialplan:
    plan: Dialplan = {}
    current_ext: str | None = None
    for sec in parse_conf(text):
        if sec.name in ("general", "globals"):
            continue
        ctx = plan.setdefault(sec.name, {})
        for key, value in sec.items:
            if key == "exten":
                ext, _prio, app = (p.strip() for p in value.split(",", 2))
                current_ext = ext
                ctx.setdefault(ext, []).append(app)
            elif key == "same":
                assert current_ext is not None, f"`same` before `exten` in [{sec.name}]"
                _prio, app = (p.strip() for p in value.split(",", 1))
                ctx[current_ext].append(app)
            elif key == "include":
                ctx.setdefault("__include__", []).append(value)
    return plan


@pytest.fixture(scope="module")
def dialplan() -> Dialplan:
    return parse_dialplan(read("extensions.conf"))


# --------------------------------------------------------------------------- the files exist


def test_all_expected_files_are_present() -> None:
    names = {p.name for p in CONF_DIR.glob("*.conf")}
    assert {
        "asterisk.conf",
        "modules.conf",
        "logger.conf",
        "manager.conf",
        "http.conf",
        "pjsip.conf",
        "rtp.conf",
        "musiconhold.conf",
        "extensions.conf",
    } <= names


@pytest.mark.parametrize("name", sorted(p.name for p in CONF_DIR.glob("*.conf")))
def test_every_file_parses(name: str) -> None:
    parse_conf(read(name))


def test_default_config_dir_is_the_repository_copy() -> None:
    assert default_config_dir() == CONF_DIR


# --------------------------------------------------------------------------- dialplan contract


CONTRACT = {
    "inbound": ["_X.", "s"],
    "ivr": ["s"],
    "holding": ["s"],
    "agents": ["_1XXX"],
    "agents-local": [],
    "outbound": ["_X."],
    "outbound-amd": ["s"],
    "outbound-connect": ["s"],
    "cc-test": [
        "answer",
        "hangup16",
        "busy",
        "congestion",
        "noanswer",
        "playback",
        "echo",
        "dtmf",
        "caller",
        "park",
    ],
}


@pytest.mark.parametrize(("context", "extensions"), sorted(CONTRACT.items()))
def test_contract_contexts_and_extensions_exist(
    dialplan: Dialplan, context: str, extensions: list[str]
) -> None:
    assert context in dialplan, f"[{context}] missing from extensions.conf"
    for exten in extensions:
        assert exten in dialplan[context], f"{exten}@{context} missing"


def test_audiosocket_global_points_at_the_server() -> None:
    globals_ = section(conf("extensions.conf"), "globals")
    assert globals_.get("CALLCENTER_AUDIOSOCKET") == "127.0.0.1:9092"


def test_inbound_sets_direction_and_dnis_then_enters_the_ivr(dialplan: Dialplan) -> None:
    for exten in ("_X.", "s"):
        apps = dialplan["inbound"][exten]
        assert "Set(CC_DIRECTION=inbound)" in apps
        assert "Set(CC_DNIS=${EXTEN})" in apps
        assert apps.index("Answer()") < apps.index("Goto(ivr,s,1)")
        assert apps[-1] == "Goto(ivr,s,1)"


def test_ivr_falls_through_to_next_or_holding(dialplan: Dialplan) -> None:
    apps = dialplan["ivr"]["s"]
    assert "Set(CC_IVR_UUID=${UUID()})" in apps
    audiosocket = [a for a in apps if "AudioSocket(" in a]
    assert audiosocket == ["TryExec(AudioSocket(${CC_IVR_UUID},${CALLCENTER_AUDIOSOCKET}))"], (
        "AudioSocket() hangs up when the server is unreachable: it must run under TryExec"
    )
    after = apps[apps.index(audiosocket[0]) + 1 :]
    assert any("CC_NEXT" in a and "holding,s,1" in a for a in after)
    assert "Goto(${CC_NEXT})" in after


def test_holding_records_start_and_waits(dialplan: Dialplan) -> None:
    apps = dialplan["holding"]["s"]
    # a caller sent back to holding (a transfer between queues) keeps its wait; a new one gets
    # the time with milliseconds (two in one second keep their order for an adopting server)
    assert apps[0] == ("Set(CC_HOLD_START=${IF($[${LEN(${CC_HOLD_START})}>0]?"
                       "${CC_HOLD_START}:${STRFTIME(,,%s.%3q)})})")
    assert "Answer()" in apps
    assert apps[-1] == "Goto(moh,1)"
    music = dialplan["holding"]["moh"]
    assert music[0] == "TryExec(MusicOnHold(${CC_MUSIC_CLASS},3600))"
    assert not any("CC_HOLD_START" in a for a in music), "the music restarts, the wait goes on"
    assert music[-1].startswith("Goto("), "holding must loop, never fall off the dialplan"


def test_queue_announce_and_timeout_contexts(dialplan: Dialplan) -> None:
    announce = dialplan["queue-announce"]["s"]
    assert any("${CC_POSITION}" in a for a in announce)
    assert announce[-1] == "Goto(holding,moh,1)", "back to the music, not a new wait"
    timeout = dialplan["queue-timeout"]["s"]
    assert timeout[0].startswith("Set(CC_TIMED_OUT=")
    assert timeout[-1].startswith("Hangup(")


def test_agent_and_outbound_dials(dialplan: Dialplan) -> None:
    assert dialplan["agents"]["_1XXX"][0] == "Dial(PJSIP/${EXTEN},30)"
    assert any(a.startswith("Dial(PJSIP/${EXTEN},") for a in dialplan["agents-local"]["_X."])
    outbound = dialplan["outbound"]["_X."]
    dial = [a for a in outbound if a.startswith("Dial(")]
    # through the campaign's trunk (CC_TRUNK), the carrier trunk by default
    assert len(dial) == 1 and dial[0].startswith(
        "Dial(PJSIP/${EXTEN}@${IF($[${LEN(${CC_TRUNK})}>0]?${CC_TRUNK}:trunk)},")
    assert "CC_RING_TIMEOUT" in dial[0]
    assert any("CALLERID(num)=${CC_CALLER_ID}" in a for a in outbound)


def test_outbound_amd_branches(dialplan: Dialplan) -> None:
    apps = dialplan["outbound-amd"]["s"]
    assert apps[0] == "Answer()"
    assert "AMD(${CC_AMD_ARGS})" in apps  # the campaign's parameters (empty: amd.conf)
    assert any('"${CC_AMD_STATUS}" = "NOTSURE" & "${CC_AMD_NOTSURE}" = "message"' in a
               and "outbound-abandon,s,1" in a for a in apps)
    assert "Set(CC_AMD_STATUS=${AMDSTATUS})" in apps
    joined = "\n".join(apps)
    assert "outbound-machine,s,1" in joined
    assert "Goto(outbound-connect,s,1)" in joined


@pytest.mark.parametrize(
    ("exten", "must_contain"),
    [
        ("answer", ["Answer()", "CC_TALK_S", "Hangup(16)"]),
        ("hangup16", ["Answer()", "Wait(0.2)", "Hangup(16)"]),
        ("busy", ["Busy(5)"]),
        ("congestion", ["Congestion(5)"]),
        ("noanswer", ["Ringing()", "Wait(600)"]),
        ("playback", ["Answer()", "Playback(${CC_FILE})"]),
        ("echo", ["Answer()", "Echo()"]),
        ("dtmf", ["Answer()", "Wait(0.5)", "SendDTMF(${CC_DTMF})"]),
        ("caller", ["Answer()", "Wait(0.5)", "Playback(${CC_FILE})"]),
        ("park", ["Answer()", "Goto(holding,s,1)"]),
    ],
)
def test_cc_test_extensions(dialplan: Dialplan, exten: str, must_contain: list[str]) -> None:
    joined = "\n".join(dialplan["cc-test"][exten])
    for piece in must_contain:
        assert piece in joined, f"{exten}@cc-test lacks {piece}"


def test_every_goto_target_exists(dialplan: Dialplan) -> None:
    text = read("extensions.conf")
    targets = re.findall(r"Goto(?:If)?\([^)]*?([\w-]+),([\w.+-]+),(\d+)\)", text)
    targets += re.findall(r"\?([\w-]+),([\w.+-]+),(\d+)\)", text)
    assert targets
    for context, exten, _prio in targets:
        if "$" in context or "$" in exten:
            continue
        assert context in dialplan, f"Goto to missing context [{context}]"
        assert exten in dialplan[context] or any(k.startswith("_") for k in dialplan[context]), (
            f"Goto to missing {exten}@{context}"
        )


def test_every_label_jumped_to_exists() -> None:
    text = read("extensions.conf")
    labels = set(re.findall(r"same => n\(([\w-]+)\)", text))
    jumps = re.findall(r"GotoIf\(\$\[[^?]*\]\?([\w-]+)\)", text)
    jumps += re.findall(r"Goto\(([\w-]+)\)", text)
    for label in jumps:
        assert label in labels, f"jump to undefined label {label}"


# --------------------------------------------------------------------------- pjsip


def test_pjsip_contexts_exist_in_the_dialplan(dialplan: Dialplan) -> None:
    sections = conf("pjsip.conf")
    endpoints = objects(sections, "endpoint")
    assert endpoints
    for name, values in endpoints.items():
        assert values.get("context") in dialplan, f"endpoint {name}: unknown context"


def test_pjsip_transports() -> None:
    transports = objects(conf("pjsip.conf"), "transport")
    by_protocol = {v["protocol"]: v for v in transports.values()}
    assert set(by_protocol) >= {"udp", "tcp", "ws"}
    assert by_protocol["udp"]["bind"].endswith(":5060")
    assert by_protocol["tcp"]["bind"].endswith(":5060")


def test_trunk_is_identified_by_ip_and_lands_in_inbound() -> None:
    sections = conf("pjsip.conf")
    trunk = objects(sections, "endpoint")["trunk"]
    assert trunk["context"] == "inbound"
    assert trunk["aors"] in objects(sections, "aor")
    identify = [v for v in objects(sections, "identify").values() if v["endpoint"] == "trunk"]
    assert identify and identify[0]["match"] == "127.0.0.1"


def test_identification_tries_username_before_ip() -> None:
    # Every peer on the sandbox is 127.0.0.1: IP first would make agents look like the trunk.
    global_ = objects(conf("pjsip.conf"), "global")
    order = next(iter(global_.values()))["endpoint_identifier_order"].split(",")
    assert order.index("username") < order.index("ip")


@pytest.mark.parametrize("agent", [str(n) for n in range(1001, 1011)])
def test_webrtc_agent_endpoints(agent: str) -> None:
    sections = conf("pjsip.conf")
    endpoint = objects(sections, "endpoint")[agent]
    assert endpoint["context"] == "agents"
    assert endpoint.get("webrtc") == "yes"
    auth = objects(sections, "auth")[endpoint["auth"]]
    assert auth["username"] == agent and auth.get("password")
    aor = objects(sections, "aor")[endpoint["aors"]]
    assert aor["max_contacts"] == "1"


@pytest.mark.parametrize("agent", [str(n) for n in range(2001, 2011)])
def test_plain_sip_agent_endpoints(agent: str) -> None:
    sections = conf("pjsip.conf")
    endpoint = objects(sections, "endpoint")[agent]
    assert endpoint["context"] == "agents"
    assert endpoint.get("webrtc") != "yes"
    assert endpoint["auth"] in objects(sections, "auth")
    assert objects(sections, "aor")[endpoint["aors"]]["max_contacts"] == "1"


# --------------------------------------------------------------------------- the other files


def test_manager_user_matches_the_server_defaults() -> None:
    sections = conf("manager.conf")
    general = section(sections, "general")
    assert general.get("enabled") == "yes"
    assert general.get("bindaddr") == "127.0.0.1"
    defaults = AmiSettings()
    assert general.get("port") == str(defaults.port)
    user = section(sections, defaults.username)
    assert user.get("secret") == defaults.secret.get_secret_value()
    assert user.get("read") == "all" and user.get("write") == "all"
    assert "127.0.0.1/255.255.255.255" in user.all("permit")


def test_http_serves_websockets_on_loopback() -> None:
    general = section(conf("http.conf"), "general")
    assert general.get("enabled") == "yes"
    assert general.get("bindaddr") == "127.0.0.1"
    assert general.get("bindport") == "8088"


def test_modules_keeps_what_the_call_center_needs() -> None:
    modules = section(conf("modules.conf"), "modules")
    assert modules.get("autoload") == "yes"
    noload = set(modules.all("noload"))
    assert all(name.endswith(".so") for name in noload)
    needed = {
        "chan_pjsip.so",
        "res_pjsip.so",
        "res_pjsip_session.so",
        "res_http_websocket.so",
        "res_pjsip_transport_websocket.so",
        "res_srtp.so",
        "app_queue.so",
        "app_amd.so",
        "app_audiosocket.so",
        "chan_audiosocket.so",
        "res_audiosocket.so",
        "res_agi.so",
        "app_mixmonitor.so",
        "app_chanspy.so",
        "app_playback.so",
        "app_dial.so",
        "app_exec.so",
        "app_echo.so",
        "app_senddtmf.so",
        "res_musiconhold.so",
        "pbx_config.so",
        "res_rtp_asterisk.so",
        "codec_ulaw.so",
        "codec_alaw.so",
        "codec_gsm.so",
        "format_wav.so",
        "format_gsm.so",
        "format_pcm.so",
        "format_sln.so",
        "func_uuid.so",
        "func_logic.so",
        "func_strings.so",
    }
    assert not needed & noload, f"needed modules disabled: {sorted(needed & noload)}"


def test_logger_writes_console_and_messages() -> None:
    logfiles = section(conf("logger.conf"), "logfiles")
    keys = [k for k, _ in logfiles.items]
    assert "console" in keys and "messages" in keys


def test_rtp_range_is_sane() -> None:
    general = section(conf("rtp.conf"), "general")
    assert int(general.get("rtpstart") or 0) < int(general.get("rtpend") or 0)


def test_default_music_on_hold_needs_no_extra_package() -> None:
    default = section(conf("musiconhold.conf"), "default")
    if default.get("mode") == "playlist":
        entries = default.all("entry")
        assert entries and all(e.startswith("/usr/share/asterisk/sounds/en/") for e in entries)
    else:
        assert default.get("directory")


# --------------------------------------------------------------------------- sandbox rewriting

CUSTOM = SandboxSettings(
    ami_port=25038,
    sip_port=25060,
    http_port=28088,
    rtp_start=31000,
    rtp_end=31099,
    audiosocket_port=29092,
    trunk_port=25070,
)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_configs(CONF_DIR, CUSTOM)


def test_rendering_covers_every_file(rendered: dict[str, str]) -> None:
    assert set(rendered) == {p.name for p in CONF_DIR.glob("*.conf")}


def test_rendered_ami_port(rendered: dict[str, str]) -> None:
    general = section(parse_conf(rendered["manager.conf"]), "general")
    assert general.get("port") == "25038"
    assert general.get("bindaddr") == "127.0.0.1"


def test_rendered_http_port(rendered: dict[str, str]) -> None:
    assert section(parse_conf(rendered["http.conf"]), "general").get("bindport") == "28088"


def test_rendered_sip_transports_and_trunk(rendered: dict[str, str]) -> None:
    sections = parse_conf(rendered["pjsip.conf"])
    transports = {v["protocol"]: v for v in objects(sections, "transport").values()}
    assert transports["udp"]["bind"] == "127.0.0.1:25060"
    assert transports["tcp"]["bind"] == "127.0.0.1:25060"
    assert objects(sections, "aor")["trunk"]["contact"] == "sip:127.0.0.1:25070"


def test_rendered_rtp_range(rendered: dict[str, str]) -> None:
    general = section(parse_conf(rendered["rtp.conf"]), "general")
    assert (general.get("rtpstart"), general.get("rtpend")) == ("31000", "31099")


def test_rendered_audiosocket_global(rendered: dict[str, str]) -> None:
    globals_ = section(parse_conf(rendered["extensions.conf"]), "globals")
    assert globals_.get("CALLCENTER_AUDIOSOCKET") == "127.0.0.1:29092"


def test_rendering_leaves_everything_else_alone(rendered: dict[str, str]) -> None:
    for name in ("modules.conf", "logger.conf", "musiconhold.conf", "asterisk.conf"):
        assert rendered[name] == read(name)
    # Only the rewritten lines differ.
    original = read("pjsip.conf").splitlines()
    changed = [
        (a, b) for a, b in zip(original, rendered["pjsip.conf"].splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 4  # udp bind, tcp bind, trunk contact, the customers' loop trunk


def test_default_settings_render_the_default_sandbox_ports() -> None:
    out = render_configs(CONF_DIR, SandboxSettings())
    assert "port = 15038" in out["manager.conf"]
    assert "bindport = 18088" in out["http.conf"]
    assert "bind = 127.0.0.1:15060" in out["pjsip.conf"]
    assert "CALLCENTER_AUDIOSOCKET = 127.0.0.1:19092" in out["extensions.conf"]


def test_digest_changes_with_ports(rendered: dict[str, str]) -> None:
    assert config_digest(rendered) == config_digest(dict(rendered))
    assert config_digest(rendered) != config_digest(render_configs(CONF_DIR, SandboxSettings()))


def test_rewrite_refuses_a_config_without_the_line() -> None:
    with pytest.raises(ConfigRewriteError, match="AMI port"):
        rewrite_config("manager.conf", "[general]\nenabled = yes\n", CUSTOM)
    assert rewrite_config("features.conf", "[general]\n", CUSTOM) == "[general]\n"


def test_rewrite_keeps_comments_and_spacing() -> None:
    text = "[general]\nport   =  5038   ; AMI\n"
    assert rewrite_config("manager.conf", text, CUSTOM) == "[general]\nport   =  25038   ; AMI\n"


# --------------------------------------------------------------------------- mirror discovery


def test_mirror_from_deb822_sources_skips_security(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n"
        "# http://snapshot.example/archive/debian/20250520T000000Z\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
    )
    assert debian_mirror([sources]) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources_list(tmp_path: Path) -> None:
    listing = tmp_path / "sources.list"
    listing.write_text(
        "# comment\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://mirror.example/debian bookworm main\n"
    )
    assert debian_mirror([tmp_path / "missing.sources", listing]) == "http://mirror.example/debian"


def test_mirror_missing_is_a_clear_error(tmp_path: Path) -> None:
    from callcenter.sandbox import SandboxError

    with pytest.raises(SandboxError, match="CALLCENTER_SANDBOX__MIRROR"):
        debian_mirror([tmp_path / "nothing"])
