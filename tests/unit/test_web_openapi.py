"""The shipped OpenAPI description stays true to the router, both ways."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web import create_app
from callcenter.web.routes.openapi import description, description_text
from tests.accounts import sign_in
from tests.fakes import NoCalls

pytestmark = pytest.mark.unit

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def make_app() -> web.Application:
    return create_app(
        settings=Settings(), bus=EventBus(), calls=NoCalls(), metrics=Metrics()
    )


def router_operations(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route; HEAD twins of GET routes are implicit."""
    ops = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD":
            ops.add((route.method.lower(), path))
    return ops


def described_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_every_route_is_described_and_every_description_is_routed() -> None:
    routed = router_operations(make_app())
    described = described_operations(description())
    assert routed - described == set(), "routes missing from openapi.yaml"
    assert described - routed == set(), "openapi.yaml describes routes that do not exist"


def test_description_is_valid_openapi_31() -> None:
    spec = description()
    assert spec["openapi"].startswith("3.1")
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)


def test_path_parameters_match_templates() -> None:
    spec = description()
    shared = spec["components"].get("parameters", {})

    def resolved(param: dict[str, Any]) -> dict[str, Any]:
        ref = param.get("$ref", "")
        return shared[ref.rsplit("/", 1)[-1]] if ref else param

    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            declared = {p["name"] for p in map(resolved, op.get("parameters", []))
                        if p["in"] == "path"}
            in_template = {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
            assert declared == in_template, f"{method.upper()} {path}"


async def test_served_json_and_yaml_are_the_same_document() -> None:
    async with TestClient(TestServer(make_app())) as client:
        await sign_in(client)
        resp_json = await client.get("/openapi.json")
        assert resp_json.status == 200
        resp_yaml = await client.get("/openapi.yaml")
        assert resp_yaml.status == 200
        assert resp_yaml.content_type == "application/yaml"
        text = await resp_yaml.text()
        assert text == description_text()
        assert await resp_json.json() == yaml.safe_load(text)


def test_every_event_type_is_named_in_the_description() -> None:
    from pathlib import Path

    from callcenter.events import EVENT_TYPES

    text = (Path(__file__).resolve().parents[2] / "callcenter" / "web" / "openapi.yaml").read_text()
    missing = [kind for kind in EVENT_TYPES if f"`{kind}`" not in text]
    assert not missing, f"openapi.yaml DomainEvent does not name {missing}"
