"""The party pseudonym: stable under one key, different across keys, kinds and ids."""

import pytest

from atende_events.pseudonym import party_ref

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def test_the_same_party_always_gets_the_same_reference() -> None:
    assert party_ref(KEY, kind="member", party_id="0012345") == party_ref(
        KEY, kind="member", party_id=" 0012345 "
    )


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ((KEY, "member", "1"), (KEY, "member", "2")),
        ((KEY, "member", "1"), (KEY, "provider", "1")),
        ((KEY, "member", "1"), (OTHER_KEY, "member", "1")),
    ],
    ids=["other-id", "other-kind", "other-key"],
)
def test_references_differ_when_key_kind_or_id_differ(
    left: tuple[bytes, str, str], right: tuple[bytes, str, str]
) -> None:
    assert party_ref(left[0], kind=left[1], party_id=left[2]) != party_ref(
        right[0], kind=right[1], party_id=right[2]
    )


def test_the_reference_does_not_contain_the_id() -> None:
    reference = party_ref(KEY, kind="member", party_id="12345678901")
    assert "12345678901" not in reference
    assert reference.startswith("pty_") and len(reference) == 44


@pytest.mark.parametrize(
    ("key", "kind", "party_id", "message"),
    [
        (b"short", "member", "1", "at least 32 bytes"),
        (KEY, "patient", "1", "unknown party kind"),
        (KEY, "member", "  ", "empty"),
    ],
)
def test_bad_input_is_refused(key: bytes, kind: str, party_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        party_ref(key, kind=kind, party_id=party_id)
