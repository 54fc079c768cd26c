"""The image suite, ``squeeze bench --suite image``: FRAPPE against the usual lossy
image codecs at matched rates, in one run.

* Peers: JPEG (libjpeg-turbo, optimised Huffman) and WebP (method 4) from Pillow;
  AVIF with Pillow's own libavif/aom at speed 6 and with SVT-AV1 at speed 6 via
  pillow-avif-plugin (importing the plugin replaces Pillow's AVIF writer, so both
  writers are kept and swapped per call); JPEG 2000 (OpenJPEG) and JPEG XL (libjxl,
  effort 7) from imagecodecs.
* Matched rate: each peer's quality parameter is searched per image for the file
  size closest to the target (bpp from the real file size: container and headers
  included, for squeeze the whole .sqz file); a peer that cannot go that low is
  reported at its lowest rate (marked ``floor``).
* Metrics on 8-bit RGB: PSNR, MS-SSIM (``squeeze_image.metrics``, own numpy
  implementation: Gaussian window 11 / sigma 1.5, 5 scales, per channel then
  averaged, as pytorch-msssim)
  and SSIMULACRA2 (the ``ssimulacra2`` package).
* Times: the harness's clock (``--timer``, default CPU time of this process, all
  threads), median of ``--repeat`` runs, pixels in memory -> bytes (encode) and
  bytes -> pixels (decode), no file I/O.
  squeeze's encode is its whole encoder (analysis, rate search, entropy coding);
  ``squeeze compress`` adds one decoder run for the container's check.
* 1920x1080 encode speed (``--part speed``): a frame tiled from a training
  photograph (never Kodak), FRAPPE at 0.1 bpp against SVT-AV1 speed 6 at the same
  rate, CPU and wall time.
* Latent coding (``--part latents``): the context coder against JPEG-LS and an
  ideal order-0 code on the same latents, at the ``--bpp`` rates.
"""

from __future__ import annotations

import io
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click
import numpy as np

from benchmarks.suites import corpora
from frappe_cli.bench import runner
from frappe_cli.bench.suite import Args, Report, Suite
from frappe_cli.bench.timing import median_time
from squeeze_image import metrics
from squeeze_image.codec import TUNES

DEFAULT_TARGETS = [0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5]
ALL_PEERS = ["jpeg", "webp", "avif-aom-s6", "avif-svt-s6", "jpeg2000", "jpegxl"]
SQUEEZE = "squeeze-frappe"

# ------------------------------------------------------------------------------------
# metrics


# PSNR and MS-SSIM: the codec's own (squeeze_image.metrics), which its slower encoder
# levels optimise; re-exported here for the training script and the tests
psnr = metrics.psnr
ms_ssim = metrics.ms_ssim


def ssimulacra2(orig_png: str, dec: np.ndarray, tmpdir: str) -> float:
    """SSIMULACRA2 (the ``ssimulacra2`` package of the bench extra); NaN without it."""
    try:
        import ssimulacra2 as s2
    except ImportError:
        return float("nan")
    from PIL import Image

    p = os.path.join(tmpdir, "dist.png")
    Image.fromarray(dec).save(p, format="PNG", compress_level=1)
    return float(s2.compute_ssimulacra2(orig_png, p))


# ------------------------------------------------------------------------------------
# codecs


@dataclass
class Peer:
    name: str
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    lo: float
    hi: float
    integer: bool
    increasing: bool = True  # larger parameter -> larger file
    note: str = ""


def _pil_to_rgb(b: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(b)) as im:
        return np.asarray(im.convert("RGB"))


_AVIF_WRITERS: dict[str, Callable] = {}


def _avif_writers() -> dict[str, Callable]:
    if not _AVIF_WRITERS:
        from PIL import AvifImagePlugin, Image  # noqa: F401 - registers Pillow's writer

        _AVIF_WRITERS["pillow"] = Image.SAVE["AVIF"]
        import pillow_avif  # noqa: F401 - replaces it

        _AVIF_WRITERS["plugin"] = Image.SAVE["AVIF"]
        Image.SAVE["AVIF"] = _AVIF_WRITERS["pillow"]
    return _AVIF_WRITERS


