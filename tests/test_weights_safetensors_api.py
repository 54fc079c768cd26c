"""squeeze_weights.safe_open / load_file / save_file / serialize (safetensors_io.py).

The byte-exactness tests compare with the installed ``safetensors`` package (the
reference writer); the lazy-read tests count block decodes and corrupt blocks
of other tensors.  Tensors are small: the whole file runs in seconds once the
numba kernels are cached.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import struct
import subprocess
import sys
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from squeeze_weights import RawTensor, TensorNotFoundError, load_file, safe_open, save_file
from squeeze_weights import serialize as sq_serialize
from squeeze_weights.codec import DFloat11Codec
from weights_util import mixed_safetensors, weight_bits

from frappe_cli import container
from frappe_cli.errors import (
    CorruptError,
    FormatError,
    InputError,
    OptionError,
    SqueezeError,
    UnsupportedError,
)

safetensors = pytest.importorskip("safetensors")
from safetensors.numpy import save as st_save  # noqa: E402

HAVE_ML_DTYPES = importlib.util.find_spec("ml_dtypes") is not None
HAVE_TORCH = importlib.util.find_spec("torch") is not None
NO_ML = "ml_dtypes is not installed: numpy has no bfloat16 (the raw-bytes path is tested)"

#: every dtype numpy itself has that safetensors stores
NATIVE = ["bool", "uint8", "int8", "int16", "uint16", "float16", "int32", "uint32", "float32",
          "complex64", "float64", "int64", "uint64"]


def _arr(rng, dtype: str, shape) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    if dtype == "bool":
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    if dtype.startswith(("float", "complex")):
        return rng.normal(0, 0.05, n).astype(dtype).reshape(shape)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True).reshape(shape)


def _sqz(tmp_path, raw: bytes, name="m.safetensors.sqz", codec="dfloat11", **kw):
    p = tmp_path / name
    p.write_bytes(container.compress(raw, codec, **kw))
    return p


def _sample(rng) -> dict:
    return {
        "w.f32": _arr(rng, "float32", (33, 17)),
        "w.f16": _arr(rng, "float16", (40,)),
        "ids": _arr(rng, "int64", (3, 5)),
        "mask": _arr(rng, "bool", (9,)),
        "bytes": _arr(rng, "uint8", (7,)),
        "scalar": np.array(1.5, np.float32),
        "empty": np.zeros((0, 4), np.float16),
        "empty0d_like": np.zeros((2, 0), np.int64),
    }


def _same(a, b) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------------------------
# the serializer against the reference writer


def test_serialize_matches_safetensors():
    rng = np.random.default_rng(1)
    d = _sample(rng)
    for md in (None, {}, {"format": "pt"}, {"é": "ü\n\"x\\"}):
        assert sq_serialize(d, md) == st_save(d, md)
    assert sq_serialize({}) == st_save({}) == b"\x08" + b"\0" * 7 + b"{}      "
    many = {f"layer.{i}.weight": _arr(rng, "float32", (i % 3 + 1, 2)) for i in range(60)}
    assert sq_serialize(many) == st_save(many)


def test_dtype_order_matches_safetensors():
    """Every dtype against every other: names chosen so that name order fights dtype order."""
    rng = np.random.default_rng(2)
    d = {f"t{len(NATIVE) - i:02d}": _arr(rng, dt, (3,)) for i, dt in enumerate(NATIVE)}
    d.update({f"u{i:02d}": _arr(rng, dt, (2, 1)) for i, dt in enumerate(NATIVE)})
    assert sq_serialize(d) == st_save(d)


def test_raw_tensors_bf16_and_f8_match_safetensors():
    """BF16 / FP8 as raw bytes (no ml_dtypes needed) against safetensors.serialize."""
    from safetensors import TensorSpec, serialize

    rng = np.random.default_rng(3)
    specs = {"BF16": ("bfloat16", 2), "F8_E4M3": ("float8_e4m3fn", 1),
             "F8_E5M2": ("float8_e5m2", 1), "F16": ("float16", 2), "U16": ("uint16", 2)}
    raw, ref, keep = {}, {}, []
    for i, (st_name, (np_name, w)) in enumerate(specs.items()):
        for j, shape in enumerate([(5, 3), (), (0,)]):
            n = int(np.prod(shape, dtype=np.int64))
            buf = np.ascontiguousarray(rng.integers(0, 256, max(n * w, 1), dtype=np.uint8))
            keep.append(buf)
            name = f"{'zyx'[j]}{i}"
            raw[name] = RawTensor(st_name, shape, buf[:n * w].tobytes())
            ref[name] = TensorSpec(dtype=np_name, shape=list(shape), data_ptr=buf.ctypes.data,
                                   data_len=n * w)
    assert sq_serialize(raw, {"k": "v"}) == serialize(ref, metadata={"k": "v"})


_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_names.filter(lambda s: s != "__metadata__"),
                       st.tuples(st.sampled_from(NATIVE),
                                 st.lists(st.integers(0, 3), min_size=0, max_size=3),
                                 st.integers(0, 2**32 - 1)),
                       max_size=6),
       st.one_of(st.none(), st.dictionaries(_names, _names, max_size=1)))
def test_serialize_random_dicts(spec, md):
    d = {k: _arr(np.random.default_rng(seed), dt, tuple(shape))
         for k, (dt, shape, seed) in spec.items()}
    if not d and md == {}:
        return  # the reference writes invalid JSON here (test_empty_metadata_and_no_tensors)
    assert sq_serialize(d, md) == st_save(d, md)


def test_empty_metadata_and_no_tensors():
    """safetensors 0.8 writes `{},"__metadata__":{}}` (not JSON, it cannot read it back)
    for no tensors and metadata={}; squeeze writes valid JSON that safetensors reads."""
    from safetensors import deserialize

    ours = sq_serialize({}, {})
    assert ours == b"\x18" + b"\0" * 7 + b'{"__metadata__":{}}     '
    assert deserialize(ours) == []


def test_metadata_with_many_keys():
    """The reference writer orders metadata keys by hash (changes from call to call):
    the headers agree as JSON and in length; ours keeps the dict's order."""
    d = {"a": np.ones(3, np.float32)}
    md = {f"k{i}": str(i) * i for i in range(6)}
    ours = sq_serialize(d, md)
    ref = st_save(d, md)
    assert len(ours) == len(ref) and ours[-12:] == ref[-12:]
    n = struct.unpack("<Q", ours[:8])[0]
    assert json.loads(ours[8:8 + n]) == json.loads(ref[8:8 + n])
    assert list(json.loads(ours[8:8 + n])["__metadata__"]) == list(md)


