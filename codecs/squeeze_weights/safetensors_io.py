"""safetensors-style Python API over compressed weights: safe_open, load_file, save_file.

    from squeeze_weights import safe_open, load_file, save_file

    save_file({"w": w, "b": b}, "model.safetensors.sqz")          # dfloat11, level 6
    with safe_open("model.safetensors.sqz", framework="numpy") as f:
        w = f.get_tensor("w")                 # decodes only the blocks holding "w"
        rows = f.get_slice("w")[:128]         # decodes only the blocks holding those rows
    tensors = load_file("model.safetensors.sqz")

The .sqz file holds a safetensors file (made by ``squeeze model.safetensors``
or by ``save_file``).  Reading goes through ``frappe_cli.open``: the container
index maps a byte offset of the safetensors file to the one block that holds
it, so a tensor at ``[8 + N + begin, 8 + N + end)`` costs the blocks that
cover that range (the weights codecs cut blocks at tensor boundaries, so that
is the tensor's own blocks, plus at most a block shared with small
neighbours).

**Writing** (``save_file``, ``serialize``) follows the safetensors format
(https://huggingface.co/docs/safetensors) and the choices of its reference
writer, so that the decompressed file is byte for byte what
``safetensors.numpy.save_file`` writes for the same dict:

* an 8-byte little-endian header length ``N``, then ``N`` bytes of JSON, then
  the tensor bytes in header order, back to back, little-endian, C order;
* tensors ordered by descending dtype rank, then by name (byte-wise UTF-8,
  which is code-point order); the rank is the order of the reference
  writer's dtype enum (``_DTYPE_RANK`` below; roughly "widest first", so the
  data of every tensor starts aligned to its element size);
* JSON without spaces: ``{"__metadata__":{...},"NAME":{"dtype":"F32",
  "shape":[2,3],"data_offsets":[BEGIN,END]},...}``; ``__metadata__`` first
  and only when metadata is given (``{}`` is written as ``{}``); strings are
  UTF-8, with only ``"``, ``\\`` and control characters escaped;
* the JSON padded with spaces to a multiple of 8 bytes.

One difference: the reference writer keeps metadata in a hash map, so a
``metadata`` dict with two or more keys comes out in an order that changes
from call to call; ``save_file`` keeps the dict's own order (deterministic).
With zero or one metadata key the bytes are identical.  (One more: for no
tensors and ``metadata={}`` safetensors 0.8 writes ``{},"__metadata__":{}}``,
which is not JSON and which it cannot read back; squeeze writes
``{"__metadata__":{}}``.)

**BF16 and float8 with numpy.**  numpy has no bfloat16 or float8 types.
``safetensors.numpy`` fails on them (``TypeError: data type 'bfloat16' not
understood``) unless ``ml_dtypes`` has been imported.  Here: if
``ml_dtypes`` is installed, these tensors come back as ``ml_dtypes.bfloat16``
(``float8_e4m3fn``, ...) arrays, and ``save_file`` takes such arrays; if not,
reading one raises ``UnsupportedError`` naming the fix (``pip install
ml_dtypes``, or ``framework="pt"``, which returns ``torch.bfloat16``).  The raw
bits are never handed out silently as ``uint16``.  ``RawTensor`` lets
``save_file`` write any dtype from raw little-endian bytes.

**Errors.**  Everything a file can do wrong (not a .sqz, a .sqz without a
safetensors file, truncated, corrupt, a lying or deeply nested header) is a
``SqueezeError`` subclass: ``FormatError``, ``InputError``, ``CorruptError``
(``TruncatedError``), ``UnsupportedError``.  An unknown tensor name raises
``TensorNotFoundError`` (a ``KeyError`` and an ``InputError``).

``framework="pt"`` imports torch on first use; torch is never a dependency.
A ``safe_open`` handle is not safe to share between threads.
"""

from __future__ import annotations

import json
import operator
import os
import struct
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

from frappe_cli.errors import (CorruptError, FormatError, InputError, MemoryLimitError,
                               OptionError, SqueezeError, TruncatedError, UnsupportedError)

__all__ = ["RawTensor", "TensorNotFoundError", "load_file", "safe_open", "save_file",
           "serialize"]

#: the safetensors library's own header limit (larger headers are refused)
MAX_HEADER = 100_000_000

