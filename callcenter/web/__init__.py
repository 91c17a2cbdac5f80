"""aiohttp web layer: REST API, WebSocket event stream, health, metrics, API description."""

from callcenter.web.access import ACCESS, Need
from callcenter.web.app import create_app
from callcenter.web.auth import (
    AuthenticationError,
    Authenticator,
    Principal,
    SessionAuthenticator,
    principal,
    request_token,
    require_role,
)
from callcenter.web.errors import ApiError
from callcenter.web.state import CallRecord, CallView, HealthCheck

__all__ = [
    "ACCESS",
    "ApiError",
    "AuthenticationError",
    "Authenticator",
    "CallRecord",
    "CallView",
    "HealthCheck",
    "Need",
    "Principal",
    "SessionAuthenticator",
    "create_app",
    "principal",
    "request_token",
    "require_role",
]
