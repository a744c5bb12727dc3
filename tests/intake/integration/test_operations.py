"""The intake service migrates up and down and serves health, readiness and metrics."""

from tests.service_checks import check_migration_stairway, check_operational_surface


async def test_migrations_upgrade_and_downgrade_revision_by_revision() -> None:
    await check_migration_stairway("intake")


async def test_health_readiness_metrics_and_problem_details() -> None:
    await check_operational_surface("intake")