#: safetensors dtype -> (numpy / ml_dtypes / torch type name, bytes per element).
#: The three libraries happen to use the same names for all of these.
DTYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("bool", 1), "U8": ("uint8", 1), "I8": ("int8", 1),
    "F8_E5M2": ("float8_e5m2", 1), "F8_E4M3": ("float8_e4m3fn", 1),
    "F8_E8M0": ("float8_e8m0fnu", 1), "F8_E4M3FNUZ": ("float8_e4m3fnuz", 1),
    "F8_E5M2FNUZ": ("float8_e5m2fnuz", 1),
    "I16": ("int16", 2), "U16": ("uint16", 2), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "I32": ("int32", 4), "U32": ("uint32", 4), "F32": ("float32", 4),
    "C64": ("complex64", 8), "F64": ("float64", 8), "I64": ("int64", 8), "U64": ("uint64", 8),
}

#: order of the reference writer's dtype enum (checked against safetensors 0.8 in the
#: tests): tensors are written by descending rank, then by name
_DTYPE_RANK = {d: i for i, d in enumerate(DTYPES)}

#: numpy dtype name -> safetensors dtype
_FROM_NUMPY = {name: st for st, (name, _w) in DTYPES.items()}

#: types numpy itself lacks (ml_dtypes provides them)
_ML_DTYPES = frozenset({"bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e8m0fnu",
                        "float8_e4m3fnuz", "float8_e5m2fnuz"})

_FEED = 1 << 22  # padding between tensors is skipped this many bytes at a time


class TensorNotFoundError(InputError, KeyError):
    """``get_tensor`` / ``get_slice`` of a name the file does not hold."""

    __str__ = Exception.__str__  # not KeyError's quoted repr


class RawTensor(NamedTuple):
    """A tensor given as raw bytes: a safetensors ``dtype`` ("BF16"), a shape, and
    the little-endian C-order bytes (any buffer).  ``save_file`` and ``serialize``
    take these beside numpy arrays, e.g. to write BF16 without ml_dtypes."""

    dtype: str
    shape: tuple
    data: Any


# ------------------------------------------------------------------------------------
# writing


class _Entry:
    __slots__ = ("data", "dtype", "name", "nbytes", "shape")

    def __init__(self, name: str, dtype: str, shape: tuple, data: memoryview):
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data  # 1-d unsigned-byte memoryview of the tensor's bytes
        self.nbytes = len(data)


def _entry(name: Any, value: Any) -> _Entry:
    import numpy as np

    if not isinstance(name, str):
        raise InputError(f"tensor names must be strings, not {type(name).__name__}")
    if name == "__metadata__":
        raise InputError("'__metadata__' is reserved and cannot name a tensor")
    if isinstance(value, RawTensor):
        if value.dtype not in DTYPES:
            raise InputError(f"tensor '{name}': unknown safetensors dtype {value.dtype!r}")
        shape = _shape(name, value.shape)
        try:
            mv = memoryview(value.data).cast("B")
        except TypeError:
            mv = memoryview(bytes(value.data))
        want = _prod(shape) * DTYPES[value.dtype][1]
        if len(mv) != want:
            raise InputError(f"tensor '{name}' holds {len(mv)} bytes but shape {list(shape)} x "
                             f"{value.dtype} needs {want}")
        return _Entry(name, value.dtype, shape, mv)
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise InputError(f"tensor '{name}' is a {type(value).__name__}, not a numpy array "
                         "(or a squeeze_weights.RawTensor)")
    st = _FROM_NUMPY.get(value.dtype.name)
    if st is None or value.dtype.itemsize != DTYPES[st][1] or value.dtype.fields is not None:
        raise InputError(f"tensor '{name}' has dtype {value.dtype}, which safetensors cannot "
                         f"store (it stores {', '.join(sorted(_FROM_NUMPY))})")
    shape = tuple(value.shape)
    if value.dtype.byteorder == ">" or (value.dtype.byteorder == "=" and not np.little_endian):
        value = value.astype(value.dtype.newbyteorder("<"))
    if not value.flags.c_contiguous:
        value = np.ascontiguousarray(value)  # the logical C-order contents
    return _Entry(name, st, shape, value.reshape(-1).view(np.uint8).data)


def _shape(name: str, shape: Any) -> tuple:
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise InputError(f"tensor '{name}' has an invalid shape {shape!r}") from None
    if any(d < 0 for d in dims) or any(isinstance(d, bool) for d in shape):
        raise InputError(f"tensor '{name}' has an invalid shape {shape!r}")
    return dims


