"""The self-describing chunked stream of the bulk coders, once for ``rans`` and ``huffman``.

Layout (``nbutil``'s docstring): a 9-byte header, then one record per chunk
(RAW, CONST, TABLE or REUSE).  Each coder brings its own chunk encoder
(``rans.encode_chunk``, ``huffman.encode_chunk``: what a TABLE record's table
and body hold); the stream loop, the record decoder and the Python checks are
here.  ``coder`` selects the coder inside the kernels (a branch per chunk), so
that every kernel is compiled once and cached (numba cannot cache a kernel
that receives another kernel as an argument).

``rans.encode``/``decode`` and ``huffman.encode``/``decode`` are the entry
points; this module imports both coders (imports numba: load lazily).
"""

from __future__ import annotations

import numpy as np

from frappe_cli.coding import huffman, rans
from frappe_cli.coding.nbutil import (
    get_u32,
    MAX_CHUNK,
    max_encoded_size,
    open_record,
    put_u32,
    REC,
    REC_CONST,
    REC_RAW,
    REC_REUSE,
    REC_TABLE,
    STREAM_HEAD,
)
from frappe_cli.coding.quant import cost_table_nb
from frappe_cli.jit import njit

RANS, HUFFMAN = 0, 1
PARAM = (rans.PROB_BITS, huffman.MAX_LEN)  # the header's u8 of each coder
NAME = ("rANS", "Huffman")
TAB = max(1 << rans.PROB_BITS, huffman.TAB_SIZE)  # decode table entries (uint32) for both


@njit(cache=True, nogil=True)
def encode_stream_nb(coder, sym, chunk, out):
    """The whole stream of ``sym`` at ``out[0]``; returns its end."""
    n = sym.shape[0]
    put_u32(out, 0, n)
    put_u32(out, 4, chunk)
    m = min(chunk, max(n, 1))
    if coder == RANS:
        out[8] = np.uint8(rans.PROB_BITS)
        cost = cost_table_nb(rans.PROB_BITS)
        scratch = np.empty(2 * m + 64, np.uint8)
    else:
        out[8] = np.uint8(huffman.MAX_LEN)
        cost = np.empty(0, np.int64)  # (rANS only)
        scratch = np.empty(huffman.body_bound(m), np.uint8)
    prev = np.zeros(256, np.int64)  # the table of the last TABLE record
    have_prev = False
    pos = STREAM_HEAD
    for a in range(0, n, chunk):
        part = sym[a:min(a + chunk, n)]
        if coder == RANS:
            pos, have_prev = rans.encode_chunk(part, cost, prev, have_prev, out, pos, scratch)
        else:
            pos, have_prev = huffman.encode_chunk(part, prev, have_prev, out, pos, scratch)
    return pos


@njit(cache=True, nogil=True)
def decode_record(coder, buf, pos, end, prev, have_prev, t1, tab, out):
    """Decode the record at ``buf[pos]`` into ``out`` (its length = symbol count).

    ``prev`` holds the table of the last TABLE record, ``t1``/``tab`` its decode
    tables.  Returns (end position or -1 on corruption, have_prev).
    """
    mode, body, bend = open_record(buf, pos, end, out)
    if bend < 0 or mode == REC_RAW or mode == REC_CONST:
        return bend, have_prev
    if mode == REC_TABLE:
        if coder == RANS:
            p = rans.read_table(buf, body, bend, prev, tab)
        else:
            p = huffman.read_table(buf, body, bend, prev, t1, tab)
        if p < 0:
            return -1, False
        have_prev = True
    elif mode == REC_REUSE:
        if not have_prev:
            return -1, have_prev
        p = body
    else:
        return -1, have_prev
    if coder == RANS:
        ok = rans.decode_core(buf, p, bend, tab, out) == 0
    else:
        ok = huffman.decode_body(buf, p, bend, t1, tab, out) == 0
    if not ok:
        return -1, have_prev
    return bend, have_prev


@njit(cache=True, nogil=True)
def decode_stream_nb(coder, buf, n, chunk, out):
    """Decode the records of a stream (header checked) into ``out``; 0, or -1 on corruption."""
    prev = np.zeros(256, np.int64)
    t1 = np.zeros(huffman.TAB_SIZE if coder == HUFFMAN else 0, np.uint16)  # (Huffman only)
    tab = np.zeros(TAB, np.uint32)
    pos = STREAM_HEAD
    end = buf.shape[0]
    have_prev = False
    for a in range(0, n, chunk):
        pos, have_prev = decode_record(coder, buf, pos, end, prev, have_prev, t1, tab,
                                       out[a:min(a + chunk, n)])
        if pos < 0:
            return -1
    if pos != end:
        return -1
    return 0


def encode(symbols, chunk: int, coder: int) -> bytes:
    """Code a uint8 array (or bytes) as a self-describing chunked stream of ``coder``."""
    if isinstance(symbols, (bytes, bytearray, memoryview)):
        symbols = np.frombuffer(symbols, np.uint8)
    sym = np.ascontiguousarray(symbols)
    if sym.dtype != np.uint8 or sym.ndim != 1:
        raise ValueError("symbols must be a 1-D uint8 array")
    if not 1 <= chunk <= MAX_CHUNK:
        raise ValueError(f"chunk must be 1..{MAX_CHUNK}")
    if sym.shape[0] >= 1 << 32:
        raise ValueError("too many symbols for one stream (< 2^32)")
    out = np.empty(max_encoded_size(sym.shape[0], chunk), np.uint8)
    end = encode_stream_nb(coder, sym, chunk, out)
    return out[:end].tobytes()


def decode(blob, n: int | None, max_symbols: int, coder: int) -> np.ndarray:
    """Invert ``encode``; ``n`` (if given) must match the stored symbol count.

    Without ``n`` the stored count may not exceed ``max_symbols`` (the output
    is allocated from it).  Raises ``CorruptError`` (naming the coder) on any
    inconsistency and never reads out of bounds.
    """
    def corrupt(what: str):
        from frappe_cli.errors import CorruptError

        return CorruptError(f"Compressed data is corrupt ({NAME[coder]} {what})")

    buf = np.frombuffer(blob, np.uint8)
    if buf.shape[0] < STREAM_HEAD:
        raise corrupt("stream header truncated")
    cnt = int(get_u32(buf, 0))
    chunk = int(get_u32(buf, 4))
    if n is not None and cnt != n:
        raise corrupt("symbol count mismatch")
    if n is None and cnt > max_symbols:
        raise corrupt("symbol count too large")
    if not 1 <= chunk <= MAX_CHUNK or buf[8] != PARAM[coder]:
        raise corrupt("stream header invalid")
    if STREAM_HEAD + (REC + 1) * (-(-cnt // chunk)) > buf.shape[0]:
        raise corrupt("stream truncated")
    out = np.empty(cnt, np.uint8)
    if decode_stream_nb(coder, buf, cnt, chunk, out) != 0:
        raise corrupt("stream")
    return out
