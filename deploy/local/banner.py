"""Print where to look once `make run` has started everything: addresses and dev API keys."""

from __future__ import annotations

import importlib
import sys

SERVICES = ("intake", "routing", "sla", "survey", "analytics")


def main() -> None:
    """Write the banner to stdout."""
    lines = ["", "Atende is running.", ""]
    for service in SERVICES:
        settings = importlib.import_module(f"{service}.config").Settings()
        base = f"http://127.0.0.1:{settings.port}"
        lines.append(f"  {service:<10} {base}/docs   (readiness {base}/readyz, {base}/metrics)")
        for key, scopes in sorted(settings.api_keys.items()):
            lines.append(f"  {'':<10} dev API key {key}: {', '.join(sorted(scopes))}")
    lines += [
        "",
        "  logs:   make logs        status: make status        stop: make stop",
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
