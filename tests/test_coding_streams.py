"""The self-describing chunked streams of the two bulk coders (``rans``, ``huffman``):
the same checks for both, each with its own data, chunk sizes and bounds (``CASES``).
Checks of one coder's own structures stay in test_coding_rans.py / test_coding_huffman.py."""

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frappe_cli.coding import huffman, rans
from frappe_cli.errors import CorruptError


def _geo(rng, n, p=0.3):
    return np.minimum(rng.geometric(p, n), 255).astype(np.uint8)


def _exponents(rng, n):
    """A weight-like exponent stream: bfloat16 exponents of Gaussian weights."""
    w = rng.normal(0, 0.05, n).astype(np.float32)
    return ((w.view(np.uint32) >> 23) & 0xFF).astype(np.uint8)


@dataclass
class Case:
    coder: Any
    rng: np.random.Generator
    sizes: list  # round-trip lengths
    chunks: tuple  # round-trip chunk sizes (those below 1000 only for lengths <= 5000)
    const: int  # the symbol of the "const" input, the rare one of "rare"
    rare: int
    all_reps: int  # every byte value this often
    all_as_array: bool  # ... also given as a uint8 array (not only as bytes)
    entropy_input: Callable  # rng -> symbols whose stream is close to their entropy
    entropy_slack: float
    cut_input: Callable  # rng -> symbols for the truncation checks
    cut_chunk: int
    cuts: Callable  # stream length -> cuts
    flip_input: Callable  # rng -> symbols for the bit flips
    flip_chunk: int
    junk_head: Callable  # rng -> symbols whose stream header precedes the junk
    junk_chunk: int
    junk_max: int
    fast_rates: tuple  # symbols per CPU second: encode, decode


CASES = {
    "huffman": Case(
        huffman, np.random.default_rng(99),
        [0, 1, 2, 3, 4, 5, 7, 8, 12, 13, 100, 4097, 65536, 65537, 300_001], (1, 5, 1000, 1 << 16),
        const=3, rare=250, all_reps=101, all_as_array=False,
        entropy_input=lambda rng: _exponents(rng, 400_000), entropy_slack=1.03,
        cut_input=lambda rng: _geo(rng, 50_000), cut_chunk=20_000,
        cuts=lambda m: [0, 1, 8, 9, 14, 30, m // 2, m - 1],
        flip_input=lambda rng: _geo(rng, 20_000, 0.25), flip_chunk=6000,
        junk_head=lambda rng: np.zeros(3000, np.uint8) + 1, junk_chunk=3000, junk_max=300,
        fast_rates=(100e6, 200e6)),
    "rans": Case(
        rans, np.random.default_rng(1234),
        [0, 1, 2, 7, 8, 9, 15, 16, 17, 100, 4095, 65536, 65537, 200_001], (1, 3, 1000, 1 << 16),
        const=200, rare=77, all_reps=37, all_as_array=True,
        entropy_input=lambda rng: _exponents(rng, 300_000), entropy_slack=1.004,
        cut_input=lambda rng: _exponents(rng, 100_000), cut_chunk=30_000,
        cuts=lambda m: [0, 1, 8, 9, 14, 50, m // 2, m - 1],
        flip_input=lambda rng: _exponents(rng, 20_000), flip_chunk=7000,
        junk_head=lambda rng: _geo(rng, 1000), junk_chunk=500, junk_max=400,
        fast_rates=(50e6, 100e6)),
}
KINDS = ["geo", "uniform", "const", "rare", "skew"]


def _symbols(c: Case, kind: str, n: int) -> np.ndarray:
    if kind == "geo":
        return _geo(c.rng, n)
    if kind == "uniform":
        return c.rng.integers(0, 256, n).astype(np.uint8)
    if kind == "const":
        return np.full(n, c.const, np.uint8)
    if kind == "rare":
        return (c.rng.random(n) < 0.0005).astype(np.uint8) * c.rare
    return _geo(c.rng, n, 0.02)


@pytest.mark.parametrize("name, n, kind", [(name, n, kind) for name, c in CASES.items()
                                           for n in c.sizes for kind in KINDS])
def test_roundtrip_shapes(name, n, kind):
    c = CASES[name]
    s = _symbols(c, kind, n)
    for chunk in c.chunks:
        if n > 5000 and chunk < 1000:
            continue
        blob = c.coder.encode(s, chunk=chunk)
        assert np.array_equal(c.coder.decode(blob, n), s)
        assert len(blob) <= c.coder.max_encoded_size(n, chunk)


@pytest.mark.parametrize("name", CASES)
def test_all_256_values(name):
    c = CASES[name]
    s = np.arange(256, dtype=np.uint8).repeat(c.all_reps)
    c.rng.shuffle(s)
    if c.all_as_array:
        assert np.array_equal(c.coder.decode(c.coder.encode(s)), s)
    assert np.array_equal(c.coder.decode(c.coder.encode(s.tobytes())), s)


@pytest.mark.parametrize("name", CASES)
def test_close_to_entropy(name):
    c = CASES[name]
    s = c.entropy_input(c.rng)
    cnt = np.bincount(s, minlength=256)
    p = cnt[cnt > 0] / len(s)
    h = -(p * np.log2(p)).sum() * len(s) / 8
    blob = c.coder.encode(s, chunk=1 << 16)
    assert len(blob) < h * c.entropy_slack + 200
    assert np.array_equal(c.coder.decode(blob, len(s)), s)


@pytest.mark.parametrize("name", CASES)
def test_truncated_and_garbage_streams_fail_cleanly(name):
    c = CASES[name]
    s = c.cut_input(c.rng)
    blob = c.coder.encode(s, chunk=c.cut_chunk)
    for cut in c.cuts(len(blob)):
        with pytest.raises(CorruptError):
            c.coder.decode(blob[:cut], len(s))
    with pytest.raises(CorruptError):
        c.coder.decode(blob + b"\0", len(s))


@pytest.mark.parametrize("name", CASES)
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 7))
def test_bit_flips_never_crash(name, pos_seed, bit):
    c = CASES[name]
    s = c.flip_input(c.rng)
    blob = bytearray(c.coder.encode(s, chunk=c.flip_chunk))
    pos = pos_seed % len(blob)
    blob[pos] ^= 1 << bit
    try:
        out = c.coder.decode(bytes(blob), len(s))
    except CorruptError:
        return
    assert out.shape == s.shape


@pytest.mark.parametrize("name", CASES)
@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_payloads_fail_cleanly(name, data):
    c = CASES[name]
    s = c.junk_head(c.rng)
    head = c.coder.encode(s, chunk=c.junk_chunk)[:9]
    junk = data.draw(st.binary(min_size=0, max_size=c.junk_max))
    try:
        out = c.coder.decode(head + junk, len(s))
    except CorruptError:
        return
    assert out.shape == s.shape


@pytest.mark.parametrize("name", CASES)
def test_kernels_are_fast(name):
    """Smoke check that the kernels are compiled and fast (loose bounds, shared machine)."""
    c = CASES[name]
    s = _exponents(c.rng, 1 << 20)
    c.coder.decode(c.coder.encode(s), len(s))
    t = time.process_time()
    blob = c.coder.encode(s)
    te = time.process_time() - t
    t = time.process_time()
    c.coder.decode(blob, len(s))
    td = time.process_time() - t
    assert len(s) / te > c.fast_rates[0] and len(s) / td > c.fast_rates[1]
