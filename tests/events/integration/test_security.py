"""Hostile input and production exposure, through every service's real app (issue 18).

Body limits before the key is checked, security headers, no API documents and a guarded /metrics
in production, rate limits with Retry-After, correlation ids that cannot carry personal data, a
locale longer than its column, and database errors that never show their parameters.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from atende_events import db
from tests.infra import KAFKA_BOOTSTRAP, scratch_database
from tests.service_checks import running_service

SERVICES = ["intake", "routing", "sla", "survey", "analytics"]
STRONG_URL = "postgresql+asyncpg://svc:Xr8vK2mQ7tL4pW9zB3nH6jC1fS5dG0yAe@127.0.0.1:1/nowhere"
METRICS_KEY = "Mt7xV2pL9rT4wZ8kN3sB6yH1cF5jD0gAeU"
READER_KEY = "Rd3kR8xQ2wL7pT4mZ9bH6sJ1cF5yD0gAeU"
PSEUDONYM_KEY = "k8Jq2v0Zr7Wm4Ht1Nc9Xb6Ls3Pd5Fg0Ye2Ua8Ti"
SURVEY_AT_INTAKE = "Jt5wQ9xL2vR7mK4pZ8nB3sH6yC1fD0gAeUo"
# A POST route of each service that needs a key (survey's only POSTs are public).
POST_ROUTES = {
    "intake": "/v1/interactions",
    "routing": "/v1/assignments/5f0c1d7e-0000-4000-8000-000000000000/complete",
    "sla": "/v1/sla/interactions/5f0c1d7e-0000-4000-8000-000000000000/extend",
    "survey": "/v1/surveys/some-token/responses",
    "analytics": "/v1/kpis",
}


def app_of(service: str, **overrides: Any) -> FastAPI:
    """Build a service's app without starting it: the routes below need no database."""
    main = importlib.import_module(f"{service}.main")
    config = importlib.import_module(f"{service}.config")
    settings = config.Settings(kafka_bootstrap=KAFKA_BOOTSTRAP, **overrides)
    app: FastAPI = main.create_app(settings)
    return app


def production_app(service: str) -> FastAPI:
    extra: dict[str, Any] = {}
    if service == "intake":
        extra["pseudonym_key"] = PSEUDONYM_KEY
    if service == "survey":
        extra["intake_api_key"] = SURVEY_AT_INTAKE
    return app_of(
        service,
        environment="production",
        database_url=STRONG_URL,
        api_keys={METRICS_KEY: {"metrics:read"}, READER_KEY: {"something:read"}},
        **extra,
    )


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("service", SERVICES)
async def test_an_oversized_body_is_413_before_the_key_is_checked(service: str) -> None:
    async with client_of(app_of(service, environment="development")) as client:
        declared = await client.post(POST_ROUTES[service], content=b"x" * (64 * 1024 + 1))
        assert declared.status_code == 413, declared.text
        assert declared.headers["content-type"] == "application/problem+json"

        async def stream() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"y" * 4096

        streamed = await client.post(POST_ROUTES[service], content=stream())
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413, streamed.text


@pytest.mark.parametrize("service", SERVICES)
async def test_too_many_header_fields_are_431(service: str) -> None:
    async with client_of(app_of(service, environment="development")) as client:
        headers = [(f"x-h{n}", "v") for n in range(150)]
        answer = await client.get("/healthz", headers=headers)
        assert answer.status_code == 431
        answer = await client.get("/healthz", headers={"x-big": "a" * 20_000})
        assert answer.status_code == 431


@pytest.mark.parametrize("service", SERVICES)
async def test_every_answer_carries_the_security_headers(service: str) -> None:
    async with client_of(app_of(service, environment="development")) as client:
        for path in ("/healthz", "/v1/no-such-route"):
            answer = await client.get(path)
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


@pytest.mark.parametrize("service", SERVICES)
async def test_production_serves_no_api_documents_and_guards_metrics(service: str) -> None:
    async with client_of(production_app(service)) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/metrics")).status_code == 401
        other = {"Authorization": f"Bearer {READER_KEY}"}
        assert (await client.get("/metrics", headers=other)).status_code == 403
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
        assert allowed.status_code == 200
        assert "atende_http_request_seconds" in allowed.text
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("service", SERVICES)
async def test_development_keeps_the_documents_and_open_metrics(service: str) -> None:
    async with client_of(app_of(service, environment="development")) as client:
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200


