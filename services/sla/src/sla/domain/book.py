"""The policy book: calendars and policies as data, validated when the service starts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from atende_events.calendar import (
    MINUTES_PER_DAY,
    Calendar,
    OperatorHolidays,
    always_open,
    build_calendar,
    operator_calendar,
)
from atende_events.sla import ClockKind, ClockType
from sla.domain.policies import Criteria, Policy, Target

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([0-2][0-9]):([0-5][0-9])-([0-2][0-9]):([0-5][0-9])$")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HoursRange = Annotated[str, Field(pattern=_HOURS.pattern, examples=["08:00-18:00"])]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CalendarSpec(_Spec):
    """A calendar as the book writes it."""

    description: str = ""
    zone: str = "America/Sao_Paulo"
    always_open: bool = False
    hours: dict[Weekday, list[HoursRange]] = Field(default_factory=dict)
    country: str | None = "BR"
    subdivision: str | None = None
    optional_holidays: list[str] = Field(default_factory=list)
    """Optional holidays (by their English name in the holidays library) the operation closes on."""
    closed_dates: list[date] = Field(default_factory=list)
    operator_holidays: bool = False
    """Closed on the operator's holidays from the settings (national, the operator's state and
    municipality, Carnaval if it closes): no country, subdivision or optional holidays here."""

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @model_validator(mode="after")
    def _hours_or_always_open(self) -> CalendarSpec:
        if self.always_open == bool(self.hours):
            raise ValueError("a calendar has either opening hours or always_open: true")
        if self.operator_holidays and (self.subdivision or self.optional_holidays):
            raise ValueError(
                "a calendar on the operator's holidays takes its state and optional closures "
                "from the settings (SLA_CALENDAR_*), not from the book"
            )
        return self


class TargetSpec(_Spec):
    """A target as the book writes it: business days, or hours/minutes/seconds of open time."""

    business_days: Annotated[int, Field(ge=1, le=365)] | None = None
    hours: Annotated[float, Field(gt=0)] | None = None
    minutes: Annotated[float, Field(gt=0)] | None = None
    seconds: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetSpec:
        given = [v for v in (self.business_days, self.hours, self.minutes, self.seconds) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of business_days, hours, minutes, seconds")
        return self

    def target(self) -> Target:
        """Turn the spec into a domain target."""
        if self.business_days is not None:
            return Target(business_days=self.business_days)
        duration = timedelta(
            hours=self.hours or 0, minutes=self.minutes or 0, seconds=self.seconds or 0
        )
        return Target(duration=duration)


class MatchSpec(_Spec):
    """What an interaction must be for the policy to apply; a missing list matches anything."""

    channels: list[Name] = Field(default_factory=list)
    party_kinds: list[Name] = Field(default_factory=list)
    queues: list[Name] = Field(default_factory=list)
    demand_types: list[Name] = Field(default_factory=list)
    priorities: list[Name] = Field(default_factory=list)


class UnlessSpec(_Spec):
    """What excludes an interaction from the policy, whatever its match says."""

    channels: list[Name] = Field(default_factory=list)
    demand_types: list[Name] = Field(default_factory=list)


class PolicySpec(_Spec):
    """A policy as the book writes it."""

    id: Name
    source: str = Field(min_length=1)
    """Where the deadline comes from: the regulation, or the operation's own target."""
    kind: ClockKind
    regime: Name | None = None
    """The rule family (rn623, rn323, rn566, nip, operational, ...): per regime, kind and clock
    the first policy that applies wins, and every regime gives its own clock. The kind's name
    when absent (one clock per kind and type, as books before regimes had)."""
    clock: ClockType
    match: MatchSpec = Field(default_factory=MatchSpec)
    unless: UnlessSpec = Field(default_factory=UnlessSpec)
    target: TargetSpec
    calendar: Name
    warn_at: Annotated[float, Field(gt=0, lt=1)] = 0.8
    """The share of the target elapsed at which the clock warns."""
    pauses: bool = False
    extendable_to_business_days: Annotated[int, Field(ge=1, le=365)] | None = None

    @model_validator(mode="after")
    def _regulatory_never_pauses(self) -> PolicySpec:
        if self.kind is ClockKind.REGULATORY and self.pauses:
            raise ValueError(f"policy {self.id}: a regulatory clock never pauses")
        return self


