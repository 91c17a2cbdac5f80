"""``GET /openapi.json`` and ``/openapi.yaml``: the API description shipped in the package.

The YAML file is the source (comments and order kept); JSON is parsed from it once. A unit
test compares its paths with the router, so the description cannot drift from the code.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from aiohttp import web


@cache
def description_text() -> str:
    return files("callcenter.web").joinpath("openapi.yaml").read_text(encoding="utf-8")


@cache
def description() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(description_text())
    return data


async def handle_json(request: web.Request) -> web.Response:
    return web.json_response(description())


async def handle_yaml(request: web.Request) -> web.Response:
    return web.Response(text=description_text(), content_type="application/yaml")
