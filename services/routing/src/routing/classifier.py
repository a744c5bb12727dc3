"""The demand classifier: a linear model over word and character n-grams and the vocabulary.

Trained from the labelled corpus the package ships (`routing/corpus/train.tsv`), deterministically:
no model is ever downloaded. Training takes a few seconds, so the fitted model is kept once per
process and in a cache file per user (`$XDG_CACHE_HOME/atende/routing/`, `ATENDE_CACHE_DIR` to move
it, `off` to never write it) named by the hash of the corpus, the vocabulary, this module and the
library versions: any change to them trains anew, and `python -m routing.classifier` fills the cache
ahead of time (an image build, a deploy). The vocabulary (`routing/vocabulary.yaml`) adds one
feature per service it names and, once the model has said a contact is an access-to-care request,
tells which RN 566 sub-type; the routing rules file still wins wherever its inference speaks.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import pickle
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import sklearn
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from routing.domain import padded
from routing.text import normalise

log = logging.getLogger(__name__)

FALLBACK = "other"
PARTY_KINDS = ("member", "provider", "employer")
VOCABULARY_WEIGHT = 0.6
"""The weight of a vocabulary feature beside the n-gram features (each row has unit norm)."""
UNSURE_MARGIN = -0.2
"""Below this decision value the model is unsure; a vocabulary match then tells the type."""
VAGUE = frozenset({"other", "information"})
BARE = 4
"""A text of at most this many words that names a service is a request for its coverage."""
COVERAGE_OR_ACCESS = frozenset(
    {
        "authorization",
        "high_complexity",
        "urgency",
        "access_basic_consultation",
        "access_specialty_consultation",
        "access_health_professional_session",
        "access_dental",
        "access_outpatient_lab",
        "access_outpatient_diagnosis_therapy",
        "access_high_complexity",
        "access_day_hospital",
        "access_elective_admission",
        "access_urgency",
    }
)


class InvalidVocabulary(ValueError):
    """The vocabulary file cannot be used; the message names the bad entry."""


class _ServiceSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    service: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    coverage: str
    access: str | None = None
    terms: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1)


class _VocabularySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    services: list[_ServiceSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Service:
    """A procedure or service, the demand types it implies, and the words that name it."""

    service: str
    coverage: str
    """The demand type of a coverage request for it."""
    access: str | None
    """The RN 566 access-to-care sub-type of a contact that cannot get it, if RN 566 sets one."""
    terms: tuple[str, ...]
    pattern: re.Pattern[str]
    """Any of the terms as whole words of normalised text, in one expression."""


def _terms_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Compile terms into one whole-word expression; `*` stands for any letters within a word."""
    alternatives = []
    for term in terms:
        words = [[normalise(piece) for piece in raw.split("*")] for raw in term.split()]
        body = " ".join(
            joined
            for joined in ("[a-z0-9]*".join(re.escape(p) for p in pieces) for pieces in words)
            if joined
        )
        if body:
            alternatives.append(body)
    return re.compile(rf"(?<![a-z0-9])(?:{'|'.join(alternatives)})(?![a-z0-9])")


def load_vocabulary(document: object) -> tuple[Service, ...]:
    """Validate a parsed vocabulary file."""
    try:
        spec = _VocabularySpec.model_validate(document)
    except ValidationError as error:
        raise InvalidVocabulary(f"vocabulary file: {error}") from None
    return tuple(
        Service(
            service=entry.service,
            coverage=entry.coverage,
            access=entry.access,
            terms=tuple(entry.terms),
            pattern=_terms_pattern(entry.terms),
        )
        for entry in spec.services
    )


def services_in(text: str, vocabulary: Sequence[Service]) -> list[Service]:
    """Give the services the text names, in the vocabulary's order."""
    folded = padded(text)
    return [service for service in vocabulary if service.pattern.search(folded)]


@dataclass(frozen=True)
class Example:
    """A labelled contact of the corpus."""

    demand_type: str
    urgent: bool
    party_kind: str
    channel: str
    locale: str
    text: str


def read_corpus(text: str) -> list[Example]:
    """Parse a corpus file: a TSV with a header, one labelled contact per line."""
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    return [
        Example(
            demand_type=row["demand_type"],
            urgent=row["urgent"] == "1",
            party_kind=row["party_kind"],
            channel=row["channel"],
            locale=row["locale"],
            text=row["text"],
        )
        for row in reader
    ]


