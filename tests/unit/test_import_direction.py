"""Which way imports go (docs/ARCHITECTURE.md, "Layers"): the pure cores depend only on the
small core (``callcenter.core``, ``callcenter.events``, ``callcenter.tasks``) and the standard
library — never on the simulator, an adapter (AMI, web, database, Redis) or their libraries.
The simulator and the AMI adapter implement the core's interfaces, not the other way round.

Every import counts, including those under ``if TYPE_CHECKING:`` and inside functions: a
lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

#: packages that must stay pure (the complaint workflow joins when it exists); the IVR's
#: flow model, loader and engine (its media adapters live elsewhere)
PURE = ["callcenter/core", "callcenter/acd", "callcenter/dialer", "callcenter/ivr/steps",
        "callcenter/ivr/engine", "callcenter/ivr/model", "callcenter/ivr/loader",
        "callcenter/ivr/checks", "callcenter/ivr/registry", "callcenter/complaints/workflow",
        "callcenter/accounts"]
FORBIDDEN = ("callcenter.sim", "callcenter.cti", "callcenter.web", "callcenter.app",
             "callcenter.contact_center", "callcenter.redis_relay", "callcenter.sandbox",
             "callcenter.cli", "crm_bridge", "sqlalchemy", "aiohttp", "redis", "panoramisk",
             "alembic")
#: the small core itself depends on nothing of the server but the events
CORE_MAY_IMPORT = ("callcenter.core", "callcenter.events")


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def modules_of(folder: str) -> list[Path]:
    base = ROOT / folder
    if base.is_file() or base.with_suffix(".py").is_file():
        return [base if base.is_file() else base.with_suffix(".py")]
    return sorted(base.rglob("*.py"))


def _is(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_pure_cores_exist() -> None:
    """A typo in PURE must not make this test vacuous."""
    present = [folder for folder in PURE if modules_of(folder)]
    assert {"callcenter/core", "callcenter/acd", "callcenter/dialer", "callcenter/ivr/engine",
            "callcenter/ivr/steps"} <= set(present)


@pytest.mark.parametrize("folder", PURE)
def test_pure_cores_import_no_simulator_and_no_adapter(folder: str) -> None:
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for path in modules_of(folder) for line, name in imports_of(path)
           if any(_is(name, prefix) for prefix in FORBIDDEN)]
    assert not bad, "pure core depends on the simulator or an adapter:\n" + "\n".join(bad)


def test_the_small_core_depends_only_on_itself_and_the_events() -> None:
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for path in modules_of("callcenter/core") for line, name in imports_of(path)
           if _is(name, "callcenter") and not any(_is(name, ok) for ok in CORE_MAY_IMPORT)]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from callcenter.cti.model import CallModel\n"
                      "def f():\n    import crm_bridge.db\n")
    names = [name for _, name in imports_of(sample)]
    assert "callcenter.cti.model" in names and "crm_bridge.db" in names