def _avif_encode(writer: str, rgb: np.ndarray, **kw) -> bytes:
    from PIL import Image

    w = _avif_writers()
    Image.SAVE["AVIF"] = w[writer]
    try:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="AVIF", **kw)
        return buf.getvalue()
    finally:
        Image.SAVE["AVIF"] = w["pillow"]


def peer_missing(name: str) -> str | None:
    """What an image peer lacks, as "X not installed (how to get it)"; None when usable."""
    import importlib.util

    def absent(mod: str) -> bool:
        try:
            return importlib.util.find_spec(mod) is None
        except (ImportError, ValueError):
            return True

    extra = "pip install 'squeeze-codecs[bench]'"
    if name in ("avif-aom-s6", "avif-svt-s6") and absent("pillow_avif"):
        return f"pillow_avif not installed ({extra})"
    if name == "avif-aom-s6":
        from PIL import features

        if not features.check("avif"):
            return "Pillow's AVIF support not installed (pip install 'pillow>=11.3')"
    if name in ("jpeg2000", "jpegxl") and absent("imagecodecs"):
        return f"imagecodecs not installed ({extra})"
    return None


def make_peer(name: str) -> Peer:
    from PIL import Image

    def pil(fmt, **kw):
        def enc(rgb, q):
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format=fmt, quality=int(q), **kw)
            return buf.getvalue()
        return enc

    if name == "jpeg":
        return Peer(name, pil("JPEG", optimize=True), _pil_to_rgb, 1, 95, True,
                    note="libjpeg-turbo, 4:2:0, optimised Huffman")
    if name == "webp":
        return Peer(name, pil("WEBP", method=4), _pil_to_rgb, 0, 100, True, note="libwebp m4")
    if name == "avif-aom-s6":
        return Peer(name, lambda rgb, q: _avif_encode("pillow", rgb, quality=int(q), speed=6),
                    _pil_to_rgb, 0, 100, True, note="Pillow libavif + aom, speed 6, 4:2:0")
    if name == "avif-svt-s6":
        os.environ.setdefault("SVT_LOG", "1")  # errors only: keep the table readable
        return Peer(name, lambda rgb, q: _avif_encode("plugin", rgb, quality=int(q), speed=6,
                                                      codec="svt"),
                    _pil_to_rgb, 0, 100, True, note="pillow-avif-plugin SVT-AV1, speed 6, 4:2:0")
    if name == "jpeg2000":
        import imagecodecs

        return Peer(name, lambda rgb, q: imagecodecs.jpeg2k_encode(rgb, level=float(q)),
                    lambda b: imagecodecs.jpeg2k_decode(b), 12.0, 60.0, False,
                    note="OpenJPEG via imagecodecs, quality = PSNR level")
    if name == "jpegxl":
        import imagecodecs

        return Peer(name, lambda rgb, q: imagecodecs.jpegxl_encode(rgb, distance=-float(q),
                                                                     effort=7),
                    lambda b: imagecodecs.jpegxl_decode(b), -25.0, -0.3, False,
                    note="libjxl via imagecodecs, effort 7, distance search")
    raise ValueError(f"unknown image peer '{name}' (known: {', '.join(ALL_PEERS)})")


def _match(peer: Peer, rgb: np.ndarray, target_bytes: float, cache: dict) -> tuple[float, bytes]:
    """Parameter whose output size is closest to target_bytes (log scale)."""

    def size(q):
        key = round(q, 4)
        if key not in cache:
            cache[key] = peer.encode(rgb, q)
        return len(cache[key])

    lo, hi = peer.lo, peer.hi
    if size(lo) >= target_bytes:
        return lo, cache[round(lo, 4)]
    if size(hi) <= target_bytes:
        return hi, cache[round(hi, 4)]
    # invariant: size(lo) < target <= size(hi)
    for _ in range(40):
        if peer.integer:
            if hi - lo <= 1:
                break
            mid = (lo + hi) // 2
        else:
            if abs(size(hi) / size(lo) - 1) < 0.004 or hi - lo < 1e-3:
                break
            # interpolate in log size, safeguarded
            a, b = math.log(size(lo)), math.log(size(hi))
            t = (math.log(target_bytes) - a) / max(b - a, 1e-12)
            mid = lo + min(max(t, 0.1), 0.9) * (hi - lo)
        if size(mid) < target_bytes:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda q: abs(math.log(size(q) / target_bytes)))
    return best, cache[round(best, 4)]


