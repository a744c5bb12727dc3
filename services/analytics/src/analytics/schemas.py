"""Response bodies of the analytics API, with each KPI's formula as its description."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from analytics import domain

CLOCK_KINDS = ("regulatory", "operational")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlaRate(Frozen):
    """Deadline clocks of one kind that closed in the period."""

    closed: int = Field(description="Clocks of this kind that closed (met or breached).")
    met: int = Field(description="Clocks of this kind met.")
    met_rate: float | None = Field(description="met / closed.")


class SlaRates(Frozen):
    """SLA met rate per clock kind."""

    regulatory: SlaRate
    operational: SlaRate


class Driver(Frozen):
    """A theme detractors named, and how often."""

    theme: str
    count: int


class Kpis(Frozen):
    """The KPIs of one group. Each counts rows whose own moment falls in the period."""

    volume: int = Field(description="Interactions received in the period.")
    completed: int = Field(description="Interactions completed (resolved or not) in the period.")
    resolved: int = Field(description="Interactions completed as resolved in the period.")
    fcr_count: int = Field(
        description="Resolved interactions completed on their first assignment with no new "
        "interaction (not outbound) from the same party and demand type received after them and "
        "at most 7 days after their resolution."
    )
    fcr_rate: float | None = Field(description="FCR = fcr_count / resolved.")
    aht_seconds: float | None = Field(
        description="AHT (TMO) = mean of complete - accept (handle seconds) of completions."
    )
    accepted: int = Field(description="Offers accepted in the period.")
    asa_seconds: float | None = Field(description="ASA = mean of accept - queued of acceptances.")
    service_level: float | None = Field(
        description="Acceptances within the channel's answer target / acceptances on channels "
        "that have a target."
    )
    sla: SlaRates = Field(description="SLA met rate = clocks met / clocks closed, per kind.")
    resolved_within_2_business_days: int = Field(
        description="Resolved interactions whose business time from receipt to resolution is at "
        "most 2 business days (Mon-Fri 08:00-18:00 local, national holidays closed)."
    )
    resolved_within_2_business_days_rate: float | None = Field(
        description="resolved_within_2_business_days / resolved interactions whose receipt is "
        "known."
    )
    responses: int = Field(description="Survey answers in the period.")
    promoters: int = Field(description="Answers of 9-10.")
    passives: int = Field(description="Answers of 7-8.")
    detractors: int = Field(description="Answers of 0-6.")
    nps: float | None = Field(description="NPS = 100 x (promoters - detractors) / responses.")
    csat_answers: int = Field(description="Answers with a CSAT (1-5).")
    csat_mean: float | None = Field(description="CSAT = mean of the 1-5 answers.")
    csat_satisfied_share: float | None = Field(
        description="Satisfied share = CSAT answers of 4 or 5 / CSAT answers."
    )
    surveys_dispatched: int = Field(description="Survey links sent in the period.")
    survey_response_rate: float | None = Field(
        description="Survey response rate = responses / surveys dispatched."
    )
    escalations: int = Field(
        description="Ombudsman interactions received that cite an earlier protocol."
    )
    first_instance_resolved: int = Field(
        description="Resolved interactions of channels other than ombudsman and regulator."
    )
    escalation_rate: float | None = Field(
        description="Escalation rate = escalations / first_instance_resolved."
    )
    repeat_contacts: int = Field(
        description="Interactions (not outbound) from a party who contacted about the same "
        "demand type in the 7 days before."
    )
    repeat_contact_rate: float | None = Field(
        description="repeat_contacts / interactions received that are not outbound."
    )
    followups_opened: int = Field(description="Detractor follow-ups opened in the period.")
    followups_closed: int = Field(description="Detractor follow-ups closed in the period.")
    followup_median_closing_seconds: float | None = Field(
        description="Median of closed - opened of the follow-ups closed in the period."
    )
    top_detractor_drivers: list[Driver] = Field(
        description="The 5 themes detractors named most often, by count."
    )
    staffed_seconds: float | None = Field(
        description="Agent grouping only: the agent's logged-in (available or away) seconds."
    )
    contacts_per_hour: float | None = Field(
        description="Agent grouping only: completed / staffed hours."
    )

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> Kpis:
        """Compute the KPIs of a group from the counts and means the queries gathered."""

        def count(name: str) -> int:
            return int(facts.get(name) or 0)

        def mean(name: str) -> float | None:
            return None if facts.get(name) is None else float(facts[name])

        counts = domain.NpsCounts(count("promoters"), count("passives"), count("detractors"))
        sla = facts.get("sla", {})
        staffed = facts.get("staffed_seconds")
        return cls(
            volume=count("volume"),
            completed=count("completed"),
            resolved=count("resolved"),
            fcr_count=count("fcr_count"),
            fcr_rate=domain.share(count("fcr_count"), count("resolved")),
            aht_seconds=mean("aht_seconds"),
            accepted=count("accepted"),
            asa_seconds=mean("asa_seconds"),
            service_level=domain.share(count("sl_met"), count("sl_eligible")),
            sla=SlaRates.model_validate(
                {
                    kind: {"closed": closed, "met": met, "met_rate": domain.share(met, closed)}
                    for kind in CLOCK_KINDS
                    for closed, met in [sla.get(kind, (0, 0))]
                }
            ),
            resolved_within_2_business_days=count("within_2bd"),
            resolved_within_2_business_days_rate=domain.share(
                count("within_2bd"), count("resolved_timed")
            ),
            responses=counts.responses,
            promoters=counts.promoters,
            passives=counts.passives,
            detractors=counts.detractors,
            nps=domain.nps(counts),
            csat_answers=count("csat_answers"),
            csat_mean=mean("csat_mean"),
            csat_satisfied_share=domain.share(count("csat_satisfied"), count("csat_answers")),
            surveys_dispatched=count("dispatched"),
            survey_response_rate=domain.share(counts.responses, count("dispatched")),
            escalations=count("escalations"),
            first_instance_resolved=count("first_instance_resolved"),
            escalation_rate=domain.share(count("escalations"), count("first_instance_resolved")),
            repeat_contacts=count("repeat_contacts"),
            repeat_contact_rate=domain.share(count("repeat_contacts"), count("inbound")),
            followups_opened=count("followups_opened"),
            followups_closed=count("followups_closed"),
            followup_median_closing_seconds=mean("followup_median"),
            top_detractor_drivers=[
                Driver(theme=theme, count=n)
                for theme, n in domain.top_drivers(facts.get("drivers", {}))
            ],
            staffed_seconds=None if staffed is None else float(staffed),
            contacts_per_hour=None
            if staffed is None
            else domain.per_hour(count("completed"), float(staffed)),
        )


class KpiGroup(Frozen):
    """The KPIs of one combination of group values (null: not known for those rows)."""

    key: dict[str, str | None] = Field(description="The group's value per group_by dimension.")
    kpis: Kpis


class DeadlineFigures(Frozen):
    """The clocks of one policy started in one month: what a regulator asks for."""

    policy_id: str = Field(description="The SLA policy (see sla's GET /v1/sla/policies).")
    kind: str = Field(description="regulatory or operational.")
    month: str = Field(description="YYYY-MM of the clocks' start, in the operator's zone.")
    started: int
    met: int
    breached: int
    open: int = Field(description="Not stopped yet.")
    past_due: int = Field(description="Open, and their deadline has already passed.")
    within_deadline_rate: float | None = Field(
        description="met / (met + breached + past_due): an open clock past its deadline counts "
        "against the rate now, not when it closes."
    )


class AnswerOutcomes(Frozen):
    """The conclusive answers of one month with one outcome."""

    month: str = Field(description="YYYY-MM of the answer, in the operator's zone.")
    outcome: str = Field(
        description="authorised, partially_authorised, denied, informed or withdrawn."
    )
    answers: int


class Reclassifications(Frozen):
    """Interactions whose demand type an agent corrected, per original and corrected type."""

    original_demand_type: str = Field(description="The demand type before the first correction.")
    demand_type: str | None = Field(description="The demand type now.")
    interactions: int


class KpiReport(Frozen):
    """KPIs per group over a period of local days."""

    from_: date = Field(alias="from", description="First local day, inclusive.")
    to: date = Field(description="Last local day, inclusive.")
    time_zone: str
    group_by: list[str]
    groups: list[KpiGroup]
    deadlines: list[DeadlineFigures] = Field(
        default_factory=list,
        description="Per policy and month of start: clocks started in the period, met, "
        "breached, open and already past due.",
    )
    answer_outcomes: list[AnswerOutcomes] = Field(
        default_factory=list,
        description="Conclusive answers given in the period, per month and outcome.",
    )
    reclassifications: list[Reclassifications] = Field(
        default_factory=list,
        description="Interactions received in the period whose demand type was corrected "
        "(interaction.reclassified), per original and current demand type.",
    )

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class QueueLive(Frozen):
    queue: str | None
    depth: int = Field(description="Interactions waiting in the queue now.")
    oldest_wait_seconds: float | None = Field(description="How long the oldest has waited.")


class ClockAtRisk(Frozen):
    clock_id: UUID
    interaction_id: UUID
    protocol: str | None
    queue: str | None
    kind: str
    clock_type: str
    policy_id: str
    due_at: datetime
    seconds_left: float = Field(description="Negative once the deadline passed.")
    warned: bool


class LiveBoard(Frozen):
    """The wall board now."""

    as_of: datetime
    queues: list[QueueLive]
    agents: dict[str, int] = Field(description="Agents per status.")
    clocks_at_risk: int = Field(
        description="Running clocks (not paused, not closed) due within the configured window "
        "or already past due."
    )
    clocks_past_due: int = Field(
        default=0,
        description="Of those, the ones whose deadline has already passed (breached, or waiting "
        "for sla to know every stop event before declaring it).",
    )
    clocks: list[ClockAtRisk] = Field(description="The most urgent of them, earliest due first.")


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested KPI objects into columns joined by '_'; driver lists become 'theme:n;...'."""
    columns: dict[str, Any] = {}
    for name, value in document.items():
        column = f"{prefix}{name}"
        if isinstance(value, Mapping):
            columns |= flatten(value, prefix=f"{column}_")
        elif isinstance(value, list):
            columns[column] = ";".join(f"{item['theme']}:{item['count']}" for item in value)
        else:
            columns[column] = value
    return columns
