"""The encoder's fast path (shared context pass, numba ANS) against the reference path.

The fast path must give byte-identical streams to constriction's coder and to the
separate estimate/encode kernels, or the decoder would read something else."""

from __future__ import annotations

import numpy as np
import pytest
from image_util import wavy_image

entropy = pytest.importorskip("squeeze_image.entropy")
model_mod = pytest.importorskip("squeeze_image.model")
pytest.importorskip("constriction")


@pytest.fixture(scope="module", params=["stills", "frames"])
def mdl(request):
    """Both shipped models: the one still images use (format 2: closed-loop, lazy
    channels) and the one frame streams use (format 1)."""
    try:
        m = model_mod.load() if request.param == "stills" else model_mod.load_frames()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"image model not available: {exc}")
    if not m.has_ctx:
        pytest.skip("model has no entropy tables")
    return m


def test_fast_coder_is_enabled_for_the_shipped_model(mdl):
    fc = mdl.fast_coder()
    assert fc is not None, "numba ANS encoder disagrees with constriction on the model tables"
    assert fc.cdf.shape == (mdl.freqs.shape[0] * mdl.freqs.shape[1], mdl.freqs.shape[2] + 1)
    assert (np.diff(fc.cdf, axis=1) >= 1).all() and (fc.cdf[:, -1] == 1 << 24).all()


@pytest.mark.parametrize("seed,D,n", [(0, 475, 14), (1, 64, 23), (2, 2048, 3), (3, 16, 23)])
def test_channel_cache_matches_reference_path(mdl, seed, D, n):
    img = wavy_image(96, 160, seed)
    ys = mdl.analysis(img, n)
    cc = entropy.ChannelCache(mdl, ys)
    qs = [entropy.quantise(y, D) for y in ys]
    assert cc.bits(n, D) == entropy.estimate_bits(mdl, qs, n, D)
    assert cc.encode(n, D) == entropy.encode(mdl, qs, n, D)
    # the stream decodes to the same latents
    shapes = [q.shape for q in qs]
    got, _ = entropy.decode(mdl, memoryview(cc.encode(n, D)), 0, n, D,
                            shapes + [(1, 1)] * (mdl.n_ch - n))
    assert all((a == b).all() for a, b in zip(got, qs))


def test_partial_analysis_equals_full(mdl):
    img = wavy_image(64, 96, 4)
    full = mdl.analysis(img, mdl.n_ch)
    part = mdl.analysis(img, 5) + mdl.analysis(img, 11, 5) + mdl.analysis(img, mdl.n_ch, 11)
    assert len(part) == len(full) == mdl.n_ch
    for D in (64, 256):
        assert all(np.array_equal(entropy.quantise(a, D), entropy.quantise(b, D))
                   for a, b in zip(full, part))


@pytest.mark.parametrize("h,w", [(1, 1), (33, 70), (64, 96), (5, 130)])
def test_analysis_edge_pads_like_numpy(mdl, h, w):
    img = wavy_image(h, w, 5)
    mp = mdl.max_patch
    H, W = -(-h // mp) * mp, -(-w // mp) * mp
    padded = np.pad(img, ((0, H - h), (0, W - w), (0, 0)), mode="edge")
    a = mdl.analysis(padded, mdl.n_ch)
    b = mdl.analysis(img, mdl.n_ch, shape=(H, W))
    assert all(np.array_equal(entropy.quantise(x, 90), entropy.quantise(y, 90))
               for x, y in zip(a, b))


def test_concurrent_encodes_match_sequential(mdl):
    """Encodes from several threads share the encoder's worker pool: same bytes."""
    from concurrent.futures import ThreadPoolExecutor

    from squeeze_image import image
    from squeeze_image.codec import FrappeCodec

    pics = [image.Picture(wavy_image(96 + 16 * s, 128 + 24 * s, s), False, None, image.FMT_PNG)
            for s in range(4)]
    want = [FrappeCodec(bpp=0.2).encode_picture(p) for p in pics]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda p: FrappeCodec(bpp=0.2).encode_picture(p), pics * 2))
    assert got == want * 2


def test_channel_cache_evicts_old_steps_and_recomputes(mdl):
    img = wavy_image(96, 160, 9)
    ys = mdl.analysis(img, 12)
    cc = entropy.ChannelCache(mdl, ys)
    steps = [300, 500, 700, 900, 300]
    bits = [cc.bits(12, D) for D in steps]
    assert bits[0] == bits[-1]
    held = {key[1] for key in cc._c} | {key[1] for key in cc._q}
    assert len(held) <= cc.KEEP
    for D in (300, 700):  # evicted (300 came back), then evicted again: same bytes
        qs = [entropy.quantise(y, D) for y in ys]
        assert cc.encode(12, D) == entropy.encode(mdl, qs, 12, D)
