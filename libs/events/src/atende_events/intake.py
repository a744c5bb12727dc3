"""Events the intake service produces: the interactions it registers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field

from atende_events.envelope import Code, Content, EventData, UtcDatetime, source_of
from atende_events.topics import INTERACTIONS

SOURCE = source_of("intake")


class Channel(StrEnum):
    """The way a party got in touch, or was contacted."""

    PHONE = "phone"
    CHAT = "chat"
    APP = "app"
    WEB = "web"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    IN_PERSON = "in_person"
    OMBUDSMAN = "ombudsman"
    REGULATOR = "regulator"
    OUTBOUND = "outbound"


class PartyKind(StrEnum):
    """Who the party is to the health plan."""

    MEMBER = "member"
    PROVIDER = "provider"
    EMPLOYER = "employer"


class Priority(StrEnum):
    """How soon the interaction must be handled."""

    NORMAL = "normal"
    URGENT = "urgent"


ProtocolNumber = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{20}$",
        description="ANS registry number (6 digits), date (YYYYMMDD), daily sequence (6 digits).",
    ),
]

PartyRef = Annotated[
    str,
    Field(
        pattern=r"^pty_[0-9a-f]{40}$",
        description="Keyed pseudonym (HMAC) of the party's kind and id; never the id itself.",
    ),
]
"""What atende_events.pseudonym.party_ref gives."""

ExternalReference = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9./-]{0,39}$", examples=["2026.123.456789"])
]
"""Another body's number for a demand (the ANS demand number of a NIP): letters, digits and
`.`, `/`, `-` separators, up to 40 characters."""

Locale = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
"""A BCP 47 language tag such as pt-BR."""


class InteractionReceived(EventData):
    """Intake registered an interaction and gave it a protocol number."""

    event_type = "atende.interaction.received.v1"
    topic = INTERACTIONS

    occurred_at: UtcDatetime
    """When the contact happened, as the channel reported it; else when intake received it."""
    interaction_id: UUID
    protocol: ProtocolNumber
    received_at: UtcDatetime
    """When intake registered it and gave it its protocol number."""
    channel: Channel
    party_kind: PartyKind
    party_ref: PartyRef
    demand_type: Code | None = None
    """The demand type the channel gave; routing infers one when there is none."""
    priority: Priority
    related_interaction_id: UUID | None = None
    """An earlier interaction this one follows up or escalates (the protocol it cites)."""
    external_reference: ExternalReference | None = None
    """Another body's number for the demand: the ANS demand number of a NIP."""
    locale: Locale | None = None
    content: Content | None = None
    """What the person wrote: the subject and description of the request."""


EVENTS: tuple[type[EventData], ...] = (InteractionReceived,)
