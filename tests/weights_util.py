"""Generators shared by the tests/test_weights_*.py files (not a test module)."""

from __future__ import annotations

import numpy as np
from squeeze_weights.formats import write_safetensors

ST_NP = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I64": np.int64,
         "I32": np.int32, "I8": np.int8, "U8": np.uint8, "I16": np.int16, "BOOL": np.bool_}


def special_bits(dtype: str) -> np.ndarray:
    """Bit patterns of every exponent value, NaNs (with payloads), infinities, zeros, subnormals."""
    if dtype in ("BF16", "F16"):
        s = np.arange(0, 1 << 16, 37, dtype=np.uint32)  # every exponent, both signs
        extra = [0x0000, 0x8000, 0x0001, 0x8001, 0x7F80 if dtype == "BF16" else 0x7C00,
                 0xFF80 if dtype == "BF16" else 0xFC00, 0x7FC0, 0x7FFF, 0xFFFF, 0x7F81, 0x03FF]
        return np.concatenate([s, extra]).astype(np.uint16)
    if dtype == "F32":
        e = np.arange(256, dtype=np.uint32) << 23
        s = np.concatenate([e, e | 0x80000000, e | 0x1, e | 0x7FFFFF])
        extra = [0, 0x80000000, 1, 0x80000001, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001,
                 0xFFFFFFFF, 0x007FFFFF]
        return np.concatenate([s, np.array(extra, np.uint32)])
    if dtype == "F64":
        e = np.arange(2048, dtype=np.uint64) << np.uint64(52)
        s = np.concatenate([e, e | np.uint64(1 << 63), e | np.uint64(12345)])
        extra = np.array([0, 1 << 63, 1, 0x7FF0000000000000, 0xFFF0000000000000,
                          0x7FF8000000000001, (1 << 64) - 1], np.uint64)
        return np.concatenate([s, extra])
    if dtype in ("F8_E4M3", "F8_E5M2"):
        return np.arange(256, dtype=np.uint8)
    raise ValueError(dtype)


def weight_bits(dtype: str, n: int, rng, scale: float = 0.05) -> np.ndarray:
    """n weight-like elements (Gaussian) as the dtype's bit patterns."""
    w = rng.normal(0, scale, n)
    if dtype == "BF16":
        u = w.astype(np.float32).view(np.uint32)
        return ((u + (((u >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16)
    if dtype == "F16":
        return w.astype(np.float16).view(np.uint16)
    if dtype == "F32":
        return w.astype(np.float32).view(np.uint32)
    if dtype == "F64":
        return w.astype(np.float64).view(np.uint64)
    if dtype in ("F8_E4M3", "F8_E5M2"):
        # plausible fp8: small exponents dominate
        e = np.clip(np.round(rng.normal(5, 1.5, n)), 0, 15).astype(np.uint8)
        m = rng.integers(0, 8, n).astype(np.uint8)
        sgn = rng.integers(0, 2, n).astype(np.uint8)
        return (sgn << 7) | (e << 3) | m
    raise ValueError(dtype)


def mixed_safetensors(rng, big: int = 70_000) -> bytes:
    """Every dtype, special values, empty and scalar tensors, odd lengths, metadata."""
    t = []
    for dt in ("BF16", "F16", "F32", "F64", "F8_E4M3", "F8_E5M2"):
        t.append((f"{dt}.special", dt, [len(special_bits(dt))], special_bits(dt).tobytes()))
        t.append((f"{dt}.weights", dt, [big // 7, 7], weight_bits(dt, big // 7 * 7, rng).tobytes()))
        t.append((f"{dt}.odd", dt, [13], weight_bits(dt, 13, rng).tobytes()))
        t.append((f"{dt}.empty", dt, [0, 5], b""))
        t.append((f"{dt}.scalar", dt, [], weight_bits(dt, 1, rng).tobytes()))
    t.append(("ids", "I64", [3, 5], np.arange(15, dtype=np.int64).tobytes()))
    t.append(("mask", "BOOL", [9], (np.arange(9) % 2).astype(np.bool_).tobytes()))
    t.append(("q", "I8", [4001], rng.integers(-128, 128, 4001).astype(np.int8).tobytes()))
    t.append(("bf16.small", "BF16", [300], weight_bits("BF16", 300, rng).tobytes()))
    t.append(("bf16.small2", "BF16", [301], weight_bits("BF16", 301, rng).tobytes()))
    return write_safetensors(t, {"format": "pt", "note": "squeeze test"})