def _prod(shape) -> int:
    p = 1
    for d in shape:
        p *= d
    return p


def _plan(tensors: Mapping, metadata: Mapping | None) -> tuple[bytes, list[_Entry]]:
    """The 8-byte length + padded JSON header and the entries in file order."""
    if not isinstance(tensors, Mapping):
        raise InputError(f"tensors must be a dict of name -> array, not {type(tensors).__name__}")
    entries = [_entry(k, v) for k, v in tensors.items()]
    entries.sort(key=lambda e: (-_DTYPE_RANK[e.dtype], e.name))
    parts = []
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise InputError("metadata must map strings to strings")
        parts.append('"__metadata__":' + json.dumps(dict(metadata), ensure_ascii=False,
                                                    separators=(",", ":")))
    pos = 0
    for e in entries:
        parts.append(f'{json.dumps(e.name, ensure_ascii=False)}:{{"dtype":"{e.dtype}",'
                     f'"shape":[{",".join(str(d) for d in e.shape)}],'
                     f'"data_offsets":[{pos},{pos + e.nbytes}]}}')
        pos += e.nbytes
    try:
        js = ("{" + ",".join(parts) + "}").encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("tensor names and metadata must be valid Unicode "
                         "(no lone surrogates)") from None
    js += b" " * (-len(js) % 8)
    if len(js) > MAX_HEADER:
        raise InputError(f"the safetensors header would be {len(js)} bytes, over the format's "
                         f"limit of {MAX_HEADER}")
    return struct.pack("<Q", len(js)) + js, entries


def serialize(tensors: Mapping, metadata: Mapping | None = None) -> bytes:
    """The uncompressed safetensors bytes of ``tensors`` (as ``safetensors.numpy.save``).

    Values are numpy arrays or ``RawTensor``; built in memory (``save_file``
    streams instead)."""
    head, entries = _plan(tensors, metadata)
    return b"".join([head, *(e.data for e in entries)])


class _Pieces:
    """A read()-able stream over a list of buffers (no concatenation)."""

    def __init__(self, parts: list):
        self._parts = parts
        self._i = 0
        self._off = 0

    def read(self, n: int = -1) -> bytes:
        out = []
        while (n < 0 or n > 0) and self._i < len(self._parts):
            part = self._parts[self._i]
            k = len(part) - self._off if n < 0 else min(n, len(part) - self._off)
            out.append(part[self._off:self._off + k])
            self._off += k
            if n > 0:
                n -= k
            if self._off >= len(part):
                self._i += 1
                self._off = 0
        if len(out) == 1:
            return bytes(out[0])
        return b"".join(out)


def save_file(tensors: Mapping, path, codec: str = "dfloat11", metadata: Mapping | None = None,
              level: int = 6, *, threads: int = 1, block_size: int | None = None) -> None:
    """Write ``tensors`` (name -> numpy array or ``RawTensor``) as a compressed
    safetensors file ``path`` (by convention ``*.safetensors.sqz``).

    ``squeeze -d`` (or ``frappe_cli.decompress``) gives back exactly the bytes
    ``safetensors.numpy.save_file(tensors, metadata=metadata)`` writes (up to the
    order of metadata keys, see the module notes).  The tensor bytes are streamed
    into the compressor, never gathered into one uncompressed file.  The output
    is written atomically: a temporary file in the same folder, renamed over
    ``path`` (an existing file is replaced, as safetensors does).  ``threads``
    never changes the bytes written.
    """
    from pathlib import Path

    from frappe_cli import container, registry
    from frappe_cli.fileio import AtomicOutput

    head, entries = _plan(tensors, metadata)
    if not isinstance(codec, str):
        raise OptionError("codec must be a codec id such as 'dfloat11' or 'enec'")
    cod = registry.make(codec, level)
    if not cod.lossless:
        raise OptionError(f"codec '{codec}' is lossy; save_file needs a lossless codec")
    src = _Pieces([memoryview(head)] + [e.data for e in entries if e.nbytes])
    with AtomicOutput(Path(os.fspath(path)), force=True) as out:
        container.compress_stream(src, out, cod, threads=threads, block_size=block_size)


# ------------------------------------------------------------------------------------
# reading


def _framework(framework: str) -> str:
    fw = str(framework).lower()
    if fw in ("numpy", "np"):
        return "numpy"
    if fw in ("pt", "torch", "pytorch"):
        _torch()
        return "pt"
    raise OptionError(f"framework '{framework}' is not supported (use 'numpy' or 'pt')")


