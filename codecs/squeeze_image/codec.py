"""FRAPPE-Image: squeeze's lossy learned image codec (see SPEC.md).

The whole image is one container block: ``split`` yields the input file,
``encode_block`` turns it into a payload, ``reconstruction`` gives the raw
decoded image the container checks, ``decode_block`` returns that raw image
and ``finish_output`` turns it into the PNG (or PPM/PGM) the user gets.

Rate: ``bpp=X`` searches, per image, the channel count n and quantisation step
D so that the whole .sqz file is within a few percent under X bits per pixel;
``quality=Q`` (0..100, default 50) picks one (n, D) operating point for every
image (constant quality, the rate varies with content; no search):
Q maps log-linearly to the validation-set rate 0.01 * 200**(Q/100) bpp
(Q 0: 0.01, Q 35: 0.064, Q 50: 0.14, Q 70: 0.41, Q 100: 2.0 bpp on
photographs like the CID22 validation split).  ``level`` does not change
FRAPPE's output.

Tune: ``tune="psnr"`` (the default) codes new still images with the model trained for
pixel error, ``tune="ms-ssim"`` with the same run continued with MS-SSIM mixed into
its loss (``TUNE_MODELS``; like an encoder's ``--tune ssim``: finer structure
and contrast at a rate, a little less PSNR).  Decoding needs no option: a payload
names its model.

Frames mode (``frames="WxH"``, ``squeeze compress --codec frappe --frames WxH``):
the input is raw RGB24 frames, one block per frame, coded by the real-time frame
encoder of ``frames.py`` (``bpp``/``quality`` per frame, or ``bitrate`` + ``fps``
for a constant bitrate; rates count payload bytes); the decoded blocks are the
raw frames again.  New streams' block checks cover the payload (``check_payload``;
docs/FORMAT.md, header flags bit 2), so no encode runs the decoder network.

Threads: the codec keeps to ``self.threads`` (the core's ``-T`` count, see
``frappe_cli.codec.Codec.threads``): an image (one block) is coded with at most
that many threads (``threads.limit``: the encoder pool and numba's parallel
kernels), a frame (one of many blocks, coded in parallel by the container) with
one.  The bytes never depend on it.

This module imports only the standard library; numpy, numba, Pillow and the
weights load on first use.
"""

from __future__ import annotations

import math
import struct
import threading
from typing import Any, BinaryIO, Iterator

from frappe_cli import varint
from frappe_cli.codec import Codec
from frappe_cli.errors import (CorruptError, InputError, OptionError, SqueezeError,
                               UnsupportedError)

PAYLOAD_VERSION = 1
MAX_FILE = 256 << 20  # largest input file read as one block
FLAG_GREY, FLAG_ALPHA = 1, 2
FMT_SHIFT = 2
ALPHA_RAW, ALPHA_DELTA = 0, 1
DEFAULT_QUALITY = 50.0
#: ``tune`` -> the manifest name of the shipped model new still images are coded with
#: (the first is the default, ``model.MODEL_NAME``); the decoder needs no option, a
#: payload names its model
TUNE_MODELS = {"psnr": "frappe-image", "ms-ssim": "frappe-image-msssim"}
TUNES = tuple(TUNE_MODELS)
#: the --bpp targets the shipped model supports (its fitted rate path and the rate
#: search stay inside them); change them with the model
MIN_BPP = 0.02
MAX_BPP = 1.0
#: decoded images are PNG files, or PPM/PGM when the input was PPM/PGM (SPEC.md 1);
#: the name extensions that already say so (any other -> ``stem.png``)
PNG_EXTENSIONS = (".png",)
PNM_EXTENSIONS = (".ppm", ".pgm", ".pnm")
#: input formats decoded to PNG whose extension ``output_name`` replaces
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".bmp", ".dib", ".tif",
                    ".tiff", ".gif", ".pbm")
# the two ANS streams: 8-byte headers each + up to one flushed state word each
_STREAM_FIXED = 24
#: levels above this run the decoder inside the encoder (``FrappeCodec._refine``)
SEARCH_FROM_LEVEL = 6




def quality_rate(quality: float) -> float:
    """The validation-set rate (bpp) a quality 0..100 stands for."""
    return 0.01 * 200.0 ** (quality / 100.0)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    return varint.decode(buf, pos, (1 << 35) - 1, "image header")