@dataclass
class Point:
    codec: str
    image: str
    target: float
    bpp: float
    psnr: float
    msssim: float
    s2: float
    enc_ms: float
    dec_ms: float
    param: float | None = None
    floor: bool = False
    extra: dict = field(default_factory=dict)
    nbytes: int = 0  # the file's size (bpp's numerator)
    pixels: int = 0


def squeeze_name(tune: str, level: int | None = None) -> str:
    """The report's codec name for squeeze at ``--tune`` (psnr, the default: plain) and
    level (``--codec frappe:9``; the default level: plain)."""
    name = SQUEEZE if tune == TUNES[0] else f"{SQUEEZE}-{tune}"
    return name if level is None else f"{name}-l{level}"


def squeeze_levels(codecs: list[str]) -> list[int | None]:
    """``--codec frappe`` / ``frappe:9`` (repeatable) -> the levels to measure (None:
    the codec's default); anything but frappe is refused."""
    levels: list[int | None] = []
    for spec in codecs:
        cid, _, lvl = spec.partition(":")
        if cid != "frappe" or (lvl and not lvl.isdigit()):
            raise ValueError("the image suite measures --codec frappe or frappe:LEVEL only")
        levels.append(int(lvl) if lvl else None)
    return list(dict.fromkeys(levels))


def _squeeze_point(name, rgb, target, repeat, orig_png, tmpdir, timer="cpu",
                   tune="psnr", level: int | None = None) -> Point:
    from frappe_cli import container
    from squeeze_image import image
    from squeeze_image.codec import FrappeCodec

    h, w, _ = rgb.shape
    pic = image.Picture(rgb, False, None, image.FMT_PNG)
    kw = {"bpp": target, "tune": tune} | ({} if level is None else {"level": level})
    codec = FrappeCodec(**kw)
    enc_t, payload = median_time(lambda: codec.encode_picture(pic), repeat, timer)
    raw = codec.reconstruction(None, payload)
    # the real .sqz file: container framing around exactly this payload
    png = io.BytesIO()
    from PIL import Image

    Image.fromarray(rgb).save(png, format="PNG", compress_level=1)
    blob = container.compress(png.getvalue(), FrappeCodec(**kw))
    dec_t, raw2 = median_time(lambda: FrappeCodec().decode_block(payload, len(raw)), repeat,
                              timer)
    if raw2 != raw:
        raise RuntimeError("FRAPPE decoder output differs from the encoder's reconstruction")
    if container.decompress(blob, finish=False) != raw:
        raise RuntimeError("FRAPPE .sqz round trip differs")
    dec = np.frombuffer(raw, np.uint8, offset=image.RAW_HEAD.size).reshape(h, w, 3)
    return Point(name, "", target, len(blob) * 8 / (h * w), psnr(rgb, dec), ms_ssim(rgb, dec),
                 ssimulacra2(orig_png, dec, tmpdir), 1e3 * enc_t, 1e3 * dec_t,
                 extra={"payload_bytes": len(payload), "sqz_bytes": len(blob)},
                 nbytes=len(blob), pixels=h * w)


def _peer_point(peer, rgb, target, repeat, orig_png, tmpdir, cache, timer="cpu") -> Point:
    h, w, _ = rgb.shape
    q, data = _match(peer, rgb, target * h * w / 8, cache)
    enc_t, _ = median_time(lambda: peer.encode(rgb, q), repeat, timer)
    dec_t, dec = median_time(lambda: peer.decode(data), repeat, timer)
    dec = np.ascontiguousarray(np.asarray(dec, np.uint8)[..., :3])
    bpp = len(data) * 8 / (h * w)
    return Point(peer.name, "", target, bpp, psnr(rgb, dec), ms_ssim(rgb, dec),
                 ssimulacra2(orig_png, dec, tmpdir), 1e3 * enc_t, 1e3 * dec_t, param=q,
                 floor=bpp > 1.1 * target, nbytes=len(data), pixels=h * w)


