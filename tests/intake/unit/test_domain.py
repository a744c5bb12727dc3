"""Pure rules of intake: protocol numbers, statuses from lifecycle events, cursors, fingerprints."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from atende_events import samples
from atende_events.envelope import EventData
from atende_events.routing import Outcome, Resolution
from intake import domain
from intake.domain import ClockState, Cursor, GivenAnswer, Status, Step

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=1)
EARLIER = T0 - timedelta(minutes=1)


@pytest.mark.parametrize(
    ("registry", "day", "sequence", "expected"),
    [
        ("345678", date(2026, 11, 23), 1, "34567820261123000001"),
        ("000001", date(2025, 1, 2), 42, "00000120250102000042"),
        ("345678", date(2026, 12, 31), 999_999, "34567820261231999999"),
    ],
)
def test_protocol_is_registry_date_and_six_digit_sequence(
    registry: str, day: date, sequence: int, expected: str
) -> None:
    protocol = domain.format_protocol(registry, day, sequence)
    assert protocol == expected
    assert len(protocol) == 20
    assert domain.parse_protocol(protocol) == domain.Protocol(registry, day, sequence)


@pytest.mark.parametrize(
    ("registry", "sequence", "error"),
    [
        ("345678", 0, domain.ProtocolExhausted),
        ("345678", 1_000_000, domain.ProtocolExhausted),
        ("34567", 1, ValueError),
        ("34567a", 1, ValueError),
    ],
)
def test_protocol_refuses_bad_parts(registry: str, sequence: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        domain.format_protocol(registry, date(2026, 11, 23), sequence)


@pytest.mark.parametrize(
    "text",
    [
        "3456782026112300000",  # 19 digits
        "345678202611230000011",  # 21 digits
        "34567820261332000001",  # month 13
        "34567820260230000001",  # 30 February
        "34567820261123000000",  # sequence 0 is never given
        "3456782026112300000a",
        " 34567820261123000001",
    ],
)
def test_parse_protocol_rejects_what_was_never_given(text: str) -> None:
    assert domain.parse_protocol(text) is None


@pytest.mark.parametrize(
    ("moment", "time_zone", "day"),
    [
        # 01:30 UTC is still the previous evening in Sao Paulo (UTC-3).
        (datetime(2026, 11, 24, 1, 30, tzinfo=UTC), "America/Sao_Paulo", date(2026, 11, 23)),
        (datetime(2026, 11, 24, 3, 0, tzinfo=UTC), "America/Sao_Paulo", date(2026, 11, 24)),
        (datetime(2026, 11, 24, 1, 30, tzinfo=UTC), "UTC", date(2026, 11, 24)),
        (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "Europe/Berlin", date(2026, 11, 24)),
    ],
)
def test_protocol_day_is_the_operators_local_day(
    moment: datetime, time_zone: str, day: date
) -> None:
    assert domain.operator_day(moment, time_zone) == day


@pytest.mark.parametrize(
    ("number", "base", "sequence"),
    [(101, 100, 1), (1_000_099, 100, 999_999), (5_000, 4_000, 1_000)],
)
def test_daily_sequence_counts_from_the_days_base(number: int, base: int, sequence: int) -> None:
    assert domain.daily_sequence(number, base) == sequence


@pytest.mark.parametrize(
    ("number", "base", "error"),
    [(1_000_100, 100, domain.ProtocolExhausted), (100, 100, ValueError), (99, 100, ValueError)],
)
def test_daily_sequence_refuses_outside_six_digits(
    number: int, base: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        domain.daily_sequence(number, base)


@pytest.mark.parametrize(
    ("occurred_at", "problem"),
    [
        (None, None),
        (T0 - timedelta(days=3), None),
        (T0 + timedelta(minutes=4), None),  # clock skew of a channel's server
        (T0 + timedelta(hours=1), "occurred_at lies in the future"),
        (T0 - timedelta(days=30), None),
        (T0 - timedelta(days=30, seconds=1), "occurred_at lies more than 30 days before now"),
        (
            datetime.fromisoformat("0001-01-01T00:00:00+01:00"),
            "occurred_at lies more than 30 days before now",
        ),
        (datetime.fromisoformat("9999-12-31T23:59:59-01:00"), "occurred_at lies in the future"),
    ],
)
def test_occurred_at_lies_between_the_contact_age_limit_and_a_few_minutes_from_now(
    occurred_at: datetime | None, problem: str | None
) -> None:
    assert domain.occurred_at_problem(occurred_at, T0, max_age=timedelta(days=30)) == problem


@pytest.mark.parametrize(
    ("subject", "description", "content"),
    [
        (None, None, None),
        ("Reembolso", None, "Reembolso"),
        (None, "Preciso do reembolso.", "Preciso do reembolso."),
        ("Reembolso", "Preciso do reembolso.", "Reembolso\n\nPreciso do reembolso."),
        ("  ", " ", None),
    ],
)
def test_content_joins_subject_and_description(
    subject: str | None, description: str | None, content: str | None
) -> None:
    assert domain.content_of(subject, description) == content


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": "ã"}, {"a": "ã"}, True),
        ({"a": [1, 2]}, {"a": [2, 1]}, False),
    ],
)
def test_fingerprint_ignores_key_order_only(
    first: dict[str, object], second: dict[str, object], same: bool
) -> None:
    assert (domain.fingerprint(first) == domain.fingerprint(second)) is same


@pytest.mark.parametrize(
    ("event", "step"),
    [
        (
            samples.make_interaction_queued(queue="dividas", demand_type="debt"),
            Step(Status.QUEUED, "dividas", "debt"),
        ),
        (samples.make_interaction_offered(queue="dividas"), Step(Status.ASSIGNED, "dividas")),
        (samples.make_interaction_offer_declined(), Step(Status.QUEUED, None)),
        (samples.make_interaction_accepted(queue="saude"), Step(Status.IN_PROGRESS, "saude")),
        (samples.make_interaction_waiting(), Step(Status.WAITING, None)),
        (samples.make_interaction_resumed(), Step(Status.IN_PROGRESS, None)),
        (
            samples.make_interaction_transferred(from_queue="geral", to_queue="saude"),
            Step(Status.QUEUED, "saude"),
        ),
        (
            samples.make_interaction_resolved(
                resolution=Resolution.RESOLVED, queue="geral", demand_type="information"
            ),
            Step(
                Status.RESOLVED,
                "geral",
                "information",
                answer=GivenAnswer(
                    Outcome.AUTHORISED, "Autorização liberada; protocolo informado."
                ),
            ),
        ),
        (
            samples.make_interaction_resolved(
                queue="autorizacoes",
                outcome=Outcome.DENIED,
                content="Negado: fora do Rol.",
                denial_reason="not_covered",
                legal_basis="Lei 9.656/1998, art. 10",
            ),
            Step(
                Status.RESOLVED,
                "autorizacoes",
                "authorization",
                answer=GivenAnswer(
                    Outcome.DENIED, "Negado: fora do Rol.", "not_covered", "Lei 9.656/1998, art. 10"
                ),
            ),
        ),
        # Before answers were recorded: resolved, with no answer to keep.
        (
            samples.make_interaction_resolved(outcome=None, queue="geral", demand_type="other"),
            Step(Status.RESOLVED, "geral", "other"),
        ),
        (
            samples.make_interaction_reopened(queue="ouvidoria"),
            Step(Status.QUEUED, "ouvidoria", reopens=True),
        ),
        (  # a corrected demand type moves no status; the record shows the new type
            samples.make_interaction_reclassified(
                queue="autorizacoes", demand_type="authorization"
            ),
            Step(None, "autorizacoes", "authorization"),
        ),
        (
            samples.make_interaction_resolved(
                resolution=Resolution.UNRESOLVED, queue="geral", demand_type="complaint"
            ),
            Step(Status.UNRESOLVED, "geral", "complaint"),
        ),
        (samples.make_sla_started(), None),
        (samples.make_interaction_received(), None),
    ],
)
def test_each_lifecycle_event_leads_to_its_status(event: EventData, step: Step | None) -> None:
    assert domain.step_of(event) == step


@pytest.mark.parametrize(
    ("new", "new_at", "current", "current_at", "applies"),
    [
        (Status.QUEUED, LATER, Status.RECEIVED, T0, True),
        # Routing's clock may run a little behind intake's.
        (Status.QUEUED, EARLIER, Status.RECEIVED, T0, True),
        (Status.IN_PROGRESS, LATER, Status.QUEUED, T0, True),
        # A late queued event must not undo the acceptance that happened after it.
        (Status.QUEUED, EARLIER, Status.IN_PROGRESS, T0, False),
        # Transfer: queued again, legitimately, after being in progress.
        (Status.QUEUED, LATER, Status.IN_PROGRESS, T0, True),
        (Status.WAITING, LATER, Status.IN_PROGRESS, T0, True),
        (Status.IN_PROGRESS, LATER, Status.WAITING, T0, True),
        # Completed stays completed, whatever arrives later.
        (Status.QUEUED, LATER, Status.RESOLVED, T0, False),
        (Status.IN_PROGRESS, LATER, Status.UNRESOLVED, T0, False),
        (Status.RESOLVED, EARLIER, Status.IN_PROGRESS, T0, False),
        (Status.RESOLVED, LATER, Status.IN_PROGRESS, T0, True),
        # Same moment: the later stage wins.
        (Status.ASSIGNED, T0, Status.QUEUED, T0, True),
        (Status.QUEUED, T0, Status.ASSIGNED, T0, False),
        (Status.QUEUED, T0, Status.RECEIVED, None, True),
    ],
)
def test_status_moves_only_forward_in_event_time(
    new: Status, new_at: datetime, current: Status, current_at: datetime | None, applies: bool
) -> None:
    assert domain.supersedes(new, new_at, current, current_at) is applies


@pytest.mark.parametrize(
    ("new_at", "current", "current_at", "applies"),
    [
        (LATER, Status.RESOLVED, T0, True),
        (LATER, Status.UNRESOLVED, T0, True),
        # A reopening reported before the completion it would undo is stale.
        (EARLIER, Status.RESOLVED, T0, False),
        (T0, Status.RESOLVED, T0, False),
        (LATER, Status.IN_PROGRESS, T0, True),
        (EARLIER, Status.IN_PROGRESS, T0, False),
    ],
)
def test_only_a_later_reopening_moves_a_completed_interaction_back_to_its_queue(
    new_at: datetime, current: Status, current_at: datetime, applies: bool
) -> None:
    assert domain.supersedes(Status.QUEUED, new_at, current, current_at, reopens=True) is applies


@pytest.mark.parametrize(
    ("locale", "outcome", "grounds", "lines"),
    [
        (
            "pt-BR",
            Outcome.DENIED,
            ("waiting_period", "Contrato, cláusula 8.4"),
            [
                "Protocolo: 34567820261123000001",
                "Data da resposta: 2026-11-23 09:00 -03",
                "Resultado: Negado",
                "Motivo: waiting_period",
                "Fundamento: Contrato, cláusula 8.4",
                "",
                "Resposta:",
                "O texto.",
            ],
        ),
        (
            "en-GB",
            Outcome.AUTHORISED,
            (None, None),
            [
                "Protocol: 34567820261123000001",
                "Answered on: 2026-11-23 09:00 -03",
                "Outcome: Authorised",
                "",
                "Answer:",
                "O texto.",
            ],
        ),
        (None, Outcome.INFORMED, (None, None), None),
        ("fr", Outcome.WITHDRAWN, (None, None), None),
    ],
)
def test_the_answer_copy_names_protocol_date_outcome_and_grounds_in_the_requests_language(
    locale: str | None,
    outcome: Outcome,
    grounds: tuple[str | None, str | None],
    lines: list[str] | None,
) -> None:
    text = domain.answer_text(
        protocol="34567820261123000001",
        outcome=outcome,
        body="O texto.",
        denial_reason=grounds[0],
        legal_basis=grounds[1],
        answered_at=T0,
        locale=locale,
        time_zone="America/Sao_Paulo",
    )
    if lines is None:  # a language without labels reads Portuguese
        assert f"Resultado: {domain.OUTCOME_LABELS['pt'][outcome]}" in text
    else:
        assert text == "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("event_type", "new_at", "current", "applies"),
    [
        ("atende.sla.paused.v1", LATER, ClockState.RUNNING, True),
        ("atende.sla.resumed.v1", LATER, ClockState.PAUSED, True),
        ("atende.sla.started.v1", EARLIER, ClockState.PAUSED, False),
        ("atende.sla.breached.v1", EARLIER, ClockState.RUNNING, True),
        ("atende.sla.met.v1", LATER, ClockState.PAUSED, True),
        ("atende.sla.started.v1", LATER, ClockState.BREACHED, False),
        ("atende.sla.extended.v1", LATER, ClockState.MET, False),
        ("atende.sla.redecided.v1", LATER, ClockState.RUNNING, True),
        ("atende.sla.redecided.v1", LATER, ClockState.MET, False),
    ],
)
def test_clock_state_follows_latest_event_and_final_states_stay(
    event_type: str, new_at: datetime, current: ClockState, applies: bool
) -> None:
    new = domain.clock_state_of(event_type)
    assert domain.clock_supersedes(new, new_at, current, T0) is applies


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor(T0, UUID("00000000-0000-4000-8000-000000000001")),
        Cursor(datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC), UUID(int=2**122)),
    ],
)
def test_cursor_round_trips(cursor: Cursor) -> None:
    token = domain.encode_cursor(cursor)
    assert token.isascii() and "=" not in token
    assert domain.decode_cursor(token) == cursor


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "bm90IGpzb24",
        "WyJ4IiwgInkiXQ",
        "WzEsMiwzXQ",
        "é",
        "[" * 200,
        _token(["2026-11-23T10:00:00+00:00", 5]),
        _token([5, "00000000-0000-4000-8000-000000000001"]),
        _token(["2026-11-23T10:00:00+00:00", None]),
        _token(["0001-01-01T00:00:00+01:00", "00000000-0000-4000-8000-000000000001"]),
        _token(["9999-12-31T23:59:59-01:00", "00000000-0000-4000-8000-000000000001"]),
        _token(["2026-11-23T10:00:00", "00000000-0000-4000-8000-000000000001"]),
        _token({"received_at": "2026-11-23T10:00:00+00:00"}),
        _token("not a list"),
        _token(["[" * 5000 + "]" * 5000]),
        base64.urlsafe_b64encode(b"[" * 5000).decode(),
    ],
)
def test_foreign_cursors_are_refused(token: str) -> None:
    assert domain.decode_cursor(token) is None
