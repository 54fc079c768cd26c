"""The codec contract (after numcodecs' Codec).

A codec turns one *block* of input bytes into a payload and back.  The
container (``frappe_cli.container``) frames blocks, checks them, runs them in
parallel and stores each block with the fallback when that is smaller, so a
codec only has to be correct and good at its data.

Subclasses set the class attributes and implement ``encode_block`` /
``decode_block``.  Optional hooks:

* ``split(reader)`` - choose block boundaries (format-aware codecs such as the
  weight packers cut at tensor boundaries and pass a per-block ``hint``);
* ``finish_output(data)`` - turn the decoded, checked bytes into what the user
  gets (the image codec turns its raw reconstruction into a PNG);
* ``memory_usage()`` - bytes needed to encode/decode one block, for ``-M``;
* ``split_ranges(read, size, block_size)`` - the byte ranges ``split`` cuts, from
  a header alone, so that cluster tasks read their own ranges (distributed.py);
* ``array_params(dtype)``, ``array_dtype(params)``, ``canonical_params(params)`` -
  typed arrays in the generic numcodecs/zarr codec (numcodecs_codec.py);
* ``threads`` - the ``-T`` count, for a codec that runs threads of its own inside
  one block (the image codec's pool and parallel kernels);
* ``output_name(name, params)`` - decompression: another name for the decoded
  file when its format is not the one its name says (the image codec writes PNG).

Rules every codec follows:

* ``codec_id`` is a stable kebab-case name; a change of bitstream bumps
  ``bitstream_version`` and old versions keep decoding (golden files).
* ``get_config()`` is JSON-only and includes ``id``; ``from_config`` rebuilds
  an equivalent codec.  The config is stored in the stream header, so the
  decoder sees exactly the parameters the encoder used.
* Heavy imports (numba kernels, weights) happen lazily inside the methods, never
  at module import, so ``squeeze --help`` stays fast.
* ``decode_block`` meets hostile payloads: it raises ``CorruptError`` (or
  another ``SqueezeError``), never crashes, hangs or returns wrong-sized data.
* Kernels that release the GIL (``@njit(nogil=True)``) let ``-T N`` scale.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, BinaryIO, Callable, Iterator

from frappe_cli.errors import OptionError

DEFAULT_LEVEL = 6
MIN_LEVEL = 0
MAX_LEVEL = 9


class Codec(ABC):
    #: stable kebab-case identifier stored in every stream header
    codec_id: str = ""
    #: bumped for every incompatible bitstream change; old ones must still decode
    bitstream_version: int = 1
    #: lossy codecs are never chosen by ``--codec auto``
    lossless: bool = True
    #: one line for ``squeeze codecs``
    description: str = ""
    #: "zstd": the container also tries the zstd fallback on every block and keeps
    #: the smaller; "none": the codec guarantees this itself (documented in its
    #: SPEC.md), e.g. because the fallback test would dominate its run time.
    fallback: str = "zstd"
    #: the parameters ``__init__`` accepts besides ``level`` (name -> type, or a tuple of
    #: types; checked by ``Codec.__init__``: an int is a float, a bool is neither)
    options: dict[str, type] = {}
    #: set on an instance by ``--codec auto`` when the input cannot be read twice (a
    #: pipe): the codec must then code bytes it cannot parse as opaque data instead
    #: of raising ``InputError`` (format-aware codecs: a lying header, a short file)
    lenient_input: bool = False
    #: extra ``squeeze NAME ...`` commands of the codec's package: name ->
    #: ("module:attr" of a click command, one-line help); loaded only when used
    subcommands: dict[str, tuple[str, str]] = {}
    #: named command-line options of the codec's parameters (compression only), each
    #: ``{"flag": "--bpp", "param": "bpp", "type": float, "help": "...", "metavar": ..}``
    #: (or ``"choices": (...)`` instead of ``"type"``: one of those strings);
    #: every parameter is also reachable as ``-O param=value``
    cli_options: tuple[dict, ...] = ()
    #: memory the codec's runtime costs once per process, whatever the blocks (numba
    #: and its compiled kernels: ~100 MiB measured); ``-M`` adds it to its estimate
    process_memory: int = 0
    #: the thread count the user allowed (``-T N``, the API's ``threads``), set on
    #: the instance by the container before it codes a stream's blocks (where the
    #: container does not set it, it stays 1).  The container itself runs up to that
    #: many blocks at once; a codec whose block coding starts threads of its own (a
    #: thread pool, numba ``parallel=True`` kernels) uses at most ``threads`` for a
    #: stream that is one block (an image) and one per block otherwise, so that
    #: ``-T1`` means one thread in total.
    threads: int = 1

    # -- hooks for the core (all optional; the core names no codec) -------------------
    @classmethod
    def sniff(cls, head: bytes) -> tuple[int, str, str] | None:
        """``--codec auto``: claim an input by its first bytes (up to 64 KiB).

        Returns ``(priority, kind, reason)`` or None.  A priority of
        ``detect.FORMAT`` (50) or more claims a recognised file format and wins
        over the core's "already compressed" and "small input" rules; a lower one
        claims a kind of content (text, binary) and only applies when the core finds
        no reason for zstd.  The highest priority wins; lossy codecs are never asked.
        """
        return None

    @classmethod
    def describe(cls, path) -> list[dict] | None:
        """``squeeze list -v``: codec-specific rows for the .sqz file at ``path``
        (called once per file); a row with a ``"stream"`` key (the stream's index in
        the file) is listed under that stream only, the others under each stream of
        this codec."""
        return None

    @classmethod
    def summarize(cls, params: dict, blocks: list[tuple[int, int]]) -> dict | None:
        """``squeeze list``: codec-specific fields of one stream from its header
        parameters and its blocks' (uncompressed, compressed) sizes, nothing decoded
        (e.g. a frame stream's frame count and rate); a ``"text"`` entry is printed
        under the stream's row."""
        return None

    @classmethod
    def output_name(cls, name: str, params: dict) -> tuple[str, str] | None:
        """Decompression to a file named after the input: ``name`` is the .sqz name
        without its suffix (``"photo.jpg"``), ``params`` the first stream's header
        parameters.  Returns None to write ``name`` (the default), or ``(new name,
        why)`` when the decoded bytes are in a format that name does not say (the
        lossy image codec writes a PNG: ``("photo.png", "decoded image written as
        PNG")``).  The core writes the new name in the same folder, says ``why`` once
        on stderr and, as for any output, never overwrites a file without ``-f``;
        ``-o``, ``-c`` and ``-t`` do not ask."""
        return None

    @classmethod
    def array_params(cls, dtype: Any) -> tuple[int, dict] | None:
        """numcodecs/zarr: claim array chunks of numpy dtype ``dtype``.

        Returns ``(priority, params)``: the parameters that make this codec code
        such an array as typed elements (the weight packers: ``{"dtype": "bf16"}``),
        or None when the dtype is nothing special to this codec.  The generic
        ``squeeze`` numcodecs codec with ``codec="auto"`` takes the claim of highest
        priority above 0 (0: only when the codec is named); a named codec gets the
        claimed parameters it was not given.  Lossy codecs are never asked.
        """
        return None

    @classmethod
    def array_dtype(cls, params: dict) -> Any | None:
        """numcodecs/zarr: the numpy dtype (anything ``numpy.dtype`` takes) a chunk
        coded with header parameters ``params`` is returned as when no ``out`` is
        given, or None for plain bytes (uint8)."""
        return None

    @classmethod
    def canonical_params(cls, params: dict) -> dict:
        """Parameters validated and in their canonical spelling (``dtype="FP32"`` ->
        ``"f32"``), for configurations stored outside the stream (numcodecs/zarr
        metadata); raises ``OptionError`` on a bad value.  The default returns them
        unchanged (``__init__`` still validates them)."""
        return params

    @classmethod
    def decodes_version(cls, version: int) -> bool:
        """Whether this implementation decodes streams of bitstream ``version``."""
        return 1 <= version <= cls.bitstream_version

    def __init__(self, level: int = DEFAULT_LEVEL, **params: Any):
        if type(level) is not int or not MIN_LEVEL <= level <= MAX_LEVEL:  # not a bool
            raise OptionError(f"level must be an integer {MIN_LEVEL}..{MAX_LEVEL}, not {level!r}")
        unknown = sorted(set(params) - set(self.options))
        if unknown:
            raise OptionError(
                f"codec '{self.codec_id}' does not take option(s): {', '.join(unknown)}"
            )
        for name, value in params.items():
            if value is not None and not _type_ok(value, self.options[name]):
                raise OptionError(f"codec '{self.codec_id}': option {name} must be "
                                  f"{_type_name(self.options[name])}, not {value!r}")
        self.level = level
        self.params = dict(params)

    def __eq__(self, other: object) -> bool:
        """Two codecs are equal when they are the same codec with the same stored
        configuration (what a stream header records), so they write the same streams."""
        if not isinstance(other, Codec):
            return NotImplemented
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self), json.dumps(self.get_config(), sort_keys=True, default=str)))

    # -- configuration ---------------------------------------------------------------
    def get_config(self) -> dict:
        """JSON-serialisable parameters (stored in the header); includes ``id``."""
        cfg = {"id": self.codec_id, "level": self.level}
        cfg.update(self.params)
        return cfg

    @classmethod
    def from_config(cls, cfg: dict) -> "Codec":
        cfg = dict(cfg)
        cfg.pop("id", None)
        level = cfg.pop("level", DEFAULT_LEVEL)
        return cls(level=level, **cfg)

    # -- blocks ----------------------------------------------------------------------
    def block_size(self) -> int:
        """Preferred uncompressed block size in bytes for this configuration."""
        return 8 << 20

    def split(self, reader: BinaryIO, block_size: int) -> Iterator[tuple[bytes, Any]]:
        """Yield ``(block, hint)`` pairs covering the whole input, in order.

        The default cuts fixed-size blocks.  ``hint`` is passed to
        ``encode_block``; anything the decoder needs from it must be written into
        the payload.  Blocks must not exceed ``block_size``.
        """
        while True:
            chunk = read_exact(reader, block_size)
            if not chunk:
                return
            yield chunk, None
            if len(chunk) < block_size:
                return

    def split_ranges(self, read: Callable[[int, int], bytes], size: int,
                     block_size: int) -> Iterator[tuple[int, int, Any]] | None:
        """Cluster inputs (``--scheduler`` with a URL): the ``(offset, length, hint)``
        of every block ``split`` would cut from the ``size``-byte input, in order,
        without reading the data, so that each task reads its own byte range.

        ``read(start, end)`` reads input bytes: read only what the cuts depend on
        (a file header).  Return None when the cuts depend on the data itself; the
        client then reads the input and sends the blocks.  The default: fixed-size
        blocks when ``split`` is the default one, else None.  A codec whose cuts
        depend only on a header returns ``layout_ranges(self, header, size,
        block_size)``.
        """
        if type(self).split is not Codec.split:
            return None
        return ((off, min(block_size, size - off), None)
                for off in range(0, size, block_size))

    @abstractmethod
    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        """Compress one block; the payload must be self-describing (plus ``size``)."""

    @abstractmethod
    def decode_block(self, payload: bytes, size: int) -> bytes:
        """Invert ``encode_block``; ``size`` is the block's stored uncompressed size.

        May return any bytes-like object (``bytes``, ``bytearray``, a read-only
        ``memoryview`` over a numpy buffer...) of exactly ``size`` bytes.
        """

    def reconstruction(self, data: bytes, payload: bytes) -> bytes:
        """Lossy codecs only: the exact bytes ``decode_block(payload)`` will return,
        for a payload already made (the container's fallback when it has only the
        payload)."""
        raise OptionError(f"lossy codec '{self.codec_id}' does not define reconstruction()")

    def encode_lossy(self, data: bytes, hint: Any = None) -> tuple[bytes, bytes]:
        """Lossy codecs: ``(payload, reconstruction)`` of one block, where the
        reconstruction is exactly what ``decode_block(payload)`` will return.  The
        container checks those bytes (so a decoder that drifts from the encoder is
        caught) and stores their length as the block's uncompressed size.  A codec
        that computes its reconstruction while encoding returns it here, so it keeps
        no state between calls; the default encodes, then asks ``reconstruction``."""
        payload = self.encode_block(data, hint)
        return payload, self.reconstruction(data, payload)

    #: lossy codecs: the block check of new streams covers the payload (FORMAT.md
    #: header flags bit 2), so nothing is decoded at encode time; needs
    #: ``reconstruction_size`` and a decoder that never drifts from the encoder
    check_payload: bool = False

    def reconstruction_size(self, data: bytes, payload: bytes) -> int | None:
        """Lossy codecs: ``len(decode_block(payload))`` computed without decoding (from
        the payload's header), or None (the container then runs ``reconstruction``)."""
        return None

    def max_reconstruction_size(self, block_size: int) -> int | None:
        """Lossy codecs: a bound on every block's reconstruction size known before any
        block is coded (e.g. fixed-size frames), or None.  With a bound the container
        streams the blocks (header first) instead of coding them all up front."""
        return None

    def finish_output(self, data: bytes) -> bytes:
        """Map decoded, checked block bytes to the bytes written for the user."""
        return data

    def memory_usage(self) -> int:
        """Approximate peak bytes to encode or decode one block (besides the block)."""
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.get_config()}>"