def test_noncontiguous_and_big_endian_arrays():
    rng = np.random.default_rng(4)
    x = _arr(rng, "float32", (6, 8))
    d = {"t": x.T, "s": x[::2, 1::3], "be": x.astype(">f4"), "bi": np.arange(5, dtype=">i8")}
    want = st_save({"t": np.ascontiguousarray(x.T), "s": np.ascontiguousarray(x[::2, 1::3]),
                    "be": x, "bi": np.arange(5, dtype="<i8")})
    assert sq_serialize(d) == want


def test_save_rejects_what_safetensors_cannot_hold(tmp_path):
    p = tmp_path / "x.sqz"
    bad = [({"a": np.array(["x"])}, InputError), ({"a": np.zeros(2, np.float128)
                                                   if hasattr(np, "float128") else
                                                   np.zeros(2, object)}, InputError),
           ({"a": np.zeros(2, object)}, InputError), ({1: np.zeros(2)}, InputError),
           ({"__metadata__": np.zeros(2)}, InputError), ({"a": [1.0, 2.0]}, InputError),
           ({"a": RawTensor("BF16", (3,), b"\0" * 5)}, InputError),
           ({"a": RawTensor("F4", (2,), b"\0")}, InputError),
           ({"\ud800": np.zeros(2)}, InputError), (["a"], InputError)]
    for tensors, exc in bad:
        with pytest.raises(exc):
            save_file(tensors, p)
    with pytest.raises(InputError):
        save_file({"a": np.zeros(2)}, p, metadata={"k": 1})
    with pytest.raises(UnsupportedError):
        save_file({"a": np.zeros(2)}, p, codec="no-such-codec")
    with pytest.raises(OptionError, match="lossy"):
        save_file({"a": np.zeros(2)}, p, codec="frappe")
    assert not p.exists() and os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------
