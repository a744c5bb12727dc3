"""Every operation of every service's OpenAPI document, fuzzed in-process against a real database.

schemathesis generates valid and invalid requests from each document; each service runs on a
scratch migrated database with its development key, so authenticated routes are exercised past
their key check. A case fails on a 5xx, on a status code the operation does not document, or on
a response whose media type or body differs from what is documented for its status.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service_checks import RunningService, build_app, running_service

MAX_EXAMPLES = 25
"""Cases per operation (one where an operation takes nothing): about 700 in all, in well under a
minute on two cores."""

SERVICE_KEYS = {
    "intake": "dev-intake-admin",
    "routing": "dev-routing-admin",
    "sla": "dev-sla-admin",
    "survey": "dev-survey-admin",
    "analytics": "dev-analytics-reader",
}
"""The development key holding every scope of each service (survey's token routes need none)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

Operation = APIOperation[Any, Any, Any, Any]

# Nothing is connected while a document is built: the URL is never dialled.
_NOWHERE = "postgresql+asyncpg://atende:atende@127.0.0.1:1/nowhere"


@functools.cache
def api_schema(service: str) -> BaseSchema:
    """Load a service's OpenAPI document, as its app serves it at /openapi.json."""
    document = build_app(service, _NOWHERE).openapi()
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config())


def operation_labels(service: str) -> list[str]:
    """Name every operation of a service's document, such as `POST /v1/interactions`."""
    return [operation.label for operation in _operations(api_schema(service))]


def _operations(schema: BaseSchema) -> Iterator[Operation]:
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # a document FastAPI built is valid: this is a bug to see
        yield result.ok()


@functools.cache
def cases(service: str, label: str) -> st.SearchStrategy[schemathesis.Case[Operation]]:
    """Valid and invalid requests to one operation."""
    operation: Operation | None = api_schema(service).find_operation_by_label(label)
    assert operation is not None, label
    modes = [schemathesis.GenerationMode.POSITIVE]
    if operation.body or any(True for _ in operation.iter_parameters()):
        # An operation that takes nothing has nothing to get wrong.
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    return st.one_of(*(operation.as_strategy(mode) for mode in modes))


OVERRIDES: dict[str, dict[str, Any]] = {
    # No rate limits: after the first few cases a tracking or survey route would answer only
    # 429 and be fuzzed no further (the limits have tests of their own).
    "intake": {"rate_limits": {}},
    "survey": {"rate_limits": {}},
}


@dataclass
class Fuzzed:
    """A service under fuzzing: its name, the running app and its key."""

    name: str
    running: RunningService
    authorization: str


class Services:
    """Run one service at a time, the one the current test fuzzes.

    The tests come in the order of `OPERATIONS`, service by service, so each service starts
    once, on its own scratch database, and stops before the next starts.
    """

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self._current: Fuzzed | None = None

    async def serve(self, name: str) -> Fuzzed:
        """Give the running service, starting it (and stopping the one before) if need be."""
        if self._current is None or self._current.name != name:
            await self.stop()
            self._stack = AsyncExitStack()
            running = await self._stack.enter_async_context(
                running_service(name, **OVERRIDES.get(name, {}))
            )
            self._current = Fuzzed(name, running, f"Bearer {SERVICE_KEYS[name]}")
        return self._current

    async def stop(self) -> None:
        """Stop the running service, if any, and drop its database."""
        if self._current is not None:
            await self._stack.aclose()
            self._current = None


@pytest.fixture(scope="module")
async def services() -> AsyncIterator[Services]:
    services = Services()
    try:
        yield services
    finally:
        await services.stop()


@pytest.fixture
async def fuzzed(services: Services, service: str) -> Fuzzed:
    return await services.serve(service)


OPERATIONS = [
    pytest.param(name, label, id=f"{name}-{label}")
    for name in SERVICE_KEYS
    for label in operation_labels(name)
]


@pytest.mark.parametrize(("service", "label"), OPERATIONS)
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same cases on every run: CI is reproducible
    database=None,
    deadline=None,
    # `fuzzed` is function-scoped only to pick the running service; every example shares it.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=st.data())
async def test_an_operation_answers_as_documented(
    fuzzed: Fuzzed, service: str, label: str, data: st.DataObject
) -> None:
    case = data.draw(cases(service, label), label="case")
    sent = requests.Request(
        **case.as_transport_kwargs(
            base_url="http://test", headers={"Authorization": fuzzed.authorization}
        )
    ).prepare()
    response = await fuzzed.running.client.request(
        sent.method or case.method,
        sent.url or "",
        headers={
            name: value.decode("latin-1") if isinstance(value, bytes) else value
            for name, value in sent.headers.items()
        },
        content=sent.body if isinstance(sent.body, bytes | str | None) else None,
    )
    case.validate_response(response, checks=CHECKS)
