"""The constriction adapter: exact round trips, the hazards it exists for, errors, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frappe_cli.coding import constriction_ans as ans
from frappe_cli.errors import CorruptError
from frappe_cli.testing import corpus_file

KINDS = ["ans", "range"]


def _rows(rng, m, k, spread=4):
    # skewed integer frequency rows, every entry >= 1
    return np.maximum(1, (rng.random((m, k)) ** spread * 4000).astype(np.int64))


def _sample(rng, rows):
    p = rows / rows.sum(1, keepdims=True)
    c = p.cumsum(1)
    u = rng.random((rows.shape[0], 1))
    return np.minimum((u > c).sum(1), rows.shape[1] - 1).astype(np.int32)


@pytest.mark.parametrize("kind", KINDS)
def test_rows_static_and_families_roundtrip_in_call_order(kind):
    rng = np.random.default_rng(1)
    rows = _rows(rng, 5000, 37)
    s1 = _sample(rng, rows)
    freqs = np.array([50, 30, 10, 5, 3, 1, 1], np.int64)
    s2 = rng.choice(7, size=3000, p=freqs / freqs.sum()).astype(np.int32)
    mean = rng.normal(0, 5, 2000)
    scale = rng.uniform(0.3, 8, 2000)
    s3 = np.clip(np.round(mean + rng.laplace(0, 1, 2000) * scale), -64, 64).astype(np.int32)
    s4 = np.clip(np.round(mean + rng.normal(0, 1, 2000) * scale), -64, 64).astype(np.int32)
    enc = ans.Encoder(kind)
    enc.categorical_rows(s1, rows)
    enc.categorical(s2, freqs)
    enc.laplace(s3, -64, 64, mean, scale)
    enc.gaussian(s4, -64, 64, mean, scale)
    enc.categorical_rows(s1[:0], rows[:0])  # empty calls are fine
    blob = enc.finish()
    dec = ans.Decoder(blob, kind)
    assert (dec.categorical_rows(rows) == s1).all()
    assert (dec.categorical(freqs, s2.size) == s2).all()
    assert (dec.laplace(-64, 64, mean, scale) == s3).all()
    assert (dec.gaussian(-64, 64, mean, scale) == s4).all()
    dec.finish()
    assert dec.end == len(blob)
    # size is close to the ideal information content
    p = rows / rows.sum(1, keepdims=True)
    ideal = -np.log2(p[np.arange(s1.size), s1]).sum() - np.log2(freqs[s2] / freqs.sum()).sum()
    assert len(blob) * 8 < 1.01 * ideal + 8 * 2 * (2000 * 8) + 256


def test_row_by_row_decode_matches_one_call_encode():
    # the image codec's pattern: one encode call, many decode calls (one per row)
    rng = np.random.default_rng(2)
    rows = _rows(rng, 12000, 43)
    s = _sample(rng, rows)
    blob = ans.encode_rows(s, rows)
    dec = ans.Decoder(blob)
    got = np.concatenate([dec.categorical_rows(rows[i:i + 240]) for i in range(0, 12000, 240)])
    dec.finish()
    assert (got == s).all()


def test_real_data_roundtrip():
    data = np.frombuffer(corpus_file("canterbury/alice29.txt").read_bytes(), np.uint8)
    # order-1 context: the frequency row of each byte is the count table of its predecessor
    prev = np.concatenate([[0], data[:-1]]).astype(np.int64)
    counts = np.ones((256, 256), np.int64)
    np.add.at(counts, (prev, data), 1)
    rows = counts[prev]
    for kind in KINDS:
        blob = ans.encode_rows(data, rows, kind)
        assert (ans.decode_rows(blob, rows, kind) == data).all()
        assert len(blob) < 0.5 * data.size  # order-1 on English: ~3.5 bits/byte


def test_stdout_stays_clean(capfd):
    rng = np.random.default_rng(3)
    rows = _rows(rng, 100, 5)
    s = _sample(rng, rows)
    for kind in KINDS:
        blob = ans.encode_rows(s, rows, kind)
        ans.decode_rows(blob, rows, kind)
        enc = ans.Encoder(kind)
        enc.categorical(s, np.array([1, 2, 3, 4, 5]))
        dec = ans.Decoder(enc.finish(), kind)
        dec.categorical(np.array([1, 2, 3, 4, 5]), s.size)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_little_endian_words_and_header():
    s = np.array([0, 1, 2, 1, 0], np.int32)
    blob = ans.encode_rows(s, np.full((5, 3), 7, np.int64))
    n, w = np.frombuffer(blob[:8], "<u4")
    assert n == 5 and len(blob) == 8 + 4 * w


def test_tiny_probabilities_never_panic():
    # unnormalised float rows with tiny entries make constriction 0.5 panic; the
    # adapter's integer tables (>= 1, sum <= 2**20) are safe even for the rarest symbol
    rng = np.random.default_rng(4)
    rows = rng.random((20000, 16)) ** 8
    rows = np.maximum(1, np.floor(rows / rows.sum(1, keepdims=True) * ans.MAX_TOTAL))
    rows = rows.astype(np.int64)
    big = rows.argmax(1)
    rows[np.arange(rows.shape[0]), big] -= np.maximum(0, rows.sum(1) - ans.MAX_TOTAL)
    s = rows.argmin(1).astype(np.int32)  # always the least likely symbol
    for kind in KINDS:
        assert (ans.decode_rows(ans.encode_rows(s, rows, kind), rows, kind) == s).all()


def test_invalid_models_are_refused_before_the_coder():
    enc = ans.Encoder()
    with pytest.raises(ValueError):
        enc.categorical_rows(np.array([0]), np.array([[0, 1]]))  # zero frequency
    with pytest.raises(ValueError):
        enc.categorical_rows(np.array([0]), np.array([[0.5, 0.5]]))  # floats
    with pytest.raises(ValueError):
        enc.categorical_rows(np.array([2]), np.array([[1, 1]]))  # out of the alphabet
    with pytest.raises(ValueError):
        enc.categorical(np.array([0]), np.array([ans.MAX_TOTAL, 1]))  # sum too large
    with pytest.raises(ValueError):
        enc.laplace(np.array([0]), -3, 3, np.array([0.0]), np.array([0.0]))
    with pytest.raises(ValueError):
        ans.Encoder("huffman")


@pytest.mark.parametrize("kind", KINDS)
def test_decoding_past_the_end_is_refused(kind):
    rows = np.full((10, 4), 3, np.int64)
    s = np.arange(10, dtype=np.int32) % 4
    blob = ans.encode_rows(s, rows, kind)
    dec = ans.Decoder(blob, kind)
    dec.categorical_rows(rows)
    with pytest.raises(CorruptError):
        dec.categorical_rows(rows[:1])
    dec = ans.Decoder(blob, kind)
    dec.categorical_rows(rows[:9])
    with pytest.raises(CorruptError):
        dec.finish()  # one symbol left over


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_and_garbage_streams(kind):
    rng = np.random.default_rng(5)
    rows = _rows(rng, 3000, 20)
    s = _sample(rng, rows)
    blob = ans.encode_rows(s, rows, kind)
    for cut in (0, 3, 7, 8, len(blob) - 4, len(blob) - 1):
        with pytest.raises(CorruptError):
            ans.decode_rows(blob[:cut], rows, kind)
    with pytest.raises(CorruptError):
        ans.decode_rows(blob + b"\0\0\0\0", rows, kind)
    # a header that claims a huge word count
    with pytest.raises(CorruptError):
        ans.decode_rows(blob[:4] + b"\xff\xff\xff\x7f" + blob[8:], rows, kind)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_bit_flips_give_corrupt_error_or_different_symbols(data):
    # a flipped bit either fails cleanly or decodes to other symbols: never a crash
    rng = np.random.default_rng(6)
    rows = _rows(rng, 400, 9)
    s = _sample(rng, rows)
    kind = data.draw(st.sampled_from(KINDS))
    blob = bytearray(ans.encode_rows(s, rows, kind))
    pos = data.draw(st.integers(0, len(blob) * 8 - 1))
    blob[pos // 8] ^= 1 << (pos % 8)
    try:
        out = ans.decode_rows(bytes(blob), rows, kind)
    except CorruptError:
        return
    assert out.shape == s.shape


def test_throughput_report():
    """Measured, printed with -s; asserts only a floor far below the expected speed."""
    rng = np.random.default_rng(7)
    m, k = 300_000, 43
    rows = _rows(rng, m, k)
    s = _sample(rng, rows)
    t0 = time.process_time()
    blob = ans.encode_rows(s, rows)
    t1 = time.process_time()
    dec = ans.Decoder(blob)
    for i in range(0, m, 1000):
        dec.categorical_rows(rows[i:i + 1000])
    dec.finish()
    t2 = time.process_time()
    enc_ms, dec_ms = m / (t1 - t0) / 1e6, m / (t2 - t1) / 1e6
    print(f"\nans rows k={k}: encode {enc_ms:.1f} Msym/s, decode (1000-symbol calls) "
          f"{dec_ms:.1f} Msym/s CPU")
    assert enc_ms > 1.0 and dec_ms > 0.5


@pytest.mark.parametrize("kind", KINDS)
def test_near_certain_symbols_may_need_no_words(kind):
    # symbols of probability ~1 can leave the coder in its initial state: zero words
    freqs = np.array([ans.MAX_TOTAL - 1, 1], np.int64)
    s = np.zeros(3, np.int32)
    enc = ans.Encoder(kind)
    enc.categorical(s, freqs)
    blob = enc.finish()
    dec = ans.Decoder(blob, kind)
    assert (dec.categorical(freqs, 3) == s).all()
    dec.finish()