# Templates that turn each vocabulary term into a training example, so a service named only in
# the vocabulary is still learnt as a coverage request or an access-to-care request.
_COVERAGE_TEMPLATES = (
    "preciso da autorizacao de {term}",
    "necesito la autorizacion de {term}",
    "I need approval for {term}",
    "bitte um Kostenubernahme fur {term}",
)
_ACCESS_TEMPLATES = (
    "nao consigo agendar {term}, nenhum credenciado da rede tem vaga",
    "no consigo turno para {term} en ningun prestador de la red",
    "I can't get an appointment for {term} anywhere in the network",
    "ich bekomme keinen Termin fur {term} im Netz",
)


def vocabulary_examples(vocabulary: Sequence[Service]) -> list[Example]:
    """Make training examples from the vocabulary, one template per term and demand type."""
    chooser = random.Random(566)
    examples: list[Example] = []
    for service in vocabulary:
        for term in service.terms:
            word = term.replace("*", "")
            labels = [(service.coverage, _COVERAGE_TEMPLATES)]
            if service.access is not None:
                labels.append((service.access, _ACCESS_TEMPLATES))
            for label, templates in labels:
                text = chooser.choice(templates).format(term=word)
                examples.append(Example(label, False, "member", "web", "", text))
    return examples


class DemandClassifier:
    """Tell a contact's demand type from its text and party kind."""

    def __init__(self, examples: Sequence[Example], vocabulary: Sequence[Service]) -> None:
        self.vocabulary = tuple(vocabulary)
        self._chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=1, dtype=np.float32
        )
        self._words = TfidfVectorizer(
            analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1, dtype=np.float32
        )
        texts = [normalise(example.text) for example in examples]
        parties = [example.party_kind for example in examples]
        chars = self._chars.fit_transform(texts)
        words = self._words.fit_transform(texts)
        features = self._stack(chars, words, texts, parties)
        self._model = LinearSVC(C=0.7, random_state=0, max_iter=5000)
        self._model.fit(features, [example.demand_type for example in examples])
        self.labels: tuple[str, ...] = tuple(str(label) for label in self._model.classes_)

    def _stack(self, chars: Any, words: Any, texts: Sequence[str], parties: Sequence[str]) -> Any:
        extra = np.zeros((len(texts), len(self.vocabulary) + len(PARTY_KINDS)), np.float32)
        for row, (text, party) in enumerate(zip(texts, parties, strict=True)):
            for service in services_in(text, self.vocabulary):
                extra[row, self.vocabulary.index(service)] = VOCABULARY_WEIGHT
            if party in PARTY_KINDS:
                extra[row, len(self.vocabulary) + PARTY_KINDS.index(party)] = 1.0
        return hstack([chars, words, csr_matrix(extra)]).tocsr()

    def scores(self, texts: Sequence[str], parties: Sequence[str]) -> list[dict[str, float]]:
        """Give the model's decision value per demand type for each text."""
        folded = [normalise(text) for text in texts]
        features = self._stack(
            self._chars.transform(folded), self._words.transform(folded), folded, parties
        )
        values = self._model.decision_function(features)
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in values]

    def infer_many(self, texts: Sequence[str], parties: Sequence[str]) -> list[str]:
        """Tell the demand type of each text, the vocabulary settling what the model leaves."""
        results: list[str] = []
        for text, scores in zip(texts, self.scores(texts, parties), strict=True):
            results.append(self._decide(text, scores))
        return results

    def infer(self, text: str, party_kind: str) -> str | None:
        """Tell the demand type of one text; None when there is nothing to tell it from."""
        if not normalise(text):
            return None
        return self.infer_many([text], [party_kind])[0]

    def _decide(self, text: str, scores: dict[str, float]) -> str:
        best = max(scores, key=lambda label: scores[label])
        services = services_in(text, self.vocabulary)
        if services and best in COVERAGE_OR_ACCESS and len(normalise(text).split()) <= BARE:
            # A service named and little else ("endoscopia", "home care") asks for its coverage.
            return services[0].coverage
        if services and services[0].access is None and best in COVERAGE_OR_ACCESS:
            # A reimbursement or a home care request is a coverage request whatever the service.
            return services[0].coverage
        if best.startswith("access_") and best != "access_urgency":
            # The model tells access-to-care from the rest; the service named tells the sub-type.
            named = [service.access for service in services if service.access is not None]
            if named and named[0] != "access_urgency":
                return named[0]
        if best in VAGUE and scores[best] < UNSURE_MARGIN and services:
            return services[0].coverage
        return best


