"""Run the simulator: `python -m simulator --help`. Stops on SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys

import httpx

from simulator.agents import AgentDesk, make_team
from simulator.customers import Customers
from simulator.respondents import Respondents, serve_webhook, start_mail_sink

log = logging.getLogger("simulator")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m simulator")
    parser.add_argument("--intake", default=env("SIM_INTAKE_URL", "http://127.0.0.1:8001"))
    parser.add_argument("--routing", default=env("SIM_ROUTING_URL", "http://127.0.0.1:8002"))
    parser.add_argument("--intake-key", default=env("SIM_INTAKE_KEY", "dev-intake-admin"))
    parser.add_argument("--routing-key", default=env("SIM_ROUTING_KEY", "dev-routing-admin"))
    parser.add_argument(
        "--rate", type=float, default=float(env("SIM_RATE", "0.5")), help="contacts per second"
    )
    parser.add_argument("--agents", type=int, default=int(env("SIM_AGENTS", "14")))
    parser.add_argument(
        "--handle-seconds", type=float, default=float(env("SIM_HANDLE_SECONDS", "20"))
    )
    parser.add_argument("--smtp-port", type=int, default=int(env("SIM_SMTP_PORT", "8025")))
    parser.add_argument("--webhook-port", type=int, default=int(env("SIM_WEBHOOK_PORT", "8026")))
    parser.add_argument(
        "--response-rate", type=float, default=float(env("SIM_RESPONSE_RATE", "0.6"))
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds; default: forever")
    parser.add_argument("--seed", type=int, default=int(env("SIM_SEED", "7")))
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    """Sign the agents in, then let customers and agents work until stopped."""
    rng = random.Random(args.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.duration:
        loop.call_later(args.duration, stop.set)
    customers = Customers(args.intake, args.intake_key, args.rate, rng)
    desk = AgentDesk(
        args.routing, args.routing_key, make_team(args.agents, rng, args.handle_seconds)
    )
    respondents = Respondents(rng, response_rate=args.response_rate)
    mail_sink = start_mail_sink(respondents, args.smtp_port)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            webhook = asyncio.create_task(serve_webhook(respondents, args.webhook_port, stop))
            await desk.sign_in(client)
            log.info("simulating %s contacts/s with %d agents", args.rate, args.agents)
            tasks = [
                asyncio.create_task(customers.run(client, stop)),
                asyncio.create_task(desk.run(client, stop)),
                asyncio.create_task(respondents.run(client, stop)),
                asyncio.create_task(_report(customers, desk, respondents, stop)),
            ]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await webhook
    finally:
        mail_sink.stop()
    log.info("simulator stopped: %s", _summary(customers, desk, respondents))


def _summary(customers: Customers, desk: AgentDesk, respondents: Respondents) -> str:
    completed = sum(agent.completed for agent in desk.team)
    return (
        f"{customers.posted} contacts posted, {completed} completed, "
        f"{respondents.answered} surveys answered"
    )


async def _report(
    customers: Customers, desk: AgentDesk, respondents: Respondents, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        await asyncio.sleep(30)
        log.info(_summary(customers, desk, respondents))


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    asyncio.run(run(parse()))


if __name__ == "__main__":
    main()
