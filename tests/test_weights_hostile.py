"""Hostile weight files (built here): bounded parsing, one-line errors, lenient splitting.

* a .npy header with millions of dimensions is refused before it is parsed
  (it used to peak at 7.9 GB in ``ast.literal_eval``);
* JSON nested too deeply in a safetensors header is an InputError, not an
  internal RecursionError, so ``--codec auto`` falls back to zstd;
* ``lenient_input`` (set by ``--codec auto`` on pipes) codes whatever a lying
  layout fails to describe as opaque byte blocks: every corruption and
  truncation of a safetensors file round-trips.
"""

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from squeeze_weights import formats as F
from squeeze_weights.codec import DFloat11Codec, EnecCodec
from weights_util import weight_bits

from frappe_cli import container, registry
from frappe_cli.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
RNG = np.random.default_rng(2024)


def _squeeze(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "frappe_cli", *map(str, args)], input=stdin,
                          capture_output=True, env=ENV, timeout=300)


def _npy(header: str, data: bytes = b"", version: int = 1) -> bytes:
    h = header.encode("latin1")
    h += b" " * (-(len(h) + (10 if version == 1 else 12) + 1) % 64) + b"\n"
    size = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return F.NPY_MAGIC + bytes([version, 0]) + size + h + data


def _huge_dims_npy() -> bytes:
    """About 16 MB: a version-2 header whose shape has 8 million dimensions."""
    shape = "(" + "1," * 8_000_000 + ")"
    return _npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }",
                b"\0" * 64, version=2)


def _nested_safetensors(depth: int = 100_000) -> bytes:
    hdr = b'{"__metadata__":' + b"[" * depth + b"]" * depth + b"}"
    return struct.pack("<Q", len(hdr)) + hdr + b"\0" * 32


# ----------------------------------------------------------------------------------
# .npy headers


def test_npy_huge_header_refused_before_parsing():
    data = _huge_dims_npy()
    assert len(data) > 16_000_000
    with pytest.raises(InputError, match=r"header of \d+ bytes exceeds the 65536-byte limit"):
        F.npy_header_size(data[:12])
    codec = DFloat11Codec()
    with pytest.raises(InputError):
        next(codec.split(io.BytesIO(data), 1 << 20))


def test_npy_huge_header_memory_and_cli(tmp_path):
    """Bounded memory (the child's peak RSS), one error line, and auto falls back to zstd."""
    f = tmp_path / "evil.npy"
    f.write_bytes(_huge_dims_npy())
    code = ("import io, resource, sys\n"
            "from squeeze_weights.codec import DFloat11Codec\n"
            "from frappe_cli.errors import InputError\n"
            "data = open(sys.argv[1], 'rb').read()\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n"
            "    list(DFloat11Codec().split(io.BytesIO(data), 1 << 20))\n"
            "except InputError as e:\n"
            "    print(e)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)\n")
    out = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True,
                         env=ENV, timeout=120)
    msg, rss_kib = out.stdout.splitlines()
    assert "invalid .npy file" in msg
    assert int(rss_kib) < 64 << 10  # peak growth; it used to need 7.9 GB
    r = _squeeze("--codec", "dfloat11", "-M", "512MiB", "-c", f)
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 1 and len(err) == 1 and "invalid .npy file: header of" in err[0]
    r = _squeeze("--codec", "auto", "-M", "512MiB", "-q", "-o", tmp_path / "out.sqz", f)
    assert r.returncode == 0, r.stderr
    assert container.decompress((tmp_path / "out.sqz").read_bytes()) == f.read_bytes()


def test_npy_too_many_dimensions():
    shape = "(" + "1," * 65 + ")"
    hdr = _npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }")
    with pytest.raises(InputError, match="more than 64 dimensions"):
        F.parse_npy(hdr)
    ok = _npy("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1," * 64 + "), }",
              b"\0\0\x80\x3f")
    lay = F.parse_npy(ok[:F.npy_header_size(ok[:12])])
    assert lay.tensors[0]["shape"] == [1] * 64


def test_npy_structured_dtype_still_accepted():
    """A long but honest header (a structured dtype, one comma per field) is fine."""
    a = np.zeros(20, dtype=[(f"field{i}", "<f4") for i in range(300)])
    buf = io.BytesIO()
    np.save(buf, a)
    data = buf.getvalue()
    assert F.npy_header_size(data[:12]) > 5000
    blob = container.compress(data, "dfloat11")
    assert container.decompress(blob) == data


# ----------------------------------------------------------------------------------
# safetensors headers


def test_safetensors_nested_json_is_input_error():
    data = _nested_safetensors()
    with pytest.raises(InputError, match="nested too deeply"):
        F.parse_safetensors(data[:8 + struct.unpack("<Q", data[:8])[0]])
    with pytest.raises(InputError):
        container.compress(data, "enec")


