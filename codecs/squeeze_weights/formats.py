"""Weight file formats: safetensors and NumPy .npy parsing (strict), raw arrays.

Only the standard library is imported here (the codec module must import in
a few ms).  A parser turns the first bytes of a file into a *layout*: the list
of regions that cover the file in order, each either opaque bytes (headers,
padding, integer tensors) or a run of floating-point elements of one dtype.
The codec cuts blocks from that layout.

Validation is strict: a header that lies (offsets out of order or
overlapping, a size that is not shape x dtype, offsets past the end of the
file, malformed JSON) raises ``InputError`` with a one-line reason before a
single tensor byte is coded; offsets past the end are detected when the
stream ends early (the file size is not known in advance on a pipe).
Hostile headers are bounded before they are parsed: a .npy header longer
than ``NPY_MAX_HEADER`` or with more than ``NPY_MAX_DIMS`` dimensions, and
JSON nested too deeply for the parser, are ``InputError`` too (never a
multi-GB ``ast.literal_eval`` or a ``RecursionError``).
"""

from __future__ import annotations

import struct
import sys

from frappe_cli.errors import InputError, OptionError

# float element kinds the packers code (anything else is opaque bytes)
BF16, F16, F32, F64, F8E4M3, F8E5M2 = 1, 2, 3, 4, 5, 6
KIND_NAMES = {BF16: "bf16", F16: "f16", F32: "f32", F64: "f64", F8E4M3: "f8e4m3",
              F8E5M2: "f8e5m2"}
KIND_WIDTH = {BF16: 2, F16: 2, F32: 4, F64: 8, F8E4M3: 1, F8E5M2: 1}

#: safetensors dtype -> (bytes per element, float kind or 0)
ST_DTYPES = {
    "BF16": (2, BF16), "F16": (2, F16), "F32": (4, F32), "F64": (8, F64),
    "F8_E4M3": (1, F8E4M3), "F8_E5M2": (1, F8E5M2),
    "BOOL": (1, 0), "U8": (1, 0), "I8": (1, 0), "U16": (2, 0), "I16": (2, 0),
    "U32": (4, 0), "I32": (4, 0), "U64": (8, 0), "I64": (8, 0),
    "F8_E8M0": (1, 0), "C64": (8, 0),
}

#: the --dtype option of raw arrays (names accepted, case-insensitive)
RAW_DTYPES = {
    "bf16": BF16, "bfloat16": BF16,
    "f16": F16, "fp16": F16, "float16": F16, "half": F16,
    "f32": F32, "fp32": F32, "float32": F32, "float": F32,
    "f64": F64, "fp64": F64, "float64": F64, "double": F64,
    "f8e4m3": F8E4M3, "f8_e4m3": F8E4M3, "float8_e4m3fn": F8E4M3,
    "f8e5m2": F8E5M2, "f8_e5m2": F8E5M2, "float8_e5m2": F8E5M2,
}

#: .npy descr -> float kind (little-endian only; others are opaque)
NPY_DESCR = {"<f2": F16, "<f4": F32, "<f8": F64, "<V2": 0}

SAFETENSORS_MAX_HEADER = 100_000_000  # the safetensors library's own limit
NPY_MAGIC = b"\x93NUMPY"
#: longest .npy header parsed (numpy itself refuses more than 10,000 bytes by
#: default; version 1 headers cannot exceed this anyway)
NPY_MAX_HEADER = 1 << 16
#: most dimensions of a .npy array (numpy's own NPY_MAXDIMS)
NPY_MAX_DIMS = 64


class Region:
    """A byte range of the input: opaque bytes (kind 0) or float elements."""

    __slots__ = ("dtype", "end", "kind", "name", "start")

    def __init__(self, start: int, end: int, kind: int = 0, name: str = "", dtype: str = ""):
        self.start = start
        self.end = end
        self.kind = kind      # 0 = bytes, else a float kind
        self.name = name      # tensor name ("" for headers and padding)
        self.dtype = dtype    # the file's dtype name (or "header", "padding")

    @property
    def size(self) -> int:
        return self.end - self.start

    def __repr__(self) -> str:
        return f"Region({self.start}, {self.end}, kind={self.kind}, name={self.name!r})"


