"""Bench peers and inputs of the weights suites (benchmarks/suites/weights.py)."""

import numpy as np
import pytest
from benchmarks.suites import weights as B
from squeeze_weights import formats as F
from weights_util import weight_bits

RNG = np.random.default_rng(4)


def _files():
    out = {}
    for dt in ("BF16", "F16", "F32"):
        out[dt] = F.write_safetensors([("w", dt, [50_001], weight_bits(dt, 50_001, RNG).tobytes()),
                                       ("i", "I64", [3], bytes(24))])
    return out


@pytest.mark.parametrize("name", ["zstd-3-planes", "zipnn"])
def test_peers_roundtrip(name):
    if name == "zipnn":
        pytest.importorskip("zipnn")
    peer = B.PEERS[name]
    for data in _files().values():
        keep = bytes(data)
        blob = peer.compress(data)
        assert data == keep  # the peer must not mutate our buffer (ZipNN gets a copy)
        assert peer.decompress(blob) == data
        assert len(blob) < len(data)
    assert B.dominant_dtype(_files()["F16"]) == "F16"
    assert B.dominant_dtype(b"random bytes") == "F32"


def test_onnx_reader_on_a_handmade_model():
    def varint(v):
        out = b""
        while True:
            b = v & 0x7F
            v >>= 7
            out += bytes([b | (0x80 if v else 0)])
            if not v:
                return out

    def field(no, wt, payload):
        if wt == 0:
            return varint(no << 3) + varint(payload)
        return varint((no << 3) | 2) + varint(len(payload)) + payload

    raw = np.arange(6, dtype="<f4").tobytes()
    t1 = field(1, 0, 2) + field(1, 0, 3) + field(2, 0, 1) + field(8, 2, b"w") + field(9, 2, raw)
    t2 = field(1, 2, varint(2)) + field(2, 0, 7) + field(8, 2, b"ids") + field(9, 2, bytes(16))
    graph = field(5, 2, t1) + field(5, 2, t2) + field(1, 2, b"node")
    model = field(1, 0, 8) + field(7, 2, graph)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.onnx"
        p.write_bytes(model)
        assert B.onnx_float_initializers(p) == [("w", [2, 3], raw)]


@pytest.mark.slow
def test_prepare_files(tmp_path):
    files = B.prepare_files(tmp_path)
    if not files:
        pytest.skip("no weight packages installed")
    for f in files:
        assert f.stat().st_size > 0
    names = {f.name for f in files}
    if B.minilm_path() is not None:
        assert "minilm-bf16-rne-from-fp32.safetensors" in names
