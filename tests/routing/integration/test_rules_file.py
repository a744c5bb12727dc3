"""The rules file is read at start: an invalid one stops the service with the bad rule named."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.domain import InvalidRules
from tests.service_checks import build_app

BAD_RULES = """
queues: [geral, dividas]
default_queue: geral
rules:
  - id: debt
    queue: dividas
    match: {demand_types: [debt]}
  - id: broken-priority
    queue: dividas
    match: {priorities: "urgent"}
"""


def test_an_invalid_rules_file_stops_the_service_naming_the_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(BAD_RULES, encoding="utf-8")
    with pytest.raises(InvalidRules, match=r"rule broken-priority: match\.priorities"):
        build_app("routing", "postgresql+asyncpg://unused/none", rules_path=str(rules))


def test_a_file_that_is_not_yaml_stops_the_service(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("queues: [geral\n  - : :", encoding="utf-8")
    with pytest.raises(InvalidRules, match="not YAML"):
        build_app("routing", "postgresql+asyncpg://unused/none", rules_path=str(rules))