class Layout:
    """A parsed file: its regions in file order, covering [0, known_end)."""

    def __init__(self, fmt: str, regions: list[Region] | None = None,
                 known_end: int | None = None, tensors: list[dict] | None = None,
                 metadata: dict | None = None):
        self.fmt = fmt                    # "safetensors" or "npy"
        self.regions = regions or []
        #: end of the described part; bytes after it are kept as opaque bytes
        self.known_end = known_end
        self.tensors = tensors or []
        self.metadata = metadata


def raw_kind(dtype: str) -> int:
    k = RAW_DTYPES.get(str(dtype).lower())
    if k is None:
        raise OptionError(f"unknown --dtype '{dtype}' (use one of bf16, f16, f32, f64, "
                         "f8e4m3, f8e5m2)")
    return k


def canonical_dtype(dtype) -> str:
    """Validate a ``dtype`` option (bf16, float32, ...) and return its short name."""
    if not isinstance(dtype, str):
        raise OptionError(f"dtype must be a string such as bf16, f16, f32, not {dtype!r}")
    return KIND_NAMES[raw_kind(dtype)]


#: numpy dtype name -> the short ``dtype`` name (little-endian only)
NUMPY_KINDS = {
    "float16": "f16", "float32": "f32", "float64": "f64",
    "bfloat16": "bf16", "float8_e4m3fn": "f8e4m3", "float8_e5m2": "f8e5m2",
}
#: short ``dtype`` name -> (numpy dtype of its bits, ml_dtypes name or None)
NUMPY_DTYPES = {
    "f16": ("<f2", None), "f32": ("<f4", None), "f64": ("<f8", None),
    "bf16": ("<u2", "bfloat16"), "f8e4m3": ("u1", "float8_e4m3fn"),
    "f8e5m2": ("u1", "float8_e5m2"),
}


def array_kind(dtype) -> str | None:
    """The short ``dtype`` name of a numpy dtype object, or None (not a float the
    packers code, or not little-endian).  Reads only the dtype's attributes."""
    if dtype.itemsize > 1:
        little = dtype.byteorder == "<" or (dtype.byteorder == "=" and sys.byteorder == "little")
        if not little:
            return None
    return NUMPY_KINDS.get(dtype.name)


def is_safetensors_head(head: bytes) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack_from("<Q", head)
    return 2 <= n <= SAFETENSORS_MAX_HEADER and head[8:9] == b"{"


def is_npy_head(head: bytes) -> bool:
    return head[:6] == NPY_MAGIC


def _bad(msg: str) -> InputError:
    return InputError(f"invalid safetensors file: {msg}")


def _prod(shape) -> int:
    p = 1
    for d in shape:
        p *= d
    return p


def safetensors_header_size(head8: bytes) -> int:
    (n,) = struct.unpack("<Q", head8)
    if n < 2 or n > SAFETENSORS_MAX_HEADER:
        raise _bad(f"header length {n} out of range")
    return n


