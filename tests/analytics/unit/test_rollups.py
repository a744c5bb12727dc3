"""What an interaction adds to the daily rollups, and how a recount changes them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from analytics import domain
from analytics.domain import Contribution, RollupKey

DAY = date(2025, 3, 10)
MONDAY_PHONE: RollupKey = (DAY, "phone", "autorizacoes", "member", "ana")
MONDAY_PHONE_BRUNO: RollupKey = (DAY, "phone", "autorizacoes", "member", "bruno")
MONDAY_CHAT: RollupKey = (DAY, "chat", "geral", "member", "ana")
WIDTH = len(domain.MEASURES)


def measures(**values: int | Decimal) -> tuple[int | Decimal, ...]:
    """A measure vector with the named measures set and every other one 0."""
    unknown = set(values) - set(domain.MEASURES)
    assert not unknown, unknown
    return tuple(values.get(name, 0) for name in domain.MEASURES)


def counted(interaction: str, key: RollupKey, **values: int | Decimal) -> Contribution:
    return Contribution(interaction_id=interaction, key=key, measures=measures(**values))


def test_a_first_count_adds_everything_the_interaction_contributes() -> None:
    arrival = counted("i1", MONDAY_PHONE, volume=1, inbound=1)
    completion = counted("i1", MONDAY_PHONE, completed=1, resolved=1, handle_sum=Decimal("300.5"))

    deltas = domain.rollup_deltas([], [arrival, completion])

    assert deltas == {
        MONDAY_PHONE: measures(
            volume=1, inbound=1, completed=1, resolved=1, handle_sum=Decimal("300.5")
        )
    }


def test_recounting_what_was_counted_changes_nothing() -> None:
    rows = [
        counted("i1", MONDAY_PHONE, volume=1, fcr_count=1),
        counted("i2", MONDAY_CHAT, answers=1),
    ]

    assert domain.rollup_deltas(rows, list(reversed(rows))) == {}
    assert domain.recounted(rows, list(reversed(rows))) == set()


def test_a_later_contact_takes_the_fcr_flag_back() -> None:
    before = [counted("i1", MONDAY_PHONE, completed=1, resolved=1, fcr_count=1)]
    after = [counted("i1", MONDAY_PHONE, completed=1, resolved=1, fcr_count=0)]

    assert domain.rollup_deltas(before, after) == {MONDAY_PHONE: measures(fcr_count=-1)}
    assert domain.recounted(before, after) == {"i1"}


def test_a_new_agent_moves_the_contribution_to_another_row() -> None:
    before = [counted("i1", MONDAY_PHONE, volume=1, answers=1, promoters=1)]
    after = [counted("i1", MONDAY_PHONE_BRUNO, volume=1, answers=1, promoters=1)]

    deltas = domain.rollup_deltas(before, after)

    assert deltas == {
        MONDAY_PHONE: measures(volume=-1, answers=-1, promoters=-1),
        MONDAY_PHONE_BRUNO: measures(volume=1, answers=1, promoters=1),
    }
    # Without the agent dimension the move nets out: nothing to write.
    assert domain.without_agent(deltas) == {}


def test_the_rollup_without_agents_sums_the_agents() -> None:
    deltas = {
        MONDAY_PHONE: measures(accepted=1, wait_sum=Decimal("15.0"), wait_n=1),
        MONDAY_PHONE_BRUNO: measures(accepted=1, wait_sum=Decimal("45.0"), wait_n=1),
        MONDAY_CHAT: measures(accepted=1, wait_sum=Decimal("30"), wait_n=1),
    }

    assert domain.without_agent(deltas) == {
        (DAY, "phone", "autorizacoes", "member"): measures(
            accepted=2, wait_sum=Decimal("60.0"), wait_n=2
        ),
        (DAY, "chat", "geral", "member"): measures(accepted=1, wait_sum=Decimal("30"), wait_n=1),
    }


def test_sums_of_seconds_are_exact_whatever_the_order() -> None:
    values = [Decimal("0.1"), Decimal("0.2"), Decimal("0.3"), Decimal("1e-7")]
    rows = [counted(f"i{n}", MONDAY_PHONE, handle_sum=v, handle_n=1) for n, v in enumerate(values)]

    forward = domain.rollup_deltas([], rows)
    backward = domain.rollup_deltas([], list(reversed(rows)))

    assert forward == backward
    assert forward[MONDAY_PHONE][domain.MEASURES.index("handle_sum")] == Decimal("0.6000001")


def test_an_interaction_whose_rows_only_change_order_is_not_recounted() -> None:
    a = counted("i1", MONDAY_PHONE, volume=1)
    b = counted("i1", (DAY, None, None, None, None), clocks_closed=1)

    assert domain.recounted([a, b], [b, a]) == set()
    assert domain.recounted([a, b], [a]) == {"i1"}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"handle_sum": Decimal(900), "handle_n": 3, "wait_sum": Decimal(0), "wait_n": 0},
            {"aht_seconds": Decimal(300), "asa_seconds": None},
        ),
        (
            {"csat_sum": 7, "csat_answers": 2, "regulatory_closed": 3, "regulatory_met": 2},
            {"csat_mean": Decimal("3.5"), "sla": {"regulatory": (3, 2), "operational": (0, 0)}},
        ),
    ],
)
def test_rollup_sums_become_the_means_of_the_report(
    row: dict[str, int | Decimal], expected: dict[str, object]
) -> None:
    full = dict.fromkeys(domain.MEASURES, 0) | row

    facts = domain.rollup_facts(full)

    for name, value in expected.items():
        assert facts[name] == value, name
    assert facts["volume"] == 0 and isinstance(facts["volume"], int)


def test_details_are_rewritten_only_for_interactions_whose_rows_changed() -> None:
    theme = ("i1", DAY, "phone", "geral", "member", "ana", "theme", "wait_time", None)
    followup = ("i2", DAY, None, None, None, None, "followup_closed", None, 7200.0)
    moved = ("i1", DAY, "phone", "geral", "member", "bruno", "theme", "wait_time", None)

    assert domain.changed_details([theme, followup], [followup, theme]) == set()
    assert domain.changed_details([theme, followup], [moved, followup]) == {"i1"}
    assert domain.changed_details([theme], []) == {"i1"}
