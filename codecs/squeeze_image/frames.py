"""FRAPPE for frames: a real-time encoder for camera frames, and its decoder.

The use FRAPPE was designed for: a robot, wearable or remote sensor sends camera
frames to a server at a chosen rate, and the encoder must be cheap (1080p at
30 fps on one small CPU core, no GPU).  The analysis transform is a set of
patch projections, so encoding costs little; the rate can change from one frame
to the next at no cost (the decoder reads (n, D) from each payload).

* :class:`FrameEncoder` - ``encode(frame)`` turns an (H, W, 3) uint8 array into
  one payload (a FRAPPE-Image payload, SPEC.md section 2: any FRAPPE decoder
  reads it); the rate is ``bpp``, ``bytes_per_frame``, ``quality`` or a
  constant ``bitrate`` at ``fps`` (:class:`RateControl`), changeable per call.
* :class:`FrameDecoder` - ``decode(payload)`` -> (H, W, 3) uint8, and
  ``decode_batch``.  The model is loaded once per process.
* ``squeeze compress --codec frappe --frames WxH`` stores one payload per block
  of a .sqz stream, with this encoder (``FrappeCodec`` in frames mode).

Rates count **payload** bytes (what a sender puts on its link): ``bpp = X``
means at most X * W * H / 8 bytes per payload; a .sqz stream adds 21 bytes of
block framing per frame and its header, index and footer.

The encoder's rate search (per frame, to fit a budget) estimates code lengths
on a quarter of the latent rows, then codes the frame at the chosen step and
steps coarser if the exact length is over the budget: a payload never exceeds
its budget (unless even the coarsest operating point does) and lands normally
within a few percent under it.  Payloads depend only on the frame, the rate and
(for ``bitrate``) the sizes of earlier frames, never on ``threads``.
"""

from __future__ import annotations

import math
import struct
import threading
from typing import Any, Iterable, Iterator

import numpy as np

from frappe_cli import varint
from frappe_cli.errors import CorruptError, InputError, OptionError, UnsupportedError

#: rate control: frame i's budget depends on the sizes of frames <= i - LAG (and
#: on frame i - 1's budget), so that LAG frames can be coded at once
LAG = 2
#: the rate search estimates code lengths on every SAMPLE_STEP-th latent row of
#: channels with at least SAMPLE_MIN_ROWS rows
SAMPLE_STEP = 4
SAMPLE_MIN_ROWS = 24
#: rate control never carries more unused budget than this share of one second
CREDIT_CAP = 0.02
#: longest wait for the sizes of earlier frames (seconds)
WAIT_S = 300.0

_SI_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def parse_frames(value: Any) -> tuple[int, int]:
    """``"WxH"`` (or a (W, H) pair) -> (W, H), checked against the image limits."""
    from squeeze_image import image

    if isinstance(value, str):
        w, sep, h = value.lower().partition("x")
        try:
            if not sep:
                raise ValueError
            wh = (int(w), int(h))
        except ValueError:
            raise OptionError(f"frames must be WIDTHxHEIGHT (e.g. 1920x1080), not {value!r}") \
                from None
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(type(v) is int for v in value)):
        wh = (value[0], value[1])
    else:
        raise OptionError(f"frames must be WIDTHxHEIGHT (e.g. 1920x1080), not {value!r}")
    try:
        image.check_dims(*wh)
    except InputError as exc:
        raise OptionError(f"frames {wh[0]}x{wh[1]}: {exc.message}") from None
    return wh


def parse_bitrate(value: Any) -> int:
    """Bits per second: a positive number, or a string with a k/M/G suffix (decimal,
    as video tools count: ``"2M"`` = 2,000,000)."""
    v = value
    if isinstance(value, str):
        s = value.strip().lower().removesuffix("bps").removesuffix("b")
        mult = _SI_SUFFIX.get(s[-1:], None) if s and s[-1:].isalpha() else 1
        if mult is None:
            raise OptionError(f"bitrate must be bits per second like 2M or 500k, not {value!r}")
        if s[-1:].isalpha():
            s = s[:-1]
        try:
            v = float(s) * mult
        except ValueError:
            raise OptionError(f"bitrate must be bits per second like 2M or 500k, "
                              f"not {value!r}") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or not 1000 <= v <= 1e12:
        raise OptionError(f"bitrate must be 1k..1000G bits per second, not {value!r}")
    return int(round(v))