# save_file -> file -> safe_open / load_file


@pytest.mark.parametrize("codec", ["dfloat11", "enec"])
def test_save_file_roundtrip(tmp_path, codec):
    rng = np.random.default_rng(5)
    d = _sample(rng)
    d["big"] = _arr(rng, "float32", (300, 70))
    p = tmp_path / "m.safetensors.sqz"
    p.write_bytes(b"old contents")  # replaced, as safetensors does
    save_file(d, p, codec=codec, metadata={"format": "np"})
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors.sqz"]  # no temporary left
    blob = p.read_bytes()
    assert container.decompress(blob) == st_save(d, {"format": "np"})
    # the same bytes as compressing safetensors' own output (as `squeeze` does)
    assert blob == container.compress(st_save(d, {"format": "np"}), codec, level=6)
    got = load_file(p)
    ref = st_save(d)
    assert list(got) == list(json.loads(ref[8:8 + struct.unpack("<Q", ref[:8])[0]]))  # file order
    for k, v in d.items():
        _same(got[k], v)
        assert got[k].flags.writeable
    with safe_open(p, framework="numpy") as f:
        assert f.keys() == sorted(d)
        assert f.metadata() == {"format": "np"}
        for k, v in d.items():
            _same(f.get_tensor(k), v)
            assert f.get_slice(k).get_shape() == list(v.shape)
        assert f.get_slice("w.f16").get_dtype() == "F16"
        assert f.get_slice("mask").get_dtype() == "BOOL"


def test_save_file_threads_and_block_size_same_bytes(tmp_path):
    rng = np.random.default_rng(6)
    d = {"a": _arr(rng, "float32", (200, 50)), "b": _arr(rng, "float16", (999,))}
    save_file(d, tmp_path / "1.sqz", block_size=8192)
    save_file(d, tmp_path / "2.sqz", block_size=8192, threads=2)
    assert (tmp_path / "1.sqz").read_bytes() == (tmp_path / "2.sqz").read_bytes()
    assert container.decompress((tmp_path / "2.sqz").read_bytes()) == st_save(d)


def test_safe_open_on_cli_made_file(tmp_path):
    """A .sqz made the way `squeeze model.safetensors` makes it (every weights dtype)."""
    rng = np.random.default_rng(7)
    raw = mixed_safetensors(rng, big=7_000)
    p = _sqz(tmp_path, raw)
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    md = hdr.pop("__metadata__")
    with safe_open(str(p)) as f:
        assert f.metadata() == md
        assert f.keys() == sorted(hdr)
        assert f.offset_keys() == sorted(hdr, key=lambda k: hdr[k]["data_offsets"])
        for k, info in hdr.items():
            a, b = info["data_offsets"]
            want = raw[8 + n + a:8 + n + b]
            s = f.get_slice(k)
            assert s.get_dtype() == info["dtype"] and s.get_shape() == info["shape"]
            if info["dtype"] in ("BF16", "F8_E4M3", "F8_E5M2") and not HAVE_ML_DTYPES:
                with pytest.raises(UnsupportedError, match="ml_dtypes"):
                    f.get_tensor(k)
                continue
            t = f.get_tensor(k)
            assert t.tobytes() == want and list(t.shape) == info["shape"]


# ------------------------------------------------------------------------------------
# lazy reads: only the blocks that hold the asked bytes are decoded


def _block_spans(path) -> list[tuple[int, int, int, int, int]]:
    """Per block: (output start, output end, payload offset in the file, csize, kind)."""
    with open(path, "rb") as fh:
        (s,) = container.scan_streams(fh)
    rec = container._BLOCK_HEAD.size + 4
    chk = container.CHECK_SIZES[s.header.check]
    out, pos, off = [], s.header.size, 0
    for b in s.blocks:
        out.append((off, off + b.usize, pos + rec, b.csize, b.kind))
        pos += rec + b.csize + chk
        off += b.usize
    return out


