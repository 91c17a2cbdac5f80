#!/usr/bin/env bash
# `make serve-sandbox`: set up the venv (as scripts/test.sh does), bring the Asterisk sandbox up and run
# the server in the foreground against it. Arguments go to `callcenter serve` (e.g. --port 8081).
# Ctrl-C stops the server; the sandbox goes down too unless it was already running before.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

if ! dpkg-query -W -f='${Status}' debootstrap 2>/dev/null | grep -q 'install ok installed'; then
    apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 debootstrap \
        || { apt-get update && apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 debootstrap; }
fi
bash scripts/test.sh --venv-only
bash scripts/build-ui.sh  # the agent console's softphone (JsSIP from npm)

CC=.venv/bin/callcenter
brought_up=0
if ! "$CC" sandbox status >/dev/null 2>&1; then
    brought_up=1
fi
down() { if ((brought_up)); then echo "==> bringing the Asterisk sandbox down"; "$CC" sandbox down; fi; }
trap down EXIT
echo "==> Asterisk sandbox up"
"$CC" sandbox up >/dev/null

# Point the CTI link at the sandbox's AMI unless the caller chose another PBX.
if [[ -z ${CALLCENTER_AMI__PORT:-} ]]; then
    CALLCENTER_AMI__PORT=$(.venv/bin/python -c \
        'from callcenter.config import Settings; print(Settings().sandbox.ami_port)')
    export CALLCENTER_AMI__PORT
fi
# The IVR's AudioSocket listener where the sandbox's dialplan sends [ivr] calls.
if [[ -z ${CALLCENTER_AUDIOSOCKET__PORT:-} ]]; then
    CALLCENTER_AUDIOSOCKET__PORT=$(.venv/bin/python -c \
        'from callcenter.config import Settings; print(Settings().sandbox.audiosocket_port)')
    export CALLCENTER_AUDIOSOCKET__PORT
fi
# The sandbox's SIP agents (pjsip.conf 2001-2010 for SIP phones or SIPp; 1001-1010 for the
# browser console: docs/CONSOLE.md "Try it on the sandbox").
export CALLCENTER_ACD__AGENTS=${CALLCENTER_ACD__AGENTS:-'["1001", "1002", "2001", "2002", "2003", "2004"]'}
echo "==> callcenter serve (AMI 127.0.0.1:$CALLCENTER_AMI__PORT, IVR AudioSocket :$CALLCENTER_AUDIOSOCKET__PORT, agents $CALLCENTER_ACD__AGENTS); Ctrl-C to stop"
"$CC" serve "$@"