def _torch():
    try:
        import torch
    except ImportError:
        raise UnsupportedError("framework='pt' needs PyTorch, which is not installed "
                               "(pip install torch)") from None
    return torch


def _np_dtype(st: str, name: str):
    """The numpy dtype of safetensors dtype ``st`` (tensor ``name`` for the message)."""
    import numpy as np

    tname = DTYPES[st][0]
    if tname not in _ML_DTYPES:
        return np.dtype(tname)
    try:
        import ml_dtypes
    except ImportError:
        raise UnsupportedError(
            f"tensor '{name}' is {st}, which numpy has no type for: install ml_dtypes "
            f"(pip install ml_dtypes) to get ml_dtypes.{tname} arrays, or open the file "
            "with framework='pt'") from None
    t = getattr(ml_dtypes, tname, None)
    if t is None:
        raise UnsupportedError(f"tensor '{name}' is {st}, which this ml_dtypes lacks "
                               "(upgrade ml_dtypes)")
    return np.dtype(t)


_CARRIER = {1: "u1", 2: "<u2", 4: "<u4", 8: "<u8"}


@contextmanager
def _guard(what: str):
    """Turn anything but a SqueezeError or an OSError into a SqueezeError."""
    try:
        yield
    except (SqueezeError, OSError):
        raise
    except MemoryError:
        raise MemoryLimitError(f"Memory usage limit reached (cannot allocate for {what})") from None
    except RecursionError:
        raise InputError(f"invalid safetensors file: {what} is nested too deeply") from None
    except Exception as exc:
        raise CorruptError(f"Compressed data is corrupt ({type(exc).__name__} while "
                           f"reading {what})") from exc


