"""IVR flows as data and the engine that walks them (sans I/O); see docs/IVR.md."""

from callcenter.ivr.engine import IvrSession, is_open, luhn_ok
from callcenter.ivr.loader import FlowError, FlowIssue, load_flow, parse_flow
from callcenter.ivr.model import Flow
from callcenter.ivr.registry import FlowRegistry, ReloadReport, UnknownFlow

__all__ = ["Flow", "FlowError", "FlowIssue", "FlowRegistry", "IvrSession", "ReloadReport",
           "UnknownFlow", "is_open", "load_flow", "luhn_ok", "parse_flow"]