class FrappeCodec(Codec):
    codec_id = "frappe"
    process_memory = 100 << 20  # numba and the kernels (see Codec)
    bitstream_version = 1
    lossless = False
    fallback = "none"
    description = ("FRAPPE-Image: learned lossy image codec (projection-pursuit encoder, "
                   "--bpp X or --quality 0..100; -7..-9: slower, the encoder runs its "
                   "decoder to choose; --frames WxH: raw RGB24 frames)")
    options = {"bpp": float, "quality": float, "tune": str, "frames": str,
               "bitrate": (int, str), "fps": float}
    cli_options = (
        {"flag": "--bpp", "param": "bpp", "type": float,
         "help": "Image codec: target bits per pixel."},
        {"flag": "--quality", "param": "quality", "type": float,
         "help": "Image codec: quality 0..100."},
        {"flag": "--tune", "param": "tune", "choices": TUNES,
         "help": "Image codec: the metric the model was trained for (default psnr; "
                 "ms-ssim: structure over pixel error)."},
        {"flag": "--frames", "param": "frames", "metavar": "WxH",
         "help": "Image codec: the input is raw RGB24 frames of this size (one block per "
                 "frame; -dc writes them back)."},
        {"flag": "--bitrate", "param": "bitrate", "metavar": "RATE",
         "help": "Frame stream: constant bitrate in bits per second (2M, 500k) at --fps."},
        {"flag": "--fps", "param": "fps", "type": float,
         "help": "Frame stream: frames per second."},
    )
    #: new streams: the block check covers the payload (FORMAT.md flags bit 2), so an
    #: encode never runs the decoder network; streams of the old form still decode
    check_payload = True

    # --bpp: the step search stops once the stream uses this share of the budget
    # (0.97 before 2026-12-06: about 1.5 % of the rate was left unused on average)
    RATE_FILL = 0.99

    def __init__(self, level: int = 6, *, _from_stream: bool = False, **params: Any):
        super().__init__(level, **params)
        bpp = params.get("bpp")
        quality = params.get("quality")
        if bpp is not None and quality is not None:
            raise OptionError("frappe takes --bpp or --quality, not both")
        if bpp is not None:
            if isinstance(bpp, bool) or not isinstance(bpp, (int, float)) \
                    or not math.isfinite(bpp):
                raise OptionError(f"bpp must be a number, not {bpp!r}")
            if _from_stream:
                # a stream's header keeps the target its encoder took (older versions
                # took 0.001..24); the decoder never uses it, so only new targets are
                # held to the model's range
                if not 0.001 <= bpp <= 24.0:
                    raise OptionError(f"bpp must be a number in 0.001..24, not {bpp!r}")
            elif not MIN_BPP <= bpp <= MAX_BPP:
                raise OptionError(f"--bpp {bpp:g} is outside the range FRAPPE supports: "
                                  f"{MIN_BPP:g} to {MAX_BPP:g} bits per pixel")
        tune = params.get("tune")
        if tune is not None and tune not in TUNES:
            raise OptionError(f"tune must be one of {', '.join(TUNES)}, not {tune!r}")
        self.tune: str = tune or TUNES[0]
        self.frames: tuple[int, int] | None = None
        if "frames" in params or "bitrate" in params or "fps" in params:
            self._frames_init(params)
            if tune is not None and tune != TUNES[0]:
                raise OptionError("--tune applies to still images; frame streams are coded "
                                  "with the real-time frame model")
        if quality is not None:
            if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not (
                    0.0 <= float(quality) <= 100.0):
                raise OptionError(f"quality must be a number in 0..100, not {quality!r}")

    @classmethod
    def from_config(cls, cfg: dict) -> "FrappeCodec":
        """The codec a stream header describes (its rate is not judged again)."""
        cfg = dict(cfg)
        cfg.pop("id", None)
        level = cfg.pop("level", 6)
        return cls(level=level, _from_stream=True, **cfg)

    @classmethod
    def output_name(cls, name: str, params: dict) -> tuple[str, str] | None:
        """Decoded images are PNG (PPM/PGM for PPM/PGM inputs): ``photo.jpg`` ->
        ``photo.png``, ``scan.pbm`` -> ``scan.pgm``, ``x`` -> ``x.png``; PNG and
        PPM/PGM names stay.  Frame streams decode to raw frames: the name stays."""
        import os

        if params.get("frames") is not None:
            return None
        stem, ext = os.path.splitext(name)
        low = ext.lower()
        if low in PNG_EXTENSIONS or low in PNM_EXTENSIONS:
            return None
        if low == ".pbm":  # bilevel in, greyscale out: a PGM
            return stem + ".pgm", "decoded image written as PGM"
        base = stem if low in IMAGE_EXTENSIONS else name
        if not os.path.basename(base):
            base = name
        return base + ".png", "decoded image written as PNG"

    def _frames_init(self, params: dict) -> None:
        """Frames mode (``frames="WxH"``): raw RGB24 frames in, one block per frame,
        raw RGB24 frames out; rates count payload bytes (squeeze_image.frames)."""
        from squeeze_image import frames

        if "frames" not in params:
            raise OptionError("bitrate and fps are frame-stream options: give --frames WxH")
        self.frames = frames.parse_frames(params["frames"])
        self.params["frames"] = "%dx%d" % self.frames
        if self.frames[0] * self.frames[1] * 3 > MAX_FILE:
            raise OptionError(f"frames of {params['frames']} do not fit one block")
        bitrate, fps = params.get("bitrate"), params.get("fps")
        if bitrate is not None:
            if params.get("bpp") is not None or params.get("quality") is not None:
                raise OptionError("frappe takes one of --bpp, --quality and --bitrate")
            if fps is None:
                raise OptionError("--bitrate needs --fps (frames per second)")
            self.params["bitrate"] = frames.parse_bitrate(bitrate)
        if fps is not None:
            self.params["fps"] = frames.check_fps(fps)
            if float(self.params["fps"]).is_integer():
                self.params["fps"] = int(self.params["fps"])
        self._frame_lock = threading.Lock()
        self._frame_enc = None
        self._frame_ctl = None
        self._frame_spec = frames._rate_spec(
            bpp=self.params.get("bpp"), quality=self.params.get("quality"),
            bitrate=self.params.get("bitrate"),
            fps=self.params.get("fps") if self.params.get("bitrate") is not None else None)

    def _frame_encoder(self):
        from squeeze_image import frames

        with self._frame_lock:
            if self._frame_enc is None:
                self._frame_enc = frames._Encoder(1)  # the container runs frames in parallel
                if self._frame_spec[0] == "bitrate":
                    self._frame_ctl = frames.RateControl(self._frame_spec[1],
                                                         self._frame_spec[2])
            return self._frame_enc, self._frame_ctl

    @classmethod
    def summarize(cls, params: dict, blocks: list[tuple[int, int]]) -> dict | None:
        """``squeeze list`` of a frame stream: frames, size, payload bytes per frame."""
        frames = params.get("frames")
        if not isinstance(frames, str) or not blocks:
            return None
        try:
            from squeeze_image.frames import parse_frames

            w, h = parse_frames(frames)
        except Exception:  # noqa: BLE001 - a listing never fails on a parameter
            return None
        sizes = [c for _, c in blocks]
        mean = sum(sizes) / len(sizes)
        out = {"frames": len(sizes), "width": w, "height": h,
               "mean_frame_bytes": round(mean, 1), "min_frame_bytes": min(sizes),
               "max_frame_bytes": max(sizes), "mean_bpp": round(8 * mean / (w * h), 5)}
        text = (f"{len(sizes)} frames {w}x{h} RGB24, payload mean {mean:,.0f} B/frame = "
                f"{8 * mean / (w * h):.4f} bpp (min {min(sizes):,}, max {max(sizes):,})")
        fps = params.get("fps")
        if isinstance(fps, (int, float)) and not isinstance(fps, bool) and fps > 0:
            out["fps"] = fps
            out["bits_per_second"] = round(8 * mean * fps)
            text += f", {8 * mean * fps / 1e6:.3f} Mbit/s at {fps:g} fps"
            if isinstance(params.get("bitrate"), int):
                text += f" (target {params['bitrate'] / 1e6:.3f})"
        out["text"] = text
        return out

    @classmethod
    def describe(cls, path) -> list[dict] | None:
        """``squeeze list -v`` of still-image streams: one row per picture with its
        size, mode, real rate (the whole stream's bits per pixel), the channels and
        step the encoder chose and the model (manifest name); nothing is decoded, only
        each payload's header is read."""
        from frappe_cli import container
        from frappe_cli.models import manifest
        from squeeze_image import image

        names = {e.get("sha256", "")[:16]: n for n, e in manifest("squeeze_image").items()}
        rows = []
        with open(path, "rb") as f:
            for i, st in enumerate(container.scan_streams(f)):
                if st.header.codec_id != cls.codec_id or len(st.blocks) != 1 \
                        or st.blocks[0].kind != container.KIND_CODEC:
                    continue
                if st.header.params.get("frames") is not None:
                    continue  # a frame stream: summarize() reports it
                try:
                    f.seek(st.blocks[0].offset)
                    head = cls._parse_head(memoryview(f.read(min(st.blocks[0].csize, 64))))
                except SqueezeError:
                    continue  # a listing reports what it can read
                w, h = head["width"], head["height"]
                mode = ("L" if head["grey"] else "RGB") + ("A" if head["has_alpha"] else "")
                rows.append({"stream": i, "image": f"{w}x{h}", "mode": mode,
                             "bpp": round(8 * st.compressed / (w * h), 4),
                             "channels": head["n"], "step": head["D"] / 256,
                             "model": names.get(head["ident"], head["ident"]),
                             "decodes_to": "PNG" if head["fmt"] == image.FMT_PNG else "PNM"})
        return rows or None

    # -- blocks ----------------------------------------------------------------------
    def block_size(self) -> int:
        if self.frames is not None:
            return self.frames[0] * self.frames[1] * 3
        return MAX_FILE

    def max_reconstruction_size(self, block_size: int) -> int | None:
        if self.frames is not None:
            return self.frames[0] * self.frames[1] * 3
        return None

    def reconstruction_size(self, data: bytes, payload: bytes) -> int | None:
        from squeeze_image import image

        head = self._parse_head(memoryview(bytes(payload)))
        if self.frames is not None:
            return self.frames[0] * self.frames[1] * 3
        return image.raw_size(head["width"], head["height"], head["channels"])

    def split(self, reader: BinaryIO, block_size: int) -> Iterator[tuple[bytes, Any]]:
        from frappe_cli.codec import read_exact

        if self.frames is not None:
            size = self.frames[0] * self.frames[1] * 3
            if block_size < size:
                raise OptionError(f"block size {block_size} is smaller than one "
                                  f"{self.params['frames']} frame ({size} bytes)")
            index = 0
            while True:
                data = read_exact(reader, size)
                if not data:  # (no frames at all: an empty stream, as for empty input)
                    return
                if len(data) < size:
                    raise InputError(
                        f"the input ends inside frame {index + 1}: {len(data)} of the "
                        f"{size} bytes of a {self.params['frames']} RGB24 frame")
                yield data, index
                index += 1
        limit = min(block_size, MAX_FILE)
        data = read_exact(reader, limit + 1)
        if len(data) > limit:
            raise InputError(f"input too large for the image codec (over {limit} bytes; the "
                             "whole image file is one block)")
        if not data:
            raise InputError("empty input is not an image")
        yield data, None

    def memory_usage(self) -> int:
        return 1 << 30

    def _model(self):
        """The model new still images are coded with (``tune``)."""
        from frappe_cli.models import manifest
        from squeeze_image import model

        name = TUNE_MODELS[self.tune]
        if name not in manifest("squeeze_image"):
            raise UnsupportedError(f"no FRAPPE model tuned for {self.tune} is installed")
        return model.load(name=name)

    # -- rate --------------------------------------------------------------------------
    def _container_bytes(self, payload_len: int, raw_len: int) -> int:
        """Bytes the .sqz container adds around one block of this codec (header with
        the parameters, block record, default xxh64 check, index, footer)."""
        from frappe_cli import container

        return container.framing_size(self, payload_len, raw_len)

    def _overhead_bits(self, header_len: int, alpha_len: int, payload_len: int = 0,
                       raw_len: int = 1) -> int:
        return 8 * (self._container_bytes(payload_len, raw_len) + header_len + _STREAM_FIXED
                    + alpha_len)

    @staticmethod
    def _path_point(mdl, rate: float) -> tuple[int, int]:
        import numpy as np

        lr = math.log(max(rate, 1e-6))
        grid = np.log(mdl.path_bpp)
        i = int(np.clip(np.searchsorted(grid, lr), 0, grid.size - 1))
        if i > 0 and abs(grid[i - 1] - lr) < abs(grid[i] - lr):
            i -= 1
        return int(mdl.path_n[i]), int(mdl.path_d[i])

    def _choose(self, mdl, img, shape, pic, header_len: int, alpha_len: int):
        """(n, D, cache): the operating point and the encoder's per-channel state
        (latents of at least the first n channels, symbols computed so far)."""
        from squeeze_image import entropy

        bpp = self.params.get("bpp")
        if bpp is None:
            q = float(self.params.get("quality", DEFAULT_QUALITY))
            n, D = self._path_point(mdl, quality_rate(q))
            return n, D, entropy.ChannelCache(mdl, mdl.analysis(img, n, shape=shape))
        return self._search(mdl, img, shape, pic, float(bpp), header_len, alpha_len)

    def _search(self, mdl, img, shape, pic, bpp, header_len, alpha_len):
        """Largest rate <= the budget: channel count from the fitted path, then D."""
        from squeeze_image import entropy, image

        npix = pic.width * pic.height
        # ideal code length -> real streams: constriction's fixed-point probabilities
        # cost up to ~0.1 % more than the ideal length
        raw_len = image.raw_size(pic.width, pic.height,
                                 (1 if pic.grey else 3) + (1 if pic.alpha is not None else 0))
        approx = max(0, int(bpp * npix / 8))
        budget = 0.998 * (bpp * npix - self._overhead_bits(header_len, alpha_len, approx, raw_len))
        n, D0 = self._path_point(mdl, max(budget, 1.0) / npix)
        # latents of the path's channels only; more are projected if the search needs them
        cc = entropy.ChannelCache(mdl, mdl.analysis(img, n, shape=shape))
        if budget <= 0:
            return n, entropy.D_MAX, cc

        lo_lim, hi_lim = entropy.D_MIN, entropy.D_MAX
        D_guess = D0
        tried: set[int] = set()
        while True:
            self._project(mdl, img, shape, cc, n)
            tried.add(n)
            D, status = self._solve_step(lambda d, nn=n: cc.bits(nn, d), budget, D_guess,
                                         lo_lim, hi_lim, self.RATE_FILL)
            if status > 0 and n < mdl.n_ch and n + 1 not in tried:
                n += 1  # even the finest step leaves budget unused: one more channel
                D_guess = hi_lim
                continue
            if status < 0 and n > 1 and n - 1 not in tried:
                n -= 1  # even the coarsest step is too large: one channel fewer
                D_guess = lo_lim
                continue
            return n, D, cc

    @staticmethod
    def _project(mdl, img, shape, cc, n: int) -> None:
        """Make sure the encoder state ``cc`` holds the latents of channels 0..n-1."""
        if n > len(cc.ys):
            cc.ys.extend(mdl.analysis(img, n, len(cc.ys), shape=shape))

    def _refine(self, mdl, img, shape, pic, n0: int, D0: int, cc) -> tuple[int, int]:
        """Levels 7-9: the encoder runs its decoder.  Channel counts within
        ``level - 6`` of the chosen one are each given the finest step that keeps
        the stream within the bits (n0, D0) take, their reconstructions are scored by
        the tune's metric (``score``), and the best (n, D) is kept; (n0, D0) is
        always a candidate, so the result never scores below level 6's."""
        from squeeze_image import entropy

        budget = cc.bits(n0, D0)
        span = self.level - SEARCH_FROM_LEVEL
        H, W = shape
        best = None
        for n in range(max(1, n0 - span), min(mdl.n_ch, n0 + span) + 1):
            D = D0
            if n != n0:
                self._project(mdl, img, shape, cc, n)
                D, status = self._solve_step(lambda d, nn=n: cc.bits(nn, d), budget, D0,
                                             entropy.D_MIN, entropy.D_MAX, self.RATE_FILL)
                if status < 0:  # even the coarsest step takes more bits
                    continue
            rgb = mdl.synthesis([cc.q(k, D) for k in range(n)], n, D / 256.0, H, W,
                                pic.height, pic.width)
            s = self.score(rgb, pic)
            if best is None or s > best[0]:
                best = (s, n, D)
        return best[1], best[2]

    def score(self, rgb, pic) -> float:
        """How good a reconstruction ``rgb`` of ``pic`` is by this codec's tune (higher
        is better): PSNR, or MS-SSIM for ``ms-ssim`` (PSNR for pictures with a side
        of at most 160 pixels, where MS-SSIM is undefined); greyscale pictures are
        scored on the grey levels the decoder writes."""
        from squeeze_image import image, metrics

        a, b = rgb, pic.rgb
        if pic.grey:
            a, b = image.grey_of(a)[..., None], b[..., :1]
        if self.tune == "ms-ssim" and min(a.shape[:2]) >= metrics.MS_SSIM_MIN_SIDE:
            return metrics.ms_ssim(a, b)
        return metrics.psnr(a, b)

    @staticmethod
    def _solve_step(f, budget: float, D0: int, lo_lim: int, hi_lim: int,
                    fill: float = 0.97) -> tuple[int, int]:
        """Smallest step D (most bits) with f(D) <= budget; f decreases with D.

        Secant steps on (log D, log bits) inside a shrinking bracket; stops as soon
        as a fitting D uses >= ``fill`` of the budget.  Returns (D, status): status
        +1 if even lo_lim leaves more than 1 - fill of the budget unused, -1 if even
        hi_lim is over budget."""
        lo = hi = None  # lo: a step known over budget, hi: a step known to fit
        f_lo = f_hi = 0.0
        D = min(max(int(D0), lo_lim), hi_lim)
        aim = budget * (1 + fill) / 2
        side_run = 0
        for _ in range(24):
            v = f(D)
            if v <= budget:
                side_run = side_run + 1 if lo is not None and hi is not None and D < hi else 0
                hi, f_hi = D, v
                if v >= fill * budget:
                    break
            else:
                lo, f_lo = D, v
            if hi is None:  # everything so far is over budget: coarser
                if D >= hi_lim:
                    break
                nxt = min(hi_lim, max(D + 1, int(round(D * v / aim))))
            elif lo is None:  # everything so far fits: finer
                if D <= lo_lim:
                    break
                nxt = max(lo_lim, min(D - 1, int(round(D * v / aim))))
            else:
                if hi - lo <= 1:
                    break
                t = (math.log(f_lo) - math.log(aim)) / max(math.log(f_lo) - math.log(f_hi), 1e-12)
                nxt = int(round(math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))))
                if not lo < nxt < hi or side_run >= 2:
                    nxt = (lo + hi) // 2  # bisection when the secant stalls
                    side_run = 0
            D = nxt
        if hi is None:
            return hi_lim, -1
        if hi == lo_lim and f_hi < fill * budget:
            return hi, 1
        return hi, 0

    # -- encode ------------------------------------------------------------------------
    def _thread_budget(self):
        """``threads.limit`` for one block: ``self.threads`` for an image (the stream's
        only block), one for a frame (the container codes frames in parallel)."""
        from squeeze_image import threads

        return threads.limit(self.threads if self.frames is None else 1)

    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        from squeeze_image import image

        with self._thread_budget():
            if self.frames is not None:
                return self.encode_frame(data, hint)
            return self.encode_picture(image.read_picture(bytes(data)))

    def encode_frame(self, data: bytes, index: int | None = None) -> bytes:
        """Frames mode: frame ``index`` of the stream (W*H*3 RGB24 bytes) -> payload,
        exactly what ``FrameEncoder.encode`` gives for it at the same rate."""
        import numpy as np

        from squeeze_image import frames

        w, h = self.frames
        if len(data) != w * h * 3:
            raise InputError(f"a {w}x{h} RGB24 frame is {w * h * 3} bytes, not {len(data)}")
        enc, ctl = self._frame_encoder()
        rgb = np.frombuffer(bytes(data), np.uint8).reshape(h, w, 3)
        if ctl is not None and index is None:
            raise OptionError("bitrate control needs the frame index")
        return frames.encode_indexed(enc, rgb, self._frame_spec, ctl, index or 0)[0]

    def encode_picture(self, pic, with_reconstruction: bool = False):
        """Pixels (an ``image.Picture``) -> payload: the codec's whole encoder; with
        ``with_reconstruction`` -> (payload, the raw reconstruction decode_block will
        return), synthesised from the encoder's own quantised channels."""

        mdl = self._model()
        if not mdl.has_ctx or mdl.path_bpp is None:
            raise UnsupportedError("the image model file has no entropy tables")
        h0, w0 = pic.height, pic.width
        mp = mdl.max_patch
        H = -(-h0 // mp) * mp
        W = -(-w0 // mp) * mp
        img = pic.rgb  # the analysis reads it as if edge-padded to (H, W)
        alpha_blob = self._alpha_blob(pic.alpha) if pic.alpha is not None else b""
        flags = (FLAG_GREY if pic.grey else 0) | (FLAG_ALPHA if alpha_blob else 0)
        flags |= pic.fmt << FMT_SHIFT
        head0 = (bytes([PAYLOAD_VERSION]) + bytes.fromhex(mdl.ident) + varint.encode(w0)
                 + varint.encode(h0) + bytes([flags]))
        n, D, cc = self._choose(mdl, img, (H, W), pic, len(head0) + 3, len(alpha_blob))
        if self.level > SEARCH_FROM_LEVEL:
            n, D = self._refine(mdl, img, (H, W), pic, n, D, cc)
        qs = [cc.q(k, D) for k in range(n)]
        streams = cc.encode(n, D)
        payload = head0 + bytes([n]) + struct.pack("<H", D) + streams + alpha_blob
        if not with_reconstruction:
            return payload
        from squeeze_image import image

        rgb = mdl.synthesis(qs, n, D / 256.0, H, W, pic.height, pic.width)
        return payload, image.make_raw(rgb, pic.grey, pic.alpha, pic.fmt)

    @staticmethod
    def _alpha_blob(alpha) -> bytes:
        import numpy as np
        import zstandard

        raw = alpha.tobytes()
        d = alpha.astype(np.int16)
        d[:, 1:] -= alpha[:, :-1].astype(np.int16)
        delta = (d & 0xFF).astype(np.uint8).tobytes()
        best = None
        for method, buf in ((ALPHA_RAW, raw), (ALPHA_DELTA, delta)):
            z = zstandard.ZstdCompressor(level=19, write_content_size=True,
                                         write_checksum=False).compress(buf)
            if best is None or len(z) < len(best[1]):
                best = (method, z)
        return bytes([best[0]]) + best[1]

    def encode_lossy(self, data: bytes, hint: Any = None) -> tuple[bytes, bytes]:
        """(payload, reconstruction) in one pass: the synthesis runs on the encoder's
        own quantised channels (no entropy decoding, no cache between calls)."""
        from squeeze_image import image

        with self._thread_budget():
            if self.frames is not None:
                payload = self.encode_frame(data, hint)
                return payload, self.decode_block(payload, self.frames[0] * self.frames[1] * 3)
            return self.encode_picture(image.read_picture(bytes(data)), True)

    def reconstruction(self, data: bytes, payload: bytes) -> bytes:
        """What decode_block returns for ``payload`` (decodes it)."""
        with self._thread_budget():
            if self.frames is not None:
                return self.decode_block(payload, self.frames[0] * self.frames[1] * 3)
            return self._decode(payload)[0]

    # -- decode ------------------------------------------------------------------------
    def decode_block(self, payload: bytes, size: int) -> bytes:
        if self.frames is not None:
            # frames mode: the block is the frame's raw RGB24 pixels
            w, h = self.frames
            if size != w * h * 3:
                raise CorruptError("Compressed data is corrupt (frame block size)")
            with self._thread_budget():
                rgb, _ = self.decode_pixels(payload, expect=(w, h))
            return memoryview(rgb.reshape(-1))
        with self._thread_budget():
            raw, _ = self._decode(payload, size)
        return raw

    @staticmethod
    def _parse_head(buf: memoryview) -> dict:
        """The payload header (SPEC.md section 2) without the model: sizes and flags."""
        from squeeze_image import image

        if len(buf) < 12:
            raise CorruptError("Compressed data is corrupt (image payload too short)")
        if buf[0] != PAYLOAD_VERSION:
            raise UnsupportedError(f"Unsupported options: FRAPPE payload version {buf[0]}")
        w0, pos = _read_varint(buf, 9)
        h0, pos = _read_varint(buf, pos)
        if pos + 4 > len(buf):
            raise CorruptError("Compressed data is corrupt (image header truncated)")
        flags, n = buf[pos], buf[pos + 1]
        (D,) = struct.unpack_from("<H", buf, pos + 2)
        fmt = flags >> FMT_SHIFT
        if flags & ~0x0F or fmt not in (image.FMT_PNG, image.FMT_PNM):
            raise CorruptError("Compressed data is corrupt (image flags)")
        try:
            image.check_dims(w0, h0)
        except InputError:
            raise CorruptError("Compressed data is corrupt (image size)") from None
        grey = bool(flags & FLAG_GREY)
        has_alpha = bool(flags & FLAG_ALPHA)
        return {"ident": bytes(buf[1:9]).hex(), "width": w0, "height": h0, "grey": grey,
                "has_alpha": has_alpha, "fmt": fmt, "n": n, "D": D, "pos": pos + 4,
                "channels": (1 if grey else 3) + (1 if has_alpha else 0)}

    def _checked_head(self, buf: memoryview) -> dict:
        from squeeze_image import entropy

        from squeeze_image import model

        head = self._parse_head(buf)
        mdl = model.load_ident(head["ident"])  # every shipped model: old streams decode
        if mdl is None:
            raise UnsupportedError(f"Unsupported options: encoded with FRAPPE model "
                                   f"{head['ident']}, which this build does not have")
        head["model"] = mdl
        if not 1 <= head["n"] <= mdl.n_ch or not entropy.D_MIN <= head["D"] <= entropy.D_MAX:
            raise CorruptError("Compressed data is corrupt (image rate parameters)")
        return head

    def decode_pixels(self, payload: bytes, expect: tuple[int, int] | None = None):
        """Payload -> (decoded RGB (H, W, 3) uint8, header fields + ``alpha`` plane).
        ``expect`` = (W, H): only an RGB payload of that size without alpha (a frame)."""
        from squeeze_image import entropy

        buf = memoryview(bytes(payload))
        head = self._checked_head(buf)
        mdl = head.pop("model")
        n, D = head["n"], head["D"]
        w0, h0 = head["width"], head["height"]
        if expect is not None and ((w0, h0) != tuple(expect) or head["grey"]
                                   or head["has_alpha"]):
            raise CorruptError("Compressed data is corrupt (a frame payload of another size "
                               "or kind)")
        mp = mdl.max_patch
        H = -(-h0 // mp) * mp
        W = -(-w0 // mp) * mp
        shapes = [mdl.channel_shape(k, H, W) for k in range(mdl.n_ch)]
        qs, end = entropy.decode(mdl, buf, head["pos"], n, D, shapes)
        alpha = None
        if head["has_alpha"]:
            alpha = self._alpha_decode(buf[end:], w0, h0)
        elif end != len(buf):
            raise CorruptError("Compressed data is corrupt (trailing bytes in the image payload)")
        rgb = mdl.synthesis(qs, n, D / 256.0, H, W, h0, w0)
        head["alpha"] = alpha
        return rgb, head

    def _decode(self, payload: bytes, size: int | None = None) -> tuple[bytes, tuple]:
        from squeeze_image import image

        head = self._checked_head(memoryview(bytes(payload)))
        if size is not None and size != image.raw_size(head["width"], head["height"],
                                                       head["channels"]):
            raise CorruptError("Compressed data is corrupt (image size does not match the block)")
        rgb, head = self.decode_pixels(payload)
        return image.make_raw(rgb, head["grey"], head["alpha"], head["fmt"]), (head["n"],
                                                                                 head["D"])

    @staticmethod
    def _alpha_decode(buf: memoryview, w: int, h: int):
        import numpy as np
        import zstandard

        if len(buf) < 2 or buf[0] not in (ALPHA_RAW, ALPHA_DELTA):
            raise CorruptError("Compressed data is corrupt (alpha plane)")
        z = bytes(buf[1:])
        try:
            fp = zstandard.get_frame_parameters(z)
            if fp.content_size != w * h:
                raise CorruptError("Compressed data is corrupt (alpha plane size)")
            raw = zstandard.ZstdDecompressor().decompress(z, max_output_size=w * h)
        except zstandard.ZstdError as exc:
            raise CorruptError(f"Compressed data is corrupt (alpha plane: {exc})") from None
        if len(raw) != w * h:
            raise CorruptError("Compressed data is corrupt (alpha plane size)")
        a = np.frombuffer(raw, np.uint8).reshape(h, w)
        if buf[0] == ALPHA_DELTA:
            a = np.cumsum(a.astype(np.uint8), axis=1, dtype=np.uint8)
        return np.ascontiguousarray(a)

    def finish_output(self, data: bytes) -> bytes:
        from squeeze_image import image

        if self.frames is not None:
            return data  # raw RGB24 frames
        return image.raw_to_file(data)
