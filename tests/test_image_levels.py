"""FRAPPE-Image levels 7-9 (SPEC.md section 7): the encoder runs its own decoder over
channel counts near the fitted path's and keeps the best by the tune's metric, within
the bits level 6 takes; levels 0-6 are the path's choice; every stream decodes as
any other."""

from __future__ import annotations

import numpy as np
import pytest
from image_util import wavy_image

codec_mod = pytest.importorskip("squeeze_image.codec")
image = pytest.importorskip("squeeze_image.image")
metrics = pytest.importorskip("squeeze_image.metrics")
pytest.importorskip("constriction")

FrappeCodec = codec_mod.FrappeCodec


@pytest.fixture(scope="module")
def pic():
    try:
        FrappeCodec()._model()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"image model not available: {exc}")
    return image.Picture(wavy_image(192, 256, 5), False, None, image.FMT_PNG)


def _encode(codec, pic):
    payload, raw = codec.encode_picture(pic, with_reconstruction=True)
    rgb = np.frombuffer(raw, np.uint8, offset=image.RAW_HEAD.size).reshape(
        pic.height, pic.width, 3)
    # every level writes an ordinary stream: the decoder gives the encoder's pixels
    assert codec.decode_block(payload, len(raw)) == raw
    return payload, rgb, codec._parse_head(memoryview(payload))


class _Spy(FrappeCodec):
    """Records the (channel count, score) of every candidate the search scores; with
    ``worst``, prefers the lowest score (to prove the choice follows the score)."""

    def __init__(self, *a, worst=False, **k):
        super().__init__(*a, **k)
        self.worst, self.seen = worst, []

    def score(self, rgb, pic):
        s = super().score(rgb, pic)
        self.seen.append(s)
        return -s if self.worst else s


@pytest.mark.parametrize("tune", ["psnr", "ms-ssim"])
def test_level_9_never_scores_below_level_6_at_no_more_bits(pic, tune):
    p6, rgb6, h6 = _encode(FrappeCodec(level=6, bpp=0.1, tune=tune), pic)
    spy = _Spy(level=9, bpp=0.1, tune=tune)
    p9, rgb9, h9 = _encode(spy, pic)
    metric = metrics.ms_ssim if tune == "ms-ssim" else metrics.psnr
    assert metric(rgb9, pic.rgb) >= metric(rgb6, pic.rgb)
    assert len(p9) <= len(p6) + 8  # same bit budget (a few bytes of ANS flush slack)
    assert abs(h9["n"] - h6["n"]) <= 3
    assert len(spy.seen) >= 2  # candidates besides level 6's were decoded and scored
    assert metric(rgb9, pic.rgb) == pytest.approx(max(spy.seen))


def test_the_choice_follows_the_score(pic):
    """A codec preferring the worst candidate gets another (n, D) than level 6 and a
    lower score: the search explores and obeys ``score``."""
    _, rgb6, h6 = _encode(FrappeCodec(level=6, bpp=0.1), pic)
    spy = _Spy(level=9, bpp=0.1, worst=True)
    _, rgbw, hw = _encode(spy, pic)
    assert (hw["n"], hw["D"]) != (h6["n"], h6["D"])
    assert metrics.psnr(rgbw, pic.rgb) == pytest.approx(min(spy.seen))
    assert metrics.psnr(rgbw, pic.rgb) < metrics.psnr(rgb6, pic.rgb)


def test_levels_up_to_6_take_the_path_choice(pic):
    payloads = {FrappeCodec(level=lv, bpp=0.1).encode_picture(pic) for lv in (0, 3, 6)}
    assert len(payloads) == 1


def test_quality_mode_searches_within_the_path_points_bits(pic):
    p6, rgb6, _ = _encode(FrappeCodec(level=6, quality=40), pic)
    p8, rgb8, _ = _encode(FrappeCodec(level=8, quality=40), pic)
    assert len(p8) <= len(p6) + 8
    assert metrics.psnr(rgb8, pic.rgb) >= metrics.psnr(rgb6, pic.rgb)


def test_grey_and_small_pictures(pic):
    """Grey pictures are scored on their grey output; MS-SSIM falls back to PSNR
    below 161 pixels a side; both give ordinary streams."""
    grey = image.grey_of(pic.rgb)
    gpic = image.Picture(np.repeat(grey[..., None], 3, 2), True, None, image.FMT_PNG)
    FrappeCodec(level=9, bpp=0.2, tune="ms-ssim").encode_picture(gpic)
    small = image.Picture(pic.rgb[:96, :120].copy(), False, None, image.FMT_PNG)
    spy = _Spy(level=8, bpp=0.3, tune="ms-ssim")
    _, rgb, _ = _encode(spy, small)
    assert metrics.psnr(rgb, small.rgb) == pytest.approx(max(spy.seen))


def test_metrics():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (170, 200, 3), dtype=np.uint8)
    assert metrics.psnr(a, a) == float("inf")
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + 1, 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(float) - b) ** 2)
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / mse))
    noisy = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    assert 0 < metrics.ms_ssim(a, noisy) < metrics.ms_ssim(a, b) < 1
    with pytest.raises(ValueError):
        metrics.ms_ssim(a[:160], a[:160])


def test_bench_codec_levels():
    suite = pytest.importorskip("benchmarks.suites.image")
    assert suite.squeeze_levels(["frappe", "frappe:9", "frappe:9"]) == [None, 9]
    assert suite.squeeze_name("ms-ssim", 9) == "squeeze-frappe-ms-ssim-l9"
    with pytest.raises(ValueError):
        suite.squeeze_levels(["zstd"])
    with pytest.raises(ValueError):
        suite.squeeze_levels(["frappe:x"])