async def test_the_analytics_dashboard_sends_a_strict_content_security_policy() -> None:
    async with client_of(app_of("analytics", environment="development")) as client:
        page = await client.get("/dashboard")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert "<script>" not in page.text, "no inline script"
        script = await client.get("/dashboard/assets/dashboard.js")
        assert "localStorage.setItem" not in script.text
        assert "sessionStorage" in script.text


async def test_a_cpf_or_email_as_correlation_id_never_reaches_an_event() -> None:
    async with running_service("intake") as intake:
        for sent in ("ana.souza@example.com", "123.456.789-09", "12345678909"):
            answer = await intake.client.post(
                "/v1/interactions",
                json={"channel": "phone", "party": {"kind": "member", "id": "card-corr-1"}},
                headers={"Authorization": "Bearer dev-intake-admin", "x-correlation-id": sent},
            )
            assert answer.status_code == 201, answer.text
            assert answer.headers["x-correlation-id"] != sent
        async with intake.sessionmaker.begin() as session:
            payloads = (await session.scalars(select(db.outbox.c.payload))).all()
        assert len(payloads) == 3
        for payload in payloads:
            for value in (b"ana.souza@example.com", b"123.456.789-09", b"12345678909"):
                assert value not in payload


async def test_a_locale_longer_than_its_column_is_422_not_500() -> None:
    async with running_service("intake") as intake:
        answer = await intake.client.post(
            "/v1/interactions",
            json={
                "channel": "chat",
                "party": {"kind": "member", "id": "card-locale-1"},
                "locale": "pt-" + "-".join(["Abcdefgh"] * 5),
            },
            headers={"Authorization": "Bearer dev-intake-admin"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "locale"


async def test_tracking_and_posting_are_rate_limited_with_retry_after() -> None:
    limits = {
        "track": {"per_client": 1, "burst_seconds": 3},
        "interactions": {"per_key": 1, "burst_seconds": 2},
    }
    async with running_service("intake", rate_limits=limits) as intake:
        portal = {"Authorization": "Bearer dev-intake-portal"}
        answers = [
            await intake.client.get(
                f"/v1/track/345678202601010{n:05d}", params={"party_id": "123"}, headers=portal
            )
            for n in range(5)
        ]
        assert [a.status_code for a in answers[:3]] == [404, 404, 404]
        refused = answers[3]
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1

        admin = {"Authorization": "Bearer dev-intake-admin"}
        body = {"channel": "phone", "party": {"kind": "member", "id": "card-rate-1"}}
        posted = [
            (await intake.client.post("/v1/interactions", json=body, headers=admin)).status_code
            for _ in range(3)
        ]
        assert posted == [201, 201, 429]
        other = {"Authorization": "Bearer dev-intake-survey"}
        answer = await intake.client.post("/v1/interactions", json=body, headers=other)
        assert answer.status_code == 201, "each key has its own bucket"


async def test_the_public_survey_routes_are_rate_limited_per_address() -> None:
    limits = {"surveys": {"per_client": 1, "burst_seconds": 2}}
    async with running_service("survey", rate_limits=limits) as survey:
        statuses = [
            (await survey.client.get("/v1/surveys/unknown-token")).status_code for _ in range(3)
        ]
        assert statuses == [404, 404, 429]
        answer = await survey.client.post("/v1/surveys/unknown-token/opt-out")
        assert answer.status_code == 429
        assert answer.headers["retry-after"]


async def test_a_failed_statement_never_shows_its_parameters() -> None:
    async with scratch_database("hide_params") as url:
        engine = db.make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("CREATE TEMPORARY TABLE t (v varchar(3))"))
                with pytest.raises(DBAPIError) as failed:
                    await conn.execute(
                        text("INSERT INTO t (v) VALUES (:v)"),
                        {"v": "Maria da Silva, CPF 123.456.789-09"},
                    )
            assert "Maria" not in str(failed.value)
            assert "123.456.789-09" not in str(failed.value)
        finally:
            await engine.dispose()
