"""FRAPPE for frames (issue 15): FrameEncoder / FrameDecoder, the frame stream on the
command line, the payload check (header flags bit 2) and constant-bitrate control."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from cli_util import ENV, sq

from frappe_cli import container
from frappe_cli.errors import CorruptError, InputError, OptionError, UnsupportedError
from frappe_cli.testing import GOLDEN

frames = pytest.importorskip("squeeze_image.frames")
codec_mod = pytest.importorskip("squeeze_image.codec")
FrappeCodec = codec_mod.FrappeCodec



def make_clip(w: int, h: int, n: int, seed: int = 0, cut: int | None = None) -> list[np.ndarray]:
    """A camera pan across a generated scene (smooth shading, edges, texture); from
    frame ``cut`` on, another, busier scene."""
    def scene(s: int, busy: float) -> np.ndarray:
        rng = np.random.default_rng(s)
        H, W = h + 2 * n + 8, w + 3 * n + 8
        y, x = np.mgrid[0:H, 0:W].astype(np.float64)
        img = np.stack([110 + 60 * np.sin(x / (17 + 5 * c) + y / (23 + 3 * c) + c)
                        for c in range(3)], -1)
        for _ in range(12):  # flat rectangles: edges
            y0, x0 = rng.integers(0, H - 8), rng.integers(0, W - 8)
            img[y0:y0 + rng.integers(4, 40), x0:x0 + rng.integers(4, 60)] = rng.integers(0, 255, 3)
        small = rng.normal(0, 1, (H // 4 + 1, W // 4 + 1, 3))
        img += busy * np.kron(small, np.ones((4, 4, 1)))[:H, :W] + rng.normal(0, busy / 3,
                                                                                 (H, W, 3))
        return np.clip(img, 0, 255).astype(np.uint8)

    a, b = scene(seed, 10.0), scene(seed + 1, 28.0)
    out = []
    for i in range(n):
        src = b if cut is not None and i >= cut else a
        out.append(np.ascontiguousarray(src[2 * i:2 * i + h, 3 * i:3 * i + w]))
    return out


@pytest.fixture(scope="module")
def clip():
    return make_clip(64, 48, 6)


@pytest.fixture(scope="module")
def raw(clip):
    return b"".join(f.tobytes() for f in clip)


def _payloads(blob: bytes) -> list[bytes]:
    (s,) = container.scan_streams(io.BytesIO(blob))
    return [blob[b.offset:b.offset + b.csize] for b in s.blocks]


# ------------------------------------------------------------------------------------
# the API


def test_import_is_cheap():
    code = ("import sys, squeeze_image; assert 'FrameEncoder' in dir(squeeze_image); "
            "print('numpy' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=ENV, check=True).stdout
    assert out.split() == ["False", "False"]


def test_encoder_decoder_roundtrip(clip):
    import squeeze_image

    enc = squeeze_image.FrameEncoder(64, 48, bpp=0.4)
    dec = squeeze_image.FrameDecoder()
    for f in clip[:3]:
        p = enc.encode(f)
        assert len(p) <= 0.4 * 64 * 48 / 8
        out = dec.decode(p)
        assert out.shape == (48, 64, 3) and out.dtype == np.uint8
        mse = np.mean((out.astype(float) - f) ** 2)
        assert 10 * np.log10(255 ** 2 / mse) > 15  # a small, noisy frame
        # a frame payload is an ordinary FRAPPE payload: the image codec decodes it
        rgb, info = FrappeCodec().decode_pixels(p)
        assert (rgb == out).all() and (info["width"], info["height"]) == (64, 48)
    assert enc.frames == 3


def test_per_call_rate_change(clip):
    enc = frames.FrameEncoder(64, 48, bpp=0.2)
    sizes = {bpp: len(enc.encode(clip[0], bpp=bpp)) for bpp in (0.2, 0.4, 0.8)}
    assert sizes[0.2] < sizes[0.4] < sizes[0.8]
    for bpp, n in sizes.items():
        assert n <= bpp * 64 * 48 / 8
    assert len(enc.encode(clip[0], bytes_per_frame=150)) <= 150
    base = len(enc.encode(clip[0]))  # back to the encoder's own rate
    assert base == len(frames.FrameEncoder(64, 48, bpp=0.2).encode(clip[0]))
    q = [len(enc.encode(clip[0], quality=q)) for q in (10, 60)]
    assert q[0] < q[1]


def test_payloads_do_not_depend_on_threads_or_history():
    f = make_clip(320, 240, 2, seed=3)
    one = frames.FrameEncoder(320, 240, bpp=0.15, threads=1)
    two = frames.FrameEncoder(320, 240, bpp=0.15, threads=2)
    a = [one.encode(x) for x in f]
    b = [two.encode(x) for x in f]
    assert a == b
    assert frames.FrameEncoder(320, 240, bpp=0.15, threads=2).encode_batch(f) == a
    assert frames.FrameEncoder(320, 240, bpp=0.15).encode(f[1]) == a[1]  # no history
    assert all(len(p) <= 0.15 * 320 * 240 / 8 for p in a)
    # decoded frames: the same for every thread count and run
    d1 = frames.FrameDecoder(threads=1)
    d2 = frames.FrameDecoder(threads=2)
    ref = [d1.decode(p) for p in a]
    for got in (d2.decode_batch(a), [d2.decode(p) for p in a], d1.decode_batch(a)):
        assert all((x == y).all() for x, y in zip(ref, got))


def test_bad_frames_and_options(clip):
    enc = frames.FrameEncoder(64, 48, bpp=0.2)
    with pytest.raises(InputError):
        enc.encode(clip[0][:, :32])
    with pytest.raises(InputError):
        enc.encode(clip[0].astype(np.float32))
    with pytest.raises(InputError):
        enc.encode(b"\0" * 100)
    assert enc.encode(clip[0].tobytes()) == enc.encode(clip[0])  # raw RGB24 bytes
    for kw in ({"bpp": 0.1, "quality": 50}, {"bitrate": "1M"}, {"bpp": -1}, {"fps": 30},
               {"bitrate": "fast", "fps": 30}, {"threads": 0}):
        with pytest.raises(OptionError):
            frames.FrameEncoder(64, 48, **kw)
    for wh in ((0, 48), (70000, 2)):
        with pytest.raises(OptionError):
            frames.FrameEncoder(*wh)
    with pytest.raises(CorruptError):
        frames.FrameDecoder().decode(b"\x01" + b"\0" * 30)
    p = enc.encode(clip[0])
    with pytest.raises(CorruptError):
        frames.FrameDecoder().decode(p, expect=(32, 48))
    assert frames.parse_bitrate("2M") == 2_000_000
    assert frames.parse_bitrate("500k") == 500_000
    assert frames.parse_bitrate(1.5e6) == 1_500_000


# ------------------------------------------------------------------------------------
# rate control


def _windows(bits: list[int], fps: int) -> list[int]:
    return [sum(bits[i:i + fps]) for i in range(len(bits) - fps + 1)]


def test_rate_control_holds_the_bitrate_over_every_second():
    fps, rate = 30, 350_000
    clip = make_clip(320, 240, 75, seed=5, cut=40)  # a scene change after 1.3 s
    enc = frames.FrameEncoder(320, 240, bitrate="350k", fps=fps)
    bits = [8 * len(enc.encode(f)) for f in clip]
    for s in _windows(bits, fps):
        assert abs(s - rate) <= 0.05 * rate, (s, rate)
    # the budgets come from earlier sizes only: a fresh encoder repeats them
    again = frames.FrameEncoder(320, 240, bitrate=350_000, fps=fps)
    assert [8 * len(again.encode(f)) for f in clip[:10]] == bits[:10]
    # so do two frames coded at once (the budgets lag two frames)
    both = frames.FrameEncoder(320, 240, bitrate=350_000, fps=fps, threads=2)
    assert [8 * len(p) for p in both.encode_batch(clip[:12])] == bits[:12]


def test_rate_control_budgets():
    rc = frames.RateControl(30_000, 30)  # T = 1000 bits
    assert rc.budget(0) == rc.budget(1) == 1000
    rc.record(0, 900)  # 100 bits unused by frame 0 ...
    assert rc.budget(2) == pytest.approx(1100)  # ... are spent by frame 2
    rc.record(1, 1000)
    rc.record(2, 1100)
    assert rc.budget(3) == pytest.approx(1000)
    big = frames.RateControl(30_000, 30)
    big.record(0, 0)
    big.record(1, 0)  # credit is capped at 2 % of a second
    assert big.budget(2) <= 1000 + 0.02 * 30_000 + 1e-9
    with pytest.raises(OptionError):
        frames.RateControl(30_000, 30).budget(5, timeout=0.01)


# ------------------------------------------------------------------------------------
# the container's payload check (header flags bit 2)


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_new_streams_check_the_payload_without_decoding(clip, monkeypatch):
    from squeeze_image import model

    png = _png(clip[0])
    ref = container.compress(png, FrappeCodec(bpp=0.5))
    assert ref[9] == container.CHECK_XXH64 | container.CHECK_PAYLOAD
    out = container.decompress(ref, finish=False)
    (s,) = container.scan_streams(io.BytesIO(ref))
    assert s.blocks[0].usize == len(out)  # U stated without decoding

    def boom(*a, **k):
        raise AssertionError("the decoder network ran at encode time")

    monkeypatch.setattr(model.Model, "synthesis", boom)
    assert container.compress(png, FrappeCodec(bpp=0.5)) == ref
    raw = b"".join(f.tobytes() for f in clip)
    container.compress(raw, FrappeCodec(frames="64x48", bpp=0.3))
    with pytest.raises(AssertionError):
        container.compress(png, FrappeCodec(bpp=0.5), check_covers="output")


@pytest.mark.parametrize("name", ["frappe-v1-rgb-97x61-q50",
                                  "frappe-v1-grey-alpha-40x33-bpp0.4"])
def test_old_form_golden_files(name, monkeypatch):
    """Golden streams (check over the reconstruction) decode, and the encoder writes
    their payload and check again when asked for the old form (with the model they
    were made with: the first one, now ``frappe-image-v1``)."""
    import test_image_golden as g
    from squeeze_image import model

    monkeypatch.setattr(FrappeCodec, "_model",
                        staticmethod(lambda: model.load(name="frappe-image-v1")))
    monkeypatch.setattr(FrappeCodec, "RATE_FILL", 0.97)  # the --bpp search of that time

    blob = (GOLDEN / f"{name}.sqz").read_bytes()
    assert blob[9] == container.CHECK_XXH64  # flags bit 2 clear
    meta = json.loads((GOLDEN / f"{name}.json").read_text())
    assert len(container.decompress(blob, finish=False)) == meta["size"]
    again = container.compress(g._image(name), FrappeCodec(**g.CASES[name][0]),
                               check_covers="output")
    (s0,) = container.scan_streams(io.BytesIO(blob))
    (s1,) = container.scan_streams(io.BytesIO(again))
    b0, b1 = s0.blocks[0], s1.blocks[0]
    assert again[b1.offset:b1.offset + b1.csize + 8] == blob[b0.offset:b0.offset + b0.csize + 8]
    assert again[9] == container.CHECK_XXH64


def test_corrupt_payload_is_one_corrupt_error(raw):
    blob = container.compress(raw, FrappeCodec(frames="64x48", bpp=0.3))
    (s,) = container.scan_streams(io.BytesIO(blob))
    for pos in (s.blocks[2].offset + 15, s.blocks[2].offset + s.blocks[2].csize + 3):
        bad = bytearray(blob)
        bad[pos] ^= 0x10
        with pytest.raises(CorruptError, match="block check failed"):
            container.decompress(bytes(bad))
    # no check at all: the payload's own consistency checks still hold
    plain = container.compress(raw, FrappeCodec(frames="64x48", bpp=0.3), check="none")
    assert plain[9] == 0
    assert container.decompress(plain) == container.decompress(blob)


def _set_flags(blob: bytes, flags: int) -> bytes:
    b = bytearray(blob)
    b[9] = flags
    hlen = 19 + b[10] + struct.unpack_from("<H", b, 17 + b[10])[0]
    b[hlen:hlen + 4] = struct.pack("<I", zlib.crc32(bytes(b[:hlen])) & 0xFFFFFFFF)
    return bytes(b)


def test_flag_rules():
    z = container.compress(b"hello " * 100, "zstd")
    with pytest.raises(UnsupportedError, match="lossless"):
        container.decompress(_set_flags(z, z[9] | container.CHECK_PAYLOAD))
    with pytest.raises(UnsupportedError, match="header flags"):
        container.decompress(_set_flags(z, z[9] | 0x08))
    assert container.check_name(container.CHECK_XXH64 | container.CHECK_PAYLOAD) == "xxh64"
    with pytest.raises(OptionError):
        container.compress(b"x", "zstd", check_covers="pixels")


def test_truncated_streams(raw):
    blob = container.compress(raw, FrappeCodec(frames="64x48", bpp=0.3))
    (s,) = container.scan_streams(io.BytesIO(blob))
    cut = blob[:s.blocks[3].offset + 5]
    got = []
    with pytest.raises(CorruptError, match="Unexpected end of input"):
        for piece in container.iter_decompress(io.BytesIO(cut)):
            got.append(piece)
    assert len(got) <= 3 and all(len(p) == 64 * 48 * 3 for p in got)  # whole frames only
    with pytest.raises(InputError, match="ends inside frame 3"):
        container.compress(raw[:2 * 9216 + 100], FrappeCodec(frames="64x48", bpp=0.3))
    empty = container.compress(b"", FrappeCodec(frames="64x48", bpp=0.3))  # no frames
    assert container.decompress(empty) == b""


def test_frames_option_rules():
    for kw in ({"frames": "64by48"}, {"bitrate": 100_000, "fps": 30},
               {"frames": "64x48", "bitrate": 100_000},
               {"frames": "64x48", "bitrate": 100_000, "fps": 30, "bpp": 0.1}):
        with pytest.raises(OptionError):
            FrappeCodec(**kw)
    c = FrappeCodec(frames="64X48", bitrate="1.5M", fps=30.0)
    assert c.get_config() == {"id": "frappe", "level": 6, "frames": "64x48",
                              "bitrate": 1_500_000, "fps": 30}
    assert FrappeCodec.from_config(c.get_config()).get_config() == c.get_config()
    assert c.block_size() == 64 * 48 * 3


# ------------------------------------------------------------------------------------
# the command line


def test_cli_frame_stream(tmp_path, clip, raw):
    rc, blob, err = sq("compress", "--codec", "frappe", "--frames", "64x48", "--bpp", "0.3",
                       input=raw)
    assert rc == 0, err
    # the same payloads as FrameEncoder
    enc = frames.FrameEncoder(64, 48, bpp=0.3)
    assert _payloads(blob) == [enc.encode(f) for f in clip]
    (tmp_path / "c.sqz").write_bytes(blob)
    rc, out, err = sq("-dc", tmp_path / "c.sqz")
    assert rc == 0, err
    assert len(out) == len(raw)
    dec = frames.FrameDecoder()
    assert out == b"".join(dec.decode(p).tobytes() for p in _payloads(blob))
    rc, text, err = sq("-l", tmp_path / "c.sqz")
    assert rc == 0 and b"6 frames 64x48" in text, text
    rc, js, err = sq("-l", "--json", tmp_path / "c.sqz")
    rec = json.loads(js)[0]
    assert rec["summary"]["frames"] == 6 and rec["check_covers"] == "payload"
    assert rec["uncompressed"] == len(raw)


def test_cli_bitrate_stream_matches_the_api_on_two_threads(tmp_path):
    clip = make_clip(64, 48, 8, seed=9)
    raw = b"".join(f.tobytes() for f in clip)
    rc, blob, err = sq("compress", "-T2", "--codec", "frappe", "--frames", "64x48",
                       "--bitrate", "60k", "--fps", "25", input=raw)
    assert rc == 0, err
    enc = frames.FrameEncoder(64, 48, bitrate="60k", fps=25)
    assert _payloads(blob) == [enc.encode(f) for f in clip]
    (tmp_path / "b.sqz").write_bytes(blob)
    rc, text, err = sq("-l", tmp_path / "b.sqz")
    assert b"at 25 fps (target 0.060)" in text, text


def test_cli_errors(tmp_path, raw):
    rc, out, err = sq("compress", "--codec", "frappe", "--frames", "64x48", "--bpp", "0.3",
                      "-o", tmp_path / "t.sqz", input=raw[:-10])
    assert rc == 1 and "ends inside frame 6" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t.sqz").exists()  # nothing partial
    rc, out, err = sq("compress", "--codec", "frappe", "--frames", "64x48", "--bitrate", "1M",
                      input=raw)
    assert rc == 1 and "--fps" in err and len(err.strip().splitlines()) == 1
    rc, out, err = sq("decompress", "--frames", "64x48", "x.sqz")
    assert rc != 0
    blob = container.compress(raw, FrappeCodec(frames="64x48", bpp=0.3))
    (s,) = container.scan_streams(io.BytesIO(blob))
    bad = bytearray(blob)
    bad[s.blocks[1].offset + 9] ^= 1
    (tmp_path / "bad.sqz").write_bytes(bytes(bad))
    rc, out, err = sq("-dc", tmp_path / "bad.sqz")
    assert rc == 1 and "block check failed" in err and len(err.strip().splitlines()) == 1
    assert len(out) in (0, 64 * 48 * 3)  # at most the frame before the damaged one, whole
