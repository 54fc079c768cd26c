"""Strict safetensors / .npy parsing: lying headers are rejected with a clear error."""

import io
import json
import struct

import numpy as np
import pytest
from squeeze_weights import formats as F
from weights_util import mixed_safetensors

from frappe_cli import container
from frappe_cli.errors import InputError

RNG = np.random.default_rng(5)


def _st(header: dict, data: bytes, pad_to: int = 8) -> bytes:
    js = json.dumps(header).encode()
    js += b" " * ((-len(js)) % pad_to)
    return struct.pack("<Q", len(js)) + js + data


def _good():
    data = np.arange(12, dtype=np.float32).tobytes() + np.arange(4, dtype=np.int64).tobytes()
    hdr = {"__metadata__": {"a": "b"},
           "w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]},
           "ids": {"dtype": "I64", "shape": [4], "data_offsets": [48, 80]}}
    return hdr, data


def _reject(blob: bytes, match: str):
    for cid in ("dfloat11", "enec"):
        with pytest.raises(InputError, match=match):
            container.compress(blob, cid)


def test_valid_file_parses_and_roundtrips():
    hdr, data = _good()
    blob = _st(hdr, data)
    lay = F.parse_safetensors(blob[: 8 + struct.unpack("<Q", blob[:8])[0]])
    assert [t["name"] for t in lay.tensors] == ["w", "ids"]
    assert lay.metadata == {"a": "b"}
    assert [r.kind for r in lay.regions] == [0, F.F32, 0]
    assert container.decompress(container.compress(blob, "dfloat11")) == blob


def test_library_written_files_parse():
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    tensors = {"a": torch.randn(5, 3, dtype=torch.bfloat16), "b": torch.randn(7),
               "c": torch.zeros(0, 2, dtype=torch.float16), "d": torch.arange(5)}
    blob = st_torch.save(tensors, metadata={"k": "v"})
    lay = F.parse_safetensors(blob[: 8 + struct.unpack("<Q", blob[:8])[0]])
    kinds = {t["name"]: t["kind"] for t in lay.tensors}
    assert kinds == {"a": F.BF16, "b": F.F32, "c": F.F16, "d": 0}
    for cid in ("dfloat11", "enec"):
        assert container.decompress(container.compress(blob, cid)) == blob


def test_offsets_beyond_the_file():
    hdr, data = _good()
    hdr["ids"]["data_offsets"] = [48, 80]
    _reject(_st(hdr, data[:70]), r"tensor 'ids' ends at byte \d+ but the file ends at byte")


def test_overlapping_tensors():
    hdr, data = _good()
    hdr["ids"]["data_offsets"] = [40, 72]
    _reject(_st(hdr, data), "overlaps")


def test_size_is_not_shape_times_dtype():
    hdr, data = _good()
    hdr["w"]["shape"] = [3, 5]
    _reject(_st(hdr, data), r"holds 48 bytes but shape \[3, 5\] x F32 needs 60")


@pytest.mark.parametrize("mutate,match", [
    (lambda h: h["w"].update(data_offsets=[48, 0]), "out of order"),
    (lambda h: h["w"].update(data_offsets=[-4, 44]), "out of order"),
    (lambda h: h["w"].update(data_offsets=[0]), "invalid data_offsets"),
    (lambda h: h["w"].update(data_offsets=[0.0, 48]), "invalid data_offsets"),
    (lambda h: h["w"].update(shape=[3, -4]), "invalid shape"),
    (lambda h: h["w"].update(shape=[True, 12]), "invalid shape"),
    (lambda h: h["w"].pop("dtype"), "has no dtype"),
    (lambda h: h.update(x=[1, 2]), "is not an object"),
    (lambda h: h.update(__metadata__={"a": 1}), "__metadata__"),
])
def test_malformed_entries(mutate, match):
    hdr, data = _good()
    mutate(hdr)
    _reject(_st(hdr, data), match)


def test_bad_json_and_header_sizes():
    hdr, data = _good()
    blob = _st(hdr, data)
    n = struct.unpack("<Q", blob[:8])[0]
    _reject(blob[:8] + b"{" + b"x" * (n - 1) + data, "not valid JSON")
    # not sniffed as safetensors (the JSON must start with '{'): coded as plain bytes
    arr = struct.pack("<Q", 4) + b"[1] " + data
    assert container.decompress(container.compress(arr, "dfloat11")) == arr
    _reject(blob[:8] + blob[8:20], "header is truncated")
    _reject(struct.pack("<Q", 12) + b'{"a": NaN}  ', "not valid JSON")
    # a header length beyond the safetensors limit is not a safetensors file: plain bytes
    big = struct.pack("<Q", 10**12) + b"{" + bytes(50)
    assert container.decompress(container.compress(big, "dfloat11")) == big


def test_holes_and_trailing_bytes_are_kept():
    hdr, data = _good()
    hdr["ids"]["data_offsets"] = [56, 88]
    blob = _st(hdr, data[:48] + b"PADPADPA" + data[48:]) + b"trailing junk"
    for cid in ("dfloat11", "enec"):
        assert container.decompress(container.compress(blob, cid)) == blob


def test_npy_variants():
    for arr in [np.arange(1000, dtype=np.float32).reshape(10, 100),
                RNG.normal(size=(33, 3)).astype(np.float16),
                RNG.normal(size=77).astype(np.float64),
                np.asfortranarray(RNG.normal(size=(20, 30)).astype(np.float32)),
                RNG.normal(size=50).astype(">f4"), np.arange(9, dtype=np.int32),
                np.zeros((0, 4), np.float32), np.float32(3.5)]:
        buf = io.BytesIO()
        np.save(buf, arr)
        blob = buf.getvalue()
        lay = F.parse_npy(blob[: F.npy_header_size(blob[:12])])
        assert lay.fmt == "npy"
        for cid in ("dfloat11", "enec"):
            assert container.decompress(container.compress(blob, cid)) == blob


def test_npy_lying_header():
    buf = io.BytesIO()
    np.save(buf, np.arange(100, dtype=np.float32))
    blob = buf.getvalue()
    with pytest.raises(InputError, match="ends at byte"):
        container.compress(blob[:-10], "dfloat11")
    bad = blob.replace(b"'descr'", b"'dexcr'")
    with pytest.raises(InputError, match="descr"):
        container.compress(bad, "dfloat11")
    bad = blob.replace(b"(100,)", b"(__import__('os'),)"[:6])
    with pytest.raises(InputError):
        container.compress(bad, "dfloat11")


def test_raw_dtype_names():
    for name in ["bf16", "BFloat16", "f16", "half", "fp32", "float64", "f8e4m3", "f8_e5m2"]:
        assert F.raw_kind(name) in F.KIND_WIDTH
    from frappe_cli.errors import OptionError

    with pytest.raises(OptionError, match="unknown --dtype"):
        F.raw_kind("int4")
    from frappe_cli.errors import SqueezeError

    with pytest.raises(SqueezeError):
        container.compress(b"1234", "dfloat11", dtype="int4")


def test_mixed_file_layout_covers_everything():
    blob = mixed_safetensors(RNG, big=700)
    n = struct.unpack("<Q", blob[:8])[0]
    lay = F.parse_safetensors(blob[: 8 + n])
    pos = 0
    for r in lay.regions:
        assert r.start == pos and r.end >= r.start
        pos = r.end
    assert pos == lay.known_end == len(blob)
