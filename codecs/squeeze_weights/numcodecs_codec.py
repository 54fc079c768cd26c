"""numcodecs and zarr 3 codecs ``squeeze_dfloat11`` and ``squeeze_enec``: lossless
float arrays (BF16, FP16, FP32; also FP64 and FP8) with the weight packers.

Extra ``squeeze-codecs[zarr]``; loaded by numcodecs through its
``numcodecs.codecs`` entry point (``numcodecs.get_codec({"id":
"squeeze_dfloat11"})``), never by ``import frappe_cli`` or ``squeeze_weights``.

* The element type comes from the buffer handed to ``encode``: float16, float32,
  float64 and (ml_dtypes) bfloat16 / float8 arrays are coded as such.  The
  config option ``dtype`` (``bf16``, ``f16``, ``f32``... as ``squeeze --dtype``)
  overrides it; it must name an element of the array's itemsize (or the input
  must be plain bytes).  That is how BF16 is stored where numpy/zarr have no
  bfloat16 dtype: a uint16 array of the bit patterns with ``dtype="bf16"``.
* Anything else (integers, bools, big-endian floats, unsized bytes without
  ``dtype``) is compressed losslessly with zstd through the same container, as
  ``squeeze --codec dfloat11`` does with input that holds no weights: one codec
  config can cover every array of a checkpoint.  The chunk header says which
  codec was used, so nothing is guessed at decode time.
* Each chunk is one ``.sqz`` stream (:mod:`frappe_cli.numcodecs_codec`):
  self-describing and checked; ``decode(buf, out)`` fills ``out`` and refuses
  output beyond ``out.nbytes``; bad chunks raise ``SqueezeError`` subclasses.

For zarr 3 format arrays use the array-to-bytes wrappers :class:`ZarrDFloat11`
and :class:`ZarrEnec` as the ``serializer`` (they see the typed chunk, like
zarr's ``numcodecs.pcodec``); their metadata names are
``numcodecs.squeeze_dfloat11`` / ``numcodecs.squeeze_enec``, registered in the
``zarr.codecs`` entry-point group.  They are built on first access, so this
module does not import zarr.  Zarr format 2 arrays take :class:`SqueezeDFloat11`
and :class:`SqueezeEnec` directly as ``compressor``.
"""

from __future__ import annotations

from typing import Any

from numcodecs.abc import Codec as _NumcodecsCodec

from frappe_cli.errors import OptionError
from frappe_cli.numcodecs_codec import (
    DEFAULT_LEVEL,
    as_flat_array,
    check_level,
    decode_chunk,
    make_zarr_float_codec,
    sqz_compress,
)
from squeeze_weights.formats import KIND_WIDTH, array_kind, canonical_dtype, raw_kind

__all__ = ["SqueezeDFloat11", "SqueezeEnec", "ZarrDFloat11", "ZarrEnec"]  # noqa: F822 (lazy)


class _FloatCodec(_NumcodecsCodec):
    codec_id = ""
    squeeze_codec = ""

    def __init__(self, level: int = DEFAULT_LEVEL, dtype: str | None = None):
        self.level = check_level(level)
        self.dtype = None if dtype is None else canonical_dtype(dtype)

    def get_config(self) -> dict:
        cfg: dict[str, Any] = {"id": self.codec_id, "level": self.level}
        if self.dtype is not None:
            cfg["dtype"] = self.dtype
        return cfg

    @classmethod
    def from_config(cls, config: dict):
        cfg = dict(config)
        cfg.pop("id", None)
        return cls(**cfg)

    def __repr__(self) -> str:
        extra = f", dtype={self.dtype!r}" if self.dtype is not None else ""
        return f"{type(self).__name__}(level={self.level}{extra})"

    def encode(self, buf: Any) -> bytes:
        arr = as_flat_array(buf)
        kind = self.dtype
        if kind is not None:
            width = KIND_WIDTH[raw_kind(kind)]
            if arr.dtype.itemsize not in (1, width):
                raise OptionError(f"dtype={kind} names {width}-byte elements but the array "
                                  f"holds {arr.dtype} ({arr.dtype.itemsize} bytes)")
        else:
            kind = array_kind(arr.dtype)
        data = memoryview(arr.view("u1")) if arr.size else b""
        if kind is None:
            return sqz_compress(data, "zstd", self.level)
        return sqz_compress(data, self.squeeze_codec, self.level, dtype=kind)

    def decode(self, buf: Any, out: Any = None) -> Any:
        return decode_chunk(buf, out)


class SqueezeDFloat11(_FloatCodec):
    """DFloat11 (entropy-coded exponents, ratio first) as a numcodecs codec."""

    codec_id = "squeeze_dfloat11"
    squeeze_codec = "dfloat11"


class SqueezeEnec(_FloatCodec):
    """ENEC (speed first) as a numcodecs codec."""

    codec_id = "squeeze_enec"
    squeeze_codec = "enec"


_lazy: dict[str, type] = {}
_ZARR = {"ZarrDFloat11": SqueezeDFloat11, "ZarrEnec": SqueezeEnec}


def __getattr__(name: str):
    if name in _ZARR:
        if name not in _lazy:
            _lazy[name] = make_zarr_float_codec(name, _ZARR[name])
        return _lazy[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register() -> None:
    from numcodecs.registry import codec_registry, register_codec

    for cls in (SqueezeDFloat11, SqueezeEnec):
        if codec_registry.get(cls.codec_id) is not cls:
            register_codec(cls)


_register()
