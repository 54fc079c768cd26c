"""The shared numba binary arithmetic coder: exact round trips, bounds safety, cost."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frappe_cli.coding import binary_ac as ac
from frappe_cli.testing import corpus_file


def _roundtrip(bits, probs):
    out = np.empty(len(bits) * 3 + 16, dtype=np.uint8)
    n = ac.encode_bits(bits, probs, out)
    assert n > 0
    back = np.zeros(len(bits), dtype=np.int64)
    over = ac.decode_bits(out[:n].copy(), probs, back)
    assert np.array_equal(back, bits)
    assert over == ac.FINAL_OVERRUN  # a sound stream ends exactly here
    return n


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-10, 70000)), max_size=3000))
def test_roundtrip_any_bits_and_probabilities(pairs):
    bits = np.array([b for b, _ in pairs], dtype=np.int64)
    probs = np.array([p for _, p in pairs], dtype=np.int64)  # out-of-range p is clamped
    _roundtrip(bits, probs)


@pytest.mark.parametrize("p", [1, 2, 100, 32768, 65000, 65535])
@pytest.mark.parametrize("kind", ["likely", "unlikely", "random"])
def test_extreme_probabilities(p, kind):
    rng = np.random.default_rng(p)
    n = 20000
    probs = np.full(n, p, dtype=np.int64)
    if kind == "likely":
        bits = (rng.random(n) < p / 65536).astype(np.int64)
    elif kind == "unlikely":
        bits = (rng.random(n) >= p / 65536).astype(np.int64)
    else:
        bits = rng.integers(0, 2, n)
    _roundtrip(bits, probs)


def test_cost_close_to_entropy():
    rng = np.random.default_rng(7)
    n = 200000
    probs = rng.integers(1, 65536, n)
    bits = (rng.integers(0, 65536, n) < probs).astype(np.int64)
    nbytes = _roundtrip(bits, probs)
    p1 = probs / 65536.0
    ideal = -np.sum(np.where(bits == 1, np.log2(p1), np.log2(1 - p1))) / 8
    assert nbytes <= ideal * 1.001 + 8


def test_order0_on_real_text():
    data = corpus_file("canterbury/alice29.txt").read_bytes()
    c = ac.order0_compress(data)
    assert ac.order0_decompress(c, len(data)) == data
    assert len(c) < 0.61 * len(data)  # order-0 entropy of alice29 is ~4.57 bits/byte


def test_empty_and_single_bit():
    assert _roundtrip(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)) == 1
    _roundtrip(np.array([1]), np.array([1]))
    _roundtrip(np.array([0]), np.array([65535]))


def test_encoder_never_writes_past_its_buffer():
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2, 5000)
    probs = np.full(5000, 60000)
    out = np.zeros(40, dtype=np.uint8)
    guard = np.zeros(64, dtype=np.uint8)
    big = np.concatenate([out, guard])
    assert ac.encode_bits(bits, probs, big[:40]) == -1  # overflow reported
    assert not big[40:].any()  # nothing written beyond the slice


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 4000))
def test_decoder_reads_garbage_safely(junk, nbits):
    probs = np.full(nbits, 30000, dtype=np.int64)
    back = np.zeros(nbits, dtype=np.int64)
    over = ac.decode_bits(np.frombuffer(junk, dtype=np.uint8).copy(), probs, back)
    assert over >= 0 and set(np.unique(back)) <= {0, 1}


def test_throughput_order0(record_property):
    import time

    data = corpus_file("canterbury/alice29.txt").read_bytes() * 4
    ac.order0_compress(data[:100])
    t = time.process_time()
    c = ac.order0_compress(data)
    te = time.process_time() - t
    t = time.process_time()
    assert ac.order0_decompress(c, len(data)) == data
    td = time.process_time() - t
    record_property("order0_MBps", (len(data) / te / 1e6, len(data) / td / 1e6))
    # 8 coded bits per byte plus a tiny model: far above any CM model's speed
    assert len(data) / max(te, 1e-9) > 2e6 and not math.isnan(td)
