"""Checks of a flow as a graph: every target exists, every node can reach an exit, and
(a warning) every node is reachable from the start.

"Can reach an exit" is what stops a flow that loops forever: a menu whose every option leads
back to itself, or ``a -> b -> a`` with no way out. Retries inside a node are bounded by the
node itself and are not edges.
"""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.ivr.loader import FlowIssue
from callcenter.ivr.model import TERMINAL_KINDS, Flow


def check_graph(flow: Flow, lines: Mapping[str, int], start_line: int) -> list[FlowIssue]:
    issues: list[FlowIssue] = []

    def issue(line: int, message: str, error: bool = True) -> None:
        issues.append(FlowIssue(flow.source, line, message, error))

    if flow.start not in flow.nodes:
        issue(start_line, f"start: no node '{flow.start}'")
    edges: dict[str, list[str]] = {}
    for node_id, node in flow.nodes.items():
        edges[node_id] = []
        for field, target in node.targets().items():
            if target not in flow.nodes:
                issue(node.line, f"node '{node_id}': {field} names no node '{target}'")
            else:
                edges[node_id].append(target)
    if issues:
        return issues
    # nodes that can reach an exit: grow backwards from the terminal nodes
    exits = {n for n, node in flow.nodes.items() if node.kind in TERMINAL_KINDS}
    reverse: dict[str, list[str]] = {n: [] for n in flow.nodes}
    for source, targets in edges.items():
        for target in targets:
            reverse[target].append(source)
    can_exit, stack = set(exits), list(exits)
    while stack:
        for source in reverse[stack.pop()]:
            if source not in can_exit:
                can_exit.add(source)
                stack.append(source)
    reachable, stack = {flow.start}, [flow.start]
    while stack:
        for target in edges[stack.pop()]:
            if target not in reachable:
                reachable.add(target)
                stack.append(target)
    if not exits:
        issue(start_line, "the flow has no exit (no 'queue' or 'hangup' node)")
    for node_id in sorted(reachable - can_exit, key=lambda n: flow.nodes[n].line):
        loop = _loop_from(node_id, edges, can_exit)
        issue(flow.nodes[node_id].line,
              f"node '{node_id}' never reaches an exit (queue or hangup): "
              + (f"cycle {' -> '.join(loop)}" if loop else "dead end"))
    for node_id in sorted(set(flow.nodes) - reachable, key=lambda n: flow.nodes[n].line):
        issue(lines.get(node_id, flow.nodes[node_id].line),
              f"node '{node_id}' is never reached from '{flow.start}'", error=False)
    return issues


def _loop_from(start: str, edges: Mapping[str, list[str]], can_exit: set[str]) -> list[str]:
    """A cycle through nodes that cannot exit, starting at ``start`` (for the message)."""
    path, seen = [start], {start: 0}
    node = start
    while True:
        stuck = [t for t in edges[node] if t not in can_exit]
        if not stuck:
            return []
        node = stuck[0]
        if node in seen:
            return [*path[seen[node]:], node]
        seen[node] = len(path)
        path.append(node)