@pytest.fixture
def counted(monkeypatch):
    calls = []
    orig = DFloat11Codec.decode_block

    def decode_block(self, payload, size):
        calls.append(size)
        return orig(self, payload, size)

    monkeypatch.setattr(DFloat11Codec, "decode_block", decode_block)
    return calls


def _three_tensor_file(tmp_path, block_size=8192):
    rng = np.random.default_rng(8)
    d = {"a": _arr(rng, "float32", (128, 64)), "b": _arr(rng, "float32", (128, 64)),
         "c": _arr(rng, "float32", (128, 64))}
    p = tmp_path / "three.safetensors.sqz"
    save_file(d, p, block_size=block_size)
    raw = st_save(d)
    base = 8 + struct.unpack("<Q", raw[:8])[0]
    return p, d, raw, base


def _overlapping(spans, lo, hi):
    return [s for s in spans if s[0] < hi and s[1] > lo]


def test_get_tensor_decodes_only_its_blocks(tmp_path, counted):
    p, d, raw, base = _three_tensor_file(tmp_path)
    spans = _block_spans(p)
    assert len(spans) >= 12 and all(k == container.KIND_CODEC for *_, k in spans)
    with safe_open(p) as f:
        for name, (lo, hi) in zip("abc", [(0, 32768), (32768, 65536), (65536, 98304)]):
            counted.clear()
            _same(f.get_tensor(name), d[name])
            assert len(counted) == len(_overlapping(spans, base + lo, base + hi)) == 4


