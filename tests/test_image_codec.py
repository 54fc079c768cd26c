"""FRAPPE-Image through the real container: sizes, modes, alpha, formats, options, errors."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from frappe_cli import container
from frappe_cli.errors import CorruptError, InputError, OptionError, SqueezeError
from frappe_cli.testing import check_config_roundtrip, check_roundtrip

codec_mod = pytest.importorskip("squeeze_image.codec")
FrappeCodec = codec_mod.FrappeCodec
Image = pytest.importorskip("PIL.Image")


def _photo(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A smooth, textured synthetic picture (gradients, blobs, noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, channels))
    for c in range(channels):
        f = 0.02 + 0.05 * rng.random()
        img[..., c] = (128 + 60 * np.sin(x * f + c) * np.cos(y * f * 0.7 + 2 * c)
                       + 30 * np.tanh((x - w / 2) / (5 + w / 5)) + rng.normal(0, 6, (h, w)))
    return np.clip(img, 0, 255).astype(np.uint8)


def _encode_file(arr: np.ndarray, fmt: str = "PNG", mode: str | None = None, **save) -> bytes:
    im = Image.fromarray(arr)
    if mode:
        im = im.convert(mode)
    out = io.BytesIO()
    im.save(out, format=fmt, **save)
    return out.getvalue()


def _roundtrip(data: bytes, **params) -> tuple[bytes, bytes]:
    codec = FrappeCodec(**params)
    blob = check_roundtrip(codec, data)  # reconstruction == decoder output (block check)
    return blob, container.decompress(blob)


def _open(b: bytes):
    return Image.open(io.BytesIO(b))


@pytest.mark.parametrize("h,w", [(1, 1), (7, 5), (33, 65), (64, 96), (300, 2), (3, 517),
                                 (129, 31)])
def test_every_size(h, w):
    data = _encode_file(_photo(h, w, seed=h * 1000 + w))
    blob, out = _roundtrip(data, quality=60)
    im = _open(out)
    assert im.format == "PNG" and im.size == (w, h) and im.mode == "RGB"


def test_quality_tracks_the_input():
    arr = _photo(96, 128, seed=5)
    lo = np.asarray(_open(_roundtrip(_encode_file(arr), quality=10)[1]), np.float64)
    hi = np.asarray(_open(_roundtrip(_encode_file(arr), quality=90)[1]), np.float64)
    mse_lo = np.mean((lo - arr) ** 2)
    mse_hi = np.mean((hi - arr) ** 2)
    assert mse_hi < mse_lo
    assert 10 * np.log10(255 ** 2 / mse_hi) > 20


def test_greyscale_stays_grey():
    arr = _photo(70, 90, seed=2)[..., 0]
    blob, out = _roundtrip(_encode_file(arr), quality=50)
    im = _open(out)
    assert im.mode == "L" and im.size == (90, 70)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_lossless(mode):
    rgb = _photo(45, 77, seed=3)
    rng = np.random.default_rng(4)
    alpha = np.where(rng.random((45, 77)) < 0.3, 0, 255).astype(np.uint8)
    alpha[:, 30:40] = np.arange(10, dtype=np.uint8)[None, :] * 25
    arr = np.concatenate([rgb, alpha[..., None]], axis=2)
    im = Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    blob, out = _roundtrip(buf.getvalue(), bpp=0.5)
    got = _open(out)
    assert got.mode == mode and got.size == (77, 45)
    assert (np.asarray(got)[..., -1] == alpha).all()


def test_ppm_in_ppm_out_and_jpeg_in_png_out():
    arr = _photo(40, 50, seed=6)
    _, out = _roundtrip(_encode_file(arr, "PPM"), quality=50)
    assert out.startswith(b"P6") and _open(out).size == (50, 40)
    _, out = _roundtrip(_encode_file(arr[..., 0], "PPM"), quality=50)
    assert out.startswith(b"P5")
    _, out = _roundtrip(_encode_file(arr, "JPEG", quality=90), quality=50)
    assert out.startswith(b"\x89PNG")


def test_palette_png():
    arr = _photo(30, 40, seed=7)
    data = _encode_file(arr, "PNG", mode="P")
    _, out = _roundtrip(data, quality=50)
    assert _open(out).mode == "RGB"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_unsupported_inputs_are_input_errors():
    codec = FrappeCodec(quality=50)
    with pytest.raises(InputError):
        codec.encode_block(b"this is not an image at all")
    with pytest.raises(InputError):  # GIF
        codec.encode_block(_encode_file(_photo(8, 8), "GIF"))
    with pytest.raises(InputError):  # 16-bit greyscale
        im = Image.fromarray((np.arange(64, dtype=np.uint16) * 1000).reshape(8, 8))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        codec.encode_block(buf.getvalue())
    with pytest.raises(InputError):  # CMYK JPEG
        codec.encode_block(_encode_file(_photo(8, 8), "JPEG", mode="CMYK"))
    # a PNG header claiming 70000 x 70000 pixels is refused before any pixel is decoded
    ihdr = struct.pack(">IIBBBBB", 70000, 70000, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
           + _png_chunk(b"IDAT", zlib.compress(b"\0" * 10)) + _png_chunk(b"IEND", b""))
    with pytest.raises(InputError, match="too large"):
        codec.encode_block(png)
    with pytest.raises(SqueezeError):
        container.compress(b"", codec)


def test_options_and_config():
    check_config_roundtrip(FrappeCodec(bpp=0.1))
    check_config_roundtrip(FrappeCodec(quality=70, level=3))
    check_config_roundtrip(FrappeCodec())
    for bad in ({"bpp": 0.1, "quality": 50}, {"bpp": -1.0}, {"bpp": "x"}, {"quality": 101},
                {"quality": True}, {"colour": 1}):
        with pytest.raises(OptionError):
            FrappeCodec(**bad)
    assert FrappeCodec.lossless is False


def test_bpp_target_on_a_synthetic_picture():
    data = _encode_file(_photo(256, 384, seed=8))
    for target in (0.1, 0.3):
        blob = container.compress(data, FrappeCodec(bpp=target))
        got = len(blob) * 8 / (256 * 384)
        assert 0.95 * target <= got <= target * 1.0001, (target, got)


def test_reconstruction_without_cache_equals_decoder():
    data = _encode_file(_photo(50, 70, seed=9))
    enc = FrappeCodec(quality=40)
    payload = enc.encode_block(data)
    fresh = FrappeCodec(quality=40)  # no cached latents: decodes the payload itself
    recon = fresh.reconstruction(data, payload)
    assert enc.reconstruction(data, payload) == recon
    assert FrappeCodec().decode_block(payload, len(recon)) == recon
    with pytest.raises(CorruptError):
        FrappeCodec().decode_block(payload, len(recon) + 1)


def test_deadzone_rounding():
    entropy = pytest.importorskip("squeeze_image.entropy")
    rng = np.random.default_rng(3)
    y = (rng.normal(0, 20, 20000) * rng.random(20000)).astype(np.float32)
    D = 256
    plain = entropy.quantise(y, D)
    assert np.array_equal(plain, np.rint(y).astype(np.int32))
    dz = entropy.quantise(y, D, 0.1)
    frac = np.abs(y) - np.floor(np.abs(y))
    assert np.all(np.abs(dz) <= np.abs(plain)) and np.all(dz * plain >= 0)
    # only magnitudes with a fraction in [0.5, 0.6) round down instead of up
    moved = dz != plain
    assert moved.any() and np.all((frac[moved] >= 0.5) & (frac[moved] < 0.6 + 1e-6))
    assert np.all(np.abs(plain[moved]) - np.abs(dz[moved]) == 1)
    assert (dz == 0).sum() > (plain == 0).sum()


def test_encoder_uses_the_deadzone():
    """The closed-loop analysis rounds with entropy.DEADZONE: at one step the
    encoder's channels cost fewer bits than plain rounding's."""
    from squeeze_image import entropy

    mdl = FrappeCodec()._model()
    if mdl.format != 2:
        pytest.skip("the shipped model is not a closed-loop (format 2) model")
    assert 0 < entropy.DEADZONE < 0.5
    img = _photo(96, 128, seed=5)
    n, D = mdl.n_ch, 512
    bits = {}
    for dz in (0.0, entropy.DEADZONE):
        cc = entropy.ChannelCache(mdl, mdl.analysis(img, n, shape=(96, 128), deadzone=dz))
        bits[dz] = cc.bits(n, D)
    assert bits[entropy.DEADZONE] < bits[0.0]
    # and the payload the codec writes carries exactly the deadzone's channels
    codec = FrappeCodec(quality=50)
    payload = codec.encode_block(_encode_file(img))
    n, D = FrappeCodec()._decode(payload)[1]
    streams = {dz: entropy.ChannelCache(mdl, mdl.analysis(img.copy(), n, shape=(96, 128),
                                                          deadzone=dz)).encode(n, D)
               for dz in (0.0, entropy.DEADZONE)}
    assert streams[0.0] != streams[entropy.DEADZONE]
    assert streams[entropy.DEADZONE] in payload and streams[0.0] not in payload
