"""docs/configuration.md lists every variable of every service, with a meaning, and is current."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

from tests.infra import ROOT

SERVICES = ("intake", "routing", "sla", "survey", "analytics")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "deploy" / "local" / "config_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_is_what_the_settings_say() -> None:
    assert _generator().main(["--check"]) == 0, "run: python deploy/local/config_reference.py"


def test_every_variable_of_every_service_is_listed_with_a_meaning() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| .*? \| (.*) \|$", text, flags=re.MULTILINE))
    for service in SERVICES:
        settings = importlib.import_module(f"{service}.config").Settings
        for name in settings.model_fields:
            variable = f"{service.upper()}_{name.upper()}"
            assert variable in rows, f"{variable} is missing"
            assert rows[variable].strip(), f"{variable} has no meaning"


def test_the_readme_points_to_the_reference() -> None:
    assert "docs/configuration.md" in (ROOT / "README.md").read_text(encoding="utf-8")