def test_corrupt_block_of_another_tensor(tmp_path):
    p, d, raw, base = _three_tensor_file(tmp_path)
    spans = _block_spans(p)
    lo_b, hi_b = base + 32768, base + 65536
    blob = bytearray(p.read_bytes())
    inside = [s for s in spans if s[0] >= lo_b and s[1] <= hi_b]
    _, _, pos, csize, _ = inside[1]
    blob[pos + csize // 2] ^= 0x10
    p.write_bytes(bytes(blob))
    with safe_open(p) as f:
        _same(f.get_tensor("a"), d["a"])
        _same(f.get_tensor("c"), d["c"])
        with pytest.raises(CorruptError):
            f.get_tensor("b")
        _same(f.get_slice("b")[:8], d["b"][:8])  # rows before the corrupt block
        with pytest.raises(CorruptError):
            f.get_slice("b")[40:60]
        _same(f.get_tensor("a"), d["a"])  # the handle still works after an error
    with pytest.raises(CorruptError):
        load_file(p)


def test_get_slice_reads_only_needed_blocks(tmp_path, counted):
    p, d, raw, base = _three_tensor_file(tmp_path)
    spans = _block_spans(p)
    row = 64 * 4
    a = d["b"]
    with safe_open(p) as f:
        s = f.get_slice("b")
        assert s.get_shape() == [128, 64] and s.get_dtype() == "F32" and len(s) == 128
        for idx, (r0, r1) in [((slice(40, 50),), (40, 50)), ((slice(31, 33),), (31, 33)),
                              ((7, slice(3, 9)), (7, 8)), ((-1,), (127, 128)),
                              ((slice(60, 10, -7), 4), (18, 61))]:
            counted.clear()
            _same(s[idx], a[idx])
            lo = base + 32768 + r0 * row
            hi = base + 32768 + r1 * row
            assert len(counted) == len(_overlapping(spans, lo, hi)) <= 2, idx


def test_get_slice_matches_numpy(tmp_path):
    rng = np.random.default_rng(9)
    d = {"m": _arr(rng, "float32", (6, 5, 4)), "v": _arr(rng, "int64", (7,)),
         "s": np.array(2.5, np.float16), "e": np.zeros((3, 0), np.float32),
         "z": np.zeros((0, 3), np.uint8)}
    p = tmp_path / "s.sqz"
    save_file(d, p)
    indices = {
        "m": [0, -1, slice(None), slice(1, 4), slice(None, None, 2), slice(None, None, -1),
              slice(10, 20), slice(4, 1), (1, 2), (1, 2, 3), (1, slice(0, 5, 2), -1),
              (Ellipsis, 1), (0, Ellipsis), (slice(2, 5), Ellipsis, slice(1, 3)), Ellipsis,
              (None, 1), (1, None), ([0, 2],), (1, [3, 0]), (np.int64(2), np.int32(1)),
              (slice(-2, None), slice(None, -3, -1))],
        "v": [3, slice(2, 6), slice(None, None, -2), (Ellipsis,), slice(7, None)],
        "s": [(), Ellipsis, None],
        "e": [1, slice(0, 2), (Ellipsis, slice(0, 0))],
        "z": [slice(None), (slice(None), 1)],
    }
    with safe_open(p) as f:
        for name, idxs in indices.items():
            sl = f.get_slice(name)
            for idx in idxs:
                got, want = sl[idx], d[name][idx]
                assert isinstance(got, np.ndarray), (name, idx)
                _same(got, np.asarray(want))
                assert got.flags.writeable and got.flags.c_contiguous
        m = f.get_slice("m")
        for idx in [6, -7, (0, 5), (0, 0, 4), (0, 0, 0, 0), (Ellipsis, Ellipsis)]:
            with pytest.raises(IndexError):
                m[idx]
        with pytest.raises(TypeError):
            len(f.get_slice("s"))


# ------------------------------------------------------------------------------------
# BF16 / FP8 / torch


def _bf16_file(tmp_path):
    rng = np.random.default_rng(10)
    bits = weight_bits("BF16", 60, rng).reshape(6, 10)
    p = tmp_path / "bf.safetensors.sqz"
    save_file({"w": RawTensor("BF16", (6, 10), bits.tobytes()), "f": np.ones(3, np.float32)},
              p)
    return p, bits


@pytest.mark.skipif(not HAVE_ML_DTYPES, reason=NO_ML)
def test_bf16_with_ml_dtypes(tmp_path):
    import ml_dtypes

    p, bits = _bf16_file(tmp_path)
    with safe_open(p) as f:
        w = f.get_tensor("w")
        assert w.dtype == ml_dtypes.bfloat16 and w.shape == (6, 10)
        assert w.view(np.uint16).tobytes() == bits.tobytes()
        assert f.get_slice("w")[2:4, ::3].view(np.uint16).tobytes() == \
            np.ascontiguousarray(bits[2:4, ::3]).tobytes()
    assert load_file(p)["w"].dtype == ml_dtypes.bfloat16
    # ml_dtypes arrays save like safetensors.numpy saves them
    x = {"b": bits.view(ml_dtypes.bfloat16), "e": np.zeros(4, ml_dtypes.float8_e4m3fn),
         "f": np.ones(2, np.float32)}
    assert sq_serialize(x) == st_save(x)
    save_file(x, tmp_path / "ml.sqz")
    for k, v in load_file(tmp_path / "ml.sqz").items():
        _same(v, x[k])


def test_bf16_without_ml_dtypes_is_a_clear_error(tmp_path, monkeypatch):
    p, bits = _bf16_file(tmp_path)
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # as if not installed
    with safe_open(p) as f:
        s = f.get_slice("w")
        assert s.get_dtype() == "BF16" and s.get_shape() == [6, 10]
        for read in (lambda: f.get_tensor("w"), lambda: s[1:2]):
            with pytest.raises(UnsupportedError, match="pip install ml_dtypes"):
                read()
        _same(f.get_tensor("f"), np.ones(3, np.float32))
    with pytest.raises(UnsupportedError, match="framework='pt'"):
        load_file(p)


def _fake_torch():
    """Just enough of torch for the "pt" plumbing: numpy-backed 'tensors'."""
    torch = types.ModuleType("torch")
    names = ["bool", "uint8", "int8", "int16", "uint16", "float16", "bfloat16", "int32",
             "uint32", "float32", "complex64", "float64", "int64", "uint64", "float8_e4m3fn",
             "float8_e5m2"]
    for n in names:
        setattr(torch, n, f"torch.{n}")
    carrier = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
    width = {"bool": 1, "uint8": 1, "int8": 1, "float8_e4m3fn": 1, "float8_e5m2": 1,
             "int16": 2, "uint16": 2, "float16": 2, "bfloat16": 2, "int32": 4, "uint32": 4,
             "float32": 4, "complex64": 8, "float64": 8, "int64": 8, "uint64": 8}

    class T:
        def __init__(self, a, dtype):
            self.a, self.dtype = a, dtype

        def reshape(self, shape):
            return T(self.a.reshape(shape), self.dtype)

        @property
        def shape(self):
            return self.a.shape

    def frombuffer(buf, dtype):
        return T(np.frombuffer(buf, carrier[width[dtype[6:]]]), dtype)

    def empty(shape, dtype):
        return T(np.empty(shape, carrier[width[dtype[6:]]]), dtype)

    torch.frombuffer, torch.empty = frombuffer, empty
    return torch


def test_pt_framework_plumbing(tmp_path, monkeypatch):
    p, bits = _bf16_file(tmp_path)
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # "pt" needs no ml_dtypes
    monkeypatch.setitem(sys.modules, "torch", _fake_torch())
    with safe_open(p, framework="pt") as f:
        w = f.get_tensor("w")
        assert w.dtype == "torch.bfloat16" and w.shape == (6, 10)
        assert w.a.tobytes() == bits.tobytes()
        s = f.get_slice("w")[1:3, 2]
        assert s.dtype == "torch.bfloat16" and s.a.tobytes() == bits[1:3, 2].tobytes()
    got = load_file(p, framework="torch")
    assert got["f"].dtype == "torch.float32" and got["f"].a.view(np.float32).tolist() == [1] * 3


def test_pt_without_torch_is_a_clear_error(tmp_path, monkeypatch):
    p, _ = _bf16_file(tmp_path)
    monkeypatch.setitem(sys.modules, "torch", None)
    for call in (lambda: safe_open(p, framework="pt"), lambda: load_file(p, framework="pt")):
        with pytest.raises(UnsupportedError, match="pip install torch"):
            call()
    with pytest.raises(OptionError):
        safe_open(p, framework="tf")
    with pytest.raises(OptionError):
        safe_open(p, device="cuda")


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed (an optional extra)")
def test_pt_with_real_torch(tmp_path):
    import torch

    p, bits = _bf16_file(tmp_path)
    with safe_open(p, framework="pt") as f:
        w = f.get_tensor("w")
        assert w.dtype == torch.bfloat16 and tuple(w.shape) == (6, 10)
        assert w.view(torch.int16).numpy().view(np.uint16).tobytes() == bits.tobytes()
        assert f.get_slice("f")[1:].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------------------
# hostile and foreign input: always a SqueezeError


def test_foreign_inputs(tmp_path):
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(st_save({"a": np.ones(2, np.float32)}))
    with pytest.raises(FormatError, match="plain safetensors"):
        safe_open(plain)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(1000))
    with pytest.raises(FormatError):
        safe_open(junk)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(FormatError):
        load_file(empty)
    for data in (b"hello world " * 100, b"", b"\x93NUMPY\x01\x00" + b"x" * 100, b"\0" * 16):
        p = _sqz(tmp_path, data, codec="zstd")
        with pytest.raises(InputError, match="does not hold a safetensors file"):
            safe_open(p)
    buf = io.BytesIO()
    np.save(buf, np.ones(100, np.float32))
    with pytest.raises(InputError):
        safe_open(_sqz(tmp_path, buf.getvalue()))
    with pytest.raises(FileNotFoundError):
        safe_open(tmp_path / "missing.sqz")


