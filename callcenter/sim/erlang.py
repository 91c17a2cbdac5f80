"""Closed forms the simulator is checked against: Erlang C (M/M/n) and Erlang A (M/M/n+M,
exponential patience).

Erlang A is solved as its birth-death chain (arrivals ``lam``; departures ``min(k, n) * mu``
plus ``max(k - n, 0) * theta`` abandonments), truncated where the tail is negligible: no
special functions, exact to the truncation, easy to check by eye.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueueFigures:
    p_wait: float
    service_level: float  # P(answered within T) among all callers (Erlang C: no abandonment)
    asa_s: float  # mean wait of answered callers (Erlang C) / of all callers (Erlang A)
    occupancy: float
    abandon_rate: float = 0.0


def erlang_c(arrivals_per_s: float, mean_service_s: float, agents: int,
             threshold_s: float) -> QueueFigures:
    load = arrivals_per_s * mean_service_s  # offered load in Erlangs
    if load >= agents:
        raise ValueError(f"load {load:.2f} Erlangs needs more than {agents} agents")
    # Erlang B by its stable recurrence, then C from B
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    rho = load / agents
    p_wait = b / (1 - rho + rho * b)
    mu = 1.0 / mean_service_s
    service_level = 1.0 - p_wait * math.exp(-(agents - load) * mu * threshold_s)
    asa = p_wait / (agents * mu - arrivals_per_s)
    return QueueFigures(p_wait, service_level, asa, rho)


def erlang_a(arrivals_per_s: float, mean_service_s: float, agents: int,
             mean_patience_s: float, *, tail: float = 1e-12) -> QueueFigures:
    """P(wait), abandonment, occupancy and mean wait (over all callers) of M/M/n+M.

    ``service_level`` is not given in closed form here (NaN)."""
    lam, mu, theta = arrivals_per_s, 1.0 / mean_service_s, 1.0 / mean_patience_s
    probs = [1.0]
    k = 0
    while True:
        k += 1
        death = min(k, agents) * mu + max(k - agents, 0) * theta
        probs.append(probs[-1] * lam / death)
        if k > agents and probs[-1] < tail * sum(probs):
            break
    total = sum(probs)
    probs = [p / total for p in probs]
    p_wait = sum(probs[agents:])
    queue = sum((k - agents) * p for k, p in enumerate(probs) if k > agents)
    abandon = theta * queue / lam
    busy = sum(min(k, agents) * p for k, p in enumerate(probs))
    return QueueFigures(p_wait=p_wait, service_level=math.nan, asa_s=queue / lam,
                        occupancy=busy / agents, abandon_rate=abandon)
