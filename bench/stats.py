"""Small statistics the benchmark reports: percentiles and the median of repeated runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Spread:
    """The median of repeated runs with their minimum and maximum."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            return cls(math.nan, math.nan, math.nan, len(values))
        return cls(statistics.median(finite), min(finite), max(finite), len(values))

    def show(self, unit: str = "", digits: int = 1) -> str:
        if math.isnan(self.median):
            return "n/a"
        return (
            f"{self.median:.{digits}f}{unit} "
            f"[{self.low:.{digits}f}-{self.high:.{digits}f}, n={self.runs}]"
        )
