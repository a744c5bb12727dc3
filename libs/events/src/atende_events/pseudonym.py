"""Keyed pseudonyms for parties, so events never carry who a person is."""

from __future__ import annotations

import hashlib
import hmac

PARTY_KINDS = frozenset({"member", "provider", "employer"})
_MIN_KEY_BYTES = 32


def party_ref(key: bytes, *, kind: str, party_id: str) -> str:
    """Return the stable pseudonym of a party: HMAC-SHA256 of its kind and id under the key.

    The same party always gets the same reference under one key, so consumers can count
    repeat contacts without learning the member's card number, CPF or CNPJ. Without the
    key the reference cannot be reversed or recomputed from a guessed id.
    """
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"the pseudonym key must have at least {_MIN_KEY_BYTES} bytes")
    if kind not in PARTY_KINDS:
        raise ValueError(f"unknown party kind {kind!r}; expected one of {sorted(PARTY_KINDS)}")
    normalised_id = party_id.strip()
    if not normalised_id:
        raise ValueError("the party id is empty")
    # The separator cannot occur in a kind, so ("member", "1:2") and ("member:1", "2") differ.
    message = f"{kind}:{normalised_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"pty_{digest[:40]}"
