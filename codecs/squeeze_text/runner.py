"""Glue between the codec and its numba kernels (imports numpy/numba; loaded lazily)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from frappe_cli import progress
from frappe_cli.coding.cm import engine
from frappe_cli.errors import CorruptError
from squeeze_text import kernels
from squeeze_text.levels import LEVELS

_NOREC = np.zeros(0, dtype=np.int32)


@lru_cache(maxsize=None)
def _ids(level: int):
    lv = LEVELS[level]
    return (np.array(lv["hashed"], dtype=np.int64), np.array(lv["direct"], dtype=np.int64),
            np.array(lv["mixers"], dtype=np.int64), int(lv["final"]),
            np.array(lv["apms"], dtype=np.int64))


def block_spec(level: int, n: int) -> dict:
    """The level's model spec with tables sized for an ``n``-byte block.

    Hash tables never exceed about one 3-slot line per (byte, context) pair and
    the match table two entries per byte, so small blocks start fast and stay
    small; the decoder derives the same sizes from the block's stored size.
    """
    spec = dict(LEVELS[level]["cm"])
    need = max(n * max(spec["hashed"], 1), 1)
    spec["hash_bits"] = min(spec["hash_bits"], max(12, need.bit_length()))
    if spec["match_bits"]:
        spec["match_bits"] = min(spec["match_bits"], max(10, (2 * n).bit_length()))
    return spec


def _run(buf, out, inp, enc: int, level: int, rec=_NOREC) -> int:
    model = engine.new_model(block_spec(level, buf.shape[0]))
    ac = engine.new_coder()
    with progress.tracking(ac, engine.PROGRESS):
        return kernels.text_code(buf, buf.shape[0], out, inp, enc, model, ac, rec,
                                 *_ids(level))


def compress(data: bytes, level: int) -> bytes | None:
    """The CM stream of ``data``, or None if it would not fit in ``len(data) + 1/8``."""
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    out = np.empty(len(data) + (len(data) >> 3) + 64, dtype=np.uint8)
    n = _run(buf, out, _NOREC.view(np.uint8), 1, level)
    if n < 0:
        return None
    return out[:n].tobytes()


def decompress(payload, size: int, level: int) -> bytes:
    inp = np.frombuffer(payload, dtype=np.uint8).copy()
    buf = np.zeros(size, dtype=np.uint8)
    r = _run(buf, np.zeros(1, dtype=np.uint8), inp, 0, level)
    if r == -2:
        raise CorruptError("Compressed data is corrupt (text stream ends too early)")
    if r != 0:
        raise CorruptError("Compressed data is corrupt (text stream does not end cleanly)")
    return buf.tobytes()


def probabilities(data: bytes, level: int) -> tuple[np.ndarray, np.ndarray, bytes]:
    """Per-bit P(1) seen by the encoder and by the decoder (tests): (enc, dec, decoded)."""
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    out = np.empty(len(data) + (len(data) >> 3) + 64, dtype=np.uint8)
    rec_e = np.zeros(8 * len(data), dtype=np.int32)
    n = _run(buf, out, _NOREC.view(np.uint8), 1, level, rec_e)
    if n < 0:
        raise RuntimeError("output overflow")
    rec_d = np.zeros(8 * len(data), dtype=np.int32)
    dec = np.zeros(len(data), dtype=np.uint8)
    r = _run(dec, np.zeros(1, dtype=np.uint8), out[:n].copy(), 0, level, rec_d)
    if r != 0:
        raise RuntimeError("decode failed")
    return rec_e, rec_d, dec.tobytes()
