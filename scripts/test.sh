#!/usr/bin/env bash
# The one test command (README, `make test`, `.ci/run`): from a fresh Debian 12 machine, as root,
# install what is missing, build the venv, lint (ruff, mypy), bring the Asterisk sandbox up,
# run every test, bring it down again -- whatever happens (a sandbox that already ran before
# this script started is left running).
#
#   bash scripts/test.sh                 everything (what CI runs, with CI=true)
#   PYTEST_ARGS="tests/unit -x" bash scripts/test.sh   extra arguments for pytest
#   bash scripts/test.sh --venv-only     only the Debian packages for Python + the venv
#
# Environment:
#   CI=true         a missing component (Redis, PostgreSQL, the sandbox ...) is a failure, not a skip
#   PYTEST_ARGS     extra pytest arguments (split on whitespace)
#   TEST_SANDBOX=0  do not bring the sandbox up here (ignored when CI=true); the pytest fixture
#                   then brings it up on demand, only if a selected test needs it
#
# Redis and PostgreSQL are started by the pytest fixtures themselves (tests/harness/), on
# loopback, on free ports, in temporary directories -- never the machine's own services.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=$ROOT/.venv
STAMP=$VENV/.callcenter-install-stamp
RESULTS=$ROOT/.test-results
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1

VENV_ONLY=0
for arg in "$@"; do
    case $arg in
        --venv-only) VENV_ONLY=1 ;;
        -h | --help) sed -n '2,18p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "scripts/test.sh: unknown argument $arg (extra pytest args go in PYTEST_ARGS)" >&2; exit 2 ;;
    esac
done

