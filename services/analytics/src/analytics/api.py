"""Analytics' HTTP API; each route opens the (read-only) transaction of its request."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics import domain, queries
from analytics.config import Settings
from analytics.schemas import (
    AnswerOutcomes,
    DeadlineFigures,
    KpiGroup,
    KpiReport,
    Kpis,
    LiveBoard,
    Reclassifications,
    flatten,
)
from atende_events.auth import require_scope
from atende_events.calendar import Calendar as BusinessCalendar
from atende_events.runtime import Runtime
from atende_events.web import ProblemError

router = APIRouter(prefix="/v1")

CanRead = Depends(require_scope("kpis:read"))

DEFAULT_DAYS = 7


async def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """Give the session factory of the running service."""
    runtime: Runtime = request.app.state.runtime
    return runtime.sessionmaker


async def settings_of(request: Request) -> Settings:
    """Give the settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def calendar_of(request: Request) -> BusinessCalendar:
    """Give the business calendar the app was built with."""
    calendar: BusinessCalendar = request.app.state.calendar
    return calendar


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(sessions)]
AppSettings = Annotated[Settings, Depends(settings_of)]
Calendar = Annotated[BusinessCalendar, Depends(calendar_of)]
From = Annotated[
    date | None,
    Query(
        alias="from",
        description="First local day (YYYY-MM-DD), inclusive; default 6 days before to.",
    ),
]
To = Annotated[
    date | None,
    Query(alias="to", description="Last local day (YYYY-MM-DD), inclusive; default today."),
]
GroupBy = Annotated[
    list[str],
    Query(
        description="Any of channel, queue, party_kind, agent, day; repeated or comma separated."
    ),
]

KPI_DESCRIPTION = "\n".join(
    f"- `{name}`: {field.description}" for name, field in Kpis.model_fields.items()
)


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        "Invalid request",
        message,
        errors=[{"field": field, "location": "query", "message": message}],
    )


async def _report(
    *,
    first: date | None,
    last: date | None,
    group_by: list[str],
    maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    calendar: Calendar,
) -> KpiReport:
    zone = ZoneInfo(settings.time_zone)
    now = datetime.now(UTC)
    last = last or now.astimezone(zone).date()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    try:
        groups = domain.parse_groups(group_by)
    except ValueError as error:
        raise _invalid("group_by", str(error)) from None
    try:
        start, end = domain.period_bounds(first, last, zone=zone, max_days=settings.max_range_days)
    except ValueError as error:
        raise _invalid("from", str(error)) from None
    async with maker.begin() as session:
        facts = await queries.kpi_facts(
            session,
            start=start,
            end=end,
            groups=groups,
            zone=zone,
            answer_targets=settings.answer_targets,
            calendar=calendar,
            now=now,
        )
        deadlines = await queries.deadlines_by_policy(
            session, start=start, end=end, zone=zone, now=now
        )
        outcomes = await queries.answer_outcomes(session, start=start, end=end, zone=zone)
        corrected = await queries.reclassifications(session, start=start, end=end)
    ordered = sorted(facts.items(), key=lambda item: [(v is None, str(v)) for v in item[0]])
    return KpiReport(
        from_=first,
        to=last,
        time_zone=settings.time_zone,
        group_by=list(groups),
        groups=[
            KpiGroup(
                key={
                    group: None if value is None else str(value)
                    for group, value in zip(groups, key, strict=True)
                },
                kpis=Kpis.from_facts(values),
            )
            for key, values in ordered
        ],
        deadlines=[DeadlineFigures(**figures) for figures in deadlines],
        answer_outcomes=[AnswerOutcomes(**counted) for counted in outcomes],
        reclassifications=[Reclassifications(**counted) for counted in corrected],
    )


@router.get(
    "/kpis",
    response_model=KpiReport,
    response_model_by_alias=True,
    dependencies=[CanRead],
    summary="KPIs per group over a period",
    description="The KPIs of DESIGN.md section 6, per group. Formulas:\n\n" + KPI_DESCRIPTION,
)
async def get_kpis(
    maker: Sessions,
    settings: AppSettings,
    calendar: Calendar,
    first: From = None,
    last: To = None,
    group_by: GroupBy = [],  # noqa: B006 - FastAPI copies query defaults
) -> KpiReport:
    """Compute the KPIs per group over a period of local days."""
    return await _report(
        first=first,
        last=last,
        group_by=group_by,
        maker=maker,
        settings=settings,
        calendar=calendar,
    )


@router.get(
    "/kpis.csv",
    dependencies=[CanRead],
    response_class=Response,
    summary="The same KPIs as CSV, one row per group",
    description="Columns: from, to, the group_by dimensions, then every KPI of /v1/kpis flattened "
    "with '_' (sla_regulatory_met_rate...); top_detractor_drivers as 'theme:count;...'. Formulas:"
    "\n\n" + KPI_DESCRIPTION,
    responses={200: {"content": {"text/csv": {}}}},
)
async def get_kpis_csv(
    maker: Sessions,
    settings: AppSettings,
    calendar: Calendar,
    first: From = None,
    last: To = None,
    group_by: GroupBy = [],  # noqa: B006 - FastAPI copies query defaults
) -> Response:
    """Compute the KPIs per group as CSV for BI."""
    report = await _report(
        first=first,
        last=last,
        group_by=group_by,
        maker=maker,
        settings=settings,
        calendar=calendar,
    )
    kpi_columns = list(flatten(Kpis.from_facts({}).model_dump(mode="json")))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["from", "to", *report.group_by, *kpi_columns])
    for group in report.groups:
        row = flatten(group.kpis.model_dump(mode="json"))
        writer.writerow(
            [
                report.from_.isoformat(),
                report.to.isoformat(),
                *[group.key[name] or "" for name in report.group_by],
                *["" if row[column] is None else row[column] for column in kpi_columns],
            ]
        )
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/live", response_model=LiveBoard, dependencies=[CanRead], summary="The wall board")
async def get_live(maker: Sessions, settings: AppSettings) -> LiveBoard:
    """Read queue depth and oldest wait per queue, agents by status and clocks at risk."""
    now = datetime.now(UTC)
    async with maker.begin() as session:
        board = await queries.live_board(
            session, now=now, at_risk_within=timedelta(seconds=settings.at_risk_within_seconds)
        )
    return LiveBoard.model_validate({"as_of": now, **board})
