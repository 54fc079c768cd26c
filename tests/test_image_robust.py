"""FRAPPE-Image decoder: determinism (runs, processes, thread counts), hostile payloads."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frappe_cli import container
from frappe_cli.errors import CorruptError, SqueezeError, UnsupportedError

codec_mod = pytest.importorskip("squeeze_image.codec")
FrappeCodec = codec_mod.FrappeCodec
Image = pytest.importorskip("PIL.Image")
ROOT = Path(__file__).resolve().parent.parent


def _png(h, w, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([(x * 3 + y) % 256, (y * 2) % 256, (x * y // 7) % 256], axis=2)
    arr = np.clip(arr + rng.normal(0, 8, arr.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def sample():
    data = _png(72, 104, seed=1)
    codec = FrappeCodec(bpp=0.4)
    payload = codec.encode_block(data)
    raw = codec.reconstruction(data, payload)
    blob = container.compress(data, FrappeCodec(bpp=0.4))
    return data, payload, raw, blob


def test_decoder_is_deterministic_across_runs(sample):
    _, payload, raw, _ = sample
    for _ in range(3):
        assert FrappeCodec().decode_block(payload, len(raw)) == raw


_CHILD = r"""
import sys, hashlib
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/codecs"]
from squeeze_image.codec import FrappeCodec
payload = open(sys.argv[2], "rb").read()
print(hashlib.sha256(FrappeCodec().decode_block(payload, int(sys.argv[3]))).hexdigest())
"""


@pytest.mark.parametrize("threads", ["1", "2"])
def test_decoder_is_deterministic_across_processes_and_thread_counts(sample, tmp_path, threads):
    _, payload, raw, _ = sample
    p = tmp_path / "payload.bin"
    p.write_bytes(payload)
    env = dict(os.environ, NUMBA_NUM_THREADS=threads)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), str(p), str(len(raw))],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == hashlib.sha256(raw).hexdigest()


def test_kernels_have_no_fused_multiply_add():
    """An FMA would round differently from mul + add and break cross-machine identity.

    Cached kernels cannot be inspected, so the same Python sources are compiled
    afresh (serially: the loop bodies are the same code) and their assembly read."""
    import numba

    from squeeze_image import kernels as kk

    f32 = np.float32
    h = np.ones((3, 4, 8), f32)
    cases = [
        (kk.conv3x3_dense, (np.ones((3, 4, 5), f32), np.ones((3, 3, 5, 8), f32), np.ones(8, f32),
                            np.empty((3, 4, 8), f32))),
        (kk.dw_ln_film, (h, np.ones((3, 3, 8), f32), np.ones(8, f32), np.ones(8, f32),
                         np.ones(8, f32), np.empty_like(h))),
        (kk.mlp_residual, (h, np.ones((8, 32), f32), np.ones(32, f32), np.ones((32, 8), f32),
                           np.ones(8, f32), np.ones(8, f32), h.copy())),
        (kk.head_to_pixels, (h, np.ones((8, 12), f32), np.ones(12, f32), 2, 6, 8,
                             np.empty((6, 8, 3), np.uint8))),
        (kk.film_vectors, (np.ones((16, 5), f32), np.ones(16, f32), np.ones(5, f32), 8)),
    ]
    for fn, args in cases:
        fresh = numba.njit(nogil=True)(fn.py_func)
        fresh(*args)
        asm = "\n".join(fresh.inspect_asm().values())
        assert "mulss" in asm or "mulps" in asm or "vmul" in asm, fn  # really the float code
        for op in ("vfmadd", "vfmsub", "vfnmadd", "vfnmsub"):
            assert op not in asm, (fn, op)


def test_wrong_model_and_version(sample):
    _, payload, raw, _ = sample
    bad = bytearray(payload)
    bad[3] ^= 0xFF  # model id
    with pytest.raises(UnsupportedError):
        FrappeCodec().decode_block(bytes(bad), len(raw))
    bad = bytearray(payload)
    bad[0] = 9
    with pytest.raises(UnsupportedError):
        FrappeCodec().decode_block(bytes(bad), len(raw))


def test_header_fields_are_validated(sample):
    _, payload, raw, _ = sample
    # width claims 2**30 pixels: refused before any allocation
    huge = payload[:9] + bytes([0x80, 0x80, 0x80, 0x80, 0x04]) + payload[10:]
    with pytest.raises(CorruptError):
        FrappeCodec().decode_block(huge, len(raw))
    for cut in (0, 5, 11, 14, len(payload) // 2, len(payload) - 1):
        with pytest.raises(CorruptError):
            FrappeCodec().decode_block(payload[:cut], len(raw))
    with pytest.raises(CorruptError):
        FrappeCodec().decode_block(payload + b"\0", len(raw))


def _damaged(data, blob: bytes, max_flips: int) -> bytes:
    """``blob`` cut short or with 1..``max_flips`` bits flipped (drawn by hypothesis)."""
    buf = bytearray(blob)
    if data.draw(st.booleans()):
        return bytes(buf[:data.draw(st.integers(0, len(buf) - 1))])
    for _ in range(data.draw(st.integers(1, max_flips))):
        pos = data.draw(st.integers(0, len(buf) * 8 - 1))
        buf[pos // 8] ^= 1 << (pos % 8)
    return bytes(buf)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_payload_bit_flips_and_truncations_fail_cleanly(sample, data):
    _, payload, raw, _ = sample
    try:
        out = FrappeCodec().decode_block(_damaged(data, payload, 3), len(raw))
    except SqueezeError:
        return
    assert len(out) == len(raw)  # a flip the format cannot see still decodes to the right size


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_container_bit_flips_and_truncations_fail_cleanly(sample, data):
    _, _, _, blob = sample
    with pytest.raises(SqueezeError):
        container.decompress(_damaged(data, blob, 1))


def test_raw_reconstruction_is_checked_by_finish_output():
    with pytest.raises(CorruptError):
        FrappeCodec().finish_output(b"FRAW\x01\x03\x00\x00" + b"\x02\0\0\0\x02\0\0\0" + b"\0" * 5)
    with pytest.raises(CorruptError):
        FrappeCodec().finish_output(b"nope")


@pytest.mark.parametrize("shape", [(3, 1), (2, 8), (4, 13), (1, 17)])
def test_mlp_kernel_matches_the_cell_by_cell_sum_to_the_bit(shape):
    """The decoder's MLP kernel takes cells eight at a time: every output must still be
    the same float32 sum, in the same order, as one cell at a time."""
    from squeeze_image import kernels as kk

    H, W = shape
    C, C4 = 16, 64
    rng = np.random.default_rng(H * 100 + W)
    f32 = np.float32
    hn = rng.standard_normal((H, W, C)).astype(f32)
    w1 = rng.standard_normal((C, C4)).astype(f32)
    b1 = rng.standard_normal(C4).astype(f32)
    w2 = rng.standard_normal((C4, C)).astype(f32)
    b2 = rng.standard_normal(C).astype(f32)
    ls = rng.standard_normal(C).astype(f32)
    x = rng.standard_normal((H, W, C)).astype(f32)
    want = x.copy()
    for i in range(H):
        for j in range(W):
            t = b1.copy()
            for c in range(C):
                t = t + hn[i, j, c] * w1[c]  # float32 product, then float32 sum
            a = np.clip(t + f32(3), f32(0), f32(6))
            t = t * a / f32(6)
            o = b2.copy()
            for k in range(C4):
                o = o + t[k] * w2[k]
            want[i, j] = want[i, j] + ls * o
    kk.mlp_residual(hn, w1, b1, w2, b2, ls, x)
    assert np.array_equal(x.view(np.uint32), want.view(np.uint32))


def _latent_stream(D: int, n: int = 29, size=(64, 96)):
    from squeeze_image import entropy as E
    from squeeze_image import model as M

    mdl = M.load()
    H, W = size
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([(x * 5 + y * 3) % 256, (x * y) % 256,
                    (128 + 60 * np.sin(x / 4.0) * np.cos(y / 5.0)).astype(int)], 2)
    img = np.ascontiguousarray(img.astype(np.uint8))
    qs = [E.quantise(ch, D) for ch in mdl.analysis(img, n)]
    shapes = [mdl.channel_shape(k, H, W) for k in range(n)]
    return mdl, qs, E.encode(mdl, qs, n, D), shapes


@pytest.mark.parametrize("D", [40, 300, 2000])
def test_fused_latent_decoder_reads_what_constriction_reads(D):
    """The one-kernel-per-channel decoder (numba ANS + contexts) gives the same
    channels and end offset as constriction's wave-by-wave decode."""
    from squeeze_image import entropy as E

    mdl, qs, blob, shapes = _latent_stream(D)
    fast = mdl.fast_coder()
    assert fast is not None
    a, ea = E._decode_waves(mdl, memoryview(blob), 0, len(qs), D, shapes)
    b, eb = E._decode_fast(mdl, fast, memoryview(blob), 0, len(qs), D, shapes)
    assert ea == eb == len(blob)
    for x, y, q in zip(a, b, qs):
        assert np.array_equal(x, y) and np.array_equal(x, q)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 7)), min_size=1, max_size=4),
       st.integers(0, 10 ** 6))
def test_fused_latent_decoder_fails_where_constriction_fails(flips, cut):
    """Corrupted or truncated latent streams: both decoders raise CorruptError, or
    both return the same channels (a flip can land on a valid stream)."""
    from squeeze_image import entropy as E

    if "s" not in _LATENT_CASE:
        _LATENT_CASE["s"] = _latent_stream(300)
    mdl, qs, blob, shapes = _LATENT_CASE["s"]
    bb = bytearray(blob)
    for pos, bit in flips:
        bb[pos % len(bb)] ^= 1 << bit
    bb = bytes(bb[:len(bb) - cut % 3 * (cut % len(bb)) // 2])
    out = []
    for fn in (lambda: E._decode_waves(mdl, memoryview(bb), 0, len(qs), 300, shapes),
               lambda: E._decode_fast(mdl, mdl.fast_coder(), memoryview(bb), 0, len(qs), 300,
                                      shapes)):
        try:
            chans, end = fn()
            out.append((end, [c.tobytes() for c in chans]))
        except CorruptError:
            out.append("corrupt")
    assert out[0] == out[1]


_LATENT_CASE: dict = {}
