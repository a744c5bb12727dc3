"""Operator commands: `python -m atende_events.admin create-topics | sweep-scratch-topics`."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys

from atende_events.kafka import KafkaError, delete_topics, ensure_topics
from atende_events.topics import TopicSettings, specs_for

# Names of the throw-away topics that tests (`t<hex>.`, `test.<hex>`) and the benchmark
# (`bench<hex>.`, `bench.ceiling.<hex>`) create beside the contract's own. A test session
# deletes its own at the end; the sweep removes what an interrupted one left behind. Every
# topic costs the broker start-up time (thousands made a restart take minutes): no piling up.
SCRATCH_TOPIC = re.compile(
    r"^(t[0-9a-f]{10}\.|test\.[0-9a-f]{12}|bench[0-9a-f]{6}\.|bench\.ceiling\.[0-9a-f]{8})"
)


def main(argv: list[str] | None = None) -> int:
    """Create the contract's topics, or delete scratch topics left by tests and benchmarks."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--bootstrap", default=os.environ.get("ATENDE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    )
    parser = argparse.ArgumentParser(prog="python -m atende_events.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-topics", parents=[common], help="create the contract's topics and DLQs"
    )
    create.add_argument(
        "--partitions",
        type=int,
        help="partitions of each topic (ATENDE_TOPIC_PARTITIONS, 6): at least the instances"
        " of the most scaled-out service",
    )
    create.add_argument(
        "--replication-factor",
        type=int,
        help="copies of each partition (ATENDE_TOPIC_REPLICATION_FACTOR, 1; 3 on a cluster)",
    )
    create.add_argument(
        "--min-insync-replicas",
        type=int,
        help="copies an acknowledged write needs (ATENDE_TOPIC_MIN_INSYNC_REPLICAS, 1; 2 on a"
        " cluster of 3)",
    )
    create.add_argument("--namespace", default="", help="prefix of every topic name (tests)")
    commands.add_parser(
        "sweep-scratch-topics",
        parents=[common],
        help="delete the topics tests and benchmarks create (never while they run)",
    )
    args = parser.parse_args(argv)
    if args.command == "create-topics":
        try:
            topic_settings(args)
        except ValueError as exc:
            parser.error(str(exc))
    try:
        if args.command == "create-topics":
            specs = specs_for(topic_settings(args), namespace=args.namespace)
            created = asyncio.run(ensure_topics(args.bootstrap, specs))
            done = f"created {', '.join(created)}" if created else "all topics exist already"
        else:
            deleted = asyncio.run(
                delete_topics(args.bootstrap, lambda name: SCRATCH_TOPIC.match(name) is not None)
            )
            done = f"deleted {len(deleted)} scratch topics"
    except (KafkaError, OSError, TimeoutError) as exc:
        sys.stderr.write(
            f"cannot {args.command} on {args.bootstrap}: {exc!r}\n"
            "Is Kafka running? Start it with 'make infra-up'.\n"
        )
        return 1
    sys.stdout.write(done + "\n")
    return 0


def topic_settings(args: argparse.Namespace) -> TopicSettings:
    """The environment's topic settings, with what the command line overrides."""
    from_env = TopicSettings.from_env()
    return TopicSettings(
        partitions=args.partitions or from_env.partitions,
        replication_factor=args.replication_factor or from_env.replication_factor,
        min_insync_replicas=args.min_insync_replicas or from_env.min_insync_replicas,
        dlq_partitions=from_env.dlq_partitions,
    )


if __name__ == "__main__":
    sys.exit(main())
