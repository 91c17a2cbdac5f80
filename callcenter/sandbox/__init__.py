"""A real Asterisk 22 for tests and development, without Docker.

The sandbox is a Debian-unstable chroot made with ``debootstrap`` (Debian stable has no
``asterisk`` package; sid does), holding ``asterisk``, ``asterisk-modules`` and ``sip-tester``
(SIPp).  It shares the host's network, so AMI, SIP, HTTP/WebSocket and AudioSocket all meet on
127.0.0.1.  The configs are the repository's ``docker/asterisk/*.conf`` -- the same files docker
compose mounts -- with ports moved to those of :class:`~callcenter.config.SandboxSettings`.

Needs root (debootstrap, chroot, mount).  ``callcenter sandbox up|down|status`` and the system
test fixtures drive it through :class:`Sandbox`::

    sandbox = Sandbox(SandboxSettings())
    sandbox.up()            # builds the chroot the first time (about a minute), then ~seconds
    sandbox.cli("pjsip show endpoints")
    sandbox.down()
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from callcenter.config import SandboxSettings
from callcenter.sandbox.configs import (
    ConfigRewriteError,
    config_digest,
    default_config_dir,
    render_configs,
    rewrite_config,
)

__all__ = [
    "ConfigRewriteError",
    "Sandbox",
    "SandboxError",
    "debian_mirror",
    "render_configs",
    "rewrite_config",
]

#: Packages installed inside the chroot.
PACKAGES: tuple[str, ...] = ("asterisk", "asterisk-modules", "sip-tester", "procps")
SUITE = "sid"

_STAMP = ".callcenter-sandbox-built"  # in the root: written only when the build completed
_STATE = ".callcenter-sandbox-state.json"  # in the root: pid + config digest of the running one
_ASTERISK_DIRS = (
    "/var/lib/asterisk",
    "/var/log/asterisk",
    "/var/spool/asterisk",
    "/var/cache/asterisk",
    "/run/asterisk",
)
_CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}
_CONSOLE_LOG = "/var/log/asterisk/sandbox-console.log"
_MESSAGES_LOG = "/var/log/asterisk/messages"


class SandboxError(RuntimeError):
    """The sandbox cannot be built, started or stopped; the message says what to do."""


# --------------------------------------------------------------------------- helpers


def _say(message: str) -> None:
    print(f"[sandbox] {message}", flush=True)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        data = path.read_bytes()[-32768:]
    except OSError:
        return f"(no {path})"
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def debian_mirror(
    sources_files: Sequence[Path] = (
        Path("/etc/apt/sources.list.d/debian.sources"),
        Path("/etc/apt/sources.list"),
    ),
) -> str:
    """The Debian archive URI configured on this host (for debootstrap).

    Reads deb822 ``*.sources`` stanzas (``URIs:``) and one-line ``sources.list`` entries, skipping
    security and non-``deb`` entries.  Raises :class:`SandboxError` when none is found.
    """
    candidates: list[str] = []
    for path in sources_files:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                suites = fields.get("suites", "")
                for uri in fields.get("uris", "").split():
                    if "security" in suites or "security" in uri:
                        continue
                    candidates.append(uri)
        else:
            for line in text.splitlines():
                parts = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    uri, suite = parts[1], parts[2]
                    if "security" in suite or "security" in uri:
                        continue
                    candidates.append(uri)
    debianish = [u for u in candidates if u.rstrip("/").endswith("/debian")]
    chosen = next(iter(debianish or candidates), None)
    if not chosen or not chosen.startswith(("http://", "https://", "file:")):
        raise SandboxError(
            "cannot find a Debian mirror in /etc/apt/sources.list.d/debian.sources or "
            "/etc/apt/sources.list; set CALLCENTER_SANDBOX__MIRROR to a Debian archive URL"
        )
    return chosen


def _unescape_mount(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first."""
    prefix = str(root)
    found: list[Path] = []
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) < 2:
            continue
        point = _unescape_mount(parts[1])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as gone; reaped when it is our child)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _signal_and_wait(pid: int, sig: signal.Signals, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + grace_s
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _port_accepts(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _primary_ipv4() -> str | None:
    """The host's outward IPv4 address (no packet is sent), or None without a route."""
    for target in ("192.0.2.1", "10.255.255.255", "198.51.100.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((target, 9))
                addr = s.getsockname()[0]
            except OSError:
                continue
        if not addr.startswith("127.") and addr != "0.0.0.0":
            return str(addr)
    return None


class _FileLock:
    """An inter-process lock (flock) that the same process may take again (re-entrant)."""

    _registry: dict[str, tuple[threading.RLock, list[int]]] = {}
    _registry_guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._registry_guard:
            entry = self._registry.setdefault(str(path), (threading.RLock(), [0, -1]))
        self._rlock, self._state = entry  # state = [depth, fd]

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._rlock:
            if self._state[0] == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        os.close(fd)
                        raise
                    _say(f"waiting for another process holding {self.path} ...")
                    fcntl.flock(fd, fcntl.LOCK_EX)
                self._state[1] = fd
            self._state[0] += 1
            try:
                yield
            finally:
                self._state[0] -= 1
                if self._state[0] == 0:
                    fd, self._state[1] = self._state[1], -1
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)


# --------------------------------------------------------------------------- the sandbox


class Sandbox:
    """Build, start, stop and inspect the Asterisk chroot described by ``settings``."""

    def __init__(self, settings: SandboxSettings, repo_configs: Path | None = None) -> None:
        self.settings = settings
        self.root = Path(settings.root).absolute()
        if repo_configs is None:
            repo_configs = default_config_dir()
        self.repo_configs = repo_configs
        self._lock = _FileLock(self.root.parent / f".{self.root.name}.lock")
        self.build_log = self.root.parent / f"{self.root.name}.build.log"

    # ----------------------------------------------------------------- public API

    def build(self) -> None:
        """Create the chroot once (cached by a stamp file; a half-built root is rebuilt)."""
        self._require_root()
        with self._lock.hold():
            self._build_locked()

    def up(self, wait_s: float = 60) -> None:
        """Build if needed, then start Asterisk with the repo configs and wait until ready."""
        self._require_root()
        with self._lock.hold():
            self._build_locked()
            configs = self._render()
            digest = config_digest(configs)
            pid = self._running_pid()
            if pid is not None:
                if self._read_state().get("digest") == digest:
                    return
                _say("configs changed: restarting Asterisk")
                self._stop_locked()
            self._rotate_logs()
            self._start_locked(configs, digest, wait_s)

    def down(self) -> None:
        """Stop Asterisk and unmount what :meth:`up` mounted.  Safe to call any time."""
        self._require_root()
        with self._lock.hold():
            self._stop_locked()
            self._unmount_all()

    def restart(self, wait_s: float = 60) -> None:
        """Stop Asterisk (``core stop now``) and start it again; returns when it is ready."""
        with self._lock.hold():
            self.stop_asterisk()
            self.start_asterisk(wait_s)

    def stop_asterisk(self, timeout_s: float = 10) -> None:
        """Stop Asterisk only (mounts stay): ``core stop now``, then signals after a timeout."""
        self._require_root()
        with self._lock.hold():
            self._stop_locked(timeout_s)

    def crash_asterisk(self, timeout_s: float = 5) -> None:
        """Kill Asterisk with SIGKILL, as a crash or power loss would: no Hangup events, no
        Shutdown event -- the case where only a resync can tell the server what is gone."""
        self._require_root()
        with self._lock.hold():
            pid = self._running_pid()
            if pid is not None:
                _signal_and_wait(pid, signal.SIGKILL, timeout_s)
            self._forget_running(pid)

    def start_asterisk(self, wait_s: float = 60) -> None:
        """Start Asterisk (the chroot must be built) and wait until it is fully booted and AMI
        accepts connections.  Returns at once if it already runs."""
        self._require_root()
        with self._lock.hold():
            if not self.built:
                raise SandboxError(f"sandbox at {self.root} is not built: call up() or build()")
            if self._running_pid() is not None:
                return
            configs = self._render()
            self._start_locked(configs, config_digest(configs), wait_s)

    def status(self) -> dict[str, Any]:
        pid = self._running_pid()
        return {
            "built": self.built,
            "running": pid is not None,
            "pid": pid,
            "version": self._package_version("asterisk"),
            "ami_port": self.settings.ami_port,
            "sip_port": self.settings.sip_port,
            "http_port": self.settings.http_port,
            "audiosocket_port": self.settings.audiosocket_port,
            "trunk_port": self.settings.trunk_port,
            "rtp_range": [self.settings.rtp_start, self.settings.rtp_end],
            "root": str(self.root),
        }

    def cli(self, command: str, timeout_s: float = 30) -> str:
        """Run ``asterisk -rx command`` against the sandbox's Asterisk; returns its output."""
        proc = self._asterisk_rx(command, timeout_s)
        out = proc.stdout + proc.stderr
        if proc.returncode != 0 or "Unable to connect to remote asterisk" in out:
            raise SandboxError(
                f"asterisk -rx {command!r} failed (is the sandbox up? `callcenter sandbox up`): "
                f"{out.strip()}"
            )
        return proc.stdout

    def sipp_command(self, *args: str) -> list[str]:
        """argv that runs SIPp inside the chroot (scenario/CSV paths are chroot paths)."""
        return ["chroot", str(self.root), "/usr/bin/sipp", *args]

    def path(self, inner: str | os.PathLike[str]) -> Path:
        """Host path of ``inner``, a path inside the chroot (e.g. to place sound files)."""
        return self.root / str(inner).lstrip("/")

    @property
    def built(self) -> bool:
        return (self.root / _STAMP).is_file()

    # ----------------------------------------------------------------- build

    def _require_root(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError(
                "the Asterisk sandbox needs root (debootstrap, chroot, mount): run as root, "
                "e.g. `sudo callcenter sandbox up`"
            )

    def _build_locked(self) -> None:
        stamp = self.root / _STAMP
        if stamp.is_file():
            try:
                have = set(json.loads(stamp.read_text()).get("packages", []))
            except (OSError, ValueError):
                have = set()
            missing = [p for p in PACKAGES if p not in have]
            if missing:
                _say(f"adding packages to the sandbox: {' '.join(missing)}")
                self._apt_install(missing)
                self._write_stamp()
            return
        started = time.monotonic()
        if self.root.exists():
            _say(f"removing half-built sandbox at {self.root}")
            self._remove_root()
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.build_log.write_text("")
        self._ensure_debootstrap()
        mirror = self.settings.mirror or debian_mirror()
        _say(f"debootstrap --variant=minbase {SUITE} {self.root} {mirror} (about 30 s)")
        self._run_logged(
            ["debootstrap", "--variant=minbase", SUITE, str(self.root), mirror],
            "debootstrap failed",
        )
        # Never let package scripts start daemons inside the chroot.
        policy = self.root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        _say(f"installing {' '.join(PACKAGES)} in the sandbox (about 20 s)")
        self._apt_install(list(PACKAGES))
        etc = self.root / "etc/asterisk"
        dist = self.root / "etc/asterisk.dist"
        if etc.is_dir() and not dist.exists():
            etc.rename(dist)  # Debian's sample configs, kept for reference
        etc.mkdir(exist_ok=True)
        self._write_stamp()
        _say(f"sandbox built in {time.monotonic() - started:.0f} s: {self.root}")

    def _write_stamp(self) -> None:
        data = {
            "packages": list(PACKAGES),
            "suite": SUITE,
            "asterisk": self._package_version("asterisk", need_stamp=False),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (self.root / _STAMP).write_text(json.dumps(data, indent=1) + "\n")

    def _apt_install(self, packages: list[str]) -> None:
        self._run_logged(
            self._chroot("apt-get", "-o", "Acquire::Check-Valid-Until=false", "-q", "update"),
            "apt-get update inside the sandbox failed",
        )
        self._run_logged(
            self._chroot("apt-get", "install", "-y", "-q", "--no-install-recommends", *packages),
            f"apt-get install {' '.join(packages)} inside the sandbox failed",
        )
        self._run_logged(self._chroot("apt-get", "clean"), "apt-get clean failed")

    def _ensure_debootstrap(self) -> None:
        if shutil.which("debootstrap"):
            return
        _say("installing debootstrap on the host (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "debootstrap"]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            self._run_logged(cmd, "apt-get install debootstrap failed on the host", env=env)
        if not shutil.which("debootstrap"):
            raise SandboxError("debootstrap is not on PATH after installing it")

    def _run_logged(self, argv: list[str], failure: str, env: dict[str, str] | None = None) -> None:
        with self.build_log.open("a") as log:
            log.write(f"\n$ {' '.join(argv)}\n")
            log.flush()
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env if env is not None else _CHROOT_ENV,
            )
        if proc.returncode != 0:
            raise SandboxError(
                f"{failure} (exit {proc.returncode}); full log: {self.build_log}\n"
                f"{_tail(self.build_log, 25)}\n"
                "Check network access to the Debian mirror (or set CALLCENTER_SANDBOX__MIRROR), "
                "then run `callcenter sandbox up` again: the half-built root is rebuilt."
            )

    def _remove_root(self) -> None:
        root = self.root.resolve()
        if len(root.parts) < 3:
            raise SandboxError(f"refusing to delete {root}: choose a deeper sandbox root")
        self._stop_locked()
        self._unmount_all()
        left = _mounts_under(root)
        if left:
            raise SandboxError(
                f"cannot remove {root}: still mounted: {', '.join(map(str, left))}; "
                "unmount them (umount -l) and retry"
            )
        shutil.rmtree(root)

    def _package_version(self, package: str, need_stamp: bool = True) -> str | None:
        if need_stamp and not self.built:
            return None
        try:
            text = (self.root / "var/lib/dpkg/status").read_text(errors="replace")
        except OSError:
            return None
        for stanza in text.split("\n\n"):
            if re.search(rf"^Package: {re.escape(package)}$", stanza, re.MULTILINE):
                m = re.search(r"^Version: (?:\d+:)?(\S+)$", stanza, re.MULTILINE)
                if m:
                    return m.group(1)
        return None

    # ----------------------------------------------------------------- start / stop

    def _render(self) -> dict[str, str]:
        if self.repo_configs is None or not (self.repo_configs / "extensions.conf").is_file():
            raise SandboxError(
                "cannot find the Asterisk configs (docker/asterisk/*.conf): run from a source "
                "checkout or pass Sandbox(settings, repo_configs=Path('.../docker/asterisk'))"
            )
        try:
            return render_configs(self.repo_configs, self.settings)
        except ConfigRewriteError as exc:
            raise SandboxError(str(exc)) from exc

    def _chroot(self, *argv: str) -> list[str]:
        return ["chroot", str(self.root), *argv]

    def _asterisk_rx(self, command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self._chroot("/usr/sbin/asterisk", "-rx", command),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=_CHROOT_ENV,
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"asterisk -rx {command!r} timed out after {timeout_s} s") from exc

    def _read_state(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.root / _STATE).read_text()))
        except (OSError, ValueError):
            return {}

    def _is_our_asterisk(self, pid: int) -> bool:
        if not _pid_alive(pid):
            return False
        try:
            proc_root = os.readlink(f"/proc/{pid}/root")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return proc_root == str(self.root.resolve()) and b"asterisk" in cmdline

    def _running_pid(self) -> int | None:
        candidates: list[int] = []
        state_pid = self._read_state().get("pid")
        if isinstance(state_pid, int):
            candidates.append(state_pid)
        with contextlib.suppress(OSError, ValueError):
            candidates.append(int((self.root / "run/asterisk/asterisk.pid").read_text().strip()))
        for pid in candidates:
            if self._is_our_asterisk(pid):
                return pid
        return None

    def _mount_proc(self) -> None:
        proc = self.root / "proc"
        if proc in _mounts_under(proc):
            return
        proc.mkdir(exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "proc", "proc", str(proc)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise SandboxError(f"mount -t proc proc {proc} failed: {result.stderr.strip()}")

    def _unmount_all(self) -> None:
        for point in _mounts_under(self.root.resolve()):
            if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True)

    def _prepare(self, configs: dict[str, str]) -> None:
        etc = self.root / "etc/asterisk"
        etc.mkdir(parents=True, exist_ok=True)
        for old in etc.iterdir():
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        for name, text in configs.items():
            (etc / name).write_text(text)
        for inner in _ASTERISK_DIRS:
            self.path(inner).mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            self._chroot("chown", "-R", "asterisk:asterisk", *_ASTERISK_DIRS, "/etc/asterisk"),
            capture_output=True,
            text=True,
            env=_CHROOT_ENV,
        )
        if result.returncode != 0:
            raise SandboxError(f"chown of the Asterisk directories failed: {result.stderr}")
        self._write_hosts()
        self._mount_proc()

    def _write_hosts(self) -> None:
        """Map the host name to a non-loopback address inside the chroot.

        Asterisk looks up its own address per SIP call (acl.c ``ast_find_ourip``): when the host
        name resolves only to loopback it falls back to resolving A.ROOT-SERVERS.NET, which
        logs errors -- or stalls calls -- where DNS does not work.
        """
        hostname = socket.gethostname() or "localhost"
        address = _primary_ipv4() or "127.0.1.1"
        text = (
            "# written by callcenter.sandbox\n"
            "127.0.0.1\tlocalhost\n"
            "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
            "ff02::1\t\tip6-allnodes\n"
            "ff02::2\t\tip6-allrouters\n"
            f"{address}\t{hostname}\n"
        )
        hosts = self.path("/etc/hosts")
        with contextlib.suppress(OSError):
            if hosts.read_text() == text:
                return
        hosts.write_text(text)

    def _rotate_logs(self) -> None:
        for inner in (_MESSAGES_LOG, _CONSOLE_LOG):
            log = self.path(inner)
            if log.is_file():
                os.replace(log, log.with_name(log.name + ".1"))

    def _check_ports_free(self) -> None:
        s = self.settings
        busy: list[str] = []
        if _port_accepts(s.ami_port):
            busy.append(f"AMI {s.ami_port}/tcp")
        if _port_accepts(s.http_port):
            busy.append(f"HTTP {s.http_port}/tcp")
        if not _udp_port_free(s.sip_port):
            busy.append(f"SIP {s.sip_port}/udp")
        if busy:
            raise SandboxError(
                f"ports already in use on 127.0.0.1: {', '.join(busy)} -- another Asterisk or "
                "sandbox runs there; stop it (`callcenter sandbox down`) or choose other ports "
                "(CALLCENTER_SANDBOX__AMI_PORT, __SIP_PORT, __HTTP_PORT)"
            )

    def _start_locked(self, configs: dict[str, str], digest: str, wait_s: float) -> None:
        self._check_ports_free()
        self._prepare(configs)
        console_log = self.path(_CONSOLE_LOG)
        started = time.monotonic()
        argv = self._chroot("/usr/sbin/asterisk", "-f", "-U", "asterisk", "-G", "asterisk")
        # Start through a shell that backgrounds Asterisk and exits: Asterisk gets its own
        # session, is nobody's child here (no zombie, no ResourceWarning) and outlives us.
        launcher = subprocess.run(
            [
                "/bin/sh",
                "-c",
                'log="$1"; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!',
                "sh",
                str(console_log),
                *argv,
            ],
            capture_output=True,
            text=True,
            env=_CHROOT_ENV,
            start_new_session=True,
            check=False,
        )
        try:
            pid = int(launcher.stdout.strip())
        except ValueError as exc:
            raise SandboxError(f"could not start Asterisk: {launcher.stderr.strip()}") from exc
        (self.root / _STATE).write_text(
            json.dumps({"pid": pid, "digest": digest, "started": time.time()}) + "\n"
        )
        self._wait_ready(pid, started, wait_s)
        _say(
            f"Asterisk ready in {time.monotonic() - started:.1f} s (pid {pid}, AMI "
            f"127.0.0.1:{self.settings.ami_port}, SIP {self.settings.sip_port})"
        )

    def _wait_ready(self, pid: int, started: float, wait_s: float) -> None:
        deadline = started + wait_s
        booted = False
        while True:
            if not _pid_alive(pid):
                raise SandboxError(
                    "Asterisk exited during start-up.\n--- "
                    f"{self.path(_CONSOLE_LOG)}:\n{_tail(self.path(_CONSOLE_LOG), 20)}\n--- "
                    f"{self.path(_MESSAGES_LOG)}:\n{_tail(self.path(_MESSAGES_LOG), 30)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError(
                    f"Asterisk not ready after {wait_s} s (fully booted: {booted}, AMI port "
                    f"{self.settings.ami_port} open: {_port_accepts(self.settings.ami_port)}); "
                    f"log tail:\n{_tail(self.path(_MESSAGES_LOG), 30)}"
                )
            if not booted:
                with contextlib.suppress(SandboxError):
                    proc = self._asterisk_rx("core waitfullybooted", max(1.0, remaining))
                    booted = proc.returncode == 0 and "Asterisk has fully booted" in proc.stdout
            if booted and self._ami_banner():
                return
            time.sleep(0.05)

    def _ami_banner(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.settings.ami_port), 1) as conn:
                conn.settimeout(1)
                return conn.recv(64).startswith(b"Asterisk Call Manager")
        except OSError:
            return False

    def _stop_locked(self, timeout_s: float = 10) -> None:
        pid = self._running_pid()
        if pid is None:
            self._forget_running(None)
            return
        with contextlib.suppress(SandboxError):
            self._asterisk_rx("core stop now", timeout_s)
        deadline = time.monotonic() + timeout_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if not _pid_alive(pid):
                break
            _say(f"Asterisk (pid {pid}) did not stop; sending {sig.name}")
            _signal_and_wait(pid, sig, grace)
        self._forget_running(pid)

    def _forget_running(self, pid: int | None) -> None:
        if pid is not None and _pid_alive(pid):
            raise SandboxError(f"Asterisk (pid {pid}) survived SIGKILL")
        with contextlib.suppress(OSError):
            (self.root / _STATE).unlink()
