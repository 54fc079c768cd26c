"""hypothesis: arbitrary bytes round-trip; any truncation or bit flip of a .sqz
stream gives a clean SqueezeError (never a crash, hang or wrong output)."""

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frappe_cli import container, registry
from frappe_cli.errors import SqueezeError

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=st.binary(max_size=5000), cid=st.sampled_from(["zstd", "store"]),
       level=st.integers(0, 9), bs=st.integers(1, 3000),
       check=st.sampled_from(["none", "crc32", "xxh64"]))
def test_arbitrary_bytes_roundtrip(data, cid, level, bs, check):
    blob = container.compress(data, registry.make(cid, level), block_size=bs, check=check)
    assert container.decompress(blob) == data
    assert container.decompress(blob, threads=2) == data


_BASE = [container.compress(b"fuzz me " * 300 + bytes(range(256)), "zstd", block_size=700),
         container.compress(bytes(range(256)) * 4, "store", block_size=300, check="crc32")]


@FAST
@given(which=st.integers(0, 1), cut=st.integers(0, 10_000))
def test_truncation_is_clean(which, cut):
    blob = _BASE[which]
    cut %= len(blob)
    try:
        out = container.decompress(blob[:cut])
    except SqueezeError:
        return
    raise AssertionError(f"truncated stream decoded to {len(out)} bytes")


@FAST
@given(which=st.integers(0, 1), pos=st.integers(0, 10_000), bit=st.integers(0, 7),
       extra=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3))
def test_corruption_is_clean(which, pos, bit, extra):
    blob = bytearray(_BASE[which])
    good = container.decompress(bytes(blob))
    blob[pos % len(blob)] ^= 1 << bit
    for p, v in extra:
        blob[p % len(blob)] = v
    try:
        out = container.decompress(bytes(blob))
    except SqueezeError:
        return
    assert out == good


@FAST
@given(garbage=st.binary(max_size=300))
def test_foreign_bytes_are_clean(garbage):
    for data in (garbage, container.MAGIC + garbage):
        try:
            container.decompress(data)
        except SqueezeError:
            pass
        try:
            container.scan_streams(io.BytesIO(data))
        except SqueezeError:
            pass
