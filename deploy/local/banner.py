"""Print where to look once `make run` has started everything: addresses and dev API keys.

`deploy/local/services.sh banner` runs this with the environment the services got, so the ports
shown are the ones in use (INTAKE_PORT..., SIM_SMTP_PORT...).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from atende_events.auth import DEV_KEY_PREFIX

SERVICES = ("intake", "routing", "sla", "survey", "analytics")


def _settings(service: str) -> Any:
    return importlib.import_module(f"{service}.config").Settings()


def _dev_keys(settings: Any) -> list[tuple[str, list[str]]]:
    """The development keys and their scopes; real keys are secrets and are never printed."""
    return [
        (key, sorted(scopes))
        for key, scopes in sorted(settings.api_keys.items())
        if key.startswith(DEV_KEY_PREFIX)
    ]


def dashboard_line(analytics: Any) -> str:
    """The dashboard's address and the dev key to type into it (never put in the address)."""
    url = f"http://127.0.0.1:{analytics.port}/dashboard"
    keys = [key for key, scopes in _dev_keys(analytics) if "kpis:read" in scopes]
    return f"{url}  (key: {keys[0]})" if keys else f"{url}  (give it a key with kpis:read)"


def simulator_lines(env: dict[str, str]) -> list[str]:
    """What the simulator does and where survey delivers its links, or how to start it."""
    pid = env.get("ATENDE_SIMULATOR_PID", "")
    if not pid:
        return ["  simulator  not running ('make run' without SIMULATE=0 starts one)"]
    smtp = env.get("SIM_SMTP_PORT", "8025")
    webhook = env.get("SIM_WEBHOOK_PORT", "8026")
    return [
        f"  simulator  pid {pid}: {env.get('SIM_RATE', '0.5')} contacts/s, "
        f"{env.get('SIM_AGENTS', '14')} agents, survey respondents",
        f"             survey links go to its SMTP sink 127.0.0.1:{smtp} "
        f"and its SMS/WhatsApp webhook http://127.0.0.1:{webhook}/messages",
    ]


def banner(env: dict[str, str]) -> str:
    """The text of the banner."""
    settings = {service: _settings(service) for service in SERVICES}
    rule = "=" * 78
    lines = [
        "",
        rule,
        "  Atende is running.",
        "",
        f"  Dashboard  {dashboard_line(settings['analytics'])}",
        "",
        "  API docs and dev API keys (Authorization: Bearer <key>):",
    ]
    for service in SERVICES:
        base = f"http://127.0.0.1:{settings[service].port}"
        lines.append(f"  {service:<10} {base}/docs   (also /readyz and /metrics)")
        for key, scopes in _dev_keys(settings[service]):
            lines.append(f"  {'':<10}   {key}: {', '.join(scopes)}")
    lines += ["", *simulator_lines(env), ""]
    run_dir = env.get("ATENDE_RUN_DIR") or ".run"
    lines += [
        f"  logs:   make logs  ({run_dir}/logs/)     status: make status     stop: make stop",
        rule,
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Write the banner to stdout."""
    sys.stdout.write(banner(dict(os.environ)) + "\n")


if __name__ == "__main__":
    main()
