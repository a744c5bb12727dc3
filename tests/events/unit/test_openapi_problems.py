"""The OpenAPI document says what the shared layer answers: problem details, 400, 413, 503."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from atende_events.openapi import PROBLEM_SCHEMA, document_errors
from atende_events.web import PROBLEM_JSON, install_problem_handlers


class Thing(BaseModel):
    name: str


def app_with_routes() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    document_errors(app)

    @app.post("/v1/things", status_code=201, responses={409: {"description": "Taken."}})
    async def create(thing: Thing) -> Thing:
        return thing

    @app.get("/v1/things/{number}")
    async def read(number: int) -> Thing:
        return Thing(name=str(number))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def responses(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]["responses"]
    return found


def test_every_error_is_documented_as_problem_details() -> None:
    document = app_with_routes().openapi()
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, method in [("/v1/things", "post"), ("/v1/things/{number}", "get")]:
        for status, response in responses(document, path, method).items():
            if int(status) >= 400:
                assert response["content"] == problem, (path, method, status)
    # FastAPI's own validation error, which no route sends, is gone.
    assert set(document["components"]["schemas"]) == {"Problem", "Thing"}


def test_the_shared_layers_errors_are_documented_where_they_can_happen() -> None:
    document = app_with_routes().openapi()
    assert set(responses(document, "/v1/things", "post")) == {
        "201",
        "400",  # unreadable body
        "409",  # the route's own
        "413",  # body limit
        "422",
        "503",  # database outage
    }
    assert set(responses(document, "/v1/things/{number}", "get")) == {"200", "422", "503"}
    assert set(responses(document, "/healthz", "get")) == {"200"}


async def _answers(app: FastAPI) -> list[tuple[httpx.Response, int]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        unreadable = await client.post(
            "/v1/things", content=b"{", headers={"content-type": "application/json"}
        )
        invalid = await client.get("/v1/things/not-a-number")
        missing = await client.get("/v1/nothing")
    return [(unreadable, 400), (invalid, 422), (missing, 404)]


def test_the_problems_sent_match_the_documented_schema() -> None:
    for answer, status in asyncio.run(_answers(app_with_routes())):
        assert answer.status_code == status
        assert answer.headers["content-type"] == PROBLEM_JSON
        body = answer.json()
        assert set(PROBLEM_SCHEMA["required"]) <= set(body)
        errors = PROBLEM_SCHEMA["properties"]["errors"]["items"]
        assert all(set(errors["required"]) <= set(error) for error in body.get("errors", []))


def test_the_document_is_built_once() -> None:
    app = app_with_routes()
    assert app.openapi() is app.openapi()