T0=$(date +%s)
declare -a SUMMARY=()
step_start=0
step() { step_start=$(date +%s); printf '\n==> %s\n' "$*"; }
step_done() { SUMMARY+=("$(printf '%-34s %4ss  %s' "$1" $(($(date +%s) - step_start)) "$2")"); }
die() { printf '\nscripts/test.sh: %s\n' "$*" >&2; exit 1; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_install() {
    local missing=() pkg
    for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
    if ((${#missing[@]} == 0)); then
        echo "Debian packages present: $*"
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "missing Debian packages (${missing[*]}); run as root or: sudo apt-get install -y ${missing[*]}"
    echo "installing: ${missing[*]}"
    # A fresh machine may have empty package lists: update once, only if the first try fails.
    apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" \
        || { apt-get update && apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"; }
}

pick_python() {
    local candidate
    for candidate in "$(command -v python3.11 || true)" "$(command -v python3 || true)" /usr/bin/python3; do
        [[ -n $candidate && -x $candidate ]] || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

setup_venv() {
    local py want have
    py=$(pick_python) || {
        apt_install python3 python3-venv
        py=$(pick_python) || die "no Python >= 3.11 found"
    }
    # Debian's python3 needs python3-venv for ensurepip; pyenv/python.org builds carry it.
    if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
    # Recreate a venv whose interpreter is gone or older than 3.11 (e.g. a removed pyenv build).
    if [[ -d $VENV ]] && ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null; then
        echo "removing broken venv $VENV"
        rm -rf "$VENV"
    fi
    if [[ ! -x $VENV/bin/python ]]; then
        echo "creating $VENV with $py ($("$py" --version 2>&1))"
        "$py" -m venv "$VENV"
    fi
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$VENV/bin/python" -c 'import sys; print(sys.version)' | head -1)"
    have=$(cat "$STAMP" 2>/dev/null || true)
    if [[ $want == "$have" ]] && "$VENV/bin/python" -c 'import callcenter' 2>/dev/null; then
        echo "venv up to date (pyproject.toml unchanged)"
    else
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e '.[test]'
        echo "$want" >"$STAMP"
        echo "installed the project with its test extras into $VENV"
    fi
}

if ((VENV_ONLY)); then
    setup_venv
    exit 0
fi

# ---------------------------------------------------------------------------------------------
SANDBOX_UP=0
PYTEST_RC=none

# Redis and PostgreSQL of the fixtures keep their files (and pid files) under this run's own
# directory; whatever a hard-killed pytest left running there is stopped at the end.
TEST_TMP=$(mktemp -d /tmp/cc-test.XXXXXX)
chmod 755 "$TEST_TMP" # the postgres user must reach its cluster below
export CALLCENTER_TEST_TMPDIR=$TEST_TMP

stop_leftovers() {
    local pidfile pid _
    for pidfile in "$TEST_TMP"/cc-pg-*/data/postmaster.pid "$TEST_TMP"/cc-redis-*/redis.pid; do
        [[ -f $pidfile ]] || continue
        pid=$(head -n 1 "$pidfile")
        if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then continue; fi
        echo "stopping a component the tests left running (pid $pid, $pidfile)"
        kill -INT "$pid" 2>/dev/null || true # postgres: fast shutdown; redis: shutdown
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$TEST_TMP"
}

summary() {
    local rc=$? line
    stop_leftovers
    # The sandbox goes down whatever happened above (failure, Ctrl-C, kill).
    if ((SANDBOX_UP)); then
        printf '\n==> bringing the Asterisk sandbox down\n'
        if "$VENV/bin/callcenter" sandbox down; then
            SUMMARY+=("$(printf '%-34s %4s   %s' 'asterisk sandbox down' '' ok)")
        else
            SUMMARY+=("$(printf '%-34s %4s   %s' 'asterisk sandbox down' '' FAILED)")
            ((rc != 0)) || rc=1
        fi
        SANDBOX_UP=0
    fi
    printf '\n================================ test summary ================================\n'
    for line in "${SUMMARY[@]}"; do printf '  %s\n' "$line"; done
    if [[ -f $RESULTS/junit.xml && $PYTEST_RC != none ]]; then
        "$VENV/bin/python" - "$RESULTS/junit.xml" <<'PY' || true
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
print(f"  tests: {total['tests']}  passed: {passed}  failed: {total['failures']}  "
      f"errors: {total['errors']}  skipped: {total['skipped']}")
PY
    fi
    printf '  CI=%s  total time %ss  ->  %s\n' "${CI:-}" $(($(date +%s) - T0)) \
        "$( ((rc == 0)) && echo PASSED || echo "FAILED (exit $rc)")"
    exit "$rc"
}
trap summary EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Debian packages"
apt_install redis-server postgresql debootstrap chromium fonts-noto-cjk espeak-ng sox
step_done "debian packages" ok

step "Python venv ($VENV)"
setup_venv
step_done "python venv" ok

# npm and nodejs: installed by build-ui.sh only when no `npm` runs (a NodeSource nodejs already
# carries npm, and Debian's npm package would conflict with it).
step "browser code from npm (scripts/build-ui.sh)"
if bash scripts/build-ui.sh; then
    step_done "build ui (npm)" ok
else
    step_done "build ui (npm)" FAILED
    die "building agent_ui (npm ci + esbuild) failed (see above)"
fi

step "ruff check ."
if "$VENV/bin/ruff" check .; then
    step_done "ruff" ok
else
    step_done "ruff" FAILED
    die "ruff found problems (see above); fix them or run: .venv/bin/ruff check --fix ."
fi

# Configuration in pyproject.toml ([tool.mypy]): callcenter and crm_bridge, strict on the pure
# cores. A cold run (fresh checkout, no .mypy_cache) takes about 15 s, a warm one under 1 s.
step "mypy (type check)"
if "$VENV/bin/mypy"; then
    step_done "mypy" ok
else
    step_done "mypy" FAILED
    die "mypy found type errors (see above); fix them (an ignore must name its code: # type: ignore[code]), then run: .venv/bin/mypy"
fi

if [[ ${CI:-} != true && ${TEST_SANDBOX:-1} == 0 ]]; then
    echo
    echo "TEST_SANDBOX=0: the sandbox is left to the pytest fixture (brought up only if needed)"
    SUMMARY+=("$(printf '%-34s %4s   %s' 'asterisk sandbox up' '' 'left to the fixture (TEST_SANDBOX=0)')")
else
    step "Asterisk sandbox up (callcenter sandbox up)"
    if "$VENV/bin/callcenter" sandbox status >/dev/null 2>&1; then
        # Someone's sandbox already runs (a developer's, another run's): `up` still applies
        # changed configs, but this script does not take it down under them.
        echo "the sandbox was already running: it stays up after the tests"
        was_running=1
    else
        was_running=0
        # Set before `up` so that a half-started sandbox is still brought down by the trap.
        SANDBOX_UP=1
    fi
    if "$VENV/bin/callcenter" sandbox up; then
        step_done "asterisk sandbox up" "$( ((was_running)) && echo 'ok (was running; left up)' || echo ok)"
    elif [[ ${CI:-} == true ]]; then
        step_done "asterisk sandbox up" FAILED
        die "the Asterisk sandbox did not come up (CI=true: this is a failure)"
    else
        step_done "asterisk sandbox up" "FAILED (system tests will be skipped; CI=true fails)"
    fi
    # The script owns the sandbox: the fixture only checks that it is running.
    export CALLCENTER_SANDBOX_EXTERNAL=1
fi

step "pytest ${PYTEST_ARGS:-}"
read -r -a extra_args <<<"${PYTEST_ARGS:-}"
mkdir -p "$RESULTS"
rm -f "$RESULTS/junit.xml"
set +e
"$VENV/bin/python" -m pytest -rfEs --junitxml="$RESULTS/junit.xml" "${extra_args[@]}"
PYTEST_RC=$?
set -e
case $PYTEST_RC in
    0) step_done "pytest" ok ;;
    5)
        step_done "pytest" "FAILED: no tests were collected"
        die "pytest collected no tests (exit 5): a run that tests nothing is a failure"
        ;;
    *)
        step_done "pytest" "FAILED (exit $PYTEST_RC)"
        exit "$PYTEST_RC"
        ;;
esac
