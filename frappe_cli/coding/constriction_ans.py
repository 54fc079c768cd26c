"""The constriction adapter: the ONLY module in squeeze that imports constriction.

Vectorised entropy coding (numpy arrays in, never a Python loop per symbol)
with every hazard of constriction 0.5 handled here, once:

* ``perfect`` defaults to True and then prints a deprecation warning to
  **stdout** (it would corrupt ``squeeze -c``): every model here is built with
  ``perfect=False``.
* Compressed words are native-endian uint32: they are written and read
  little-endian explicitly.
* Decoding past the end, or decoding garbage, succeeds silently: every stream
  stores its symbol count and word count; the decoder refuses to decode more
  symbols than stored and :meth:`Decoder.finish` checks that exactly that many
  were decoded and (ANS) that the coder is back in its initial state.
* Coder failures (``KeyError`` for a zero-probability symbol, ``ValueError``
  for invalid data, ``TypeError``, and Rust panics, which surface as
  ``pyo3_runtime.PanicException``, a ``BaseException``) become
  :class:`~frappe_cli.errors.CorruptError`.
* Rows of *unnormalised float* probabilities with tiny entries make
  constriction 0.5 panic ("leakiness should guarantee nonzero
  probabilities").  Categorical models therefore take **integer frequencies**
  (every entry >= 1, row sums <= ``MAX_TOTAL`` = 2**20): they convert to
  float32 exactly, so probabilities are bit-identical on every machine
  (constriction's own fixed-point quantisation is pure IEEE arithmetic).
  The quantised Laplace/Gaussian families evaluate ``exp``/``erf`` inside
  constriction (libm): use them only where encoder and decoder run the same
  build, never in a portable bitstream that needs bit-exact models.

Stream layout (all little-endian)::

    u32 symbol_count | u32 word_count | word_count x u32 words

Two coders: ``"ans"`` (constriction's stack ``AnsCoder``; the encoder buffers
the calls and pushes them in reverse at :meth:`Encoder.finish`, so the decoder
reads them back in call order) and ``"range"`` (the queue ``RangeEncoder`` /
``RangeDecoder``).  Both give the decoder the same call order as the encoder.
"""

from __future__ import annotations

import struct

import numpy as np

from frappe_cli.errors import CorruptError

#: largest row sum accepted for integer frequency tables
MAX_TOTAL = 1 << 20
#: largest alphabet for categorical models
MAX_ALPHABET = 1 << 16
#: hard bound on the symbols one stream may declare (decompression-bomb guard)
MAX_SYMBOLS = 1 << 31
KINDS = ("ans", "range")
_HEAD = struct.Struct("<II")


def _cs():
    import constriction

    return constriction.stream


_FAMILY = None


def _rows_family():
    """The per-symbol-rows Categorical family (stateless; built once, shared)."""
    global _FAMILY
    if _FAMILY is None:
        _FAMILY = _cs().model.Categorical(perfect=False)
    return _FAMILY


def _is_coder_failure(exc: BaseException) -> bool:
    """Everything constriction can throw, but never Ctrl-C / exit."""
    return not isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


def _freq_rows(freqs, k_expected: int | None = None) -> np.ndarray:
    f = np.asarray(freqs)
    if f.ndim != 2 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError("frequency rows must be a rank-2 integer array")
    if f.shape[1] < 1 or f.shape[1] > MAX_ALPHABET:
        raise ValueError(f"alphabet size must be 1..{MAX_ALPHABET}")
    if k_expected is not None and f.shape[0] != k_expected:
        raise ValueError("one frequency row per symbol is needed")
    if f.size:
        if int(f.min()) < 1:
            raise ValueError("every frequency must be >= 1")
        if int(f.sum(axis=1, dtype=np.int64).max()) > MAX_TOTAL:
            raise ValueError(f"frequency row sums must be <= {MAX_TOTAL}")
    return np.ascontiguousarray(f, dtype=np.float32)


def _freq_static(freqs) -> np.ndarray:
    f = np.asarray(freqs)
    if f.ndim != 1 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError("a static frequency table must be a rank-1 integer array")
    if not 1 <= f.size <= MAX_ALPHABET:
        raise ValueError(f"alphabet size must be 1..{MAX_ALPHABET}")
    if int(f.min()) < 1 or int(f.sum(dtype=np.int64)) > MAX_TOTAL:
        raise ValueError(f"frequencies must be >= 1 and sum to <= {MAX_TOTAL}")
    return np.ascontiguousarray(f, dtype=np.float32)


def _symbols(symbols, lo: int, hi: int) -> np.ndarray:
    s = np.asarray(symbols)
    if s.ndim != 1 or not np.issubdtype(s.dtype, np.integer):
        raise ValueError("symbols must be a rank-1 integer array")
    if s.size and (int(s.min()) < lo or int(s.max()) > hi):
        raise ValueError(f"symbols outside the model's support {lo}..{hi}")
    return np.ascontiguousarray(s, dtype=np.int32)


