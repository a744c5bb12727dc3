"""The demand taxonomy: every demand type a contact can be, read from demand_types.yaml."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from atende_events.envelope import Code

LANGUAGES = ("pt-BR", "es", "en", "de")


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Deadline(_Spec):
    """The norm that governs the deadline of a demand type's answer, and the deadline itself."""

    norm: str = Field(min_length=1)
    provision: str = Field(min_length=1)
    """The article (or rule) of the norm, with the deadline it sets."""
    business_days: Annotated[int, Field(ge=1, le=60)] | None = None
    immediate: bool = False


class DemandType(_Spec):
    """One demand type: its code, its labels in four languages, and whether it is coverage."""

    code: Code
    coverage: bool
    """True for a coverage (assistencial) request in the sense of ANS RN 623/2024."""
    labels: dict[str, Annotated[str, Field(min_length=1)]]
    deadline: Deadline

    @model_validator(mode="after")
    def _every_language(self) -> DemandType:
        missing = [language for language in LANGUAGES if language not in self.labels]
        if missing:
            raise ValueError(f"demand type {self.code}: no label in {', '.join(missing)}")
        return self


class Taxonomy(_Spec):
    """The whole taxonomy file."""

    version: Annotated[int, Field(ge=1)]
    demand_types: tuple[DemandType, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> Taxonomy:
        codes = [demand.code for demand in self.demand_types]
        if len(codes) != len(set(codes)):
            raise ValueError("demand type codes must be unique")
        return self

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes, in the file's order."""
        return tuple(demand.code for demand in self.demand_types)

    def find(self, code: str) -> DemandType | None:
        """Find a demand type by code."""
        return next((demand for demand in self.demand_types if demand.code == code), None)

    def coverage_codes(self) -> frozenset[str]:
        """The codes of coverage (assistencial) demands."""
        return frozenset(demand.code for demand in self.demand_types if demand.coverage)


def parse_taxonomy(document: object) -> Taxonomy:
    """Validate a parsed taxonomy document."""
    return Taxonomy.model_validate(document)


@cache
def taxonomy() -> Taxonomy:
    """Read the packaged taxonomy once per process."""
    text = resources.files("atende_events").joinpath("demand_types.yaml").read_text("utf-8")
    return parse_taxonomy(yaml.safe_load(text))


def demand_codes() -> tuple[str, ...]:
    """The valid demand type codes, in the taxonomy's order."""
    return taxonomy().codes
