"""Write docs/configuration.md from the five services' Settings: every variable, default, meaning.

python deploy/local/config_reference.py          # rewrite docs/configuration.md
python deploy/local/config_reference.py --check  # fail when the committed file is stale

The Settings classes are the only source: a variable added to a service shows up here, and
`make test` fails until the reference is regenerated and committed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "configuration.md"
SERVICES = ("intake", "routing", "sla", "survey", "analytics")
COMMON = "atende_events.settings"

HEADER = """\
# Configuration reference

Generated from each service's `Settings` by `python deploy/local/config_reference.py`; a test fails
when this file is stale. Every variable is read from the environment by pydantic-settings, with the
service's prefix (`INTAKE_`, `ROUTING_`, `SLA_`, `SURVEY_`, `ANALYTICS_`). Lists, sets and maps are
JSON (`ROUTING_API_KEYS='{"key": ["agents:read"]}'`); durations are ISO 8601 (`PT20S`, `P3D`) or
seconds.
"""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    return f"`{_render(value)}`" if value not in (None, "") else "(none)"


def _render(value: Any) -> str:
    if isinstance(value, timedelta):
        return _iso_duration(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, set | frozenset):
        return json.dumps(sorted(_plain(v) for v in value), ensure_ascii=False)
    if isinstance(value, dict | list | tuple):
        return json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _plain(value.model_dump())
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, timedelta):
        return _iso_duration(value)
    return value


def _iso_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "" if days else "T0S")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reference() -> str:
    """Render the whole reference as Markdown."""
    common = importlib.import_module(COMMON).ServiceSettings.model_fields
    lines = [HEADER]
    for service in SERVICES:
        settings = importlib.import_module(f"{service}.config").Settings
        prefix = settings.model_config.get("env_prefix", "")
        lines += [f"## {service}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in settings.model_fields.items():
            meaning = field.description or ""
            if not meaning and name in common:
                meaning = common[name].description or ""
            if not meaning and name == "port":
                meaning = "HTTP port `make run` serves the service on (a container uses `PORT`)."
            lines.append(
                f"| `{prefix}{name.upper()}` | {_cell(_default(field))} | {_cell(meaning)} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the reference, or with --check tell whether the committed one is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = reference()
    if args.check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            sys.stderr.write(
                f"{TARGET.relative_to(ROOT)} is stale: run 'make docs' and commit the result\n"
            )
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