# ------------------------------------------------------------------------------------
# 1080p encode speed


def _corpora() -> Path | None:
    p = corpora()
    return p if (p / "train-images").is_dir() else None


def frame_1080p() -> np.ndarray | None:
    """1920x1080 RGB tiled (mirrored) from the first training photograph."""
    from PIL import Image

    root = _corpora()
    if root is None:
        return None
    files = sorted(p for p in (root / "train-images").iterdir() if p.suffix == ".png")
    if not files:
        return None
    t = np.asarray(Image.open(files[0]).convert("RGB"))
    row = np.concatenate([t, t[:, ::-1], t, t[:, ::-1]], axis=1)
    big = np.concatenate([row, row[::-1], row], axis=0)
    return np.ascontiguousarray(big[:1080, :1920])


def speed_1080p(repeat: int, log) -> dict | None:
    from squeeze_image import image
    from squeeze_image.codec import FrappeCodec

    frame = frame_1080p()
    if frame is None:
        log("1080p speed: train-images corpus not found, skipped")
        return None
    h, w, _ = frame.shape
    reps = max(repeat, 5)
    pic = image.Picture(frame, False, None, image.FMT_PNG)
    codec = FrappeCodec(bpp=0.1)
    codec.encode_picture(pic)  # warm-up (JIT cache, model load)
    cpu, payload = median_time(lambda: codec.encode_picture(pic), reps)
    wall, _ = median_time(lambda: codec.encode_picture(pic), reps, "wall")
    sq_q = FrappeCodec(quality=50)
    sq_q.encode_picture(pic)
    cpu_q, payload_q = median_time(lambda: sq_q.encode_picture(pic), reps)
    raw = codec.reconstruction(None, payload)
    dec_cpu, _ = median_time(lambda: FrappeCodec().decode_block(payload, len(raw)), 3)
    res = {
        "frame": "1920x1080, mirrored tiles of the first train-images photograph",
        "squeeze_bpp": len(payload) * 8 / (h * w),
        "squeeze_encode_cpu_ms": 1e3 * cpu, "squeeze_encode_wall_ms": 1e3 * wall,
        "squeeze_fps_cpu": 1.0 / cpu, "squeeze_fps_wall": 1.0 / wall,
        "squeeze_quality50_bpp": len(payload_q) * 8 / (h * w),
        "squeeze_quality50_encode_cpu_ms": 1e3 * cpu_q,
        "squeeze_decode_cpu_ms": 1e3 * dec_cpu,
        "repeat": reps,
    }
    line = (f"1080p encode @0.1 bpp: squeeze {1e3 * cpu:.1f} ms CPU ({1 / cpu:.1f} fps), "
            f"{1e3 * wall:.1f} ms wall ({1 / wall:.1f} fps)")
    lack = peer_missing("avif-svt-s6")
    if lack is not None:
        log(f"{line}; SVT-AV1 skipped: {lack}")
        return res
    svt = make_peer("avif-svt-s6")
    q, data = _match(svt, frame, 0.1 * h * w / 8, {})
    svt_cpu, _ = median_time(lambda: svt.encode(frame, q), reps)
    svt_wall, _ = median_time(lambda: svt.encode(frame, q), reps, "wall")
    res.update({
        "svt_s6_quality": q, "svt_s6_bpp": len(data) * 8 / (h * w),
        "svt_s6_encode_cpu_ms": 1e3 * svt_cpu, "svt_s6_encode_wall_ms": 1e3 * svt_wall,
        "speedup_cpu": svt_cpu / cpu, "speedup_wall": svt_wall / wall,
    })
    log(f"{line}; SVT-AV1 s6 {1e3 * svt_cpu:.0f} ms CPU, {1e3 * svt_wall:.0f} ms wall -> "
        f"{svt_cpu / cpu:.1f}x (CPU), {svt_wall / wall:.1f}x (wall)")
    return res


