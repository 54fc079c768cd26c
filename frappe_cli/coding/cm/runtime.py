"""Running a CM configuration's kernel on one block (imports numpy/numba; load lazily).

Every configuration kernel takes the same leading arguments::

    kernel(buf, n, out, inp, enc, M, ac, rec, hid, did, mid, fid, aid, *extra)

(README.md: ``buf``/``out``/``inp``/``enc``/``M``/``ac``/``rec``; ``hid``..``aid``
the level's catalogue ids, ``ids``; ``extra`` whatever else the configuration
needs) and returns the encoder's byte count (-1: output overflow) or, decoding,
0 (clean end), -1 (the stream did not end where it should), -2 (it ran out of
input).  ``encode``/``decode``/``probabilities`` allocate the model, the coder and
the buffers, publish the progress and map those codes; a CM codec's block
coder (its module that codes one block through this runtime) only prepares
``buf`` and ``extra`` (and, for the executable codec, its block header and
transform).
"""

from __future__ import annotations

import numpy as np

from frappe_cli import progress
from frappe_cli.coding.cm import engine
from frappe_cli.coding.cm.config import block_spec
from frappe_cli.errors import CorruptError

NOREC = np.zeros(0, dtype=np.int32)
_NOBYTES = NOREC.view(np.uint8)


def ids(lv: dict) -> tuple:
    """``(hid, did, mid, fid, aid)``: a level's catalogue ids as the kernels take them."""
    return (np.array(lv["hashed"], dtype=np.int64), np.array(lv["direct"], dtype=np.int64),
            np.array(lv["mixers"], dtype=np.int64), int(lv["final"]),
            np.array(lv["apms"], dtype=np.int64))


def run(kernel, buf, out, inp, enc: int, lv: dict, extra: tuple = (), rec=NOREC) -> int:
    """One pass of ``kernel`` over ``buf`` with a fresh model sized for the block."""
    model = engine.new_model(block_spec(lv["cm"], buf.shape[0]))
    ac = engine.new_coder()
    with progress.tracking(ac, engine.PROGRESS):
        return kernel(buf, buf.shape[0], out, inp, enc, model, ac, rec, *ids(lv), *extra)


def encode(kernel, buf, lv: dict, extra: tuple = (), rec=NOREC):
    """The CM stream of ``buf`` (a uint8 array), or None if it would not fit in
    ``n + n/8 + 64`` bytes (the codec then stores the block raw)."""
    n = buf.shape[0]
    out = np.empty(n + (n >> 3) + 64, dtype=np.uint8)
    r = run(kernel, buf, out, _NOBYTES, 1, lv, extra, rec)
    if r < 0:
        return None
    return out[:r]


def decode(kernel, stream, size: int, lv: dict, what: str, extra: tuple = (), rec=NOREC):
    """The ``size`` bytes (a uint8 array) coded in ``stream`` (bytes-like); raises
    ``CorruptError`` naming ``what`` stream when it ends early or not cleanly."""
    inp = np.frombuffer(stream, dtype=np.uint8).copy()
    buf = np.zeros(size, dtype=np.uint8)
    r = run(kernel, buf, np.zeros(1, dtype=np.uint8), inp, 0, lv, extra, rec)
    if r == -2:
        raise CorruptError(f"Compressed data is corrupt ({what} stream ends too early)")
    if r != 0:
        raise CorruptError(f"Compressed data is corrupt ({what} stream does not end cleanly)")
    return buf


def probabilities(kernel, buf, lv: dict, extra: tuple = ()):
    """Per-bit P(1) seen by the encoder and by the decoder (tests): ``(enc, dec,
    decoded array)``."""
    n = buf.shape[0]
    rec_e = np.zeros(8 * n, dtype=np.int32)
    stream = encode(kernel, buf, lv, extra, rec_e)
    if stream is None:
        raise RuntimeError("output overflow")
    rec_d = np.zeros(8 * n, dtype=np.int32)
    dec = decode(kernel, stream, n, lv, "test", extra, rec_d)
    return rec_e, rec_d, dec