def test_unknown_tensor(tmp_path):
    p, _ = _bf16_file(tmp_path)
    with safe_open(p) as f:
        with pytest.raises(TensorNotFoundError) as ei:
            f.get_tensor("nope")
        assert isinstance(ei.value, KeyError) and isinstance(ei.value, SqueezeError)
        assert str(ei.value) == "File does not contain tensor nope"
        with pytest.raises(KeyError):
            f.get_slice("nope")
    with pytest.raises(ValueError):
        f.get_tensor("f")  # closed


def _st(header, data=b"", raw_header=False):
    js = header if raw_header else json.dumps(header).encode()
    return struct.pack("<Q", len(js)) + js + data


HOSTILE = {
    "past end": _st({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
    "overlap": _st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
    "size lie": _st({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
    "reversed": _st({"a": {"dtype": "U8", "shape": [0], "data_offsets": [8, 0]}}, b"\0" * 8),
    "negative": _st({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}}),
    "bad shape": _st({"a": {"dtype": "U8", "shape": "x", "data_offsets": [0, 0]}}),
    "bad offsets": _st({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0]}}, b"\0"),
    "no dtype": _st({"a": {"shape": [1], "data_offsets": [0, 1]}}, b"\0"),
    "meta": _st({"__metadata__": {"a": 1}}),
    "not object": _st([1, 2], raw_header=False),
    "header past end": struct.pack("<Q", 1000) + b'{"a":1}',
    "nested": _st(b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}", raw_header=True),
    "nested meta": _st(b'{"__metadata__":{"a":' + b"{" * 100_000, raw_header=True),
    "bad utf8": _st(b'{"\xff":1}', raw_header=True),
    "bad json": _st(b'{"a":', raw_header=True),
    "nan": _st(b'{"a":NaN}', raw_header=True),
    "huge header len": struct.pack("<Q", 2**63) + b"{}",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_lying_headers(tmp_path, case):
    p = _sqz(tmp_path, HOSTILE[case], codec="zstd")
    with pytest.raises(SqueezeError):
        with safe_open(p) as f:
            for k in f.keys():
                f.get_tensor(k)
    with pytest.raises(SqueezeError):
        load_file(p)


def test_unsupported_dtype_in_file(tmp_path):
    raw = _st({"q": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]},
               "a": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}, b"\x01\x02\x03\x04")
    with safe_open(_sqz(tmp_path, raw, codec="zstd")) as f:
        assert f.keys() == ["a", "q"]
        assert f.get_tensor("a").tolist() == [3, 4]
        with pytest.raises(UnsupportedError):
            f.get_tensor("q")


