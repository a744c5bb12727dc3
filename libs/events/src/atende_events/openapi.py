"""Write into a service's OpenAPI document the errors it answers, as it sends them.

Every error is RFC 9457 problem details (`install_problem_handlers`), but FastAPI documents a
422 as its own `HTTPValidationError` in `application/json`, and nothing of what the shared
layer adds to every route: an unreadable or oversized body (400, 413) and a database outage or
a lost race (503). A client generated from the document, or a fuzzer checking answers against
it, would be told wrong.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from atende_events.web import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; some problems add members of their own.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "description": "The fields a 400 or 422 found wrong.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "location", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "location": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def document_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI document name the problem details its routes answer with."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_problem_responses(build())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it


def add_problem_responses(document: dict[str, Any]) -> None:
    """Document the shared layer's errors on every operation, and every error as a problem."""
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for path, item in paths.items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for code, description in _shared_errors(path, operation).items():
                responses.setdefault(str(code), {"description": description})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": _PROBLEM_REF}}}
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    text = json.dumps(paths)
    if not any(f"#/components/schemas/{name}" in text for name in _FASTAPI_VALIDATION):
        for name in _FASTAPI_VALIDATION:
            schemas.pop(name, None)


def _shared_errors(path: str, operation: dict[str, Any]) -> dict[int, str]:
    errors: dict[int, str] = {}
    if "requestBody" in operation:
        errors[400] = "The body cannot be read (not JSON, or not UTF-8)."
        errors[413] = "The body is larger than the service takes."
    if path.startswith("/v1/"):
        errors[503] = "The database is unreachable or the request met concurrent work; retry."
    return errors
