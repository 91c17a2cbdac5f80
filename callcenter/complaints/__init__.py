"""The complaint workflow: a pure state machine (:mod:`.workflow`); the desk around it
(:mod:`.service`: storage through :mod:`crm_bridge.complaints`, events, notifications,
deadlines)."""

from callcenter.complaints.workflow import (
    Complaint,
    ComplaintError,
    IllegalTransition,
    InvalidStep,
    Remedy,
    Severity,
    Stage,
    Step,
    WorkflowPolicy,
)

__all__ = ["Complaint", "ComplaintError", "IllegalTransition", "InvalidStep", "Remedy",
           "Severity", "Stage", "Step", "WorkflowPolicy"]