@pytest.fixture(scope="module")
def small_sqz():
    rng = np.random.default_rng(11)
    d = {"a": _arr(rng, "float32", (64, 32)), "b": _arr(rng, "float16", (100,)),
         "c": _arr(rng, "int64", (5,))}
    blob = container.compress(st_save(d, {"m": "x"}), "dfloat11", block_size=4096)
    return d, blob


def _read_all(path):
    with safe_open(path) as f:
        out = {k: f.get_tensor(k) for k in f.keys()}
        out.update({"slice": f.get_slice("a")[3:9, 1]})
    return out


def test_truncated_files(tmp_path, small_sqz):
    d, blob = small_sqz
    p = tmp_path / "t.sqz"
    for cut in sorted({1, 8, 20, 40, len(blob) // 3, len(blob) // 2, len(blob) - 30,
                       len(blob) - 13, len(blob) - 1}):
        p.write_bytes(blob[:cut])
        with pytest.raises(SqueezeError):
            _read_all(p)
        with pytest.raises(SqueezeError):
            load_file(p)


def test_bit_flips(tmp_path, small_sqz):
    """Every flip is caught by a check (or, flipping unused bits, changes nothing)."""
    d, blob = small_sqz
    p = tmp_path / "f.sqz"
    rng = np.random.default_rng(12)
    for pos in sorted(set(rng.integers(0, len(blob), 40).tolist()) | {0, 9, len(blob) - 1}):
        bad = bytearray(blob)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        p.write_bytes(bytes(bad))
        for read in (lambda: load_file(p), lambda: _read_all(p)):
            try:
                got = read()
            except SqueezeError:
                continue
            for k, v in d.items():
                _same(got[k], v)


# ------------------------------------------------------------------------------------
# packaging


def test_import_stays_cheap():
    code = ("import sys, squeeze_weights; "
            "print('numpy' in sys.modules, 'squeeze_weights.safetensors_io' in sys.modules); "
            "from squeeze_weights import safe_open, load_file, save_file; "
            "print(safe_open.__module__)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.path.join(root, "codecs")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "squeeze_weights.safetensors_io"]
    import squeeze_weights

    with pytest.raises(AttributeError):
        squeeze_weights.no_such_name  # noqa: B018
