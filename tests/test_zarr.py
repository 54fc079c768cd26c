"""numcodecs codecs squeeze / squeeze_dfloat11 / squeeze_enec and their zarr 3 wrappers."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

numcodecs = pytest.importorskip("numcodecs")
zarr = pytest.importorskip("zarr")

from frappe_cli import errors as E  # noqa: E402
from frappe_cli.numcodecs_codec import Squeeze, ZarrSqueeze, stream_params  # noqa: E402
from squeeze_weights.numcodecs_codec import (  # noqa: E402
    SqueezeDFloat11,
    SqueezeEnec,
    ZarrDFloat11,
    ZarrEnec,
)

ROOT = Path(__file__).resolve().parent.parent
SNIPPET = ROOT / "benchmarks" / "zarr-docs-snippet.md"

pytestmark = pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning")

# special bit patterns: +-0, +-Inf, NaNs with several payloads and signs (quiet and
# signalling), the smallest/largest subnormals, the smallest normal, the largest finite
SPECIAL = {
    np.uint16: [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7DFF, 0xFFFF,
                0x0001, 0x03FF, 0x8001, 0x83FF, 0x0400, 0x7BFF],            # float16
    np.uint32: [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                0x7F800001, 0x7FABCDEF, 0xFFFFFFFF, 0x7FC00001, 0x00000001, 0x007FFFFF,
                0x80000001, 0x80400000, 0x00800000, 0x7F7FFFFF],             # float32
    np.uint64: [0, 1 << 63, 0x7FF0 << 48, 0xFFF0 << 48, 0x7FF8 << 48, 0xFFF8 << 48,
                (0x7FF0 << 48) | 1, 0x7FF4DEADBEEF0001, (1 << 64) - 1, 1,
                (1 << 52) - 1, (1 << 63) | 1, 1 << 52, 0x7FEFFFFFFFFFFFFF],  # float64
}
BF16_SPECIAL = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0x7FFF, 0xFFFF,
                0x0001, 0x007F, 0x8001, 0x0080, 0x7F7F]
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}

SHAPE, CHUNKS = (37, 53), (16, 20)  # partial edge chunks on both axes


def weights(dtype, shape=SHAPE, seed=0) -> np.ndarray:
    """Weight-like values with every special bit pattern scattered over the chunks."""
    rng = np.random.default_rng(seed)
    if dtype == "bf16":
        x = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        bits = (x.view(np.uint32) >> 16).astype(np.uint16)
        special = BF16_SPECIAL
    else:
        x = (rng.standard_normal(shape) * 0.02).astype(dtype)
        bits = x.view(UINT[x.itemsize])
        special = SPECIAL[bits.dtype.type]
    flat = bits.reshape(-1)
    pos = rng.choice(flat.size, size=3 * len(special), replace=False)
    flat[pos] = np.array(special * 3, dtype=bits.dtype)
    flat[-len(special):] = special  # the last (partial) chunk too
    return bits if dtype == "bf16" else bits.view(dtype)


def bits_of(a: np.ndarray) -> np.ndarray:
    return a.view(UINT[a.dtype.itemsize]) if a.dtype.itemsize in UINT else a


def assert_bits_equal(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(bits_of(a), bits_of(b))


def chunk_files(path: Path) -> list[Path]:
    return sorted(p for p in (path / "c").rglob("*") if p.is_file())


# (name, data dtype, zarr dtype, codecs kwargs, expected squeeze codec in the chunks)
CASES = [
    ("f16-dfloat11", np.float16, "float16", lambda: {"serializer": ZarrDFloat11(),
                                                     "compressors": None}, "dfloat11"),
    ("f32-dfloat11", np.float32, "float32", lambda: {"serializer": ZarrDFloat11(level=9),
                                                     "compressors": None}, "dfloat11"),
    ("f16-enec", np.float16, "float16", lambda: {"serializer": ZarrEnec(),
                                                 "compressors": None}, "enec"),
    ("f32-enec", np.float32, "float32", lambda: {"serializer": ZarrEnec(level=1),
                                                 "compressors": None}, "enec"),
    ("bf16-dfloat11", "bf16", "uint16", lambda: {"serializer": ZarrDFloat11(dtype="bf16"),
                                                 "compressors": None}, "dfloat11"),
    ("bf16-enec", "bf16", "uint16", lambda: {"serializer": ZarrEnec(dtype="bfloat16"),
                                             "compressors": None}, "enec"),
    ("f64-squeeze-auto", np.float64, "float64", lambda: {"compressors": [ZarrSqueeze()]},
     "dfloat11"),
    ("f64-squeeze-enec", np.float64, "float64",
     lambda: {"compressors": [ZarrSqueeze(codec="enec")]}, "enec"),
    ("i32-squeeze-zstd", np.int32, "int32",
     lambda: {"compressors": [ZarrSqueeze(codec="zstd", level=3)]}, "zstd"),
    ("i64-squeeze-auto", np.int64, "int64", lambda: {"compressors": [ZarrSqueeze()]}, None),
]


def case_data(dtype) -> np.ndarray:
    if dtype in ("bf16", np.float16, np.float32, np.float64):
        return weights(dtype)
    rng = np.random.default_rng(1)
    return (rng.integers(-300, 300, size=SHAPE) ** 2).astype(dtype)


def write_array(path: Path, case) -> np.ndarray:
    _name, dtype, zdtype, kwargs, _expect = case
    data = case_data(dtype)
    a = zarr.create_array(store=zarr.storage.LocalStore(path), shape=SHAPE, chunks=CHUNKS,
                          dtype=zdtype, **kwargs())
    a[:] = data
    return data


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_zarr3_roundtrip_bit_exact(tmp_path, case):
    path = tmp_path / "a.zarr"
    data = write_array(path, case)
    back = zarr.open_array(zarr.storage.LocalStore(path, read_only=True), mode="r")
    assert_bits_equal(back[:], data)
    assert_bits_equal(back[5:33, 7:50], data[5:33, 7:50])  # partial reads across chunks
    files = chunk_files(path)
    assert len(files) == 3 * 3
    ids = {stream_params(f.read_bytes())["id"] for f in files}
    expect = case[4]
    if expect is not None:
        assert ids == {expect}
    else:
        assert ids <= {"text", "zstd", "exe"}


def test_zarr3_metadata_names(tmp_path):
    path = tmp_path / "a.zarr"
    write_array(path, CASES[4])
    meta = json.loads((path / "zarr.json").read_text())
    assert meta["codecs"] == [{"name": "numcodecs.squeeze_dfloat11",
                               "configuration": {"level": 6, "dtype": "bf16"}}]
    path2 = tmp_path / "b.zarr"
    write_array(path2, CASES[6])
    meta = json.loads((path2 / "zarr.json").read_text())
    assert meta["codecs"][-1] == {"name": "numcodecs.squeeze",
                                  "configuration": {"codec": "auto", "level": 6}}


def test_zarr_format2_takes_numcodecs_directly(tmp_path):
    data = weights(np.float32)
    path = tmp_path / "v2.zarr"
    a = zarr.create_array(store=zarr.storage.LocalStore(path), shape=SHAPE, chunks=CHUNKS,
                          dtype="float32", zarr_format=2, compressors=SqueezeDFloat11())
    a[:] = data
    assert_bits_equal(zarr.open_array(zarr.storage.LocalStore(path), mode="r")[:], data)


CONFIGS = [
    SqueezeDFloat11(), SqueezeDFloat11(level=9, dtype="bf16"), SqueezeEnec(level=0),
    SqueezeEnec(dtype="float16"), Squeeze(), Squeeze(codec="text", level=6),
    Squeeze(codec="zstd", level=1), Squeeze(codec="dfloat11", dtype="f32"),
]


@pytest.mark.parametrize("codec", CONFIGS, ids=repr)
def test_config_json_roundtrip(codec):
    cfg = json.loads(json.dumps(codec.get_config()))
    again = numcodecs.get_codec(cfg)
    assert type(again) is type(codec)
    assert again == codec
    assert again.get_config() == codec.get_config()


def test_dtype_names_are_canonical():
    assert SqueezeEnec(dtype="bfloat16").get_config()["dtype"] == "bf16"
    assert Squeeze(codec="enec", dtype="FP32").get_config()["dtype"] == "f32"


@pytest.mark.parametrize("bad", [
    {"id": "squeeze_dfloat11", "dtype": "int8"}, {"id": "squeeze_enec", "level": 10},
    {"id": "squeeze", "codec": "nope"}, {"id": "squeeze", "codec": "frappe"},
    {"id": "squeeze", "codec": "zstd", "window": 3}, {"id": "squeeze", "dtype": "f32"},
])
def test_bad_configs(bad):
    with pytest.raises(E.SqueezeError):
        numcodecs.get_codec(bad)


def test_dtype_itemsize_mismatch():
    with pytest.raises(E.OptionError):
        SqueezeDFloat11(dtype="bf16").encode(np.zeros(8, np.float32))


@pytest.mark.parametrize("cls", [SqueezeDFloat11, SqueezeEnec])
def test_numcodecs_decode_out_and_types(cls):
    codec = cls()
    for dtype in (np.float16, np.float32, np.float64):
        x = weights(dtype, shape=(300,))
        blob = codec.encode(x)
        assert stream_params(blob) == {"id": codec.codec_id.split("_")[1], "level": 6,
                                       "dtype": {2: "f16", 4: "f32", 8: "f64"}[x.itemsize]}
        plain = codec.decode(blob)
        assert_bits_equal(plain, x)  # typed from the chunk header
        out = np.empty_like(x)
        assert codec.decode(blob, out=out) is out
        assert_bits_equal(out, x)
        out2 = np.empty((3, 100), dtype=x.dtype)
        codec.decode(blob, out=out2)
        assert_bits_equal(out2.reshape(-1), x)
        # a bytearray / memoryview input works as well
        assert_bits_equal(codec.decode(memoryview(bytearray(blob))), x)


def test_non_float_input_falls_back_to_zstd():
    codec = SqueezeDFloat11()
    for x in (np.arange(1000, dtype=np.int64), np.arange(10, dtype=">f4"),
              np.array([True, False] * 50), b"plain bytes " * 20, np.zeros(0, np.int8)):
        blob = codec.encode(x)
        arr = np.frombuffer(x, np.uint8) if isinstance(x, bytes) else x
        assert stream_params(blob)["id"] == "zstd"
        out = np.empty_like(arr)
        codec.decode(blob, out=out)
        assert np.array_equal(out, arr)
    empty = np.zeros((0, 3), np.float32)
    assert codec.decode(codec.encode(empty), out=np.empty_like(empty)).shape == (0, 3)


def test_bf16_bits_and_ml_dtypes():
    x = weights("bf16", shape=(1000,))
    codec = SqueezeEnec(dtype="bf16")
    blob = codec.encode(x)
    assert stream_params(blob)["dtype"] == "bf16"
    out = np.empty_like(x)
    codec.decode(blob, out=out)
    assert np.array_equal(out, x)
    ml_dtypes = pytest.importorskip("ml_dtypes")
    b = x.view(ml_dtypes.bfloat16)
    blob = SqueezeEnec().encode(b)  # dtype from the array
    assert stream_params(blob)["dtype"] == "bf16"
    assert SqueezeEnec().decode(blob).dtype == b.dtype


def test_squeeze_generic_typed_input():
    x = weights(np.float32, shape=(500,))
    assert stream_params(Squeeze().encode(x))["id"] == "dfloat11"
    blob = Squeeze(codec="enec").encode(x)
    assert stream_params(blob) == {"id": "enec", "level": 6, "dtype": "f32"}
    assert_bits_equal(Squeeze().decode(blob), x)
    text = b"the quick brown fox jumps over the lazy dog. " * 40
    blob = Squeeze(codec="text", level=6).encode(text)
    assert stream_params(blob)["id"] == "text"
    assert Squeeze().decode(blob).tobytes() == text


# -- damaged chunks -----------------------------------------------------------------


@pytest.mark.parametrize("codec", [SqueezeDFloat11(), SqueezeEnec(), Squeeze(codec="zstd")],
                         ids=repr)
def test_bad_chunks_raise_squeeze_errors(codec):
    x = weights(np.float32, shape=(2000,))
    blob = codec.encode(x)
    out = np.empty_like(x)
    bad = {
        "empty": b"",
        "foreign": b"\x28\xb5\x2f\xfd" + bytes(100),
        "truncated": blob[: len(blob) // 2],
        "header-only": blob[:30],
        "trailing": blob + b"\x00",
    }
    for i in range(8, len(blob), max(1, len(blob) // 40)):
        flipped = bytearray(blob)
        flipped[i] ^= 0x55
        bad[f"flip{i}"] = bytes(flipped)
    for name, data in bad.items():
        with pytest.raises(E.SqueezeError):
            codec.decode(data, out=out)
            pytest.fail(f"{name}: no error")
        with pytest.raises(E.SqueezeError):
            codec.decode(data)
    with pytest.raises(E.TruncatedError):
        codec.decode(blob[:-5])
    with pytest.raises(E.FormatError):
        codec.decode(b"not a squeeze stream at all")
    # a valid chunk of another size: refused (bomb guard / size check)
    with pytest.raises(E.SqueezeError):
        codec.decode(blob, out=np.empty(1999, np.float32))
    with pytest.raises(E.MemoryLimitError):
        codec.decode(codec.encode(np.zeros(1 << 20, np.uint8)), out=np.empty(10, np.uint8))


@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[6]], ids=lambda c: c[0])
def test_corrupt_chunk_on_disk(tmp_path, case):
    path = tmp_path / "a.zarr"
    write_array(path, case)
    files = chunk_files(path)
    good = files[4].read_bytes()
    for damaged, err in [(good[:10] + bytes([good[10] ^ 1]) + good[11:], E.CorruptError),
                         (good[: len(good) - 7], E.TruncatedError),
                         (b"\x00" * len(good), E.FormatError)]:
        files[4].write_bytes(damaged)
        a = zarr.open_array(zarr.storage.LocalStore(path, read_only=True), mode="r")
        assert a[:16, :20].shape == (16, 20)  # other chunks still read
        with pytest.raises(err):
            a[:]
    # a payload byte in the middle of the chunk
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    files[4].write_bytes(bytes(flipped))
    with pytest.raises(E.SqueezeError):
        zarr.open_array(zarr.storage.LocalStore(path, read_only=True), mode="r")[:]


# -- installation: entry points, fresh processes, lazy imports -----------------------


def _installed() -> None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("squeeze-codecs")
    except PackageNotFoundError:
        pytest.skip("squeeze-codecs is not installed (pip install -e .): no entry points")


def test_entry_points_declared():
    _installed()
    from importlib.metadata import entry_points

    nc = {e.name: e.value for e in entry_points(group="numcodecs.codecs")}
    assert nc["squeeze_dfloat11"] == "squeeze_weights.numcodecs_codec:SqueezeDFloat11"
    assert nc["squeeze_enec"] == "squeeze_weights.numcodecs_codec:SqueezeEnec"
    assert nc["squeeze"] == "frappe_cli.numcodecs_codec:Squeeze"
    zc = {e.name: e for e in entry_points(group="zarr.codecs")}
    for name, cls in [("numcodecs.squeeze", ZarrSqueeze),
                      ("numcodecs.squeeze_dfloat11", ZarrDFloat11),
                      ("numcodecs.squeeze_enec", ZarrEnec)]:
        assert zc[name].load() is cls
        assert cls.codec_name == name


def test_fresh_process_entry_points_and_reopen(tmp_path):
    _installed()
    expected = {}
    for case in (CASES[1], CASES[5], CASES[6]):
        path = tmp_path / f"{case[0]}.zarr"
        expected[case[0]] = hashlib.sha256(bits_of(write_array(path, case)).tobytes()).hexdigest()
    code = textwrap.dedent(f"""
        import hashlib, json, sys, warnings
        import frappe_cli
        import squeeze_weights
        lazy = [m for m in ("numcodecs", "zarr") if m in sys.modules]
        import numcodecs
        codecs = [repr(numcodecs.get_codec({{"id": i}}))
                  for i in ("squeeze_dfloat11", "squeeze_enec", "squeeze")]
        import zarr
        warnings.simplefilter("ignore")
        out = {{}}
        for name in {sorted(expected)!r}:
            a = zarr.open_array({str(tmp_path)!r} + "/" + name + ".zarr", mode="r")[:]
            u = {{2: "u2", 4: "u4", 8: "u8"}}[a.dtype.itemsize]
            out[name] = hashlib.sha256(a.view(u).tobytes()).hexdigest()
        print(json.dumps({{"lazy": lazy, "codecs": codecs, "hashes": out}}))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["lazy"] == [], "import frappe_cli / squeeze_weights imported numcodecs or zarr"
    assert got["codecs"] == ["SqueezeDFloat11(level=6)", "SqueezeEnec(level=6)",
                             "Squeeze(codec='auto', level=6)"]
    assert got["hashes"] == expected


# -- the documentation snippet -------------------------------------------------------


def test_docs_snippet_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", SNIPPET.read_text(), re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(compile(block, str(SNIPPET), "exec"), ns)
    assert (tmp_path / "weights.zarr" / "fc1" / "zarr.json").is_file()
