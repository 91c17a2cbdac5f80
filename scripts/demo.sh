#!/usr/bin/env bash
# `make demo`: set up the venv (as scripts/test.sh does) and run `callcenter demo`: the whole
# server in real time on the simulated PBX, with a seeded SQLite CRM, bot agents, callers and an
# outbound campaign; nothing else to install or start. Arguments go to `callcenter demo`
# (e.g. --port 8081 --agents 12). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/test.sh --venv-only
bash scripts/build-ui.sh  # the agent console's softphone (JsSIP from npm)
# the campaign's abandonment message is rendered as for any campaign (espeak-ng, sox)
missing=()
for tool in espeak-ng sox; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" \
            || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
    else
        echo "scripts/demo.sh: ${missing[*]} missing (sudo apt-get install -y ${missing[*]}):" \
             "the demo runs without its outbound campaign" >&2
    fi
fi
exec .venv/bin/callcenter demo "$@"
