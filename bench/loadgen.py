"""Open-loop HTTP load generator: requests leave on a fixed schedule, whatever the server does.

Latency is measured from each request's *scheduled* departure, so a server that falls behind
shows up as latency instead of quietly lowering the offered load (no coordinated omission).
Run as its own process so its CPU use is its own: `python -m bench.loadgen --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp

from bench.stats import percentile

CHANNELS = ["phone"] * 5 + ["chat"] * 2 + ["web", "app", "email", "whatsapp"]
SUBJECTS = [
    ("Segunda via do boleto", "Preciso da segunda via do boleto de pagamento deste mês."),
    ("Autorização de exame", "Quero saber se a ressonância magnética já foi autorizada."),
    ("Inclusão de dependente", "Gostaria de incluir minha filha como dependente no plano."),
    ("Pago de honorarios", "El prestador pregunta por el pago de honorarios atrasado."),
    ("Kostenübernahme", "Ich möchte wissen, ob die Kosten für die Operation übernommen werden."),
    ("Network question", "Is the new clinic part of the provider network?"),
]


def interaction_body(rng: random.Random) -> dict[str, Any]:
    """A realistic interaction as a channel front end posts it (seed 000: 70% members)."""
    kind = "member" if rng.random() < 0.7 else "provider"
    subject, description = rng.choice(SUBJECTS)
    return {
        "channel": rng.choice(CHANNELS),
        "party": {
            "kind": kind,
            "id": f"{rng.randrange(10**11):011d}",
            "name": "Maria Silva",
            "email": "maria.silva@example.org",
            "phone": "+5511999990000",
        },
        "subject": subject,
        "description": description,
        "locale": "pt-BR",
    }


async def run(
    urls: Sequence[str],
    *,
    rate: float,
    duration: float,
    headers: dict[str, str],
    seed: int,
    record: str | None = None,
    give_up: float = 10.0,
) -> dict[str, Any]:
    """Offer `rate` requests per second for `duration` seconds; return the latency figures.

    With several `urls` (instances of one service), requests go to them in turn, as a
    round-robin load balancer would send them.

    With `record`, also write one JSON line per accepted request: the interaction id, when the
    request was scheduled to leave and when its answer came (wall-clock seconds), so that the
    benchmark can follow each interaction through the pipeline.
    """
    rng = random.Random(seed)
    total = int(rate * duration)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    accepted: list[tuple[str, float, float]] = []
    # aiohttp, not httpx: httpx's connection pool costs more per request the more are pending
    # (it spun one core for minutes on 5,000 requests at 500/s), which would make the
    # generator, not the server, the thing measured.
    connector = aiohttp.TCPConnector(limit=1024, limit_per_host=1024)
    timeout = aiohttp.ClientTimeout(total=give_up)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        loop = asyncio.get_running_loop()
        to_wall = time.time() - loop.time()

        async def send(url: str, body: dict[str, Any], scheduled: float) -> None:
            try:
                async with (
                    asyncio.timeout(max(0.1, scheduled + give_up - loop.time())),
                    client.post(
                        url, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
                    ) as response,
                ):
                    outcome = str(response.status) if response.status >= 300 else None
                    answer = await response.read()
                if record and outcome is None:
                    answered = loop.time()
                    accepted.append(
                        (json.loads(answer)["id"], scheduled + to_wall, answered + to_wall)
                    )
            except aiohttp.ClientError as exc:
                outcome = type(exc).__name__
            except TimeoutError:
                outcome = "Timeout"
            latencies.append(loop.time() - scheduled)
            if outcome:
                errors[outcome] = errors.get(outcome, 0) + 1

        in_flight: set[asyncio.Task[None]] = set()
        start = loop.time() + 0.2
        wall = time.perf_counter()
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            url = urls[i % len(urls)]
            task = asyncio.create_task(send(url, interaction_body(rng), scheduled))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
        wall = time.perf_counter() - wall
    latencies.sort()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if record:
        with open(record, "w", encoding="utf-8") as out:  # noqa: ASYNC230 - after the run
            out.writelines(
                json.dumps({"id": i, "scheduled": s, "answered": a}) + "\n" for i, s, a in accepted
            )
    return {
        "offered_rate": rate,
        "requests": total,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "achieved_rate": total / wall if wall > 0 else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "generator_cpu_s": usage.ru_utime + usage.ru_stime,
        "generator_wall_s": wall,
    }


def main() -> None:
    """Parse arguments, run the load, print the figures as one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", action="append", required=True, help="repeat for instances")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=60, help="seconds")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--record", help="write each accepted request as a JSON line here")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    figures = asyncio.run(
        run(
            args.url,
            rate=args.rate,
            duration=args.duration,
            headers=headers,
            seed=args.seed,
            record=args.record,
            give_up=args.timeout,
        )
    )
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
