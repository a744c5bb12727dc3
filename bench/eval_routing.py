"""Measure routing's classification and triage on the held-out corpus (make eval-routing).

python -m bench.eval_routing                # print, write bench/results/eval-routing.json
python -m bench.eval_routing --output PATH  # write them elsewhere

Each held-out contact (routing/corpus/eval.tsv, never used in training) goes through the whole
classification as routing does it (rules file, classifier, vocabulary, triage) as a normal-priority
contact without a demand type. Printed: accuracy per demand type, the confusion matrix, the recall
of the urgent flag (every contact labelled urgent must come out urgent) and the share of
non-urgent contacts flagged, the classifier's training time and the rule book's start-up cost
(the fitted model comes from the per-user cache; see routing.classifier).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from routing.classifier import (
    DemandClassifier,
    Example,
    cache_dir,
    packaged_corpus,
    packaged_vocabulary,
    training_examples,
)
from routing.config import Settings
from routing.domain import Contact, classify

DEFAULT_OUTPUT = Path("bench/results/eval-routing.json")
TARGET_ACCURACY = 0.95


def evaluate(examples: list[Example]) -> dict[str, Any]:
    """Classify every held-out contact and gather the figures."""
    vocabulary = packaged_vocabulary()
    corpus = training_examples(packaged_corpus("train"), vocabulary)
    started = time.perf_counter()
    DemandClassifier(corpus, vocabulary)
    training_seconds = time.perf_counter() - started
    started = time.perf_counter()
    book = Settings(environment="development").rule_book()
    rule_book_seconds = time.perf_counter() - started
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    urgent_total = urgent_flagged = calm_total = calm_flagged = 0
    missed: list[dict[str, str]] = []
    started = time.perf_counter()
    for example in examples:
        decision = classify(
            Contact(
                channel=example.channel,
                party_kind=example.party_kind,
                priority="normal",
                text=example.text,
            ),
            book,
        )
        confusion[example.demand_type][decision.demand_type] += 1
        urgent = decision.priority == "urgent"
        if example.urgent:
            urgent_total += 1
            urgent_flagged += urgent
            if not urgent:
                missed.append({"locale": example.locale, "text": example.text})
        else:
            calm_total += 1
            calm_flagged += urgent
    per_contact_ms = 1000 * (time.perf_counter() - started) / max(len(examples), 1)
    per_type = {
        label: {
            "contacts": sum(row.values()),
            "correct": row[label],
            "accuracy": round(row[label] / sum(row.values()), 4),
        }
        for label, row in sorted(confusion.items())
    }
    correct = sum(row[label] for label, row in confusion.items())
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "contacts": len(examples),
        "locales": dict(Counter(example.locale for example in examples)),
        "accuracy": round(correct / max(len(examples), 1), 4),
        "target_accuracy_per_type": TARGET_ACCURACY,
        "types_below_target": sorted(
            label for label, row in per_type.items() if row["accuracy"] < TARGET_ACCURACY
        ),
        "per_type": per_type,
        "confusion": {label: dict(row) for label, row in sorted(confusion.items())},
        "urgent": {
            "contacts": urgent_total,
            "flagged": urgent_flagged,
            "recall": round(urgent_flagged / max(urgent_total, 1), 4),
            "missed": missed,
        },
        "not_urgent": {
            "contacts": calm_total,
            "flagged": calm_flagged,
            "false_positive_rate": round(calm_flagged / max(calm_total, 1), 4),
        },
        "training_examples": len(corpus),
        "training_seconds": round(training_seconds, 3),
        "rule_book_seconds": round(rule_book_seconds, 3),
        "model_cache": str(cache_dir()),
        "classify_ms_per_contact": round(per_contact_ms, 3),
    }


def render(figures: dict[str, Any]) -> str:
    """The figures as the terminal shows them."""
    lines = [
        f"held-out contacts: {figures['contacts']} {figures['locales']}",
        f"overall accuracy: {figures['accuracy']:.1%}",
        "",
        f"{'demand type':40s} {'n':>4s} {'ok':>4s} {'accuracy':>9s}",
    ]
    for label, row in figures["per_type"].items():
        mark = "" if row["accuracy"] >= TARGET_ACCURACY else "  < 95%"
        lines.append(
            f"{label:40s} {row['contacts']:4d} {row['correct']:4d} {row['accuracy']:9.1%}{mark}"
        )
    labels = sorted(
        set(figures["confusion"]) | {p for row in figures["confusion"].values() for p in row}
    )
    short = {label: f"{index:02d}" for index, label in enumerate(labels)}
    lines += ["", "confusion matrix (rows: labelled, columns: predicted)"]
    lines.append(" " * 44 + " ".join(short[label] for label in labels))
    for label in labels:
        row = figures["confusion"].get(label, {})
        cells = " ".join(f"{row.get(p, 0) or '.':>2}" for p in labels)
        lines.append(f"{short[label]} {label:40s} {cells}")
    urgent, calm = figures["urgent"], figures["not_urgent"]
    lines += [
        "",
        f"urgent flag recall: {urgent['flagged']}/{urgent['contacts']} = {urgent['recall']:.1%}",
        f"non-urgent flagged: {calm['flagged']}/{calm['contacts']}"
        f" = {calm['false_positive_rate']:.1%}",
        f"training on {figures['training_examples']} examples: {figures['training_seconds']:.2f} s;"
        f" rule book with the cached model: {figures['rule_book_seconds']:.2f} s;"
        f" classification: {figures['classify_ms_per_contact']:.2f} ms per contact",
    ]
    lines += [f"  missed urgent ({m['locale']}): {m['text']}" for m in urgent["missed"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Evaluate, print, and write the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    figures = evaluate(packaged_corpus("eval"))
    sys.stdout.write(render(figures) + "\n")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.write(f"written to {args.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
