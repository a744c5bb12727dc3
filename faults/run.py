"""`python -m faults.run`: run the fault scenarios, print one row each, write the JSON results.

Scenarios 1-8 share one private system (one Kafka broker, as `make run` starts it); scenario 9
starts its own with three Kafka brokers (KAFKA_BROKERS=3) and topics replicated 3 times with
min.insync.replicas 2. Nothing here touches the Kafka, PostgreSQL or services of `make run` or
of the tests: every port and the run dir are the suite's own, and all are removed at the end
(the logs are kept under the run dir printed at the start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from faults.scenarios import SCENARIOS, Harness, Options, Row
from faults.system import FaultSystem

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = [name for name in SCENARIOS if name != "cluster"]


def say(message: str) -> None:
    sys.stderr.write(f"[faults {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (README's Reliability section takes it as it is)."""
    head = (
        "| scenario | offered | acked | lost | dup | false breaches | deadlocks | bad 5xx"
        " | 503+Retry-After | recovery | goal |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for row in rows:
        retry = sum(n for key, n in row.answers.items() if key.endswith("503+retry-after"))
        recovery = "never" if row.recovery_s is None else f"{row.recovery_s:.0f} s"
        goal = "met" if row.ok else "NOT met: " + "; ".join(row.problems)
        lines.append(
            f"| {SCENARIOS[row.scenario][0]} | {row.offered} | {row.acknowledged} | {row.lost}"
            f" | {row.duplicated} | {row.false_breaches} | {row.deadlocks} | {row.bad_5xx}"
            f" | {retry} | {recovery} | {goal} |"
        )
    return "\n".join(lines)


async def run_on(
    system: FaultSystem,
    names: list[str],
    options: Options,
    on_row: Callable[[Row], None] = lambda row: None,
) -> list[Row]:
    """Start the system, run the scenarios on it one after another, stop it."""
    harness = Harness(system, options)
    rows: list[Row] = []
    say(f"starting a private system in {system.run_dir} (make run; Kafka {system.bootstrap})")
    try:
        await harness.open()
        for name in names:
            say(f"scenario {SCENARIOS[name][0]}")
            try:
                row = await harness.run(name, SCENARIOS[name][1])
            except Exception as exc:  # a broken scenario is a row that failed, not the end
                await harness.stop_posting()
                row = Row(
                    name, 0, 0, 0, 0, 0, 0, 0, None, {}, problems=[f"scenario failed: {exc!r}"]
                )
            rows.append(row)
            on_row(row)
            verdict = "goal met" if row.ok else "goal NOT met: " + "; ".join(row.problems)
            say(
                f"  offered {row.offered}, acknowledged {row.acknowledged}, lost {row.lost},"
                f" duplicated {row.duplicated}, false breaches {row.false_breaches},"
                f" deadlocks {row.deadlocks}, recovery {row.recovery_s} s: {verdict}"
            )
    finally:
        await harness.close()
        say("stopping the private system (make stop)")
        await asyncio.to_thread(system.stop, keep_logs=True)
    return rows


async def main_async(names: list[str], options: Options, output: Path | None) -> list[Row]:
    began = datetime.now(UTC)
    rows: list[Row] = []
    RESULTS.mkdir(exist_ok=True)
    target = output or RESULTS / f"faults-{began:%Y%m%dT%H%M%SZ}.json"

    def write(row: Row | None = None) -> None:
        """Write the rows so far: an interrupted run keeps what it measured."""
        if row is not None:
            rows.append(row)
        document = {
            "started": began.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "command": " ".join(["python -m faults.run", *sys.argv[1:]]),
            "options": {f.name: getattr(options, f.name) for f in fields(options)},
            "complete": len(rows) == len(names),
            "rows": [each.as_dict() for each in rows],
        }
        text = json.dumps(document, indent=2, default=str) + "\n"
        target.write_text(text)
        (RESULTS / "latest.json").write_text(text)

    shared = [n for n in names if n in SHARED]
    if shared:
        await run_on(FaultSystem.create(), shared, options, write)
    if "cluster" in names:
        await run_on(FaultSystem.create(brokers=3), ["cluster"], options, write)
    write()
    say(f"results: {target}")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the scenarios, print the table; exit 1 when a goal was missed."""
    # The respondents warn about every link they could not answer: counted in the rows instead.
    logging.getLogger("simulator").setLevel(logging.ERROR)
    # The suite's own Kafka clients complain while a fault keeps a broker away: expected.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m faults.run",
        description="Fault scenarios under load: "
        + ", ".join(f"{name} ({text})" for name, (text, _) in SCENARIOS.items()),
    )
    parser.add_argument("--only", help="comma-separated scenarios to run (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated scenarios to leave out")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="interactions/s")
    parser.add_argument("--agents", type=int, default=defaults.agents)
    parser.add_argument("--warmup", type=float, default=defaults.warmup, help="s before a fault")
    parser.add_argument("--tail", type=float, default=defaults.tail, help="s of load after it")
    parser.add_argument("--settle", type=float, default=defaults.settle, help="s to settle, max")
    parser.add_argument("--service-down", type=float, default=defaults.service_down)
    parser.add_argument("--kafka-down", type=float, default=defaults.kafka_down)
    parser.add_argument("--pg-down", type=float, default=defaults.pg_down)
    parser.add_argument("--relay-hold", type=float, default=defaults.relay_hold)
    parser.add_argument("--broker-down", type=float, default=defaults.broker_down)
    parser.add_argument(
        "--services", default=",".join(defaults.services), help="whom scenarios 1 and 7 hit"
    )
    parser.add_argument("--reset-groups", default=",".join(defaults.reset_groups))
    parser.add_argument("--relay-service", default=defaults.relay_service)
    parser.add_argument("--output", type=Path, help="JSON results file (default faults/results/)")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if not args.only else args.only.split(",")
    names = [n for n in names if n not in args.skip.split(",")]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    options = Options(
        rate=args.rate,
        warmup=args.warmup,
        tail=args.tail,
        settle=args.settle,
        agents=args.agents,
        service_down=args.service_down,
        kafka_down=args.kafka_down,
        pg_down=args.pg_down,
        relay_hold=args.relay_hold,
        broker_down=args.broker_down,
        services=tuple(args.services.split(",")),
        reset_groups=tuple(args.reset_groups.split(",")),
        relay_service=args.relay_service,
    )
    rows = asyncio.run(main_async(names, options, args.output))
    sys.stdout.write(table(rows) + "\n")
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
