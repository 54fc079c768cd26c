"""numba kernels of the Binary BPE tokenizer: encoders and decoder.

Token ids: 0..255 are the byte values; merge ``r`` (0-based) makes token
``256 + r`` = bytes(left[r]) + bytes(right[r]).  Every kernel here is integer
only and deterministic.

The trainer that makes the merge lists is tooling, not runtime: it lives with the
other model-building scripts (models/train_binary_bpe.py).
"""

from __future__ import annotations

import numpy as np

from frappe_cli.jit import njit

EMPTY = np.int64(-1)
TOMB = np.int64(-2)
CHUNK_SHIFT = 13  # 8 KiB chunks: the chunk of position p is p >> 13


# --------------------------------------------------------------------------------------
# open-addressing pair table (keys int64 >= 0; -1 empty, -2 deleted)


@njit(cache=True, nogil=True, inline="always")
def _hash(key, mask):
    h = (key * np.int64(0x9E3779B97F4A7C15 - (1 << 64))) & np.int64(0x7FFFFFFFFFFFFFFF)
    return (h >> 20) & mask


@njit(cache=True, nogil=True)
def _probe(keys, key):
    """Slot of key, or -(slot+2) of the empty slot that ends its probe sequence."""
    mask = keys.shape[0] - 1
    i = _hash(key, mask)
    while True:
        k = keys[i]
        if k == key:
            return i
        if k == EMPTY:
            return -(i + 2)
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def _find(keys, key):
    """Slot of key, or -1."""
    i = _probe(keys, key)
    return i if i >= 0 else -1


@njit(cache=True, nogil=True)
def _find_or_insert(keys, key):
    """Slot of key, inserting it (into an empty slot) if absent; -(slot+2) flags a new one."""
    i = _probe(keys, key)
    if i < 0:
        keys[-(i + 2)] = key
    return i


# --------------------------------------------------------------------------------------
# binary max-heap of int64


@njit(cache=True, nogil=True)
def _heap_push(heap, n, v):
    if n == heap.shape[0]:
        nh = np.empty(heap.shape[0] * 2, np.int64)
        nh[:n] = heap[:n]
        heap = nh
    i = n
    heap[i] = v
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] >= v:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = v
    return heap, n + 1


@njit(cache=True, nogil=True)
def _sift_down(heap, i, n, v):
    """Place ``v`` at slot ``i`` of the max-heap ``heap[:n]``, moving it down."""
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and heap[c + 1] > heap[c]:
            c += 1
        if heap[c] <= v:
            break
        heap[i] = heap[c]
        i = c
    heap[i] = v


@njit(cache=True, nogil=True)
def _heap_pop(heap, n):
    top = heap[0]
    n -= 1
    if n > 0:
        _sift_down(heap, 0, n, heap[n])
    return top, n


# --------------------------------------------------------------------------------------
# decoder tables


@njit(cache=True, nogil=True)
def token_table(left, right):
    """(offsets int64[V+1], blob uint8) with bytes(t) = blob[off[t]:off[t+1]]."""
    m = left.shape[0]
    V = 256 + m
    ln = np.empty(V, np.int64)
    for b in range(256):
        ln[b] = 1
    for r in range(m):
        ln[256 + r] = ln[left[r]] + ln[right[r]]
    off = np.empty(V + 1, np.int64)
    off[0] = 0
    for t in range(V):
        off[t + 1] = off[t] + ln[t]
    blob = np.empty(off[V], np.uint8)
    for b in range(256):
        blob[b] = b
    for r in range(m):
        t = 256 + r
        a = left[r]
        c = right[r]
        o = off[t]
        for j in range(ln[a]):
            blob[o + j] = blob[off[a] + j]
        o += ln[a]
        for j in range(ln[c]):
            blob[o + j] = blob[off[c] + j]
    return off, blob


@njit(cache=True, nogil=True)
def decode_kernel(ids, off, blob, V):
    """Concatenate the tokens; returns (bytes, -1) or (empty, index of the first bad id)."""
    total = 0
    for i in range(ids.shape[0]):
        t = ids[i]
        if t < 0 or t >= V:
            return np.empty(0, np.uint8), i
        total += off[t + 1] - off[t]
    out = np.empty(total, np.uint8)
    o = 0
    for i in range(ids.shape[0]):
        t = ids[i]
        for j in range(off[t], off[t + 1]):
            out[o] = blob[j]
            o += 1
    return out, -1


# --------------------------------------------------------------------------------------
# exact merge-order encoder (the HF BPE model's algorithm)


@njit(cache=True, nogil=True)
def merge_table(left, right):
    """Pair key (left << 16 | right) -> rank, open addressing (keys, ranks)."""
    m = left.shape[0]
    cap = 1
    while cap < 4 * m + 16:
        cap *= 2
    keys = np.full(cap, EMPTY, np.int64)
    ranks = np.zeros(cap, np.int32)
    for r in range(m):
        k = (np.int64(left[r]) << 16) | right[r]
        s = _find_or_insert(keys, k)
        if s < 0:
            s = -(s + 2)
            ranks[s] = r
    return keys, ranks