def _params(arr, n: int, what: str, positive: bool = False) -> np.ndarray:
    a = np.ascontiguousarray(arr, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{what}: one value per symbol is needed")
    if n and not np.isfinite(a).all():
        raise ValueError(f"{what} must be finite")
    if positive and n and not (a > 0).all():
        raise ValueError(f"{what} must be > 0")
    return a


class FreqTable:
    """A validated set of integer frequency rows (n_models, k), shared by many calls.

    ``categorical_indexed`` codes symbol i under row ``index[i]``: the rows are
    validated once here, so each call costs one gather instead of a full check.
    """

    def __init__(self, freqs):
        self.f32 = _freq_rows(freqs)
        self.n_models, self.k = self.f32.shape

    def rows(self, index) -> np.ndarray:
        idx = index if type(index) is np.ndarray else np.asarray(index)
        if idx.ndim != 1 or (idx.dtype != np.int64 and not np.issubdtype(idx.dtype, np.integer)):
            raise ValueError("model indices must be a rank-1 integer array")
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= self.n_models):
            raise ValueError("model index outside the table")
        return np.take(self.f32, idx, axis=0)


class Encoder:
    """Collects symbols with their models; :meth:`finish` returns the stream bytes."""

    def __init__(self, kind: str = "ans"):
        if kind not in KINDS:
            raise ValueError(f"unknown coder kind {kind!r} (ans, range)")
        self.kind = kind
        self.count = 0
        self._calls: list[tuple] = []
        self._range = _cs().queue.RangeEncoder() if kind == "range" else None
        self._done = False

    # each method validates, then records (ans) or codes (range) one vectorised call
    def _add(self, symbols: np.ndarray, model, *params) -> None:
        if self._done:
            raise ValueError("encoder already finished")
        if not symbols.size:
            return
        self.count += int(symbols.size)
        if self.count >= MAX_SYMBOLS:
            raise ValueError("too many symbols for one stream")
        if self._range is not None:
            self._run(self._range.encode, symbols, model, *params)
        else:
            self._calls.append((symbols, model, params))

    @staticmethod
    def _run(fn, symbols, model, *params) -> None:
        try:
            fn(symbols, model, *params)
        except BaseException as exc:  # noqa: BLE001 - Rust panics are BaseException
            if not _is_coder_failure(exc):
                raise
            raise CorruptError(f"entropy coder rejected the symbols ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from None

    def categorical_rows(self, symbols, freqs) -> None:
        """Symbol i in 0..k-1 under its own integer frequency row ``freqs[i]`` (m, k)."""
        f = _freq_rows(freqs)
        s = _symbols(symbols, 0, f.shape[1] - 1)
        if f.shape[0] != s.size:
            raise ValueError("one frequency row per symbol is needed")
        self._add(s, _rows_family(), f)

    def categorical_indexed(self, symbols, table: FreqTable, index) -> None:
        """Symbol i in 0..k-1 under row ``index[i]`` of a :class:`FreqTable`."""
        s = _symbols(symbols, 0, table.k - 1)
        if np.shape(index) != s.shape:
            raise ValueError("one model index per symbol is needed")
        self._add(s, _rows_family(), table.rows(index))

    def categorical(self, symbols, freqs) -> None:
        """i.i.d. symbols in 0..k-1 under one static integer frequency table (k,)."""
        f = _freq_static(freqs)
        s = _symbols(symbols, 0, f.size - 1)
        self._add(s, _cs().model.Categorical(f, perfect=False))

    def _quantized(self, symbols, family, lo: int, hi: int, mean, spread, what: str) -> None:
        s = _symbols(symbols, lo, hi)
        self._add(s, family(lo, hi), _params(mean, s.size, "mean"),
                  _params(spread, s.size, what, True))

    def laplace(self, symbols, lo: int, hi: int, mean, scale) -> None:
        """Integers in lo..hi, each under a quantised Laplace(mean[i], scale[i])."""
        self._quantized(symbols, _cs().model.QuantizedLaplace, lo, hi, mean, scale, "scale")

    def gaussian(self, symbols, lo: int, hi: int, mean, std) -> None:
        """Integers in lo..hi, each under a quantised Gaussian(mean[i], std[i])."""
        self._quantized(symbols, _cs().model.QuantizedGaussian, lo, hi, mean, std, "std")

    def finish(self) -> bytes:
        if self._done:
            raise ValueError("encoder already finished")
        self._done = True
        if self._range is not None:
            words = self._range.get_compressed()
        else:
            coder = _cs().stack.AnsCoder()
            for symbols, model, params in reversed(self._calls):
                self._run(coder.encode_reverse, symbols, model, *params)
            self._calls = []
            words = coder.get_compressed()
        words = np.asarray(words, dtype=np.uint32)
        return _HEAD.pack(self.count, words.size) + words.astype("<u4").tobytes()


def stream_words(data: bytes | memoryview, offset: int = 0) -> tuple[np.ndarray, int, int]:
    """(words as uint32, symbol count, offset of the first byte after it) of the
    stream at ``offset``: u32 symbol count | u32 word count | words (CorruptError
    when truncated).  Streams may be chained: the next one starts at the end."""
    buf = memoryview(data)
    if len(buf) - offset < _HEAD.size:
        raise CorruptError("Compressed data is corrupt (entropy-coded stream truncated)")
    expected, nwords = _HEAD.unpack_from(buf, offset)
    if nwords > (len(buf) - offset - _HEAD.size) // 4:
        raise CorruptError("Compressed data is corrupt (entropy-coded stream truncated)")
    words = np.frombuffer(buf, dtype="<u4", count=nwords, offset=offset + _HEAD.size)
    return words.astype(np.uint32), expected, offset + _HEAD.size + 4 * nwords


class Decoder:
    """Decodes a stream made by :class:`Encoder`, call by call in the same order."""

    def __init__(self, data: bytes | memoryview, kind: str = "ans", *, offset: int = 0):
        if kind not in KINDS:
            raise ValueError(f"unknown coder kind {kind!r} (ans, range)")
        words, self.expected, self.end = stream_words(data, offset)
        self.kind = kind
        self.count = 0
        try:
            if kind == "ans":
                self._coder = _cs().stack.AnsCoder(words)
            else:
                self._coder = _cs().queue.RangeDecoder(words)
        except BaseException as exc:  # noqa: BLE001
            if not _is_coder_failure(exc):
                raise
            raise CorruptError(
                "Compressed data is corrupt (invalid entropy-coded stream)") from None

    def _take(self, n: int) -> None:
        if n < 0 or self.count + n > self.expected:
            raise CorruptError("Compressed data is corrupt (more symbols requested than stored)")
        self.count += n

    def _run(self, model, *params, amt: int | None = None) -> np.ndarray:
        try:
            if amt is None:
                out = self._coder.decode(model, *params)
            else:
                out = self._coder.decode(model, amt)
        except BaseException as exc:  # noqa: BLE001 - Rust panics are BaseException
            if not _is_coder_failure(exc):
                raise
            raise CorruptError(f"Compressed data is corrupt (entropy decoder: "
                               f"{type(exc).__name__})") from None
        return np.asarray(out, dtype=np.int32)

    def categorical_rows(self, freqs) -> np.ndarray:
        f = _freq_rows(freqs)
        if not f.shape[0]:
            return np.zeros(0, np.int32)
        self._take(f.shape[0])
        return self._run(_rows_family(), f)

    def categorical_indexed(self, table: FreqTable, index) -> np.ndarray:
        rows = table.rows(index)
        if not rows.shape[0]:
            return np.zeros(0, np.int32)
        self._take(rows.shape[0])
        return self._run(_rows_family(), rows)

    def categorical(self, freqs, count: int) -> np.ndarray:
        f = _freq_static(freqs)
        if not count:
            return np.zeros(0, np.int32)
        self._take(int(count))
        return self._run(_cs().model.Categorical(f, perfect=False), amt=int(count))

    def _quantized(self, family, lo: int, hi: int, mean, spread, what: str) -> np.ndarray:
        """Integers in lo..hi under ``family(lo, hi)`` with parameters (mean[i], spread[i])."""
        n = np.asarray(mean).shape[0] if np.ndim(mean) == 1 else -1
        m = _params(mean, n, "mean")
        if not n:
            return np.zeros(0, np.int32)
        self._take(n)
        return self._run(family(lo, hi), m, _params(spread, n, what, True))

    def laplace(self, lo: int, hi: int, mean, scale) -> np.ndarray:
        return self._quantized(_cs().model.QuantizedLaplace, lo, hi, mean, scale, "scale")

    def gaussian(self, lo: int, hi: int, mean, std) -> np.ndarray:
        return self._quantized(_cs().model.QuantizedGaussian, lo, hi, mean, std, "std")

    def finish(self) -> None:
        """Check that the stream held exactly the symbols that were decoded."""
        if self.count != self.expected:
            raise CorruptError("Compressed data is corrupt (entropy-coded stream has "
                               f"{self.expected} symbols, {self.count} decoded)")
        if self.kind == "ans":
            ok = self._coder.is_empty()
        else:
            ok = self._coder.maybe_exhausted()
        if not ok:
            raise CorruptError("Compressed data is corrupt (entropy-coded stream does not end "
                               "where its symbols do)")


def encode_rows(symbols, freqs, kind: str = "ans") -> bytes:
    """One-call helper: a whole stream of per-symbol categorical rows."""
    enc = Encoder(kind)
    enc.categorical_rows(symbols, freqs)
    return enc.finish()


def decode_rows(data: bytes, freqs, kind: str = "ans") -> np.ndarray:
    dec = Decoder(data, kind)
    out = dec.categorical_rows(freqs)
    dec.finish()
    if dec.end != len(data):
        raise CorruptError("Compressed data is corrupt (trailing bytes after the stream)")
    return out
