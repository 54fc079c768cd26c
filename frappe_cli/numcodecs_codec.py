"""numcodecs and zarr 3 codec ``squeeze``: any lossless squeeze codec on array chunks.

Extra ``squeeze-codecs[zarr]``.  Nothing in ``frappe_cli`` imports this module:
numcodecs loads it through its ``numcodecs.codecs`` entry point, so after
``pip install``::

    numcodecs.get_codec({"id": "squeeze", "codec": "text", "level": 6})

Every chunk is one ``.sqz`` stream (the same bytes ``frappe_cli.compress``
writes): self-describing (the header names the codec and its parameters,
``dtype`` included) and checked (xxh64 of every block), so ``decode`` needs no
configuration and every damaged, truncated or foreign chunk raises a
:class:`~frappe_cli.errors.SqueezeError` subclass.

Configuration (JSON): ``codec`` (a squeeze codec id or ``"auto"``), ``level``
(0..9) and the codec's own options (``dtype`` for the weight packers).

``codec="auto"`` is the default, as in ``squeeze`` and ``frappe_cli.compress``:
each chunk gets the codec its content calls for, and the choice is stored in the
chunk.  When the chunk is a typed float array (float16/32/64, ml_dtypes
bfloat16/float8) ``auto`` uses ``dfloat11`` with that ``dtype``; otherwise the
content sniffing of ``squeeze --codec auto`` decides (context mixing for
compressible binary and text, zstd for high-entropy data).  ``zstd`` would be a
weak default: zarr already ships zstd, so a squeeze-framed zstd chunk only adds
a ~70-byte header.  ``auto`` favours ratio; the context-mixing codec runs at
well under 1 MB/s, so pass ``codec="zstd"`` (or use the float codecs) where
read speed matters.  Lossy codecs (``frappe``) are refused: a chunk must decode
to its own bytes.

zarr 3 (``zarr>=3.0``) does not take numcodecs codecs directly for format-3
arrays: it wraps them in ``zarr.abc.codec`` classes whose metadata name is
``numcodecs.<id>`` (``zarr.codecs.numcodecs``).  :class:`ZarrSqueeze` is that
wrapper (a bytes-to-bytes codec: ``compressors=[ZarrSqueeze(...)]``); it is
registered in the ``zarr.codecs`` entry-point group under
``numcodecs.squeeze`` so that arrays reopen in any process.  It is built on
first access (module ``__getattr__``) so this module does not import zarr.
"""

from __future__ import annotations

import io
import sys
from typing import Any

import numpy as np
from numcodecs.abc import Codec as _NumcodecsCodec
from numcodecs.compat import ensure_ndarray_like, ndarray_copy

from frappe_cli.errors import CorruptError, InputError, OptionError, SqueezeError

__all__ = ["Squeeze", "ZarrSqueeze", "float_kind", "numpy_dtype_for"]  # noqa: F822 (lazy)

DEFAULT_LEVEL = 6

#: numpy dtype name -> the weight packers' ``dtype`` option (little-endian only)
_FLOAT_KINDS = {
    "float16": "f16", "float32": "f32", "float64": "f64",
    "bfloat16": "bf16", "float8_e4m3fn": "f8e4m3", "float8_e5m2": "f8e5m2",
}
#: the weight packers' dtype (canonical name) -> (numpy dtype, ml_dtypes name or None)
_KIND_NUMPY = {
    "f16": ("<f2", None), "f32": ("<f4", None), "f64": ("<f8", None),
    "bf16": ("<u2", "bfloat16"), "f8e4m3": ("u1", "float8_e4m3fn"),
    "f8e5m2": ("u1", "float8_e5m2"),
}
WEIGHT_CODECS = ("dfloat11", "enec")


def float_kind(dtype: Any) -> str | None:
    """The weight packers' ``dtype`` name for a numpy dtype, or None (not a float
    the packers code, or not little-endian)."""
    dtype = np.dtype(dtype)
    if dtype.itemsize > 1:
        little = dtype.byteorder == "<" or (dtype.byteorder == "=" and sys.byteorder == "little")
        if not little:
            return None
    return _FLOAT_KINDS.get(dtype.name)