def read_exact(reader: BinaryIO, n: int) -> bytes:
    """Read up to ``n`` bytes, looping over short reads (pipes); b"" only at EOF."""
    parts = []
    got = 0
    while got < n:
        piece = reader.read(n - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts) if len(parts) != 1 else parts[0]


class _PrefixReader:
    """A reader of ``size`` bytes: ``prefix`` and then zeros (layout-only splits)."""

    def __init__(self, prefix: bytes, size: int):
        self.prefix = prefix
        self.size = size
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = max(0, min(n, self.size - self.pos))
        out = bytearray(n)
        if self.pos < len(self.prefix):
            real = self.prefix[self.pos:self.pos + n]
            out[:len(real)] = real
        self.pos += n
        return bytes(out)


def layout_ranges(codec: Codec, prefix: bytes, size: int,
                  block_size: int) -> Iterator[tuple[int, int, Any]]:
    """``split_ranges`` for a codec whose cuts and hints depend only on the input's
    first bytes ``prefix``: runs ``codec.split`` over ``prefix`` followed by zeros
    up to ``size`` bytes and yields each block's ``(offset, length, hint)``."""
    off = 0
    for data, hint in codec.split(_PrefixReader(prefix, size), block_size):
        if data:
            yield off, len(data), hint
            off += len(data)


def _type_ok(value: Any, declared: type | tuple[type, ...]) -> bool:
    """Whether ``value`` fits an option's declared type (``Codec.options``): an int
    is a float, a bool is neither an int nor a float, a tuple allows each type."""
    for t in declared if isinstance(declared, tuple) else (declared,):
        if isinstance(value, bool):
            if t is bool:
                return True
        elif t is float and isinstance(value, (int, float)):
            return True
        elif isinstance(value, t):
            return True
    return False


def _type_name(declared: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    ts = declared if isinstance(declared, tuple) else (declared,)
    return " or ".join(names.get(t, t.__name__) for t in ts)