@njit(cache=True, nogil=True)
def _rank_of(keys, ranks, a, b):
    s = _find(keys, (np.int64(a) << 16) | b)
    if s < 0:
        return -1
    return ranks[s]


@njit(cache=True, nogil=True)
def encode_exact_kernel(data, keys, ranks):
    """Repeatedly apply the lowest-rank merge, leftmost first (min-heap on (rank, pos))."""
    n = data.shape[0]
    if n == 0:
        return np.empty(0, np.int32)
    sym = np.empty(n, np.int32)
    nxt = np.empty(n, np.int64)
    prv = np.empty(n, np.int64)
    for i in range(n):
        sym[i] = data[i]
        nxt[i] = i + 1 if i + 1 < n else -1
        prv[i] = i - 1
    heap = np.empty(max(n, 16), np.int64)
    hn = 0
    for i in range(n - 1):
        r = _rank_of(keys, ranks, sym[i], sym[i + 1])
        if r >= 0:
            heap[hn] = (np.int64(r) << 32) | i
            hn += 1
    # heapify as a min-heap (store negated keys in the max-heap helpers)
    for i in range(hn):
        heap[i] = -heap[i]
    for i in range(hn // 2 - 1, -1, -1):
        _sift_down(heap, i, hn, heap[i])
    count = n
    while hn > 0:
        top, hn = _heap_pop(heap, hn)
        top = -top
        r = np.int32(top >> 32)
        p = top & np.int64(0xFFFFFFFF)
        if sym[p] < 0:
            continue
        q = nxt[p]
        if q < 0:
            continue
        if _rank_of(keys, ranks, sym[p], sym[q]) != r:
            continue
        t = 256 + r
        sym[p] = t
        sym[q] = -1
        rr = nxt[q]
        nxt[p] = rr
        if rr >= 0:
            prv[rr] = p
        count -= 1
        o = prv[p]
        if o >= 0:
            r2 = _rank_of(keys, ranks, sym[o], t)
            if r2 >= 0:
                heap, hn = _heap_push(heap, hn, -((np.int64(r2) << 32) | o))
        if rr >= 0:
            r2 = _rank_of(keys, ranks, t, sym[rr])
            if r2 >= 0:
                heap, hn = _heap_push(heap, hn, -((np.int64(r2) << 32) | p))
    out = np.empty(count, np.int32)
    k = 0
    i = 0
    while i >= 0:
        out[k] = sym[i]
        k += 1
        i = nxt[i]
    return out


# --------------------------------------------------------------------------------------
# greedy longest-match encoder over a trie


@njit(cache=True, nogil=True)
def build_trie(off, blob, V):
    """Trie of all tokens.

    Returns (lvl2 int32[65536]: node of a 2-byte prefix or -1, tok int32[nodes]: token
    ending at the node or -1, keys int64 / child int32: hash of (node << 8 | byte) -> node).
    Nodes of depth 1 are the bytes (node b = byte b, token b).
    """
    total = 0
    for t in range(V):
        total += off[t + 1] - off[t]
    cap = 1
    while cap < 4 * total + 64:
        cap *= 2
    keys = np.full(cap, EMPTY, np.int64)
    child = np.full(cap, -1, np.int32)
    lvl2 = np.full(65536, -1, np.int32)
    tok = np.full(total + 256, -1, np.int32)
    nodes = 256
    for b in range(256):
        tok[b] = b
    for t in range(256, V):
        s = off[t]
        ln = off[t + 1] - s
        k2 = (np.int64(blob[s]) << 8) | blob[s + 1]
        node = lvl2[k2]
        if node < 0:
            node = nodes
            nodes += 1
            lvl2[k2] = node
        for j in range(2, ln):
            k = (np.int64(node) << 8) | blob[s + j]
            slot = _find_or_insert(keys, k)
            if slot < 0:
                slot = -(slot + 2)
                child[slot] = nodes
                nodes += 1
            node = child[slot]
        tok[node] = t
    return lvl2, tok[:nodes].copy(), keys, child


@njit(cache=True, nogil=True)
def encode_greedy_kernel(data, lvl2, tok, keys, child, max_len):
    n = data.shape[0]
    out = np.empty(n, np.int32)
    k = 0
    i = 0
    mask = keys.shape[0] - 1
    while i < n:
        best = np.int32(data[i])
        blen = 1
        if i + 1 < n:
            node = lvl2[(np.int64(data[i]) << 8) | data[i + 1]]
            if node >= 0:
                if tok[node] >= 0:
                    best = tok[node]
                    blen = 2
                j = i + 2
                lim = min(n, i + max_len)
                while j < lim:
                    key = (np.int64(node) << 8) | data[j]
                    h = _hash(key, mask)
                    nd = -1
                    while True:
                        kk = keys[h]
                        if kk == key:
                            nd = child[h]
                            break
                        if kk == EMPTY:
                            break
                        h = (h + 1) & mask
                    if nd < 0:
                        break
                    node = nd
                    j += 1
                    if tok[node] >= 0:
                        best = tok[node]
                        blen = j - i
        out[k] = best
        k += 1
        i += blen
    return out[:k].copy()
