"""The text codec's block coder: one block through its numba CM kernel (imports
numpy/numba; loaded lazily).

``lv`` is a level of ``levels.LEVELS``; the shared CM runtime
(``frappe_cli.coding.cm.runtime``) sizes the model, runs the kernel and checks
the stream's end.
"""

from __future__ import annotations

import numpy as np

from frappe_cli.coding.cm import runtime
from squeeze_text.kernels import text_code


def compress(data: bytes, lv: dict) -> bytes | None:
    """The CM stream of ``data``, or None if it would not fit in ``len(data) + 1/8``."""
    out = runtime.encode(text_code, np.frombuffer(data, dtype=np.uint8).copy(), lv)
    return None if out is None else out.tobytes()


def decompress(payload, size: int, lv: dict) -> bytes:
    return runtime.decode(text_code, payload, size, lv, "text").tobytes()


def probabilities(data: bytes, lv: dict) -> tuple[np.ndarray, np.ndarray, bytes]:
    """Per-bit P(1) seen by the encoder and by the decoder (tests): (enc, dec, decoded)."""
    rec_e, rec_d, dec = runtime.probabilities(
        text_code, np.frombuffer(data, dtype=np.uint8).copy(), lv)
    return rec_e, rec_d, dec.tobytes()
