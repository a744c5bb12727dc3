"""Text folding shared by classification and triage."""

from __future__ import annotations

import re
import unicodedata


def normalise(text: str) -> str:
    """Fold text for matching: no accents, no case, words separated by one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.findall(r"[a-z0-9]+", stripped))
