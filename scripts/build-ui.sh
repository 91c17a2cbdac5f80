#!/usr/bin/env bash
# Build the browser code that comes from npm (agent_ui/package.json, pinned by
# agent_ui/package-lock.json): the agent console's softphone (JsSIP) bundled by esbuild into
# agent_ui/console/softphone.js, which the server serves itself -- no CDN at run time.
# Run by scripts/test.sh, scripts/demo.sh and scripts/serve-sandbox.sh; by hand after a checkout:
#   bash scripts/build-ui.sh
# npm ci runs only when the lockfile changed since the last build (stamp in node_modules).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../agent_ui"

if ! command -v npm >/dev/null 2>&1; then
    [[ $(id -u) -eq 0 ]] || { echo "scripts/build-ui.sh: npm is missing; run: sudo apt-get install -y nodejs npm" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 nodejs npm \
        || { apt-get update && apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 nodejs npm; }
fi
STAMP=node_modules/.callcenter-lock-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ $(cat "$STAMP" 2>/dev/null || true) != "$want" ]]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >"$STAMP"
fi
npm run --silent build
echo "built agent_ui/console/softphone.js ($(wc -c <console/softphone.js) bytes, JsSIP $(node -p 'require("jssip/package.json").version'))"
