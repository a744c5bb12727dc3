"""Bearer API keys: 401 without a known key, 403 without the scope, placeholders refused."""

import asyncio

import httpx
import pytest
from fastapi import Depends, FastAPI

from atende_events.auth import ApiKeys, refuse_dev_keys, require_scope
from atende_events.web import install_problem_handlers

KEYS = {
    "writer-key-0123456789": {"things:write", "things:read"},
    "reader-key-987654": {"things:read"},
}


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.api_keys = ApiKeys(KEYS)
    install_problem_handlers(app)

    @app.post("/things", dependencies=[Depends(require_scope("things:write"))])
    async def create_thing() -> dict[str, bool]:
        return {"created": True}

    return app


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer", 401),
        ("Bearer unknown-key", 401),
        ("Basic writer-key-0123456789", 401),
        ("Bearer writer-key-012345678", 401),
        ("Bearer reader-key-987654", 403),
        ("Bearer writer-key-0123456789", 200),
        ("bearer writer-key-0123456789", 200),
    ],
)
def test_keys_and_scopes_decide_the_answer(authorization: str | None, status: int) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=make_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/things", headers=headers)

    response = asyncio.run(call())
    assert response.status_code == status
    if status != 200:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_scopes_of_an_unknown_key_are_none() -> None:
    keys = ApiKeys(KEYS)
    assert keys.scopes_of("reader-key-987654") == frozenset({"things:read"})
    assert keys.scopes_of("") is None


def test_placeholder_keys_are_refused_outside_development() -> None:
    refuse_dev_keys({"dev-intake-key": {"a"}}, environment="development")
    refuse_dev_keys({"real-key": {"a"}}, environment="production")
    with pytest.raises(ValueError, match="development placeholders"):
        refuse_dev_keys({"dev-intake-key": {"a"}}, environment="production")