def test_safetensors_nested_json_cli(tmp_path):
    f = tmp_path / "nested.safetensors"
    f.write_bytes(_nested_safetensors())
    r = _squeeze("--codec", "dfloat11", "-c", f)
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 1 and len(err) == 1, err
    assert "nested too deeply" in err[0] and "Internal error" not in err[0]
    r = _squeeze("-q", "-o", tmp_path / "auto.sqz", f)  # --codec auto: falls back to zstd
    assert r.returncode == 0, r.stderr
    assert container.decompress((tmp_path / "auto.sqz").read_bytes()) == f.read_bytes()


# ----------------------------------------------------------------------------------
# lenient splitting


def _small_safetensors() -> bytes:
    return F.write_safetensors([
        ("a", "BF16", [3000], weight_bits("BF16", 3000, RNG).tobytes()),
        ("ids", "I32", [50], np.arange(50, dtype=np.int32).tobytes()),
        ("b", "F32", [2000], weight_bits("F32", 2000, RNG).tobytes()),
        ("c", "F16", [10, 101], weight_bits("F16", 1010, RNG).tobytes()),
    ], metadata={"format": "pt"})


def _lenient(cls, level=6):
    codec = cls(level)
    codec.lenient_input = True
    return codec


def test_lenient_is_not_configuration_and_changes_nothing_on_valid_input():
    data = _small_safetensors()
    strict = registry.make("dfloat11", 6)
    lenient = _lenient(DFloat11Codec)
    assert "lenient_input" not in lenient.get_config()
    assert DFloat11Codec.lenient_input is False and strict.lenient_input is False
    for bs in (1 << 12, 1 << 20):
        assert (container.compress(data, lenient, block_size=bs)
                == container.compress(data, strict, block_size=bs))


def _mutations(data: bytes, rng, n: int):
    base = 8 + struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:base])
    for i in range(n):
        how = i % 5
        if how == 0:  # cut anywhere
            yield data[: int(rng.integers(0, len(data)))]
        elif how == 1:  # cut inside the tensor data
            yield data[: int(rng.integers(base, len(data)))]
        elif how == 2:  # random byte flips (header included)
            b = bytearray(data)
            for p in rng.integers(0, len(b), int(rng.integers(1, 8))):
                b[p] ^= int(rng.integers(1, 256))
            yield bytes(b)
        elif how == 3:  # a header whose offsets run past the end of the file
            h = json.loads(json.dumps(hdr))
            name = ["a", "b", "c"][i % 3]
            extra = int(rng.integers(1, 5000)) * (4 if name == "b" else 2)
            h[name]["data_offsets"][1] += extra
            later = [k for k in h if k != "__metadata__" and
                     h[k]["data_offsets"][0] >= hdr[name]["data_offsets"][1]]
            for k in later:
                h[k]["data_offsets"] = [o + extra for o in h[k]["data_offsets"]]
            w = 4 if name == "b" else 2
            h[name]["shape"] = [(h[name]["data_offsets"][1] - h[name]["data_offsets"][0]) // w]
            js = json.dumps(h, separators=(",", ":")).encode()
            js += b" " * (-len(js) % 8)
            yield struct.pack("<Q", len(js)) + js + data[base:]
        else:  # cut, then garbage appended
            cut = int(rng.integers(base, len(data)))
            yield data[:cut] + rng.integers(0, 256, int(rng.integers(1, 300)), np.uint8).tobytes()


@pytest.mark.parametrize("cls", [DFloat11Codec, EnecCodec])
def test_lenient_round_trips_every_corruption(cls):
    data = _small_safetensors()
    rng = np.random.default_rng(5 if cls is DFloat11Codec else 6)
    strict_errors = 0
    for i, bad in enumerate(_mutations(data, rng, 60)):
        bs = (1 << 12, 1 << 13, 1 << 20)[i % 3]
        codec = _lenient(cls, (6, 2, 9)[i % 3])
        blob = container.compress(bad, codec, block_size=bs)
        assert container.decompress(blob) == bad, i
        try:
            container.compress(bad, cls((6, 2, 9)[i % 3]), block_size=bs)
        except InputError:
            strict_errors += 1
    assert strict_errors >= 20  # the mutations did make the strict codec refuse the input


def test_lenient_truncated_float_tensor_keeps_coding_floats():
    """A cut inside a float tensor: the elements before the cut are still float-coded
    (the partial last element is the block's tail)."""
    data = _small_safetensors()
    base = 8 + struct.unpack("<Q", data[:8])[0]
    bad = data[: base + 4001]  # inside tensor "a", half an element at the end
    blocks = list(_lenient(DFloat11Codec).split(io.BytesIO(bad), 1 << 20))
    assert b"".join(b for b, _ in blocks) == bad
    assert blocks[-1][1][0] == "f" and len(blocks[-1][0]) == 4001
    blob = container.compress(bad, _lenient(DFloat11Codec))
    assert container.decompress(blob) == bad
    assert len(blob) < len(bad)
