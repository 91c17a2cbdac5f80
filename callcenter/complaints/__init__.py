"""The complaint workflow: a pure state machine (:mod:`.workflow`); the database, REST and
notification adapters live in :mod:`crm_bridge.complaints` and :mod:`callcenter.complaints_service`."""

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
