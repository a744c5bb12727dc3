"""Run the simulator: `python -m simulator --help`. Stops on SIGTERM or Ctrl-C.

Every option also reads an environment variable (SIM_RATE, SIM_AGENTS...), which is how
`make run` (deploy/local/services.sh) passes a profile through.
"""

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

# One line per HTTP request (httpx) or SMTP command (aiosmtpd) would drown the summaries.
QUIET_LOGGERS = ("httpx", "httpcore", "mail.log", "uvicorn.error")


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not a share between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Customers, agents and survey respondents working against a running Atende.",
    )
    add = parser.add_argument
    add("--intake", default=env("SIM_INTAKE_URL", "http://127.0.0.1:8001"), help="SIM_INTAKE_URL")
    add(
        "--routing", default=env("SIM_ROUTING_URL", "http://127.0.0.1:8002"), help="SIM_ROUTING_URL"
    )
    add("--intake-key", default=env("SIM_INTAKE_KEY", "dev-intake-admin"), help="SIM_INTAKE_KEY")
    add(
        "--routing-key", default=env("SIM_ROUTING_KEY", "dev-routing-admin"), help="SIM_ROUTING_KEY"
    )
    add(
        "--rate",
        type=_positive,
        default=env("SIM_RATE", "0.5"),
        help="SIM_RATE: contacts per second (Poisson arrivals)",
    )
    add("--agents", type=int, default=int(env("SIM_AGENTS", "14")), help="SIM_AGENTS")
    add(
        "--handle-seconds",
        type=_positive,
        default=env("SIM_HANDLE_SECONDS", "20"),
        help="SIM_HANDLE_SECONDS: mean handling time (exponential)",
    )
    add(
        "--pickup-seconds",
        type=_not_negative,
        default=env("SIM_PICKUP_SECONDS", "2"),
        help="SIM_PICKUP_SECONDS: an agent takes up to this long to accept an offer (uniform)",
    )
    add(
        "--bind",
        default=env("SIM_BIND_HOST", "127.0.0.1"),
        help="SIM_BIND_HOST: where the SMTP sink and the webhook listen (0.0.0.0 in a container)",
    )
    add(
        "--survey-url",
        default=env("SIM_SURVEY_URL") or None,
        help="SIM_SURVEY_URL: reach survey links at this base URL instead of the links' own",
    )
    add(
        "--poll-seconds",
        type=_positive,
        default=env("SIM_POLL_SECONDS", "1"),
        help="SIM_POLL_SECONDS: how often each agent's desktop looks for new offers",
    )
    add("--smtp-port", type=int, default=int(env("SIM_SMTP_PORT", "8025")), help="SIM_SMTP_PORT")
    add(
        "--webhook-port",
        type=int,
        default=int(env("SIM_WEBHOOK_PORT", "8026")),
        help="SIM_WEBHOOK_PORT",
    )
    add(
        "--response-rate",
        type=_share,
        default=env("SIM_RESPONSE_RATE", "0.6"),
        help="SIM_RESPONSE_RATE: share of survey links answered",
    )
    add(
        "--answer-seconds",
        type=_not_negative,
        default=env("SIM_ANSWER_SECONDS", "30"),
        help="SIM_ANSWER_SECONDS: a respondent answers up to this long after the link arrives",
    )
    add(
        "--promoters",
        type=_share,
        default=env("SIM_PROMOTERS", "0.52"),
        help="SIM_PROMOTERS: share of answers of 9-10",
    )
    add(
        "--passives",
        type=_share,
        default=env("SIM_PASSIVES", "0.31"),
        help="SIM_PASSIVES: share of answers of 7-8 (the rest are detractors, 0-6)",
    )
    add(
        "--may-contact",
        type=_share,
        default=env("SIM_MAY_CONTACT", "0.6"),
        help="SIM_MAY_CONTACT: share of detractors who allow a follow-up call",
    )
    add(
        "--report-seconds",
        type=_positive,
        default=env("SIM_REPORT_SECONDS", "30"),
        help="SIM_REPORT_SECONDS: how often a one-line summary is logged",
    )
    add(
        "--duration",
        type=_positive,
        default=env("SIM_DURATION") or None,
        help="SIM_DURATION: stop after this many seconds; default: run until stopped",
    )
    add("--seed", type=int, default=int(env("SIM_SEED", "7")), help="SIM_SEED")
    args = parser.parse_args(argv)
    if args.promoters + args.passives > 1:
        parser.error("promoters + passives must not exceed 1")
    return args


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
        args.routing,
        args.routing_key,
        make_team(args.agents, rng, args.handle_seconds, args.pickup_seconds),
        poll_seconds=args.poll_seconds,
    )
    respondents = Respondents(
        rng,
        response_rate=args.response_rate,
        promoters=args.promoters,
        passives=args.passives,
        max_delay_seconds=args.answer_seconds,
        may_contact=args.may_contact,
        survey_url=args.survey_url,
    )
    mail_sink = start_mail_sink(respondents, args.smtp_port, args.bind)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            webhook = asyncio.create_task(
                serve_webhook(respondents, args.webhook_port, stop, args.bind)
            )
            await desk.sign_in(client)
            log.info(
                "simulating %s contacts/s with %d agents (mean handling %ss); survey links on "
                "SMTP %s:%d and webhook %s:%d; NPS mix %.0f%%/%.0f%%/%.0f%%",
                args.rate,
                args.agents,
                args.handle_seconds,
                args.bind,
                args.smtp_port,
                args.bind,
                args.webhook_port,
                100 * args.promoters,
                100 * args.passives,
                100 * (1 - args.promoters - args.passives),
            )
            tasks = [
                asyncio.create_task(customers.run(client, stop)),
                asyncio.create_task(desk.run(client, stop)),
                asyncio.create_task(respondents.run(client, stop)),
                asyncio.create_task(_report(customers, desk, respondents, stop, args)),
            ]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await webhook
    finally:
        mail_sink.stop()
    log.info("simulator stopped: %s", summary(customers, desk, respondents))


def summary(customers: Customers, desk: AgentDesk, respondents: Respondents) -> str:
    """One line of what happened so far."""
    accepted = sum(agent.accepted for agent in desk.team)
    completed = sum(agent.completed for agent in desk.team)
    errors = customers.errors + desk.errors + respondents.errors
    return (
        f"posted {customers.posted}, accepted {accepted}, completed {completed}, "
        f"survey links {respondents.received}, surveys answered {respondents.answered}, "
        f"refused by routing {desk.refused}, errors {errors}"
    )


async def _report(
    customers: Customers,
    desk: AgentDesk,
    respondents: Respondents,
    stop: asyncio.Event,
    args: argparse.Namespace,
) -> None:
    while not stop.is_set():
        await asyncio.sleep(args.report_seconds)
        log.info(summary(customers, desk, respondents))


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    asyncio.run(run(parse()))


if __name__ == "__main__":
    main()
