"""Run one outbox relay in its own process, so a test can kill it like a crashed instance."""

from __future__ import annotations

import asyncio
import sys

from atende_events.db import make_engine
from atende_events.kafka import Publisher
from atende_events.outbox import OutboxRelay


async def main(database_url: str, bootstrap: str, service: str, namespace: str) -> None:
    engine = make_engine(database_url, pool_size=2)
    relay = OutboxRelay(
        service=service,
        engine=engine,
        publisher=Publisher(bootstrap, client_id=service),
        namespace=namespace,
    )
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