# ------------------------------------------------------------------------------------
# summary, table, plot


def _summary(points: list[Point], codecs: list[str], targets: list[float]) -> dict:
    out: dict = {}
    for c in codecs:
        out[c] = {}
        for t in targets:
            ps = [p for p in points if p.codec == c and p.target == t]
            if not ps:
                continue
            out[c][str(t)] = {
                "bpp": statistics.fmean(p.bpp for p in ps),
                "psnr": statistics.fmean(p.psnr for p in ps),
                "msssim": statistics.fmean(p.msssim for p in ps),
                "ssimulacra2": statistics.fmean(p.s2 for p in ps),  # NaN without the package
                "enc_ms": statistics.median(p.enc_ms for p in ps),
                "dec_ms": statistics.median(p.dec_ms for p in ps),
                "floor_images": sum(p.floor for p in ps),
                "images": len(ps),
            }
    return out


def rd_plot(summary: dict, title: str) -> dict:
    """The rate-distortion curves as the harness's ``plot.curves`` arguments."""
    panels = []
    for key, label in (("psnr", "PSNR (dB)"), ("msssim", "MS-SSIM"),
                       ("ssimulacra2", "SSIMULACRA2")):
        panels.append((label, {codec: [(v["bpp"], v[key]) for v in pts.values()]
                               for codec, pts in summary.items()}))
    # the axis spans the run's own targets and every point measured (up to 1 bpp and
    # more when asked), ticks at the targets
    targets = sorted({float(t) for pts in summary.values() for t in pts}) or DEFAULT_TARGETS
    xs = [v["bpp"] for pts in summary.values() for v in pts.values() if v["bpp"] > 0]
    lo = min(xs + targets) / 1.15
    hi = max(xs + targets) * 1.15
    return {"panels": panels, "title": title, "xlabel": "bits per pixel (real file size)",
            "xlog": True, "xlim": (lo, hi), "xticks": targets, "highlight": SQUEEZE}


def _print_table(summary: dict, targets: list[float], codecs: list[str]) -> None:
    print(f"{'target':>6} {'codec':<16} {'bpp':>7} {'PSNR':>7} {'MS-SSIM':>8} {'SSIM2':>7} "
          f"{'enc ms':>8} {'dec ms':>8}")
    for t in targets:
        for c in codecs:
            v = summary.get(c, {}).get(str(t))
            if v is None:
                continue
            fl = f"  floor x{v['floor_images']}" if v["floor_images"] else ""
            print(f"{t:>6.3f} {c:<16} {v['bpp']:>7.4f} {v['psnr']:>7.2f} {v['msssim']:>8.4f} "
                  f"{v['ssimulacra2']:>7.2f} {v['enc_ms']:>8.1f} {v['dec_ms']:>8.1f}{fl}")
        print()


# ------------------------------------------------------------------------------------
# latent coding: the context model against JPEG-LS (the paper's coder) and order-0


