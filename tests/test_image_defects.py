"""FRAPPE-Image defects: alpha kept exactly for every input with transparency (and
16-bit inputs refused instead of silently truncated), decoded file names that say the
format, the --bpp range, and -T / threads honoured by the codec's own threads."""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib

import numpy as np
import pytest
from cli_util import sq

import frappe_cli as squeeze
from frappe_cli import container, fileio
from frappe_cli.errors import InputError, OptionError

codec_mod = pytest.importorskip("squeeze_image.codec")
FrappeCodec = codec_mod.FrappeCodec
Image = pytest.importorskip("PIL.Image")



def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 70 * np.sin(x / (9 + 4 * c) + y / (13 + 3 * c) + c)
                    for c in range(3)], -1) + rng.normal(0, 5, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _alpha(h: int, w: int, seed: int = 1) -> np.ndarray:
    """Every alpha value kind: 0, 255, a ramp and noise."""
    rng = np.random.default_rng(seed)
    a = np.where(rng.random((h, w)) < 0.3, 0, 255).astype(np.uint8)
    a[:, : min(w, 16)] = (np.arange(min(w, 16), dtype=np.uint8) * 17)[None, :]
    a[-3:] = rng.integers(0, 256, (3, w), dtype=np.uint8)
    return a


def _save(im, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(w: int, h: int, depth: int, colour: int, rows: list[bytes], *extra: bytes) -> bytes:
    """A PNG written by hand (bit depths and tRNS that Pillow does not write)."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(extra)
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


# -- 1. alpha -----------------------------------------------------------------------


def _case(kind: str, h: int = 37, w: int = 53) -> tuple[bytes, np.ndarray]:
    """(file bytes, the alpha plane it defines), computed without Pillow's help."""
    rgb = _photo(h, w, seed=len(kind))
    a = _alpha(h, w)
    if kind == "RGBA":
        return _save(Image.fromarray(np.dstack([rgb, a]))), a
    if kind == "LA":
        return _save(Image.fromarray(np.dstack([rgb[..., 1], a]), "LA")), a
    if kind in ("P-tRNS", "P-index"):
        idx = (np.arange(h * w).reshape(h, w) * 7 + rgb[..., 0] // 32) % 16
        pal = np.random.default_rng(5).integers(0, 256, (16, 3), dtype=np.uint8)
        im = Image.fromarray(idx.astype(np.uint8), "P")
        im.putpalette(pal.tobytes())
        if kind == "P-tRNS":  # partial alpha per palette entry
            trns = bytes([0, 40, 128, 200] + [255] * 12)
            alpha_of = np.frombuffer(trns, np.uint8)
            data = _save(im, transparency=trns)
        else:  # one transparent index
            alpha_of = np.full(16, 255, np.uint8)
            alpha_of[3] = 0
            data = _save(im, transparency=3)
        return data, alpha_of[idx]
    if kind == "L-tRNS":
        g = rgb[..., 0]
        key = int(g[5, 5])
        return _save(Image.fromarray(g), transparency=key), np.where(g == key, 0, 255).astype(
            np.uint8)
    if kind == "RGB-tRNS":
        rgb[::3, ::4] = (10, 20, 30)
        data = _save(Image.fromarray(rgb), transparency=(10, 20, 30))
        return data, np.where((rgb == (10, 20, 30)).all(-1), 0, 255).astype(np.uint8)
    if kind in ("grey1-tRNS", "grey4-tRNS"):
        depth = 1 if kind == "grey1-tRNS" else 4
        v = ((np.arange(h)[:, None] * 3 + np.arange(w)[None, :]) % (1 << depth)).astype(np.uint8)
        key = 1 if depth == 1 else 5
        per = 8 // depth
        pad = (-w) % per
        vp = np.pad(v, ((0, 0), (0, pad)))
        packed = np.zeros((h, vp.shape[1] // per), np.uint8)
        for k in range(per):
            packed |= vp[:, k::per] << (8 - depth * (k + 1))
        data = _png(w, h, depth, 0, [r.tobytes() for r in packed],
                    _chunk(b"tRNS", struct.pack(">H", key)))
        return data, np.where(v == key, 0, 255).astype(np.uint8)
    raise AssertionError(kind)


KINDS = ["RGBA", "LA", "P-tRNS", "P-index", "L-tRNS", "RGB-tRNS", "grey1-tRNS", "grey4-tRNS"]


def _decoded_alpha(out: bytes, shape: tuple[int, int]) -> np.ndarray:
    im = Image.open(io.BytesIO(out))
    assert im.format == "PNG" and im.mode in ("RGBA", "LA"), im.mode
    assert im.size == (shape[1], shape[0])
    return np.asarray(im)[..., -1]


@pytest.mark.parametrize("kind", KINDS)
def test_alpha_plane_is_exact_through_the_api(kind):
    data, alpha = _case(kind)
    assert (alpha == 0).any() and (alpha == 255).any()
    opts = {"bpp": 0.3} if kind in ("RGBA", "P-tRNS", "grey1-tRNS") else {"quality": 40}
    blob = squeeze.compress(data, codec="frappe", **opts)
    assert np.array_equal(_decoded_alpha(squeeze.decompress(blob), alpha.shape), alpha)


def test_opaque_alpha_is_not_stored_and_shows_the_same_pixels():
    rgb = _photo(20, 30)
    data = _save(Image.fromarray(np.dstack([rgb, np.full((20, 30), 255, np.uint8)])))
    out = Image.open(io.BytesIO(squeeze.decompress(squeeze.compress(data, codec="frappe"))))
    assert out.mode == "RGB"  # SPEC.md section 6: an all-255 plane is the same picture


def test_alpha_is_exact_through_the_command_line(tmp_path):
    data, alpha = _case("RGBA", 41, 67)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "x.png").write_bytes(data)
    rc, _, err = sq("--codec", "frappe", src / "x.png")
    assert rc == 0, err
    (src / "x.png.sqz").rename(dst / "x.png.sqz")
    rc, _, err = sq("-d", dst / "x.png.sqz")
    assert rc == 0, err
    assert np.array_equal(_decoded_alpha((dst / "x.png").read_bytes(), alpha.shape), alpha)


def _png16(colour: int, channels: int, h: int = 12, w: int = 10) -> bytes:
    v = (np.arange(h * w * channels).reshape(h, w * channels) * 997 % 65536).astype(">u2")
    return _png(w, h, 16, colour, [r.tobytes() for r in v])


SIXTEEN = {
    "rgb16": lambda: _png16(2, 3),  # Pillow reads it as 8-bit RGB: silent truncation
    "rgba16": lambda: _png16(6, 4),
    "grey16": lambda: _png16(0, 1),
    "greyalpha16": lambda: _png16(4, 2),
    "ppm-maxval-65535": lambda: b"P6 4 3 65535\n" + bytes(range(72)),
}


@pytest.mark.parametrize("name", sorted(SIXTEEN))
def test_16_bit_inputs_are_refused_with_one_clear_error(name):
    with pytest.raises(InputError, match=r"^16-bit samples: FRAPPE codes 8-bit images only"):
        squeeze.compress(SIXTEEN[name](), codec="frappe")


def test_16_bit_refusal_on_the_command_line(tmp_path):
    (tmp_path / "deep.png").write_bytes(SIXTEEN["rgb16"]())
    rc, _, err = sq("--codec", "frappe", tmp_path / "deep.png")
    assert rc == 1
    assert err.count("\n") == 1 and "16-bit samples" in err and "deep.png" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.png"]


# -- 2. decoded file names ------------------------------------------------------------


@pytest.mark.parametrize("name,want", [
    ("photo.png", None), ("photo.PNG", None), ("a.ppm", None), ("a.pgm", None),
    ("a.pnm", None),
    ("photo.jpg", "photo.png"), ("photo.JPEG", "photo.png"), ("p.jpe", "p.png"),
    ("p.jfif", "p.png"), ("x.webp", "x.png"), ("x.bmp", "x.png"), ("x.tif", "x.png"),
    ("x.tiff", "x.png"), ("x.gif", "x.png"), ("scan.pbm", "scan.pgm"),
    ("noext", "noext.png"), ("x.dat", "x.dat.png"), (".jpg", ".jpg.png"),
    ("my.photo.jpg", "my.photo.png"),
])
def test_output_name_rule(name, want):
    got = FrappeCodec.output_name(name, {"id": "frappe", "level": 6})
    if want is None:
        assert got is None
    else:
        assert got is not None and got[0] == want
        assert got[1] == ("decoded image written as PGM" if want.endswith(".pgm")
                          else "decoded image written as PNG")


def test_frame_streams_keep_their_name():
    assert FrappeCodec.output_name("clip.raw", {"frames": "64x48", "id": "frappe"}) is None


def test_decoded_name_asks_the_streams_codec(tmp_path):
    jpg = _save(Image.fromarray(_photo(24, 32)), "JPEG", quality=90)
    blob = squeeze.compress(jpg, codec="frappe", quality=30)
    f = io.BytesIO(blob)
    f.seek(0)
    path, why = fileio.decoded_name(f, tmp_path / "photo.jpg")
    assert path == tmp_path / "photo.png" and why == "decoded image written as PNG"
    assert f.tell() == 0  # the decoder reads the stream from where it was
    assert squeeze.decompress(blob).startswith(b"\x89PNG")  # the content the name says
    # a PNG keeps its name; other codecs never rename; unreadable data is left alone
    assert fileio.decoded_name(io.BytesIO(blob), tmp_path / "x.png") == (tmp_path / "x.png",
                                                                        None)
    z = squeeze.compress(b"abc" * 100, codec="zstd")
    assert fileio.decoded_name(io.BytesIO(z), tmp_path / "a.jpg") == (tmp_path / "a.jpg", None)
    assert fileio.decoded_name(io.BytesIO(b"junk"), tmp_path / "a.jpg") == (
        tmp_path / "a.jpg", None)


def test_decompressing_a_jpeg_writes_a_png_name(tmp_path):
    jpg = _save(Image.fromarray(_photo(24, 32)), "JPEG", quality=90)
    (tmp_path / "photo.jpg").write_bytes(jpg)
    rc, _, err = sq("--codec", "frappe", "--quality", "30", tmp_path / "photo.jpg")
    assert rc == 0, err
    (tmp_path / "photo.jpg").unlink()
    rc, _, err = sq("-d", tmp_path / "photo.jpg.sqz")
    assert rc == 0, err
    assert (tmp_path / "photo.png").read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "photo.jpg").exists()
    assert err.count("decoded image written as PNG") == 1 and "photo.png" in err
    # an existing file of the new name is never replaced without -f
    rc, _, err = sq("-d", tmp_path / "photo.jpg.sqz")
    assert rc == 1 and "photo.png: File exists" in err


# -- 3. the --bpp range ------------------------------------------------------------


def test_bpp_bounds_are_named_constants():
    assert (codec_mod.MIN_BPP, codec_mod.MAX_BPP) == (0.02, 1.0)
    FrappeCodec(bpp=codec_mod.MIN_BPP)
    FrappeCodec(bpp=codec_mod.MAX_BPP)
    FrappeCodec(quality=0)
    FrappeCodec(quality=100)


@pytest.mark.parametrize("bpp", [2, 0.001, 0.0199, 1.01, 24.0, -1.0, 0.0])
def test_bpp_outside_the_range_is_refused_by_the_api(bpp):
    png = _save(Image.fromarray(_photo(16, 16)))
    with pytest.raises(OptionError, match=r"outside the range FRAPPE supports: 0\.02 to 1 "):
        squeeze.compress(png, codec="frappe", bpp=bpp)
    with pytest.raises(OptionError, match="0.02 to 1"):
        FrappeCodec(frames="64x48", bpp=bpp)  # the frame stream's --bpp too
    with pytest.raises(OptionError):
        FrappeCodec(quality=101)


def test_streams_with_older_targets_still_decode():
    png = _save(Image.fromarray(_photo(16, 24)))
    # what an encoder that took --bpp 2 wrote: the header keeps {"bpp": 2.0}
    blob = container.compress(png, FrappeCodec(bpp=2.0, _from_stream=True))
    assert container.scan_streams(io.BytesIO(blob))[0].header.params["bpp"] == 2.0
    assert squeeze.decompress(blob).startswith(b"\x89PNG")


@pytest.mark.parametrize("bpp", ["2", "0.001"])
def test_bpp_outside_the_range_on_the_command_line(tmp_path, bpp):
    (tmp_path / "x.png").write_bytes(_save(Image.fromarray(_photo(16, 16))))
    rc, out, err = sq("--codec", "frappe", "--bpp", bpp, tmp_path / "x.png")
    assert rc == 1 and out == b""
    assert err.count("\n") == 1, err
    assert "outside the range FRAPPE supports: 0.02 to 1 bits per pixel" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]  # no output, no temp


# -- 4. threads ------------------------------------------------------------------------


@pytest.fixture
def kernel_calls(monkeypatch):
    """Every call of the codec's kernels: (kernel, thread, numba threads of the call)."""
    import numba

    from squeeze_image import kernels as kk

    calls: list[tuple[str, int, str, int]] = []
    for name in ("project_group_z", "closed_residual", "closed_project", "skip_accumulate",
                 "ctx_channel_symbols",
                 "conv3x3_dense", "dw_ln_film", "mlp_residual", "head_to_pixels"):
        fn = getattr(kk, name)

        def spy(*args, _fn=fn, _name=name):
            t = threading.current_thread()
            calls.append((_name, t.ident, t.name, numba.get_num_threads()))
            return _fn(*args)

        monkeypatch.setattr(kk, name, spy)
    return calls


DEC = {"conv3x3_dense", "dw_ln_film", "mlp_residual", "head_to_pixels"}


def _enc_kernels() -> set[str]:
    """The encoder's kernels for the model still images use (format 2: closed loop)."""
    from squeeze_image import model

    if model.load().format == 2:
        return {"closed_residual", "closed_project", "skip_accumulate", "ctx_channel_symbols"}
    return {"project_group_z", "ctx_channel_symbols"}


def _picture() -> bytes:
    return _save(Image.fromarray(_photo(96, 160, seed=3)))


def test_threads_1_runs_the_codec_on_one_thread(kernel_calls):
    blob = squeeze.compress(_picture(), codec="frappe", bpp=0.3, threads=1)
    squeeze.decompress(blob, threads=1)
    enc = _enc_kernels()
    assert {c[0] for c in kernel_calls} == enc | DEC
    for kinds in (enc, DEC):
        calls = [c for c in kernel_calls if c[0] in kinds]
        assert len({c[1] for c in calls}) == 1, calls  # one thread did all of it
        assert not any(c[2].startswith("frappe-enc") for c in calls)
        assert {c[3] for c in calls if c[0] in DEC} <= {1}  # numba's parallel kernels


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no second thread to see")
def test_the_thread_check_sees_a_second_thread(kernel_calls):
    """The spies above do see the pool and numba's threads when they are allowed."""
    enc = FrappeCodec(bpp=0.3)
    enc.threads = 2
    payload = enc.encode_block(_picture())
    dec = FrappeCodec()
    dec.threads = 2
    raw = dec.decode_block(payload, enc.reconstruction_size(b"", payload))
    calls = [c for c in kernel_calls if c[0] in _enc_kernels()]
    assert len({c[1] for c in calls}) == 2
    assert any(c[2].startswith("frappe-enc") for c in calls)
    assert {c[3] for c in kernel_calls if c[0] in DEC} == {2}
    one = FrappeCodec()
    assert one.decode_block(payload, len(raw)) == raw  # threads=1: the same pixels


def test_frames_use_one_thread_each(kernel_calls):
    frame = _photo(48, 64, seed=9).tobytes()
    codec = FrappeCodec(frames="64x48", bpp=0.3)
    codec.threads = 2  # the container codes two frames at once
    payload = codec.encode_block(frame, 0)
    codec.decode_block(payload, len(frame))
    assert {c[3] for c in kernel_calls if c[0] in DEC} == {1}


def test_thread_count_never_changes_the_bytes():
    png = _picture()
    blobs = []
    for t in (1, 2, 3):
        c = FrappeCodec(bpp=0.3)
        c.threads = t
        blobs.append(container.compress(png, c, threads=t))
    assert blobs[0] == blobs[1] == blobs[2]
    payload = FrappeCodec(bpp=0.3).encode_block(png)
    size = FrappeCodec().reconstruction_size(png, payload)
    outs = []
    for t in (1, 2):
        d = FrappeCodec()
        d.threads = t
        outs.append(bytes(d.decode_block(payload, size)))
    assert outs[0] == outs[1]


def test_cli_minus_t1_is_one_thread_and_minus_t2_the_same_bytes(tmp_path, kernel_calls):
    from frappe_cli import cli

    (tmp_path / "x.png").write_bytes(_picture())
    try:
        code = cli._invoke(cli.root, ["-T1", "--codec", "frappe", "--bpp", "0.3", "-c",
                                      str(tmp_path / "x.png")], "squeeze")
    except SystemExit as e:
        code = e.code
    assert code in (0, None)
    calls = [c for c in kernel_calls if c[0] in _enc_kernels()]
    assert calls and len({c[1] for c in calls}) == 1
    assert not any(c[2].startswith("frappe-enc") for c in calls)
    outs = {}
    for t in ("-T1", "-T2"):
        rc, out, err = sq(t, "--codec", "frappe", "--bpp", "0.3", "-c", tmp_path / "x.png")
        assert rc == 0, err
        outs[t] = out
    assert outs["-T1"] == outs["-T2"]


def test_list_verbose_describes_each_picture(tmp_path):
    """``squeeze -lv``: size, mode, real rate, channels, step and model of every
    still-image stream, under its own stream (nothing decoded)."""
    import json

    y, x = np.mgrid[0:48, 0:80]
    rgba = np.stack([x * 3, y * 5, (x + y) * 2, 255 - y], -1).astype(np.uint8)
    one = container.compress(_save(Image.fromarray(rgba, "RGBA")), FrappeCodec(bpp=0.5))
    luma = Image.fromarray(np.ascontiguousarray(rgba[:40, :64, 0]), "L")
    grey = container.compress(_save(luma), FrappeCodec(quality=40))
    f = tmp_path / "two.sqz"
    f.write_bytes(one + grey)
    rc, out, err = sq("-lv", "--json", f)
    assert rc == 0, err
    recs = json.loads(out)
    rows = [r["details"] for r in recs]
    assert [len(d) for d in rows] == [1, 1]
    a, b = rows[0][0], rows[1][0]
    assert (a["image"], a["mode"], b["image"], b["mode"]) == ("80x48", "RGBA", "64x40", "L")
    assert a["bpp"] == round(8 * len(one) / (80 * 48), 4) and a["model"] == "frappe-image"
    assert a["decodes_to"] == "PNG" and 1 <= b["channels"] <= 29 and b["step"] > 0
    rc, out, err = sq("-lv", f)
    assert rc == 0 and out.decode().count("image=") == 2, err
