"""``python -m callcenter.sandbox up|down|status|restart|build|cli <command>``.

The same operations as ``callcenter sandbox ...``; settings come from ``CALLCENTER_SANDBOX__*``
environment variables (see :class:`callcenter.config.SandboxSettings`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from callcenter.config import SandboxSettings, load_settings
from callcenter.sandbox import Sandbox, SandboxError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callcenter.sandbox")
    parser.add_argument("action", choices=["up", "down", "status", "restart", "build", "cli"])
    parser.add_argument("command", nargs="*", help="for `cli`: the Asterisk CLI command")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for ready")
    args = parser.parse_args(argv)
    settings: SandboxSettings = load_settings().sandbox
    sandbox = Sandbox(settings)
    started = time.monotonic()
    try:
        if args.action == "up":
            sandbox.up(wait_s=args.wait)
        elif args.action == "down":
            sandbox.down()
        elif args.action == "restart":
            sandbox.restart(wait_s=args.wait)
        elif args.action == "build":
            sandbox.build()
        elif args.action == "cli":
            sys.stdout.write(sandbox.cli(" ".join(args.command)))
            return 0
    except SandboxError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    if args.action != "status":
        print(f"[sandbox] {args.action} took {time.monotonic() - started:.2f} s", flush=True)
    print(json.dumps(sandbox.status(), indent=2))
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `... status | head` ends quietly
    raise SystemExit(main())