def canonical_dtype(dtype: Any) -> str:
    """Validate a ``dtype`` option (bf16, float32, ...) and return its short name."""
    from squeeze_weights.formats import KIND_NAMES, raw_kind

    if not isinstance(dtype, str):
        raise OptionError(f"dtype must be a string such as bf16, f16, f32, not {dtype!r}")
    return KIND_NAMES[raw_kind(dtype)]


def numpy_dtype_for(kind: str) -> np.dtype:
    """The numpy dtype a decoded chunk of packer dtype ``kind`` is returned as:
    float16/32/64; bfloat16 and float8 as ml_dtypes types when the program has
    imported ml_dtypes (it is never imported here), else as their bit patterns
    (uint16, uint8)."""
    base, ml_name = _KIND_NUMPY[kind]
    if ml_name is not None and "ml_dtypes" in sys.modules:  # never import it ourselves
        return np.dtype(getattr(sys.modules["ml_dtypes"], ml_name))
    return np.dtype(base)


def check_level(level: Any) -> int:
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 9:
        raise OptionError(f"level must be an integer 0..9, not {level!r}")
    return level


# ------------------------------------------------------------------------------------
# buffers and the one-shot API


def as_flat_array(buf: Any) -> np.ndarray:
    """Any buffer numcodecs may hand to ``encode`` as a flat C-ordered ndarray."""
    try:
        arr = ensure_ndarray_like(buf)
        if not isinstance(arr, np.ndarray):
            arr = np.asarray(arr)
        if arr.dtype == object:
            raise InputError("Unsupported input: object arrays cannot be compressed "
                             "(use an object codec such as numcodecs.VLenUTF8 first)")
        return np.ascontiguousarray(arr).reshape(-1)
    except SqueezeError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"Unsupported input: {exc}") from None


def _as_bytes(buf: Any) -> bytes | memoryview:
    arr = as_flat_array(buf)
    return memoryview(arr.view(np.uint8)) if arr.size else b""


def sqz_compress(data: Any, codec: str, level: int, **options: Any) -> bytes:
    import frappe_cli

    return frappe_cli.compress(data, codec=codec, level=level, threads=1, **options)


def stream_params(data: Any) -> dict:
    """The codec config stored in the header of the ``.sqz`` stream ``data``."""
    from frappe_cli import container

    return container.read_header(container._Reader(io.BytesIO(data))).params


def decode_chunk(buf: Any, out: Any = None) -> Any:
    """Decode one ``.sqz`` chunk into ``out`` (exactly its size) or a new 1-D array.

    Without ``out`` the result is typed from the stream header: a float chunk of a
    weight packer comes back as its float dtype (:func:`numpy_dtype_for`),
    anything else as uint8.  With ``out`` the decoder refuses to produce more
    than ``out.nbytes`` bytes (decompression bomb guard) and a chunk of any
    other size is a ``CorruptError``.
    """
    import frappe_cli

    data = _as_bytes(buf)
    if out is not None:
        try:
            dst = ensure_ndarray_like(out)
        except (TypeError, ValueError) as exc:
            raise OptionError(f"out is not a writable buffer: {exc}") from None
        raw = frappe_cli.decompress(data, threads=1, max_output=dst.nbytes)
        if len(raw) != dst.nbytes:
            raise CorruptError(f"Compressed data is corrupt (the chunk decodes to {len(raw)} "
                               f"bytes, expected {dst.nbytes})")
        return ndarray_copy(np.frombuffer(raw, np.uint8), out)
    raw = frappe_cli.decompress(data, threads=1)
    arr = np.frombuffer(raw, np.uint8)
    params = stream_params(data)
    kind = params.get("dtype") if params.get("id") in WEIGHT_CODECS else None
    if isinstance(kind, str):
        try:
            dt = numpy_dtype_for(canonical_dtype(kind))
        except SqueezeError:
            return arr
        if len(raw) % dt.itemsize == 0:
            return arr.view(dt)
    return arr