class safe_open:  # noqa: N801 - the name mirrors safetensors.safe_open
    """Open a compressed safetensors file for lazy reads (a context manager).

    ``framework``: "numpy" (or "np") gives numpy arrays, "pt" (or "torch") torch
    tensors (torch is imported here; ``device`` is passed to ``Tensor.to``).  The
    safetensors header is read and checked here; tensor bytes are decoded only
    by ``get_tensor``, ``get_slice(name)[...]`` and ``get_tensors``.
    """

    def __init__(self, path, framework: str = "numpy", device: str = "cpu"):
        self._f = None
        self._fw = _framework(framework)
        self._device = device
        if self._fw == "numpy" and str(device) != "cpu":
            raise OptionError("framework='numpy' only has device='cpu'")
        self._path = os.fspath(path)
        try:
            with _guard("the file"):
                self._f = self._open()
                self._read_header()
        except BaseException:
            self.close()
            raise

    # -- opening -----------------------------------------------------------------
    def _open(self):
        import frappe_cli

        f = None
        try:
            f = frappe_cli.open(self._path, "rb")
            # the size comes from the container index (no block is decoded for it)
            self._size_total = f.seek(0, os.SEEK_END)
            f.seek(0)
            self._head = _read_upto(f, 16)
        except FormatError:
            if f is not None:
                f.close()
            self._not_sqz()
            raise
        except BaseException:
            if f is not None:
                f.close()
            raise
        return f

    def _not_sqz(self) -> None:
        """A clearer message for a plain (uncompressed) safetensors file."""
        from squeeze_weights import formats as F

        try:
            with open(self._path, "rb") as g:
                head = g.read(16)
        except OSError:
            return
        if F.is_safetensors_head(head):
            raise FormatError(f"{self._path} is a plain safetensors file, not a .sqz "
                              "(read it with safetensors, or compress it with squeeze)")

    def _read_header(self) -> None:
        from squeeze_weights import formats as F

        head = self._head
        if not F.is_safetensors_head(head):
            raise InputError(f"{self._path} does not hold a safetensors file")
        n = struct.unpack_from("<Q", head)[0]  # <= MAX_HEADER (is_safetensors_head)
        size = self._size_total
        if 8 + n > size:
            raise InputError(f"invalid safetensors file: the header ({8 + n} bytes) is longer "
                             f"than the file ({size} bytes)")
        rest = _read_upto(self._f, 8 + n - len(head)) if 8 + n > len(head) else b""
        hdr = (head + rest)[:8 + n]
        if len(hdr) != 8 + n:
            raise InputError("invalid safetensors file: the header is truncated")
        try:
            lay = F.parse_safetensors(hdr)
        except RecursionError:
            raise InputError("invalid safetensors file: the header JSON is nested too "
                             "deeply") from None
        self._meta = lay.metadata
        self._base = 8 + n
        self._tensors: dict[str, dict] = {}
        for t in lay.tensors:
            t["shape"] = tuple(t["shape"])
            self._tensors[t["name"]] = t
        if lay.tensors:
            last = max(lay.tensors, key=lambda t: t["end"])
            if self._base + last["end"] > size:
                raise InputError(f"invalid safetensors file: tensor '{last['name']}' ends at "
                                 f"byte {self._base + last['end']} but the file ends at byte "
                                 f"{size}")
        self._order = [t["name"] for t in lay.tensors]  # by offset

    # -- context manager ------------------------------------------------------------
    def __enter__(self) -> safe_open:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        f, self._f = self._f, None
        if f is not None:
            f.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- header --------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Tensor names, sorted (as safetensors)."""
        return sorted(self._tensors)

    def offset_keys(self) -> list[str]:
        """Tensor names in file order."""
        return list(self._order)

    def metadata(self) -> dict[str, str] | None:
        """The header's ``__metadata__`` (None when absent)."""
        return dict(self._meta) if self._meta is not None else None

    def _info(self, name: str) -> dict:
        t = self._tensors.get(name)
        if t is None:
            raise TensorNotFoundError(f"File does not contain tensor {name}")
        if t["dtype"] not in DTYPES:
            raise UnsupportedError(f"tensor '{name}' has dtype {t['dtype']}, which squeeze's "
                                   "safetensors reader does not support")
        return t

    def _check_type(self, t: dict) -> None:
        """Fail before decoding anything when the tensor's type is not available."""
        if self._fw == "numpy":
            _np_dtype(t["dtype"], t["name"])

    # -- tensors -------------------------------------------------------------------
    def _file(self):
        if self._f is None:
            raise ValueError("I/O operation on a closed safe_open")
        return self._f

    def _read(self, start: int, nbytes: int, name: str):
        """Bytes [start, start + nbytes) of the data area as a fresh writable uint8 array."""
        import numpy as np

        f = self._file()
        with _guard(f"tensor '{name}'"):
            buf = np.empty(nbytes, np.uint8)
            if nbytes:
                f.seek(self._base + start)
                _readinto_exact(f, buf, f"tensor '{name}'")
        return buf

    def _finish(self, buf, t: dict, shape: tuple):
        if self._fw == "numpy":
            return buf.view(_np_dtype(t["dtype"], t["name"])).reshape(shape)
        return _to_torch(buf, t, shape, self._device)

    def get_tensor(self, name: str):
        """The whole tensor ``name`` (a fresh, writable array / tensor)."""
        t = self._info(name)
        self._check_type(t)
        return self._finish(self._read(t["begin"], t["end"] - t["begin"], name), t, t["shape"])

    def get_slice(self, name: str) -> TensorSlice:
        """A lazy view of tensor ``name``: ``get_shape()``, ``get_dtype()``, ``[...]``."""
        return TensorSlice(self, self._info(name))

    def get_tensors(self) -> dict:
        """Every tensor, decoding the file once from start to end (in file order)."""
        import numpy as np

        ts = [self._info(name) for name in self._order]
        for t in ts:
            self._check_type(t)
        f = self._file()
        out = {}
        with _guard("the tensors"):
            f.seek(self._base)
            pos = 0
            for t in ts:
                gap = t["begin"] - pos
                while gap > 0:  # padding between tensors (safetensors writes none)
                    k = len(_read_upto(f, min(gap, _FEED)))
                    if not k:
                        raise TruncatedError("Unexpected end of input (in the tensor data)")
                    gap -= k
                buf = np.empty(t["end"] - t["begin"], np.uint8)
                if len(buf):
                    _readinto_exact(f, buf, f"tensor '{t['name']}'")
                pos = t["end"]
                out[t["name"]] = buf, t
        return {name: self._finish(buf, t, t["shape"]) for name, (buf, t) in out.items()}


def _readinto_exact(f, buf, what: str) -> None:
    mv = memoryview(buf)
    got = 0
    n = len(mv)
    while got < n:
        k = f.readinto(mv[got:])
        if not k:
            raise TruncatedError(f"Unexpected end of input (in {what})")
        got += k


