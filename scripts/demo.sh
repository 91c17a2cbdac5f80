#!/usr/bin/env bash
# `make demo`: set up the venv (as scripts/test.sh does) and run `callcenter demo`: the whole
# server in real time on the simulated PBX, with a seeded SQLite CRM, bot agents, callers and an
# outbound campaign; nothing else to install or start. Arguments go to `callcenter demo`
# (e.g. --port 8081 --agents 12). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/test.sh --venv-only
bash scripts/build-ui.sh  # the agent console's softphone (JsSIP from npm)
exec .venv/bin/callcenter demo "$@"
