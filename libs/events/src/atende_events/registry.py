"""Every event type Atende knows, and how older versions upcast to the newest."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from atende_events import intake, routing, sla, survey, watermarks
from atende_events.envelope import (
    Envelope,
    EventData,
    UnknownEventType,
    family_and_version,
    schema_uri,
)
from atende_events.topics import ALL_TOPICS

Upcast = Callable[[dict[str, Any]], dict[str, Any]]
"""Turn the JSON data of one version into the JSON data of the next (an `upcast_v1_v2`)."""


@dataclass(frozen=True)
class UpcastStep:
    """The way from one version of an event type to the next."""

    old: type[EventData]
    new: type[EventData]
    upcast: Upcast


class Registry:
    """Event types by name; any registered version reads as the newest of its family."""

    def __init__(
        self, models: Iterable[type[EventData]], upcasts: Iterable[UpcastStep] = ()
    ) -> None:
        self._models: dict[str, type[EventData]] = {}
        for model in models:
            _check_model(model)
            if model.event_type in self._models:
                raise ValueError(f"{model.event_type} is registered twice")
            self._models[model.event_type] = model
        self._steps: dict[str, UpcastStep] = {}
        for step in upcasts:
            self._add_step(step)
        self._check_every_old_version_upcasts()
        self.types: Mapping[str, type[EventData]] = MappingProxyType(self._models)

    def model_for(self, event_type: str) -> type[EventData]:
        """Return the model of an event type, of any registered version."""
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None

    def newest(self, event_type: str) -> type[EventData]:
        """Return the model of the newest version of an event type."""
        model = self.model_for(event_type)
        while (step := self._steps.get(model.event_type)) is not None:
            model = step.new
        return model

    def upcast(self, event: Envelope[EventData]) -> Envelope[EventData]:
        """Bring an event to the newest version of its type; the id and the rest stay."""
        while (step := self._steps.get(event.type)) is not None:
            data = step.new.model_validate(step.upcast(event.data.model_dump(mode="json")))
            attributes = event.model_dump(exclude={"type", "dataschema", "data"})
            event = Envelope[EventData].model_validate(
                {
                    **attributes,
                    "type": step.new.event_type,
                    "dataschema": schema_uri(step.new.event_type),
                    "data": data,
                }
            )
        return event

    def _add_step(self, step: UpcastStep) -> None:
        for model in (step.old, step.new):
            if self._models.get(model.event_type) is not model:
                raise ValueError(f"{model.event_type} upcasts but is not registered")
        old_family, old_version = family_and_version(step.old.event_type)
        new_family, new_version = family_and_version(step.new.event_type)
        if (new_family, new_version) != (old_family, old_version + 1):
            raise ValueError(
                f"{step.old.event_type} must upcast to the next version of its own type, "
                f"not to {step.new.event_type}"
            )
        if step.old.event_type in self._steps:
            raise ValueError(f"{step.old.event_type} upcasts twice")
        self._steps[step.old.event_type] = step

    def _check_every_old_version_upcasts(self) -> None:
        newest: dict[str, int] = {}
        for event_type in self._models:
            family, version = family_and_version(event_type)
            newest[family] = max(version, newest.get(family, 0))
        for event_type in self._models:
            family, version = family_and_version(event_type)
            if version < newest[family] and event_type not in self._steps:
                raise ValueError(f"{event_type} is older than v{newest[family]} but never upcasts")


def _check_model(model: type[EventData]) -> None:
    for attribute in ("event_type", "topic"):
        if not hasattr(model, attribute):
            raise ValueError(f"{model.__name__} has no {attribute}")
    family_and_version(model.event_type)
    if model.topic not in ALL_TOPICS:
        raise ValueError(f"{model.event_type} goes to {model.topic!r}, which is no Atende topic")
    if model.subject_field not in model.model_fields:
        raise ValueError(f"{model.event_type} has no {model.subject_field} to be keyed by")


_PRODUCERS = (intake, routing, sla, survey, watermarks)

# A breaking change adds the new model to its producer's EVENTS and an
# UpcastStep(OldModel, NewModel, upcast_v1_v2) here; the old model stays, so old records still read.
REGISTRY = Registry(
    models=(model for producer in _PRODUCERS for model in producer.EVENTS),
    upcasts=(),
)

EVENT_TYPES: Mapping[str, type[EventData]] = REGISTRY.types
"""Every event type Atende produces or still reads, by type name."""

SOURCES: Mapping[str, str] = MappingProxyType(
    {model.event_type: producer.SOURCE for producer in _PRODUCERS for model in producer.EVENTS}
)
"""The CloudEvents source of the service producing each event type."""


def model_for(event_type: str) -> type[EventData]:
    """Return the model of an event type, of any registered version."""
    return REGISTRY.model_for(event_type)