def _read_upto(f, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the data)."""
    from frappe_cli.codec import read_exact

    return read_exact(f, n)


def _to_torch(buf, t: dict, shape: tuple, device):
    torch = _torch()
    tname = DTYPES[t["dtype"]][0]
    tdt = getattr(torch, tname, None)
    if tdt is None:
        raise UnsupportedError(f"tensor '{t['name']}' is {t['dtype']}, which this torch lacks "
                               f"(torch.{tname}; upgrade torch)")
    if buf.size == 0:
        out = torch.empty(shape, dtype=tdt)
    else:
        out = torch.frombuffer(buf, dtype=tdt).reshape(shape)
    if str(device) != "cpu":
        out = out.to(device)
    return out


class TensorSlice:
    """``safe_open(...).get_slice(name)``: shape, dtype and basic-slicing reads.

    ``s[i]``, ``s[a:b]``, ``s[a:b, c]``, ``s[..., k]``, negative indices, any
    step, ``None``: leading integer indices and the first slice narrow the byte
    range that is read (so ``s[:128]`` of a matrix decodes only the blocks
    holding those rows; ``s[3, 10:20]`` only row 3's elements 10..19); the rest
    of the index is applied by numpy to what was read.  Advanced indices (lists,
    arrays) work too, on the part read from their axis on.
    """

    def __init__(self, owner: safe_open, info: dict):
        self._owner = owner
        self._t = info

    def get_shape(self) -> list[int]:
        return list(self._t["shape"])

    def get_dtype(self) -> str:
        """The safetensors dtype string, e.g. "BF16" (as safetensors)."""
        return self._t["dtype"]

    def __len__(self) -> int:
        shape = self._t["shape"]
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def _plan(self, index) -> tuple[int, tuple, tuple]:
        """(byte offset in the tensor, shape of the range read, index left for numpy)."""
        shape = self._t["shape"]
        w = DTYPES[self._t["dtype"]][1]
        idx = index if isinstance(index, tuple) else (index,)
        n_ell = sum(1 for i in idx if i is Ellipsis)
        if n_ell > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
        if n_real > len(shape):
            raise IndexError(f"too many indices for a tensor of {len(shape)} dimensions")
        if n_ell:
            k = idx.index(Ellipsis)
            idx = idx[:k] + (slice(None),) * (len(shape) - n_real) + idx[k + 1:]
        dim = 0
        off = 0
        sub: tuple = shape
        rest: tuple = ()
        for j, i in enumerate(idx):
            if isinstance(i, slice):
                stride = _prod(shape[dim + 1:]) * w
                r = range(*i.indices(shape[dim]))
                if len(r):
                    lo, hi = min(r[0], r[-1]), max(r[0], r[-1]) + 1
                    adj = (slice(0, hi - lo, r.step) if r.step > 0
                           else slice(hi - lo - 1, None, r.step))
                else:
                    lo = hi = 0
                    adj = slice(0, 0)
                off += lo * stride
                sub = (hi - lo,) + shape[dim + 1:]
                rest = (adj,) + idx[j + 1:]
                break
            k = None
            if i is not None and not isinstance(i, bool):
                try:
                    k = operator.index(i)
                except TypeError:
                    k = None
            if k is None:  # newaxis or an advanced index: numpy does the rest
                sub = shape[dim:]
                rest = idx[j:]
                break
            if not -shape[dim] <= k < shape[dim]:
                raise IndexError(f"index {k} is out of bounds for axis {dim} with size "
                                 f"{shape[dim]}")
            off += (k % shape[dim]) * _prod(shape[dim + 1:]) * w
            dim += 1
            sub = shape[dim:]
        return off, sub, rest

    def __getitem__(self, index):
        import numpy as np

        t = self._t
        w = DTYPES[t["dtype"]][1]
        self._owner._check_type(t)
        off, sub, rest = self._plan(index)
        buf = self._owner._read(t["begin"] + off, _prod(sub) * w, t["name"])
        arr = buf.view(_CARRIER[w]).reshape(sub)
        if rest:
            arr = arr[rest]
        shape = arr.shape
        if not arr.flags.c_contiguous or arr.nbytes != buf.nbytes:
            arr = np.array(arr, order="C", copy=True)  # do not keep the whole range alive
        return self._owner._finish(arr.reshape(-1).view(np.uint8), t, shape)


def load_file(path, framework: str = "numpy", device: str = "cpu") -> dict:
    """Every tensor of a compressed safetensors file (name -> array / tensor), in file
    order; the file is decoded once, front to back."""
    with safe_open(path, framework=framework, device=device) as f:
        return f.get_tensors()