class BookSpec(_Spec):
    """The whole policy book file."""

    calendars: dict[Name, CalendarSpec]
    policies: list[PolicySpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> BookSpec:
        ids = [policy.id for policy in self.policies]
        if len(ids) != len(set(ids)):
            raise ValueError("policy ids must be unique")
        for policy in self.policies:
            if policy.calendar not in self.calendars:
                raise ValueError(f"policy {policy.id}: unknown calendar {policy.calendar!r}")
        return self


@dataclass(frozen=True)
class PolicyBook:
    """The calendars and policies in force, in order of precedence."""

    calendars: Mapping[str, Calendar]
    policies: tuple[Policy, ...]
    spec: BookSpec

    def find(self, policy_id: str) -> Policy | None:
        """Find a policy by id (clocks keep the id of the policy that started them)."""
        return next((policy for policy in self.policies if policy.id == policy_id), None)

    def policy(self, policy_id: str) -> Policy:
        """Find a policy by id; raise KeyError when it is not in force."""
        policy = self.find(policy_id)
        if policy is None:
            raise KeyError(policy_id)
        return policy


def _minutes(text: str) -> tuple[int, int]:
    match = _HOURS.match(text)
    assert match is not None, "validated by the spec's pattern"
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if not 0 <= start < end <= MINUTES_PER_DAY:
        raise ValueError(f"opening hours {text!r} must run forwards within one day (up to 24:00)")
    return start, end


def _calendar(name: str, spec: CalendarSpec, operator: OperatorHolidays) -> Calendar:
    if spec.always_open:
        return always_open(name, spec.zone)
    try:
        return _build(name, spec, operator)
    except NotImplementedError as error:  # how the holidays library says "no such country"
        raise ValueError(f"calendar {name}: {error}") from None


def _build(name: str, spec: CalendarSpec, operator: OperatorHolidays) -> Calendar:
    hours = {
        WEEKDAYS.index(day): [_minutes(text) for text in ranges]
        for day, ranges in spec.hours.items()
    }
    if spec.operator_holidays:
        holidays_of = OperatorHolidays(
            subdivision=operator.subdivision,
            closed_dates=(*operator.closed_dates, *(d.isoformat() for d in spec.closed_dates)),
            closes_carnival=operator.closes_carnival,
        )
        return operator_calendar(
            id=name,
            holidays_of=holidays_of,
            hours=hours,
            zone=spec.zone,
            description=spec.description,
        )
    return build_calendar(
        id=name,
        zone=spec.zone,
        hours=hours,
        country=spec.country,
        subdivision=spec.subdivision,
        optional_holidays=spec.optional_holidays,
        extra_closed=spec.closed_dates,
        description=spec.description,
    )


def load_book(document: Any, *, operator: OperatorHolidays | None = None) -> PolicyBook:
    """Validate a parsed policy book and build its calendars and policies; raise on any error.

    Calendars marked `operator_holidays` close on the `operator`'s holidays (national only when
    none is given).
    """
    spec = BookSpec.model_validate(document)
    operator = operator or OperatorHolidays()
    calendars = {name: _calendar(name, cal, operator) for name, cal in spec.calendars.items()}
    policies = tuple(
        Policy(
            id=p.id,
            kind=p.kind,
            clock_type=p.clock,
            target=p.target.target(),
            calendar=calendars[p.calendar],
            criteria=Criteria(
                channels=frozenset(p.match.channels),
                party_kinds=frozenset(p.match.party_kinds),
                queues=frozenset(p.match.queues),
                demand_types=frozenset(p.match.demand_types),
                priorities=frozenset(p.match.priorities),
                unless_channels=frozenset(p.unless.channels),
                unless_demand_types=frozenset(p.unless.demand_types),
            ),
            warn_at_fraction=p.warn_at,
            pauses=p.pauses,
            extendable_to_business_days=p.extendable_to_business_days,
            source=p.source,
            regime=p.regime or p.kind.value,
        )
        for p in spec.policies
    )
    return PolicyBook(calendars=calendars, policies=policies, spec=spec)
