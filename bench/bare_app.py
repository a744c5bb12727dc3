"""The ceiling of intake's HTTP side: a bare FastAPI endpoint validating the same body, no I/O.

`uvicorn bench.bare_app:app` — what the framework and the validation alone cost on this machine.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from intake.schemas import InteractionIn

app = FastAPI()


@app.post("/v1/interactions", status_code=201)
async def create_interaction(body: InteractionIn) -> dict[str, str]:
    """Validate the interaction and answer as intake would, without storing anything."""
    return {"id": str(uuid.uuid4()), "protocol": "34567820261123000001", "status": "received"}
