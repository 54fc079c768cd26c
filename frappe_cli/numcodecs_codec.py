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
chunk.  When a codec claims the chunk's array dtype (the ``Codec.array_params``
hook: ``dfloat11`` claims float16/32/64 and ml_dtypes bfloat16/float8 with that
``dtype``) ``auto`` uses it; otherwise the content sniffing of ``squeeze --codec
auto`` decides (context mixing for compressible binary and text, zstd for
high-entropy data).  A named codec gets the parameters it claims for the dtype
and was not given (``codec="enec"`` on a float32 array: ``dtype="f32"``).  ``zstd`` would be a
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
from typing import Any

import numpy as np
from numcodecs.abc import Codec as _NumcodecsCodec
from numcodecs.compat import ensure_ndarray_like, ndarray_copy

from frappe_cli.errors import CorruptError, InputError, OptionError, SqueezeError

__all__ = ["Squeeze", "ZarrSqueeze", "array_claim"]  # noqa: F822 (lazy)

DEFAULT_LEVEL = 6


def array_claim(dtype: Any) -> tuple[str, dict] | None:
    """``codec="auto"`` for an array of ``dtype``: ``(codec id, params)`` of the
    installed lossless codec whose ``array_params`` claim has the highest priority
    above 0 (the first in the registry's order on a tie), or None."""
    from frappe_cli import registry

    dtype = np.dtype(dtype)
    best: tuple[int, str, dict] | None = None
    for cid in registry.available_ids():
        cls = registry.get_class(cid)
        if not cls.lossless:
            continue
        claim = cls.array_params(dtype)
        if claim and claim[0] > 0 and (best is None or claim[0] > best[0]):
            best = (int(claim[0]), cid, dict(claim[1]))
    return None if best is None else (best[1], best[2])


def named_claim(codec: str, dtype: Any) -> dict:
    """The parameters codec ``codec`` claims for an array of ``dtype`` ({} if none)."""
    from frappe_cli import registry

    claim = registry.get_class(codec).array_params(np.dtype(dtype))
    return dict(claim[1]) if claim else {}


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

    Without ``out`` the result is typed from the stream header: a chunk whose codec
    names a dtype for it (``Codec.array_dtype``: a weight packer's float chunk)
    comes back as that dtype, anything else as uint8.  With ``out`` the decoder
    refuses to produce more than ``out.nbytes`` bytes (decompression bomb guard)
    and a chunk of any other size is a ``CorruptError``.
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
    dt = chunk_dtype(stream_params(data))
    if dt is not None and len(raw) % dt.itemsize == 0:
        return arr.view(dt)
    return arr


def chunk_dtype(params: dict) -> np.dtype | None:
    """The dtype a chunk with header ``params`` decodes to (its codec's
    ``array_dtype`` hook), or None for bytes."""
    from frappe_cli import registry

    cid = params.get("id")
    if not isinstance(cid, str):
        return None
    try:
        dt = registry.get_class(cid).array_dtype(params)
        return None if dt is None else np.dtype(dt)
    except (SqueezeError, TypeError, ValueError):
        return None


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
        if codec == "auto":
            if options:
                raise OptionError("codec='auto' takes no codec options (name the codec)")
        else:
            from frappe_cli import registry

            options = registry.get_class(codec).canonical_params(options)  # unknown: fails
        self.options = dict(sorted(options.items()))
        if codec != "auto":
            made = registry.make(codec, level, **options)  # unknown options fail here
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

    def array_codec(self, dtype: Any) -> tuple[str, dict] | None:
        """What an array of ``dtype`` is coded with, when a codec claims the dtype
        (``Codec.array_params``): ``(codec id, options)``, else None."""
        if self.codec == "auto":
            return array_claim(dtype)
        claimed = named_claim(self.codec, dtype)
        return (self.codec, {**claimed, **self.options}) if claimed else None

    def encode(self, buf: Any) -> bytes:
        arr = as_flat_array(buf)
        codec, options = self.array_codec(arr.dtype) or (self.codec, self.options)
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

        Takes the same configuration as :class:`Squeeze`.  The array's dtype is a
        hint: when a codec claims it (``Codec.array_params``) and the chunk holds
        exactly the array's elements, it is coded as that dtype (``auto``: float
        arrays by ``dfloat11``).  Any choice decodes: the chunk header records it.
        """

        def __init__(self, **codec_config: Any) -> None:
            # validated and complete (codec, level) in the array metadata
            super().__init__(**Squeeze.from_config(codec_config).get_config())

        @functools.cached_property
        def _codec(self) -> Squeeze:  # no numcodecs registry lookup needed
            return Squeeze.from_config(self.codec_config)

        def _encode(self, chunk_data, chunk_spec):
            arr = _chunk_bytes(chunk_data)
            try:
                dt = chunk_spec.dtype.to_native_dtype()
            except Exception:  # noqa: BLE001 - a dtype zarr cannot name: no hint
                dt = None
            if (dt is not None and self._codec.array_codec(dt) is not None
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
