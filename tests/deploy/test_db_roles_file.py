"""The committed roles SQL is what deploy/local/db_roles.py generates."""

from __future__ import annotations

import importlib.util

from tests.infra import ROOT


def test_the_committed_roles_sql_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("db_roles", ROOT / "deploy/local/db_roles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: python deploy/local/db_roles.py"
