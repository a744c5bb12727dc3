"""Describe failures by kind and code only, for logs and dead-letter headers.

The text of a database or validation error quotes what it was about: a statement's parameters,
`DETAIL: Key (email)=(...)`, pydantic's `input_value=...`. For health data that text must not
travel into a log line or a Kafka header.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError


def describe_error(error: BaseException) -> str:
    """Name a failure by its type, SQLSTATE or failing fields; never by the values involved."""
    name = type(error).__name__
    if isinstance(error, DBAPIError):
        driver = type(error.orig).__name__
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return f"{name} ({driver}, SQLSTATE {sqlstate})"
    if isinstance(error, ValidationError):
        fields = sorted(
            {
                ".".join(str(part) for part in detail["loc"]) + ": " + detail["type"]
                for detail in error.errors(
                    include_input=False, include_url=False, include_context=False
                )
            }
        )
        return f"{name} ({error.title}: {'; '.join(fields)})"[:1000]
    cause = error.__cause__ or error.__context__
    if isinstance(cause, DBAPIError | ValidationError):
        return f"{name} from {describe_error(cause)}"
    return name