# ------------------------------------------------------------------------------------
# the numcodecs codec


class Squeeze(_NumcodecsCodec):
    """Any lossless squeeze codec as a numcodecs codec (see the module docstring).

    ``Squeeze(codec="auto", level=6, **options)``; e.g.
    ``Squeeze(codec="text", level=9)``, ``Squeeze(codec="enec", dtype="bf16")``.
    """

    codec_id = "squeeze"

    def __init__(self, codec: str = "auto", level: int = DEFAULT_LEVEL, **options: Any):
        if not isinstance(codec, str):
            raise OptionError(f"codec must be a squeeze codec id or 'auto', not {codec!r}")
        self.codec = codec
        self.level = check_level(level)
        import json

        try:
            json.dumps(options, allow_nan=False)
        except (TypeError, ValueError):
            raise OptionError("codec options must be JSON values") from None
        if "dtype" in options and codec in WEIGHT_CODECS:
            options["dtype"] = canonical_dtype(options["dtype"])
        self.options = dict(sorted(options.items()))
        if codec == "auto":
            if options:
                raise OptionError("codec='auto' takes no codec options (name the codec)")
        else:
            from frappe_cli import registry

            made = registry.make(codec, level, **options)  # unknown codec/options fail here
            if not made.lossless:
                raise OptionError(f"codec '{codec}' is lossy: a numcodecs/zarr chunk must "
                                  "decode to its own bytes")

    def get_config(self) -> dict:
        return {"id": self.codec_id, "codec": self.codec, "level": self.level, **self.options}

    @classmethod
    def from_config(cls, config: dict) -> Squeeze:
        cfg = dict(config)
        cfg.pop("id", None)
        return cls(**cfg)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "id")
        return f"Squeeze({args})"

    def encode(self, buf: Any) -> bytes:
        arr = as_flat_array(buf)
        codec, options = self.codec, dict(self.options)
        kind = float_kind(arr.dtype)
        if kind is not None and codec == "auto":
            codec, options = "dfloat11", {"dtype": kind}
        elif kind is not None and codec in WEIGHT_CODECS and "dtype" not in options:
            options["dtype"] = kind
        return sqz_compress(_as_bytes(arr), codec, self.level, **options)

    def decode(self, buf: Any, out: Any = None) -> Any:
        return decode_chunk(buf, out)


# ------------------------------------------------------------------------------------
# zarr 3 wrappers, built on first access so that importing this module never
# imports zarr


def zarr_numcodecs_module():
    """``zarr.codecs.numcodecs`` (zarr >= 3.1.3) or ``numcodecs.zarr3`` (older 3.x)."""
    try:
        import zarr.codecs.numcodecs as zn

        return zn
    except ImportError:  # pragma: no cover - zarr 3.0 .. 3.1.2
        import numcodecs.zarr3 as zn

        return zn


def _chunk_bytes(chunk_data) -> np.ndarray:
    return chunk_data.as_numpy_array()