def check_fps(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.01 <= float(value) <= 10000:
        raise OptionError(f"fps must be a number in 0.01..10000, not {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------
# rate control


class RateControl:
    """Constant bitrate over frames: ``bitrate`` bits per second at ``fps``.

    Frame i gets the budget that puts the projected total of frames 0..i on
    ``(i + 1) * T`` bits (T = bitrate / fps): the actual sizes of frames up to
    i - LAG, the budget of frame i - 1 (its size is at most that), and what is
    left.  So every byte a frame leaves unused is spent LAG frames later, and since
    a frame never exceeds its budget, any window of frames stays on the target
    (unused budget is carried for at most CREDIT_CAP of a second's bits; a budget
    is kept within T/4 .. 3T).  The budgets are a pure function of the earlier
    sizes: no side information, the same payloads however many frames are coded
    at once.  ``budget(i)`` waits until the sizes it needs are recorded."""

    def __init__(self, bitrate: int, fps: float):
        self.bitrate = int(bitrate)
        self.fps = float(fps)
        self.per_frame = self.bitrate / self.fps
        self._sizes: dict[int, int] = {}
        self._budgets: list[float] = []
        self._cum: list[int] = [0]  # cumulative sizes of frames 0..j-1 (known prefix)
        self._cond = threading.Condition()

    def _next_budget(self) -> None:
        m = len(self._budgets)
        T = self.per_frame
        proj = self._cum[m - 1] if m >= 1 else 0  # frames <= m - 2 (sizes known)
        if m >= 1:
            proj += self._budgets[m - 1]
        debt = max(proj - m * T, -CREDIT_CAP * self.bitrate)
        self._budgets.append(min(max(T - debt, 0.25 * T), 3.0 * T))

    def budget(self, i: int, timeout: float | None = None) -> float:
        """Frame i's budget in payload bits (waits for the sizes of frames <= i - LAG)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._cum) - 1 >= i - LAG + 1,
                                       timeout=timeout):
                raise OptionError("rate control: the sizes of earlier frames never came "
                                  "(--bitrate needs every frame of a stream coded in one "
                                  "process)")
            while len(self._budgets) <= i:
                self._next_budget()
            return self._budgets[i]

    def record(self, i: int, bits: int) -> None:
        """Frame i came out ``bits`` long."""
        with self._cond:
            self._sizes[i] = int(bits)
            while len(self._cum) - 1 in self._sizes:
                j = len(self._cum) - 1
                self._cum.append(self._cum[-1] + self._sizes.pop(j))
            self._cond.notify_all()

    @property
    def frames(self) -> int:
        """Frames recorded in order so far."""
        return len(self._cum) - 1


# ------------------------------------------------------------------------------------
# the encoder core (per model, shared by every FrameEncoder and the codec)


class _Workers:
    """Runs independent kernel calls on the calling thread plus ``threads - 1``
    helpers (the kernels release the GIL).  Each task writes its own output, so
    the results never depend on the count."""

    def __init__(self, threads: int):
        self.n = max(1, int(threads))
        self._pool = None
        if self.n > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.n - 1, thread_name_prefix="frappe-frame")

    def run(self, tasks: list[tuple]) -> list:
        """tasks: (cost, fn, *args); results in task order."""
        if self._pool is None or len(tasks) <= 1:
            return [t[1](*t[2:]) for t in tasks]
        loads = [0.0] * self.n
        share: list[list[int]] = [[] for _ in range(self.n)]
        for ti in sorted(range(len(tasks)), key=lambda t: -tasks[t][0]):
            w = loads.index(min(loads))
            loads[w] += tasks[ti][0]
            share[w].append(ti)

        def chunk(idx):
            return [(ti, tasks[ti][1](*tasks[ti][2:])) for ti in idx]

        futs = [self._pool.submit(chunk, s) for s in share[1:] if s]
        res = chunk(share[0])
        for f in futs:
            res += f.result()
        out: list = [None] * len(tasks)
        for ti, r in res:
            out[ti] = r
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class _Core:
    """The model's tables in the frame kernels' layouts (built once per model)."""

    _lock = threading.Lock()
    _cores: dict[str, "_Core"] = {}

    @classmethod
    def get(cls) -> "_Core":
        from squeeze_image import model

        mdl = model.load_frames()
        with cls._lock:
            core = cls._cores.get(mdl.ident)
            if core is None:
                core = cls._cores[mdl.ident] = cls(mdl)
        return core

    def __init__(self, mdl):
        from squeeze_image import kernels as kk
        from squeeze_image import model

        if not mdl.has_ctx or mdl.path_bpp is None:
            raise UnsupportedError("the image model file has no entropy tables")
        if mdl.ctx_edges:  # the frame kernels index one table set per channel
            raise UnsupportedError("frame streams need an image model with one entropy "
                                   "table set for every step")
        self.mdl = mdl
        self.ident = bytes.fromhex(mdl.ident)
        self.A = [np.ascontiguousarray(a.reshape(a.shape[0], -1)) for a in mdl.enc_a]
        self.where = []  # channel -> (group, index in the group)
        for gi, g in enumerate(mdl.groups):
            self.where += [(gi, t) for t in range(g.count)]
        self.prm = []  # channel -> parameter vector without the step's entries
        for k in range(mdl.n_ch):
            prm = np.zeros(kk.PRM_LEN, np.int64)
            prm[kk.PRM_K] = mdl.K
            prm[kk.PRM_WMU:kk.PRM_WMU + kk.N_MU] = mdl.ctx_wmu[k]
            prm[kk.PRM_VSC:kk.PRM_VSC + kk.N_SC] = mdl.ctx_vsc[k]
            prm[kk.PRM_BASE] = k * mdl.freqs.shape[1]
            for t in range(3):
                j = k - 1 - t
                if j >= 0:
                    r = mdl.patches[j] // mdl.patches[k]
                    prm[kk.PRM_SH + t] = r.bit_length() - 1
            self.prm.append(prm)
        self._params: dict[tuple[int, int], np.ndarray] = {}
        self.cost = [np.ascontiguousarray(mdl.cost[k]) for k in range(mdl.n_ch)]
        self.thr = np.ascontiguousarray(mdl.ctx_thr)
        self.esc_cost = np.ascontiguousarray(mdl.esc_cost)
        self.fast = mdl.fast_coder()  # None: constriction codes the streams
        if (mdl.freqs.shape[-1] > 64 or mdl.freqs.shape[0] * mdl.freqs.shape[1] > 1024
                or model.ESC_LEN > 1 << 15):
            self.fast = None  # the kernels' packed symbols would not hold this model's

    def params(self, k: int, D: int) -> np.ndarray:
        from squeeze_image import entropy
        from squeeze_image import kernels as kk

        key = (k, D)
        prm = self._params.get(key)
        if prm is None:
            prm = self.prm[k].copy()
            prm[kk.PRM_LIM] = entropy.qlimit(D)
            prm[kk.PRM_C0] = entropy.step_c0(self.mdl, k, D)
            if len(self._params) > 20000:
                self._params.clear()
            self._params[key] = prm  # (read-only for the kernels)
        return prm


class _Frame:
    """One frame being encoded: its latents and quantised grids per step D."""

    def __init__(self, core: _Core, rgb: np.ndarray):
        mdl = core.mdl
        self.core = core
        self.rgb = rgb
        self.h0, self.w0 = rgb.shape[:2]
        mp = mdl.max_patch
        self.H = -(-self.h0 // mp) * mp
        self.W = -(-self.w0 // mp) * mp
        # always a read-only view: numba compiles one specialisation per flag, and
        # frames from bytes (a pipe, the container) are read-only anyway
        self.flat = rgb.reshape(self.h0, self.w0 * 3).view()
        self.flat.flags.writeable = False
        self.y: list[tuple[np.ndarray, int]] = []  # channel -> (latents (hp, wp, c), index)
        self.q: dict[int, list[np.ndarray]] = {}
        self.zero: dict[tuple[int, int], np.ndarray] = {}

    def shape(self, k: int) -> tuple[int, int]:
        p = self.core.mdl.patches[k]
        return self.H // p, self.W // p


class _Encoder:
    """The frame encoder proper: analysis, rate search, entropy coding."""

    def __init__(self, threads: int = 1):
        self.core = _Core.get()
        self.workers = _Workers(threads)

    # -- kernels over the worker threads --------------------------------------------
    def analysis(self, fr: _Frame, n: int) -> None:
        core, mdl = self.core, self.core.mdl
        have = len(fr.y)
        if n <= have:
            return
        tasks, outs = [], []
        for gi, g in enumerate(mdl.groups):
            a = max(have, g.first) - g.first
            b = min(g.count, n - g.first)
            if a >= b:
                continue
            p = g.patch
            z = np.empty((fr.H // p, fr.W // p, b - a), np.float32)
            # one or two channels (or the largest patches): kernels.project_group_z,
            # faster there than gathering every patch into a vector (measured)
            old = b - a <= 2 or p >= 32
            A = np.ascontiguousarray(mdl.enc_a[gi][a:b]) if old else core.A[gi][a:b]
            bias = mdl.enc_c[gi][a:b]
            gg = np.ascontiguousarray(mdl.enc_g[g.first + a:g.first + b])
            ss = np.ascontiguousarray(mdl.enc_s[g.first + a:g.first + b])
            hp = z.shape[0]
            parts = min(hp, 4 * self.workers.n) if self.workers.n > 1 else 1
            for t in range(parts):
                i0, i1 = hp * t // parts, hp * (t + 1) // parts
                tasks.append(((i1 - i0) * p * fr.W * (b - a), _project,
                              old, fr.flat, p, A, bias, gg, ss, z, i0, i1))
            outs.append((z, b - a))
        self.workers.run(tasks)
        for z, c in outs:
            fr.y += [(z, t) for t in range(c)]

    def quantised(self, fr: _Frame, n: int, D: int) -> list[np.ndarray]:
        from squeeze_image import entropy
        from squeeze_image import frame_kernels as fk

        qs = fr.q.setdefault(D, [])
        if len(qs) >= n:
            return qs
        scale = np.float32(entropy.D_ONE / D)
        lim = entropy.qlimit(D)
        tasks = []
        new = []
        for k in range(len(qs), n):
            h, w = fr.shape(k)
            qp = np.zeros((h + 2, w + 3), np.int32)
            z, t = fr.y[k]
            tasks.append((h * w, fk.frame_quantise, z, t, scale, lim, qp))
            new.append(qp)
        self.workers.run(tasks)
        qs += new
        if len(fr.q) > 3:  # keep the grids of a few steps only
            for d in list(fr.q)[:-3]:
                if d != D:
                    del fr.q[d]
        return qs

    def _prev(self, fr: _Frame, qs: list[np.ndarray], k: int) -> list[np.ndarray]:
        out = []
        for t in range(3):
            j = k - 1 - t
            if j >= 0:
                out.append(qs[j])
            else:
                key = fr.shape(k)
                z = fr.zero.get(key)
                if z is None:
                    z = fr.zero[key] = np.zeros((key[0] + 2, key[1] + 3), np.int32)
                out.append(z)
        return out

    def bits(self, fr: _Frame, n: int, D: int, sampled: bool) -> float:
        """Code length (bits) of channels < n at step D: exact, or estimated from
        every SAMPLE_STEP-th row of the larger channels."""
        from squeeze_image import frame_kernels as fk

        core = self.core
        qs = self.quantised(fr, n, D)
        tasks, scale = [], []
        none = np.empty((0, 0), np.int32)
        for k in range(n):
            h, w = fr.shape(k)
            step = SAMPLE_STEP if sampled and h >= SAMPLE_MIN_ROWS else 1
            off = step // 2
            rows = len(range(off, h, step))
            p0, p1, p2 = self._prev(fr, qs, k)
            prm = core.params(k, D)
            parts = min(rows, 2 * self.workers.n) if self.workers.n > 1 and rows >= 16 else 1
            for t in range(parts):
                m0, m1 = rows * t // parts, rows * (t + 1) // parts
                tasks.append(((m1 - m0) * w, fk.frame_ctx_rows, qs[k], p0, p1, p2, prm, core.thr,
                              core.cost[k], core.esc_cost, off + step * m0,
                              min(h, off + step * m1), step, none))
                scale.append(h / rows)
        res = self.workers.run(tasks)
        return sum(float(r) * s for r, s in zip(res, scale)) / 256.0

    def streams(self, fr: _Frame, n: int, D: int) -> tuple[bytes, int]:
        """The two ANS streams of channels < n at step D, and their ideal length (bits)."""
        from squeeze_image import entropy
        from squeeze_image import frame_kernels as fk

        core = self.core
        qs = self.quantised(fr, n, D)
        if core.fast is None:  # constriction codes (slow, same bytes)
            plain = [np.ascontiguousarray(q[2:, 2:-1]) for q in qs[:n]]
            return entropy.encode(core.mdl, plain, n, D), 0
        shapes = [fr.shape(k) for k in range(n)]
        sizes = [h * w for h, w in shapes]
        total = sum(sizes)
        offs = np.cumsum([0] + sizes[:-1]).astype(np.int64)
        packed = np.empty(total, np.int32)
        tasks = []
        for k in range(n):
            h, w = shapes[k]
            o = int(offs[k])
            view = packed[o:o + h * w].reshape(h, w)
            p0, p1, p2 = self._prev(fr, qs, k)
            prm = core.params(k, D)
            parts = min(h, 2 * self.workers.n) if self.workers.n > 1 and h >= 16 else 1
            for t in range(parts):
                i0, i1 = h * t // parts, h * (t + 1) // parts
                tasks.append(((i1 - i0) * w, fk.frame_ctx_rows, qs[k], p0, p1, p2, prm,
                              core.thr, core.cost[k], core.esc_cost, i0, i1, 1, view))
        ideal = sum(int(r) for r in self.workers.run(tasks)) / 256.0
        words = np.empty(total + 2, np.uint32)
        esc_words = np.empty(2 * total + 2, np.uint32)
        rev = np.empty(total, np.int32)
        hs = np.array([s[0] for s in shapes], np.int64)
        ws = np.array([s[1] for s in shapes], np.int64)
        nw, n_esc, ne = fk.frame_ans_encode(packed, offs, hs, ws, core.fast.cdf,
                                            core.fast.esc_cdf, words, esc_words, rev)
        if nw < 0:
            raise ValueError("latent symbol outside the model's support")
        out = (struct.pack("<II", total, nw) + words[:nw].astype("<u4").tobytes()
               + struct.pack("<II", 2 * n_esc, ne) + esc_words[:ne].astype("<u4").tobytes())
        return out, ideal

    # -- rate --------------------------------------------------------------------------
    def choose(self, fr: _Frame, budget: float | None, rate: float | None):
        """(n, D, streams) for one frame.

        budget: bytes the two streams may take (None: the fixed operating point of
        the validation-set ``rate``, as ``quality`` does, no search)."""
        from squeeze_image import entropy
        from squeeze_image.codec import _STREAM_FIXED, FrappeCodec

        mdl = self.core.mdl
        npix = fr.h0 * fr.w0
        if budget is None:
            n, D = FrappeCodec._path_point(mdl, rate)
            self.analysis(fr, n)
            return (n, D) + self.streams(fr, n, D)[:1]
        # ideal code length the streams may take: their fixed bytes off, and room for
        # the coder's fixed-point probabilities (~0.1 %) and the estimate's error
        ideal = 0.998 * 8.0 * (budget - _STREAM_FIXED)
        n, D0 = FrappeCodec._path_point(mdl, max(ideal, 1.0) / npix)
        lo_lim, hi_lim = entropy.D_MIN, entropy.D_MAX
        if ideal <= 0:
            self.analysis(fr, n)
            return (n, hi_lim) + self.streams(fr, n, hi_lim)[:1]
        aim = 0.98 * ideal
        tried: set[int] = set()
        D_guess = D0
        while True:
            self.analysis(fr, n)
            tried.add(n)
            D, status = _estimate_step(lambda d, nn=n: self.bits(fr, nn, d, True), aim,
                                       D_guess, lo_lim, hi_lim)
            if status > 0 and n < mdl.n_ch and n + 1 not in tried:
                n += 1  # even the finest step leaves budget unused: one more channel
                D_guess = hi_lim
                continue
            if status < 0 and n > 1 and n - 1 not in tried:
                n -= 1  # even the coarsest step is over: one channel fewer
                D_guess = lo_lim
                continue
            break
        # the real streams at D; coarser while over the budget, one finer try when far
        # under it (the estimate missed)
        fit = None  # (D, streams) of the finest step known to fit
        over = 0  # the coarsest step known not to fit
        finer = 0
        for _ in range(8):
            out = self.streams(fr, n, D)[0]
            if len(out) <= budget:
                if fit is None or D < fit[0]:
                    fit = (D, out)
                if len(out) >= 0.95 * budget or D - over <= 1 or D == lo_lim or finer:
                    break
                finer += 1
                nxt = max(over + 1, lo_lim, min(D - 1, int(D * (len(out) / budget) ** 0.9)))
            else:
                over = max(over, D)
                top = fit[0] - 1 if fit is not None else hi_lim
                if D >= top:
                    break
                nxt = min(top, max(D + 1, math.ceil(D * (len(out) / (0.99 * budget)) ** 1.1)))
            if nxt == D:
                break
            D = nxt
        if fit is None:  # even the coarsest step is over the budget: the smallest there is
            return (n, hi_lim) + self.streams(fr, n, hi_lim)[:1]
        return n, fit[0], fit[1]

    def encode(self, rgb: np.ndarray, *, budget_bytes: float | None = None,
               rate: float | None = None) -> tuple[bytes, tuple]:
        """Payload of one frame (SPEC.md section 2; at most ``budget_bytes``) and (n, D)."""
        fr = _Frame(self.core, rgb)
        head0 = (bytes([1]) + self.core.ident + varint.encode(fr.w0) + varint.encode(fr.h0)
                 + bytes([0]))
        budget = None if budget_bytes is None else budget_bytes - len(head0) - 3
        n, D, streams = self.choose(fr, budget, rate)
        return head0 + bytes([n]) + struct.pack("<H", D) + streams, (n, D)

    def close(self) -> None:
        self.workers.close()


def _estimate_step(f, aim: float, D0: int, lo_lim: int, hi_lim: int) -> tuple[int, int]:
    """A step D whose estimated length f(D) is within 98.5-100 % of ``aim`` (f falls
    as D grows): secant steps on (log D, log bits) with the slope of the last two
    points, inside the bracket of steps known over / under.  Returns (D, status):
    +1 when even lo_lim stays below 97 % of aim, -1 when even hi_lim is over it."""
    small = 0  # the largest step known to be over aim
    big = hi_lim + 1  # the smallest step known to fit
    big_v = 0.0
    D = min(max(int(D0), lo_lim), hi_lim)
    slope = 0.8  # typical of d log bits / d log D at these rates (measured)
    last = None
    for _ in range(12):
        v = f(D)
        if v <= aim:
            if D < big:
                big, big_v = D, v
            if v >= 0.985 * aim:
                return D, 0
            if D <= lo_lim:
                return D, (1 if v < 0.97 * aim else 0)
        else:
            small = max(small, D)
            if D >= hi_lim:
                return hi_lim, -1
        if last is not None and last[0] != D and last[1] > 0 and v > 0:
            s = -(math.log(v) - math.log(last[1])) / (math.log(D) - math.log(last[0]))
            if 0.3 <= s <= 4.0:
                slope = s
        last = (D, v)
        if big - small <= 1:
            break
        nxt = int(round(D * (max(v, 1e-9) / (0.9925 * aim)) ** (1.0 / slope)))
        nxt = min(max(nxt, small + 1, lo_lim), big - 1, hi_lim)
        if nxt == D:
            nxt = D + 1 if v > aim else D - 1
            if not small < nxt < big:
                break
        D = nxt
    if big <= hi_lim:
        return big, (1 if big <= lo_lim and big_v < 0.97 * aim else 0)
    return hi_lim, -1


def _project(old, flat, p, A, bias, g, s, z, i0, i1):
    from squeeze_image import frame_kernels as fk
    from squeeze_image import kernels as kk

    (kk.project_group_z if old else fk.frame_project)(flat, p, A, bias, z, i0, i1)
    fk.frame_softsign(z[i0:i1], g, s)


# ------------------------------------------------------------------------------------
# public API


def _frame_array(frame: Any, w: int, h: int) -> np.ndarray:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        if len(frame) != w * h * 3:
            raise InputError(f"a {w}x{h} RGB24 frame is {w * h * 3} bytes, not {len(frame)}")
        return np.frombuffer(frame, np.uint8).reshape(h, w, 3)
    a = np.asarray(frame)
    if a.dtype != np.uint8 or a.shape != (h, w, 3):
        raise InputError(f"expected a ({h}, {w}, 3) uint8 frame, got {a.shape} {a.dtype}")
    return np.ascontiguousarray(a)


class FrameEncoder:
    """Encode camera frames of one size, one payload per frame.

    ``FrameEncoder(1920, 1080, bpp=0.1)`` - at most 0.1 bits per pixel per payload;
    or ``bytes_per_frame=N``; or ``quality=Q`` (0..100: a fixed operating point,
    no search, the fastest); or ``bitrate=2_000_000, fps=30`` (constant bitrate,
    see :class:`RateControl`).  ``encode(frame, bpp=...)`` (or bytes_per_frame /
    quality) overrides the rate for one frame.  ``threads``: ``encode`` splits each
    frame over that many threads; ``encode_iter`` / ``encode_batch`` code that many
    frames at once instead (higher throughput, a frame or two of latency).  The
    payloads are the same for every value and either way.
    """

    def __init__(self, width: int, height: int, *, bpp: float | None = None,
                 bytes_per_frame: float | None = None, quality: float | None = None,
                 bitrate: Any = None, fps: float | None = None, threads: int = 1):
        self.width, self.height = parse_frames((width, height))
        if type(threads) is not int or threads < 1:
            raise OptionError(f"threads must be an integer >= 1, not {threads!r}")
        self.rate = _rate_spec(bpp=bpp, bytes_per_frame=bytes_per_frame, quality=quality,
                               bitrate=bitrate, fps=fps)
        self.control = (RateControl(self.rate[1], self.rate[2])
                        if self.rate[0] == "bitrate" else None)
        self._enc = _Encoder(threads)
        self._pool = None  # encode_iter's frame threads
        self._enc1: _Encoder | None = None
        self.frames = 0
        self.last: dict = {}

    def encode(self, frame: Any, *, bpp: float | None = None,
               bytes_per_frame: float | None = None, quality: float | None = None) -> bytes:
        """One (H, W, 3) uint8 frame (or W*H*3 RGB24 bytes) -> one payload."""
        rgb = _frame_array(frame, self.width, self.height)
        spec = self.rate
        if bpp is not None or bytes_per_frame is not None or quality is not None:
            spec = _rate_spec(bpp=bpp, bytes_per_frame=bytes_per_frame, quality=quality)
        payload, info = encode_indexed(self._enc, rgb, spec, self.control, self.frames)
        self.frames += 1
        self.last = info
        return payload

    def encode_iter(self, frames: Iterable[Any]) -> Iterator[bytes]:
        """Encode a sequence of frames, up to ``threads`` of them at once (each on one
        thread: no per-frame synchronisation, the best throughput), yielding the
        payloads in order as they are ready.  The payloads are those ``encode``
        gives one frame after the other (the rate control's budgets lag two frames
        for this reason)."""
        if self._enc.workers.n <= 1:
            for f in frames:
                yield self.encode(f)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._enc.workers.n,
                                            thread_name_prefix="frappe-frames")
            self._enc1 = _Encoder(1)
        pending: deque = deque()
        try:
            for f in frames:
                rgb = _frame_array(f, self.width, self.height)
                pending.append(self._pool.submit(encode_indexed, self._enc1, rgb, self.rate,
                                                 self.control, self.frames))
                self.frames += 1
                while len(pending) > 2 * self._enc.workers.n:
                    payload, self.last = pending.popleft().result()
                    yield payload
            while pending:
                payload, self.last = pending.popleft().result()
                yield payload
        finally:
            for fut in pending:
                fut.cancel()

    def encode_batch(self, frames: Iterable[Any]) -> list[bytes]:
        """``list(encode_iter(frames))``."""
        return list(self.encode_iter(frames))

    def close(self) -> None:
        self._enc.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _rate_spec(*, bpp=None, bytes_per_frame=None, quality=None, bitrate=None,
               fps=None) -> tuple:
    given = [k for k, v in (("bpp", bpp), ("bytes_per_frame", bytes_per_frame),
                            ("quality", quality), ("bitrate", bitrate)) if v is not None]
    if len(given) > 1:
        raise OptionError(f"give one rate, not {' and '.join(given)}")
    if fps is not None and bitrate is None:
        raise OptionError("fps goes with bitrate")
    if bpp is not None:
        if isinstance(bpp, bool) or not isinstance(bpp, (int, float)) or not (
                0.001 <= float(bpp) <= 24.0):
            raise OptionError(f"bpp must be a number in 0.001..24, not {bpp!r}")
        return ("bpp", float(bpp))
    if bytes_per_frame is not None:
        if isinstance(bytes_per_frame, bool) or not isinstance(bytes_per_frame, (int, float)) \
                or not 1 <= bytes_per_frame <= 1 << 30:
            raise OptionError(f"bytes_per_frame must be a number in 1..2^30, "
                              f"not {bytes_per_frame!r}")
        return ("bytes", float(bytes_per_frame))
    if bitrate is not None:
        if fps is None:
            raise OptionError("bitrate needs fps (frames per second)")
        return ("bitrate", parse_bitrate(bitrate), check_fps(fps))
    from squeeze_image.codec import DEFAULT_QUALITY

    q = DEFAULT_QUALITY if quality is None else quality
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 <= float(q) <= 100.0:
        raise OptionError(f"quality must be a number in 0..100, not {quality!r}")
    return ("quality", float(q))


def encode_indexed(enc: _Encoder, rgb: np.ndarray, spec: tuple, control: RateControl | None,
                   index: int) -> tuple[bytes, dict]:
    """Frame ``index`` of a sequence at rate ``spec``; with a ``control`` the frame's
    size is recorded there (whatever rate it was coded at)."""
    from squeeze_image.codec import quality_rate

    h, w = rgb.shape[:2]
    kind = spec[0]
    budget = rate = None
    if kind == "bpp":
        budget = spec[1] * w * h / 8.0
    elif kind == "bytes":
        budget = spec[1]
    elif kind == "quality":
        rate = quality_rate(spec[1])
    else:
        if control is None:
            raise OptionError("bitrate without rate control")
        # frames of one stream are coded in one process, at most a few at once: a
        # wait this long means the earlier frames are coded elsewhere (a cluster)
        budget = control.budget(index, timeout=WAIT_S) / 8.0
    try:
        payload, (n, D) = enc.encode(rgb, budget_bytes=budget, rate=rate)
    except BaseException:
        if control is not None:  # never leave later frames waiting
            control.record(index, int(8 * (budget or 0)))
        raise
    if control is not None:
        control.record(index, 8 * len(payload))
    return payload, {"index": index, "bytes": len(payload), "n": n, "D": D,
                     "budget_bytes": budget, "bpp": 8 * len(payload) / (w * h)}


class FrameDecoder:
    """Decode FRAPPE payloads (from :class:`FrameEncoder`, a frame stream's blocks,
    or any RGB FRAPPE image) to (H, W, 3) uint8 arrays.

    ``threads`` is the decoder network's thread count for ``decode`` and the number
    of frames ``decode_batch`` decodes at once; the pixels never depend on it.
    """

    def __init__(self, threads: int = 1):
        if type(threads) is not int or threads < 1:
            raise OptionError(f"threads must be an integer >= 1, not {threads!r}")
        from squeeze_image import model
        from squeeze_image.codec import FrappeCodec

        self.threads = threads
        self._codec = FrappeCodec()
        model.load_frames()  # load once, now

    def decode(self, payload: bytes, *, expect: tuple[int, int] | None = None) -> np.ndarray:
        """One payload -> (H, W, 3) uint8.  ``expect`` = (W, H) refuses other sizes."""
        return _with_threads(self.threads, self._decode_one, payload, expect)

    def _decode_one(self, payload, expect=None) -> np.ndarray:
        rgb, info = self._codec.decode_pixels(payload, expect=expect)
        if info["grey"] or info["alpha"] is not None:
            raise CorruptError("Compressed data is corrupt (not an RGB frame payload)")
        return rgb

    def decode_batch(self, payloads: Iterable[bytes]) -> list[np.ndarray]:
        """Decode many payloads, ``threads`` at a time (each on one thread)."""
        items = list(payloads)
        if self.threads <= 1 or len(items) <= 1:
            return [self.decode(p) for p in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.threads, thread_name_prefix="frappe-dec") as pool:
            return list(pool.map(lambda p: _with_threads(1, self._decode_one, p), items))


def _with_threads(n: int, fn, *args):
    """fn(*args) with numba's parallel kernels on n threads (a per-thread setting)."""
    import numba

    n = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        return fn(*args)
    finally:
        numba.set_num_threads(old)