def parse_safetensors(header: bytes) -> Layout:
    """Validate a safetensors header (the 8-byte length + JSON) and build its layout."""
    import json

    n = safetensors_header_size(header[:8])
    if len(header) != 8 + n:
        raise _bad("truncated header")
    try:
        text = header[8:].decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"header is not valid JSON ({exc.__class__.__name__})") from None
    except RecursionError:
        raise _bad("header JSON is nested too deeply") from None
    if not isinstance(obj, dict):
        raise _bad("header is not a JSON object")
    meta = obj.pop("__metadata__", None)
    if meta is not None and (not isinstance(meta, dict)
                             or not all(isinstance(k, str) and isinstance(v, str)
                                        for k, v in meta.items())):
        raise _bad("__metadata__ must map strings to strings")
    tensors = []
    for name, info in obj.items():
        if not isinstance(info, dict):
            raise _bad(f"tensor '{name}' is not an object")
        dtype = info.get("dtype")
        shape = info.get("shape")
        offs = info.get("data_offsets")
        if not isinstance(dtype, str):
            raise _bad(f"tensor '{name}' has no dtype")
        if (not isinstance(shape, list)
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                           for d in shape)):
            raise _bad(f"tensor '{name}' has an invalid shape")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
            raise _bad(f"tensor '{name}' has invalid data_offsets")
        begin, end = offs
        if not 0 <= begin <= end:
            raise _bad(f"tensor '{name}' data_offsets [{begin}, {end}] are out of order")
        width, kind = ST_DTYPES.get(dtype, (0, 0))
        if width:
            want = _prod(shape) * width
            if end - begin != want:
                raise _bad(f"tensor '{name}' holds {end - begin} bytes but shape {shape} x "
                           f"{dtype} needs {want}")
        tensors.append({"name": name, "dtype": dtype, "shape": shape, "begin": begin,
                        "end": end, "kind": kind})
    tensors.sort(key=lambda t: (t["begin"], t["end"]))
    base = 8 + n
    regions = [Region(0, base, 0, "", "header")]
    pos = 0
    for t in tensors:
        if t["begin"] < pos:
            raise _bad(f"tensor '{t['name']}' overlaps the tensor before it")
        if t["begin"] > pos:
            regions.append(Region(base + pos, base + t["begin"], 0, "", "padding"))
        if t["end"] > t["begin"]:
            regions.append(Region(base + t["begin"], base + t["end"], t["kind"], t["name"],
                                  t["dtype"]))
        pos = t["end"]
    return Layout("safetensors", regions, known_end=base + pos, tensors=tensors, metadata=meta)


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def npy_header_size(head: bytes) -> int:
    """Total header bytes of a .npy file from its first 12 bytes."""
    if len(head) < 10 or head[:6] != NPY_MAGIC:
        raise InputError("invalid .npy file: bad magic")
    major = head[6]
    if major == 1:
        (hl,) = struct.unpack_from("<H", head, 8)
        return 10 + hl
    if major in (2, 3):
        if len(head) < 12:
            raise InputError("invalid .npy file: truncated header")
        (hl,) = struct.unpack_from("<I", head, 8)
        if hl > NPY_MAX_HEADER:
            raise InputError(f"invalid .npy file: header of {hl} bytes exceeds the "
                             f"{NPY_MAX_HEADER}-byte limit")
        return 12 + hl
    raise InputError(f"invalid .npy file: unsupported version {major}")


def parse_npy(header: bytes) -> Layout:
    """Validate a .npy header and build its layout (data = the rest of the file)."""
    import ast

    size = npy_header_size(header[:12])
    if len(header) != size:
        raise InputError("invalid .npy file: truncated header")
    start = 10 if header[6] == 1 else 12
    if size - start > NPY_MAX_HEADER:  # npy_header_size bounds it; callers may not use it
        raise InputError("invalid .npy file: header too long")
    text = header[start:]
    try:
        d = ast.literal_eval(text.decode("latin1" if header[6] < 3 else "utf-8").strip())
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise InputError("invalid .npy file: header is not a Python literal") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise InputError("invalid .npy file: header must hold descr, fortran_order, shape")
    shape = d["shape"]
    if (not isinstance(shape, tuple)
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in shape)):
        raise InputError("invalid .npy file: bad shape")
    if len(shape) > NPY_MAX_DIMS:
        raise InputError(f"invalid .npy file: more than {NPY_MAX_DIMS} dimensions")
    descr = d["descr"]
    kind = NPY_DESCR.get(descr, 0) if isinstance(descr, str) else 0
    width = KIND_WIDTH.get(kind, 0)
    nbytes = _prod(shape) * width if width else None
    regions = [Region(0, size, 0, "", "header")]
    lay = Layout("npy", regions, tensors=[{"name": "array", "dtype": str(descr),
                                            "shape": list(shape), "kind": kind}])
    if nbytes is not None:
        if nbytes:
            regions.append(Region(size, size + nbytes, kind, "array", str(descr)))
        lay.known_end = size + nbytes
    else:
        lay.known_end = size
    return lay


# ----------------------------------------------------------------------------------
# writers (tests, bench): small, dependency-free


def write_safetensors(tensors: list[tuple[str, str, list[int], bytes]],
                      metadata: dict | None = None, align: int = 8) -> bytes:
    """Serialise (name, dtype, shape, raw little-endian bytes) in order."""
    import json

    hdr = {}
    if metadata is not None:
        hdr["__metadata__"] = metadata
    pos = 0
    for name, dtype, shape, data in tensors:
        hdr[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [pos, pos + len(data)]}
        pos += len(data)
    js = json.dumps(hdr, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % align)
    return struct.pack("<Q", len(js)) + js + b"".join(t[3] for t in tensors)
