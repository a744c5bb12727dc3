"""Urgency triage: clinical red flags in what a person wrote raise the contact to urgent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routing.text import normalise

MAX_GAP = 4
"""Other words that may stand between two words of a phrase ("bebe de dois meses com febre")."""
FUZZY_FROM = 6
"""Words at least this long also match with one typo (a letter missing, extra, changed, swapped)."""
SWAPPED_FROM = 4
"""Shorter words still match with two neighbouring letters swapped, if at least this long."""
FUZZIER_FROM = 11
"""Words at least this long also match with two typos, when their first letter is right."""


class InvalidRedFlags(ValueError):
    """The red flag file cannot be used; the message names the bad entry."""


class _FlagSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    source: Annotated[str, Field(min_length=1)]
    phrases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1)


class _FileSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    flags: list[_FlagSpec] = Field(min_length=1)


@dataclass(frozen=True)
class RedFlag:
    """A clinical red flag: its code, where it comes from, and the phrases that reveal it."""

    code: str
    source: str
    phrases: tuple[tuple[str, ...], ...]


def load_red_flags(document: object) -> tuple[RedFlag, ...]:
    """Validate a parsed red flag file; raise InvalidRedFlags naming the bad entry."""
    try:
        spec = _FileSpec.model_validate(document)
    except ValidationError as error:
        raise InvalidRedFlags(f"red flag file: {error}") from None
    flags: list[RedFlag] = []
    for flag in spec.flags:
        phrases = tuple(_words(phrase) for phrase in flag.phrases)
        if any(not words for words in phrases):
            raise InvalidRedFlags(f"red flag {flag.code}: a phrase has no letters")
        flags.append(RedFlag(flag.code, flag.source, phrases))
    if len({flag.code for flag in flags}) != len(flags):
        raise InvalidRedFlags("red flag file: codes must be unique")
    return tuple(flags)


def _words(phrase: str) -> tuple[str, ...]:
    """Split a phrase into normalised words, keeping a trailing `*` (any ending)."""
    words: list[str] = []
    for raw in phrase.split():
        star = raw.endswith("*")
        word = normalise(raw.rstrip("*")).replace(" ", "")
        if word:
            words.append(word + ("*" if star else ""))
    return tuple(words)


def squeezed(word: str) -> str:
    """Write every run of one letter once: "decaaido" and "respirrar" as people type them."""
    return "".join(char for i, char in enumerate(word) if i == 0 or char != word[i - 1])


def typos(word: str, pattern: str, limit: int) -> int:
    """Count the edits (missing, extra, changed or swapped letters) between two words.

    The optimal string alignment distance (Damerau-Levenshtein without re-editing), cut short:
    any count above `limit` comes back as `limit + 1`.
    """
    if abs(len(word) - len(pattern)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(pattern) + 1))
    for i in range(1, len(word) + 1):
        current = [i] + [0] * len(pattern)
        for j in range(1, len(pattern) + 1):
            cost = word[i - 1] != pattern[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and word[i - 1] == pattern[j - 2] and word[i - 2] == pattern[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return min(previous[-1], limit + 1)


def allowed_typos(pattern: str) -> int:
    """How many typos a word of a phrase tolerates: none when short, more as it grows."""
    return 2 if len(pattern) >= FUZZIER_FROM else 1 if len(pattern) >= FUZZY_FROM else 0


def _close(word: str, pattern: str) -> bool:
    limit = allowed_typos(pattern)
    if limit == 0:
        # Short words take only two letters swapped ("pehco"): any other typo makes new words.
        return (
            len(pattern) >= SWAPPED_FROM
            and sorted(word) == sorted(pattern)
            and (typos(word, pattern, 1) == 1)
        )
    distance = typos(word, pattern, limit)
    return distance <= min(limit, 1) or (distance <= limit and word[:1] == pattern[:1])


@lru_cache(maxsize=65536)
def word_matches(word: str, pattern: str) -> bool:
    """Tell whether a word of the text is the pattern's word (a prefix with `*`), typos allowed."""
    if pattern.endswith("*"):
        stem = pattern[:-1]
        if word.startswith(stem) or squeezed(word).startswith(squeezed(stem)):
            return True
        # A typo inside the stem: compare the stem with the word's beginning of about its length.
        return any(_close(word[:size], stem) for size in (len(stem) - 1, len(stem), len(stem) + 1))
    if word == pattern or squeezed(word) == squeezed(pattern):
        return True
    return _close(word, pattern) or _close(squeezed(word), squeezed(pattern))


def _phrase_in(words: Sequence[str], phrase: tuple[str, ...]) -> bool:
    """Tell whether the phrase's words appear in order, at most MAX_GAP words apart."""
    for start, word in enumerate(words):
        if not word_matches(word, phrase[0]):
            continue
        position = start
        for pattern in phrase[1:]:
            window = words[position + 1 : position + 2 + MAX_GAP]
            found = next((i for i, w in enumerate(window) if word_matches(w, pattern)), None)
            if found is None:
                break
            position += 1 + found
        else:
            return True
    return False


@dataclass(frozen=True)
class _Opening:
    """A word that opens a phrase, with the lengths a matching word can have."""

    pattern: str
    shortest: int
    """A word shorter than this (raw or squeezed) cannot match: more typos than allowed."""
    longest: int | None
    """A word longer than this (raw and squeezed) cannot match; None for a stem (`*`)."""


def _opening(pattern: str) -> _Opening:
    stem = pattern.rstrip("*")
    lengths = (len(stem), len(squeezed(stem)))
    slack = allowed_typos(stem)
    if pattern.endswith("*"):
        return _Opening(pattern, min(lengths) - max(slack, 1), None)
    return _Opening(pattern, min(lengths) - slack, max(lengths) + slack)


@lru_cache(maxsize=8)
def _openings(flags: tuple[RedFlag, ...]) -> tuple[_Opening, ...]:
    return tuple(_opening(p) for p in sorted({phrase[0] for f in flags for phrase in f.phrases}))


@lru_cache(maxsize=65536)
def _openings_of(word: str, flags: tuple[RedFlag, ...]) -> frozenset[str]:
    """Give the opening words of phrases the word matches (remembered: words recur)."""
    longest, shortest = len(word), len(squeezed(word))
    return frozenset(
        opening.pattern
        for opening in _openings(flags)
        if longest >= opening.shortest
        and (opening.longest is None or shortest <= opening.longest)
        and word_matches(word, opening.pattern)
    )


def _opened(words: Sequence[str], flags: tuple[RedFlag, ...]) -> set[str]:
    """Give the opening words of phrases some word of the text matches.

    A cheap cut before the phrases are looked for in order: most texts match none of the
    openings, and a word whose length alone rules a pattern out is never compared with it.
    """
    found: set[str] = set()
    for word in set(words):
        found |= _openings_of(word, flags)
    return found


def red_flags_in(text: str, flags: Sequence[RedFlag]) -> tuple[str, ...]:
    """Give the codes of the red flags the text shows, in the file's order."""
    words = normalise(text).split()
    if not words:
        return ()
    opened = _opened(words, tuple(flags))
    return tuple(
        flag.code
        for flag in flags
        if any(phrase[0] in opened and _phrase_in(words, phrase) for phrase in flag.phrases)
    )


@cache
def packaged_red_flags() -> tuple[RedFlag, ...]:
    """Read the packaged red flag file once per process."""
    text = resources.files("routing").joinpath("red_flags.yaml").read_text(encoding="utf-8")
    return load_red_flags(yaml.safe_load(text))
