"""The flows in service, swapped whole on reload; a broken file never takes a flow down.

:meth:`FlowRegistry.reload` reads every flow file of the folder again. A file that loads
replaces its flow (by name) for the calls that start from now on; a call in progress keeps the
:class:`~callcenter.ivr.model.Flow` object it started with, so nothing changes under it. A
file with errors is reported and its previous version stays in service; a removed file's flow
is withdrawn. :meth:`changed` (file names and modification times) lets a watcher reload only
when something was edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from callcenter.ivr.loader import FlowError, FlowIssue, flow_files, load_flow
from callcenter.ivr.model import Flow


@dataclass(slots=True)
class ReloadReport:
    """What one reload did: flows (re)loaded, kept at their old version, withdrawn."""

    loaded: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    errors: list[FlowIssue] = field(default_factory=list)
    warnings: list[FlowIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class UnknownFlow(KeyError):
    """No flow of that name is in service."""


class FlowRegistry:
    def __init__(self, directory: Path, prompt_root: Path | None = None) -> None:
        self.directory = directory
        self.prompt_root = prompt_root
        self._flows: dict[str, Flow] = {}
        self._by_file: dict[Path, str] = {}
        self._stamps: dict[Path, float] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._flows

    def names(self) -> list[str]:
        return sorted(self._flows)

    def get(self, name: str) -> Flow:
        try:
            return self._flows[name]
        except KeyError:
            raise UnknownFlow(f"no IVR flow {name!r} (in service: "
                              f"{', '.join(self.names()) or 'none'})") from None

    def changed(self) -> bool:
        return self._scan() != self._stamps

    def reload(self) -> ReloadReport:
        report = ReloadReport()
        stamps = self._scan()
        flows = dict(self._flows)
        by_file: dict[Path, str] = {}
        for path in stamps:
            try:
                flow, warnings = load_flow(path, self.prompt_root)
            except FlowError as exc:
                report.errors.extend(exc.issues)
                old = self._by_file.get(path)
                if old is not None:
                    by_file[path] = old
                    report.kept.append(old)
                continue
            clash = next((p for p, n in by_file.items() if n == flow.name), None)
            if clash is not None:
                report.errors.append(FlowIssue(str(path), 1, f"flow {flow.name!r} is already "
                                                             f"defined in {clash}"))
                continue
            flows[flow.name] = flow
            by_file[path] = flow.name
            report.loaded.append(flow.name)
            report.warnings.extend(warnings)
        for name in set(flows) - set(by_file.values()):
            del flows[name]
            report.withdrawn.append(name)
        self._flows, self._by_file, self._stamps = flows, by_file, stamps
        return report

    def _scan(self) -> dict[Path, float]:
        if not self.directory.is_dir():
            return {}
        stamps: dict[Path, float] = {}
        for path in flow_files(self.directory):
            try:
                stamps[path] = path.stat().st_mtime
            except OSError:
                continue
        return stamps
