"""The shared LEB128 varint: round trips, and clean errors on hostile bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frappe_cli import varint
from frappe_cli.errors import CorruptError


@given(st.integers(min_value=0, max_value=(1 << 64) - 1), st.binary(max_size=8))
def test_round_trip_with_trailing_bytes(n, tail):
    blob = b"\x07" + varint.encode(n) + tail
    v, pos = varint.decode(blob, 1)
    assert v == n and blob[pos:] == tail


def test_known_encodings():
    assert varint.encode(0) == b"\x00"
    assert varint.encode(127) == b"\x7f"
    assert varint.encode(128) == b"\x80\x01"
    assert varint.encode(300) == b"\xac\x02"
    with pytest.raises(ValueError):
        varint.encode(-1)


@given(st.integers(min_value=128, max_value=1 << 40))
def test_truncated_varint_is_corrupt(n):
    blob = varint.encode(n)
    with pytest.raises(CorruptError, match="ends early"):
        varint.decode(blob[:-1], 0, what="test header")


def test_limit_and_overlong():
    with pytest.raises(CorruptError, match="out of range"):
        varint.decode(varint.encode(1001), 0, limit=1000)
    with pytest.raises(CorruptError, match="overlong"):
        varint.decode(b"\xff" * 11, 0)