@cache
def _packaged_text(name: str) -> str:
    return resources.files("routing").joinpath(name).read_text(encoding="utf-8")


def packaged_vocabulary() -> tuple[Service, ...]:
    """Read the packaged vocabulary."""
    return load_vocabulary(yaml.safe_load(_packaged_text("vocabulary.yaml")))


def packaged_corpus(split: str) -> list[Example]:
    """Read the packaged training (`train`) or held-out (`eval`) corpus."""
    return read_corpus(_packaged_text(f"corpus/{split}.tsv"))


def training_examples(corpus: Iterable[Example], vocabulary: Sequence[Service]) -> list[Example]:
    """The corpus and the vocabulary's own examples, as the model learns them."""
    return [*corpus, *vocabulary_examples(vocabulary)]


CACHE_FORMAT = 1
"""Bump to retire every cached model at once."""


def model_key(corpus: str, vocabulary: str) -> str:
    """Name a fitted model by everything that decides it: data, code and library versions."""
    digest = hashlib.sha256()
    for part in (
        str(CACHE_FORMAT),
        corpus,
        vocabulary,
        Path(__file__).read_text(encoding="utf-8"),
        Path(__file__).with_name("text.py").read_text(encoding="utf-8"),
        sklearn.__version__,
        np.__version__,
        platform.python_version(),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def cache_dir() -> Path | None:
    """The directory of cached models, or None when caching on disk is turned off."""
    chosen = os.environ.get("ATENDE_CACHE_DIR")
    if chosen == "off":
        return None
    base = (
        Path(chosen)
        if chosen
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "atende"
    )
    return base / "routing"


def _load(path: Path) -> DemandClassifier | None:
    try:
        with path.open("rb") as cached:
            # The file is the user's own, written by this function's sibling below; whoever can
            # replace it can already run code as this user.
            model = pickle.load(cached)  # noqa: S301
    except FileNotFoundError:
        return None
    except Exception as error:  # a torn or foreign file: train anew and overwrite it
        log.warning(
            "cached routing classifier %s unusable (%s); training", path, type(error).__name__
        )
        return None
    return model if isinstance(model, DemandClassifier) else None


def _store(path: Path, model: DemandClassifier) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False) as partial:
            pickle.dump(model, partial, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial.name, path)
        for stale in path.parent.glob("classifier-*.pickle"):
            if stale != path:  # a model of an older corpus or release: never read again
                stale.unlink(missing_ok=True)
    except OSError as error:  # a read-only home or image: the next process trains again
        log.warning("cannot cache the routing classifier in %s (%s)", path.parent, error)


@cache
def cached_classifier(key: str) -> DemandClassifier:
    """The fitted classifier of a corpus and vocabulary: from this process, the disk, or trained."""
    directory = cache_dir()
    path = None if directory is None else directory / f"classifier-{key}.pickle"
    model = None if path is None else _load(path)
    if model is None:
        vocabulary = packaged_vocabulary()
        model = DemandClassifier(
            training_examples(packaged_corpus("train"), vocabulary), vocabulary
        )
        if path is not None:
            _store(path, model)
    return model


def packaged_classifier() -> DemandClassifier:
    """The classifier of the packaged corpus and vocabulary, trained once per content hash."""
    return cached_classifier(
        model_key(_packaged_text("corpus/train.tsv"), _packaged_text("vocabulary.yaml"))
    )


def main() -> int:
    """Train the packaged classifier into the cache (`python -m routing.classifier`)."""
    started = time.perf_counter()
    key = model_key(_packaged_text("corpus/train.tsv"), _packaged_text("vocabulary.yaml"))
    cached_classifier(key)
    sys.stdout.write(
        f"routing classifier {key} ready in {cache_dir()} ({time.perf_counter() - started:.1f} s)\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