def _make_zarr_squeeze() -> type:
    import asyncio
    import functools
    import math

    zn = zarr_numcodecs_module()

    class ZarrSqueeze(zn._NumcodecsBytesBytesCodec, codec_name="squeeze"):
        """zarr 3 bytes-to-bytes codec ``numcodecs.squeeze``: ``compressors=[ZarrSqueeze()]``.

        Takes the same configuration as :class:`Squeeze`.  With ``codec="auto"``
        (or ``dfloat11``/``enec`` without ``dtype``) the array's dtype is a hint:
        when the chunk holds exactly the array's little-endian floats, it is coded
        as floats.  Any choice decodes: the chunk header records it.
        """

        def __init__(self, **codec_config: Any) -> None:
            # validated and complete (codec, level) in the array metadata
            super().__init__(**Squeeze.from_config(codec_config).get_config())

        @functools.cached_property
        def _codec(self) -> Squeeze:  # no numcodecs registry lookup needed
            return Squeeze.from_config(self.codec_config)

        def _encode(self, chunk_data, chunk_spec):
            arr = _chunk_bytes(chunk_data)
            cfg = self.codec_config
            if cfg.get("codec", "auto") == "auto" or (
                    cfg.get("codec") in WEIGHT_CODECS and "dtype" not in cfg):
                try:
                    dt = chunk_spec.dtype.to_native_dtype()
                except Exception:  # noqa: BLE001 - a dtype zarr cannot name: no hint
                    dt = None
                if (dt is not None and float_kind(dt) is not None
                        and arr.nbytes == math.prod(chunk_spec.shape) * dt.itemsize):
                    arr = arr.view(dt)
            return chunk_spec.prototype.buffer.from_bytes(self._codec.encode(arr))

        async def _encode_single(self, chunk_data, chunk_spec):
            return await asyncio.to_thread(self._encode, chunk_data, chunk_spec)

        def _decode(self, chunk_data, chunk_spec):
            out = decode_chunk(_chunk_bytes(chunk_data))
            return chunk_spec.prototype.buffer.from_bytes(out.view(np.uint8))

        async def _decode_single(self, chunk_data, chunk_spec):
            return await asyncio.to_thread(self._decode, chunk_data, chunk_spec)

    ZarrSqueeze.__module__ = __name__
    ZarrSqueeze.__qualname__ = "ZarrSqueeze"
    return ZarrSqueeze


def make_zarr_float_codec(name: str, codec_cls: type) -> type:
    """A zarr 3 array-to-bytes codec (``serializer=``) around a float numcodecs codec."""
    import asyncio
    import functools

    zn = zarr_numcodecs_module()

    class _ZarrFloat(zn._NumcodecsArrayBytesCodec, codec_name=codec_cls.codec_id):
        def __init__(self, **codec_config: Any) -> None:
            super().__init__(**codec_cls.from_config(codec_config).get_config())

        @functools.cached_property
        def _codec(self):
            return codec_cls.from_config(self.codec_config)

        def validate(self, *, shape, dtype, chunk_grid) -> None:
            dt = dtype.to_native_dtype()
            if dt.hasobject or dt.itemsize == 0:
                raise OptionError(f"{codec_cls.codec_id} needs a fixed-size dtype, not {dt}")

        def _encode(self, chunk_data, chunk_spec):
            arr = chunk_data.as_numpy_array()
            return chunk_spec.prototype.buffer.from_bytes(self._codec.encode(arr))

        async def _encode_single(self, chunk_data, chunk_spec):
            return await asyncio.to_thread(self._encode, chunk_data, chunk_spec)

        def _decode(self, chunk_data, chunk_spec):
            out = np.empty(chunk_spec.shape, dtype=chunk_spec.dtype.to_native_dtype())
            self._codec.decode(_chunk_bytes(chunk_data), out=out)
            return chunk_spec.prototype.nd_buffer.from_ndarray_like(out)

        async def _decode_single(self, chunk_data, chunk_spec):
            return await asyncio.to_thread(self._decode, chunk_data, chunk_spec)

    _ZarrFloat.__name__ = name
    _ZarrFloat.__qualname__ = name
    _ZarrFloat.__module__ = codec_cls.__module__
    _ZarrFloat.__doc__ = (
        f"zarr 3 array-to-bytes codec ``numcodecs.{codec_cls.codec_id}``: "
        f"``serializer={name}(level=6)``; same configuration as ``{codec_cls.__name__}``.")
    return _ZarrFloat


_lazy: dict[str, type] = {}


def __getattr__(name: str):
    if name == "ZarrSqueeze":
        if name not in _lazy:
            _lazy[name] = _make_zarr_squeeze()
        return _lazy[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register() -> None:
    # get_codec works once this module is imported, entry points or not (a source
    # checkout on sys.path); numcodecs' own entry point loading does the same
    from numcodecs.registry import codec_registry, register_codec

    if codec_registry.get(Squeeze.codec_id) is not Squeeze:
        register_codec(Squeeze)


_register()
