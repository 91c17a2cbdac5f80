"""aiohttp web layer: REST API, WebSocket event stream, health, metrics, API description."""

from callcenter.web.app import create_app
from callcenter.web.auth import (
    AllowAll,
    AuthenticationError,
    Authenticator,
    Principal,
    principal,
    public,
    request_token,
    require_role,
)
from callcenter.web.errors import ApiError
from callcenter.web.state import CallRecord, CallView, HealthCheck

__all__ = [
    "AllowAll",
    "ApiError",
    "AuthenticationError",
    "Authenticator",
    "CallRecord",
    "CallView",
    "HealthCheck",
    "Principal",
    "create_app",
    "principal",
    "public",
    "request_token",
    "require_role",
]