def _latents(codec, rgb: np.ndarray) -> tuple:
    """(model, quantised channels, n, D) of ``codec``'s payload for ``rgb``: read back
    from the payload as the decoder does (the codec keeps no encoder state)."""
    from squeeze_image import entropy, image

    buf = memoryview(codec.encode_picture(image.Picture(rgb, False, None, image.FMT_PNG)))
    head = codec._checked_head(buf)
    mdl = head["model"]
    mp = mdl.max_patch
    H = -(-head["height"] // mp) * mp
    W = -(-head["width"] // mp) * mp
    shapes = [mdl.channel_shape(k, H, W) for k in range(mdl.n_ch)]
    qs, _ = entropy.decode(mdl, buf, head["pos"], head["n"], head["D"], shapes)
    return mdl, qs, head["n"], head["D"]


def latent_coding_comparison(paths, targets=(0.05, 0.1, 0.3), log=print) -> dict:
    """Bytes for the same latents: squeeze's context coder (real constriction streams),
    JPEG-LS per scale group as FRAPPE v1 codes them ((C*H, W) uint8 images, +127,
    CharLS via imagecodecs, 4-byte length each) and an ideal static per-channel
    order-0 code (empirical entropy of each channel, no table cost)."""
    import imagecodecs
    from PIL import Image

    from squeeze_image import entropy
    from squeeze_image.codec import FrappeCodec

    res = {}
    for t in targets:
        ours = jls = order0 = 0
        for f in paths:
            with Image.open(f) as im:
                rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
            mdl, qs, n, D = _latents(FrappeCodec(bpp=t), rgb)
            ours += len(entropy.encode(mdl, qs, n, D))
            for g in mdl.groups:
                chans = [qs[k] for k in range(g.first, min(g.first + g.count, n))]
                if not chans:
                    continue
                img = (np.concatenate(chans, axis=0) + 127).astype(np.uint8)
                jls += 4 + len(imagecodecs.jpegls_encode(img))
            for q in qs:
                _, cnt = np.unique(q, return_counts=True)
                p = cnt / q.size
                order0 += float(-(cnt * np.log2(p)).sum()) / 8
        res[str(t)] = {"context_bytes": ours, "jpegls_bytes": jls, "order0_bytes": round(order0),
                       "vs_jpegls": ours / jls - 1, "vs_order0": ours / order0 - 1}
        log(f"latents at {t} bpp: context {ours} B, JPEG-LS {jls} B "
            f"({100 * (ours / jls - 1):+.1f} %),"
            f" order-0 ideal {order0:.0f} B ({100 * (ours / order0 - 1):+.1f} %)")
    return res


# ------------------------------------------------------------------------------------
# the suite

PARTS = ("rd", "speed", "latents")


def _has(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
IMAGE_SUFFIXES = (".png", ".ppm", ".jpg")


class ImageSuite(Suite):
    name = "image"
    description = ("FRAPPE vs JPEG/WebP/AVIF/JPEG 2000/JPEG XL at matched rates "
                   "(rate-distortion on images; default ../shared/corpora/kodak)")
    options = (
        {"flag": "--bpp", "param": "bpps", "type": float, "multiple": True,
         "help": "Target rates (default 0.03..0.5)."},
        {"flag": "--peer-bpp", "param": "peer_bpps", "type": float, "multiple": True,
         "help": "The peers' target rates (default: the --bpp list)."},
        {"flag": "--timed-bpp", "param": "timed_bpps", "type": float, "multiple": True,
         "help": "Rates timed as medians of --repeat runs (default: all; others once)."},
        {"flag": "--tune", "param": "tunes", "type": click.Choice(TUNES), "multiple": True,
         "help": "squeeze's model(s): psnr, ms-ssim (default: psnr)."},
        {"flag": "--part", "param": "parts", "type": click.Choice(PARTS), "multiple": True,
         "help": "What to measure: rd (the rate-distortion sweep), speed (1080p encode vs "
                 "SVT-AV1), latents (latent coding vs JPEG-LS, at the --bpp rates) "
                 "(default: rd and speed)."},
    )
    default_codecs = ("frappe",)
    default_peers = tuple(ALL_PEERS)
    ref = None

    def inputs(self, args: Args) -> list[str]:
        kodak = corpora() / "kodak"
        return [str(p) for p in sorted(kodak.glob("*.png"))] if kodak.is_dir() else []

    def run(self, args: Args) -> Report:
        """The parts asked for; tables on stdout, every point in the report."""
        squeeze_levels(args.codecs)  # refuses other codecs before anything runs
        log = args.log
        opts = args.options
        parts = set(opts.get("parts") or ("rd", "speed"))
        targets = sorted(opts.get("bpps") or DEFAULT_TARGETS)
        ptargets = sorted(opts.get("peer_bpps") or targets)
        timed = set(opts["timed_bpps"]) if opts.get("timed_bpps") else None
        repeat = args.repeat

        def reps(t):
            return repeat if timed is None or t in timed else 1

        files = [Path(p) for p in args.files if Path(p).suffix.lower() in IMAGE_SUFFIXES]
        report = Report(meta={"images": [f.name for f in files], "targets": targets,
                              "timed_targets": sorted(timed) if timed else targets})
        if parts & {"rd", "latents"} and not files:
            raise ValueError("no images given (.png, .ppm, .jpg)")
        if "rd" in parts:
            self._rd(args, files, targets, ptargets, reps, report)
        if "speed" in parts:
            report.data["speed_1080p"] = speed_1080p(repeat, log)
        if "latents" in parts and not _has("imagecodecs"):
            log("squeeze bench: imagecodecs not installed (pip install 'squeeze-codecs[bench]'); "
                "no latent coding comparison (JPEG-LS)")
        elif "latents" in parts:
            report.data["latents"] = latent_coding_comparison(files, targets, log)
        return report

    def _rd(self, args: Args, files: list[Path], targets: list[float], ptargets: list[float],
            reps: Callable[[float], int], report: Report) -> None:
        """The rate-distortion sweep: a table on stdout, every point in ``report``."""
        from PIL import Image

        log = args.log
        if not _has("ssimulacra2"):
            log("squeeze bench: ssimulacra2 not installed (pip install 'squeeze-codecs[bench]');"
                " SSIMULACRA2 is reported as nan")
        peer_names = []
        for p in args.peers:
            lack = peer_missing(p) if p in ALL_PEERS else None
            if lack is not None:  # an optional package (the bench extra): run the others
                log(f"squeeze bench: {lack}; skipping {p}")
                continue
            peer_names.append(p)
        peer_objs = [make_peer(p) for p in peer_names]
        tunes = list(dict.fromkeys(args.options.get("tunes") or TUNES[:1]))
        variants = [(t, lv) for t in tunes for lv in squeeze_levels(args.codecs)]
        codecs = [squeeze_name(t, lv) for t, lv in variants] + peer_names
        points: list[Point] = []
        t_start = time.time()
        with tempfile.TemporaryDirectory() as tmpdir:
            for fi, f in enumerate(files):
                with Image.open(f) as im:
                    rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
                orig_png = os.path.join(tmpdir, "orig.png")
                Image.fromarray(rgb).save(orig_png, format="PNG", compress_level=1)
                if fi == 0:  # warm-up: model load and kernel (JIT cache) start-up are not timed
                    for tune in tunes:
                        _squeeze_point(SQUEEZE, rgb, targets[0], 1, orig_png, tmpdir,
                                       tune=tune)  # the level changes no kernel
                    for peer in peer_objs:
                        peer.decode(peer.encode(rgb, peer.hi))
                log(f"[{fi + 1}/{len(files)}] {f.name} {rgb.shape[1]}x{rgb.shape[0]} "
                    f"({time.time() - t_start:.0f} s)")
                for tune, lv in variants:
                    for t in targets:
                        p = _squeeze_point(squeeze_name(tune, lv), rgb, t, reps(t), orig_png,
                                           tmpdir, args.timer, tune, lv)
                        p.image = f.name
                        points.append(p)
                for peer in peer_objs:
                    cache: dict = {}
                    for t in ptargets:
                        p = _peer_point(peer, rgb, t, reps(t), orig_png, tmpdir, cache,
                                        args.timer)
                        p.image = f.name
                        points.append(p)
        all_targets = sorted(set(targets) | set(ptargets))
        summary = _summary(points, codecs, all_targets)
        _print_table(summary, all_targets, codecs)
        report.meta.update({
            "peer_targets": ptargets,
            "peers": {p.name: p.note for p in peer_objs},
            "metrics": "PSNR and MS-SSIM on 8-bit RGB; SSIMULACRA2 (NaN without the "
                       "ssimulacra2 package)"})
        report.data.update({"summary": summary, "points": [p.__dict__ for p in points]})
        # one row per (image, rate, codec): file sizes for the JSON and --baseline
        report.results = [runner.Result(f"{p.image}@{p.target}bpp", p.codec, 3 * p.pixels,
                                        p.nbytes, p.enc_ms / 1e3, p.dec_ms / 1e3, True)
                          for p in points]
        report.plot = rd_plot(summary, f"{len(files)} images, mean")


IMAGE = ImageSuite()
