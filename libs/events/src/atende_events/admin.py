"""Operator commands: `python -m atende_events.admin create-topics`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from atende_events.kafka import KafkaError, ensure_topics
from atende_events.topics import topic_specs


def main(argv: list[str] | None = None) -> int:
    """Create every topic of the contract that does not exist yet."""
    parser = argparse.ArgumentParser(prog="python -m atende_events.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-topics", help="create the contract's topics and DLQs")
    create.add_argument(
        "--bootstrap", default=os.environ.get("ATENDE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    )
    create.add_argument(
        "--partitions", type=int, default=int(os.environ.get("ATENDE_TOPIC_PARTITIONS", "6"))
    )
    create.add_argument("--namespace", default="", help="prefix of every topic name (tests)")
    args = parser.parse_args(argv)
    specs = topic_specs(args.partitions, namespace=args.namespace)
    try:
        created = asyncio.run(ensure_topics(args.bootstrap, specs))
    except (KafkaError, OSError, TimeoutError) as exc:
        sys.stderr.write(
            f"cannot create topics on {args.bootstrap}: {exc!r}\n"
            "Is Kafka running? Start it with 'make infra-up'.\n"
        )
        return 1
    sys.stdout.write(f"created {', '.join(created)}\n" if created else "all topics exist already\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
