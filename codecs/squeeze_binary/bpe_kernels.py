"""numba kernels of the Binary BPE tokenizer: trainer, encoders, decoder.

Token ids: 0..255 are the byte values; merge ``r`` (0-based) makes token
``256 + r`` = bytes(left[r]) + bytes(right[r]).  Every kernel here is integer
only and deterministic.

Trainer (``train_kernel``): byte-level BPE over independent sequences (the
8 KiB chunks), weighted by how often each distinct chunk occurs, with
incremental pair counts:

* every position holds a symbol and doubly linked neighbours inside its chunk;
* an open-addressing table maps a pair key ``left << 16 | right`` to its
  weighted count and to a linked list of candidate positions ("records");
* a max-heap of ``count << 32 | (0xFFFFFFFF - key)`` picks the most frequent
  pair, ties to the smallest (left, right), as the HF trainer does; stale heap
  entries are re-pushed with the current count when popped;
* a pair gains occurrences only in the step that creates its newer token, so at
  the end of that step a pair below the minimum frequency (or longer than the
  maximum token length) can never be chosen: it is dropped from the table and
  gets no records.  This keeps memory near the corpus size;
* a pair whose bytes equal an existing token, or that is too long, is never
  merged (every token has distinct bytes, so token id == 256 + rank).
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
def _find(keys, key):
    mask = keys.shape[0] - 1
    i = _hash(key, mask)
    while True:
        k = keys[i]
        if k == key:
            return i
        if k == EMPTY:
            return -1
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def _find_or_insert(keys, key):
    """Slot of key, inserting it (into an empty slot) if absent; -(slot+2) flags a new one."""
    mask = keys.shape[0] - 1
    i = _hash(key, mask)
    while True:
        k = keys[i]
        if k == key:
            return i
        if k == EMPTY:
            keys[i] = key
            return -(i + 2)
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def _rehash(keys, cnt, head, cap):
    nk = np.full(cap, EMPTY, np.int64)
    nc = np.zeros(cap, np.int64)
    nh = np.full(cap, -1, np.int64)
    mask = cap - 1
    live = 0
    for s in range(keys.shape[0]):
        k = keys[s]
        if k >= 0 and cnt[s] > 0:
            i = _hash(k, mask)
            while nk[i] != EMPTY:
                i = (i + 1) & mask
            nk[i] = k
            nc[i] = cnt[s]
            nh[i] = head[s]
            live += 1
    return nk, nc, nh, live


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
# token byte strings (<= 16 bytes) and their hash set


@njit(cache=True, nogil=True)
def _bytes_hash(tb, tl, t, mask):
    h = np.int64(1469598103934665603)
    for j in range(tl[t]):
        h = (h ^ np.int64(tb[t, j])) * np.int64(1099511628211)
    h = (h ^ np.int64(tl[t])) * np.int64(1099511628211)
    return ((h & np.int64(0x7FFFFFFFFFFFFFFF)) >> 17) & mask


@njit(cache=True, nogil=True)
def _same_bytes(tb, tl, a, b):
    if tl[a] != tl[b]:
        return False
    for j in range(tl[a]):
        if tb[a, j] != tb[b, j]:
            return False
    return True


@njit(cache=True, nogil=True)
def _bytes_lookup(bset, tb, tl, t):
    """Id of an existing token with the bytes of slot t, else -1."""
    mask = bset.shape[0] - 1
    i = _bytes_hash(tb, tl, t, mask)
    while bset[i] >= 0:
        if _same_bytes(tb, tl, bset[i], t):
            return bset[i]
        i = (i + 1) & mask
    return -1


@njit(cache=True, nogil=True)
def _bytes_insert(bset, tb, tl, t):
    mask = bset.shape[0] - 1
    i = _bytes_hash(tb, tl, t, mask)
    while bset[i] >= 0:
        i = (i + 1) & mask
    bset[i] = t


# --------------------------------------------------------------------------------------
# trainer


@njit(cache=True, nogil=True)
def train_kernel(data, lens, weights, n_merges, min_freq, max_len):
    """Learn up to ``n_merges`` merges.

    data: uint8, chunk c at [c << 13, (c << 13) + lens[c]); weights: int64 per chunk.
    Returns (left int32[m], right int32[m], counts int64[m]).
    """
    nch = lens.shape[0]
    N = nch << CHUNK_SHIFT
    V = 256 + n_merges
    sym = np.full(N, -1, np.int32)
    nxt = np.full(N, -1, np.int32)
    prv = np.full(N, -1, np.int32)
    for c in range(nch):
        base = c << CHUNK_SHIFT
        L = lens[c]
        for j in range(L):
            sym[base + j] = data[base + j]
            if j > 0:
                prv[base + j] = base + j - 1
            if j + 1 < L:
                nxt[base + j] = base + j + 1

    # initial byte-pair counts (dense)
    dense = np.zeros(65536, np.int64)
    for c in range(nch):
        base = c << CHUNK_SHIFT
        w = weights[c]
        for j in range(lens[c] - 1):
            dense[(np.int64(data[base + j]) << 8) | data[base + j + 1]] += w

    cap = 1 << 20
    keys = np.full(cap, EMPTY, np.int64)
    cnt = np.zeros(cap, np.int64)
    head = np.full(cap, -1, np.int64)
    used = 0
    heap = np.empty(1 << 16, np.int64)
    hn = 0
    for pb in range(65536):
        if dense[pb] >= min_freq:
            key = (np.int64(pb >> 8) << 16) | (pb & 255)
            s = _find_or_insert(keys, key)
            s = -(s + 2)
            cnt[s] = dense[pb]
            used += 1
            heap, hn = _heap_push(heap, hn, (dense[pb] << 32) | (np.int64(0xFFFFFFFF) - key))

    # records: position + next record, one list per pair.  At most N initial records
    # and two per merge application (<= N), so 3N bounds the pool; untouched pages of
    # np.empty cost no memory.
    rpos = np.empty(3 * N + 16, np.int32)
    rnext = np.empty(3 * N + 16, np.int32)
    rn = 0
    for c in range(nch):
        base = c << CHUNK_SHIFT
        for j in range(lens[c] - 1):
            p = base + j
            pb = (np.int64(data[p]) << 8) | data[p + 1]
            if dense[pb] >= min_freq:
                key = (np.int64(data[p]) << 16) | data[p + 1]
                s = _find(keys, key)
                rpos[rn] = p
                rnext[rn] = head[s]
                head[s] = rn
                rn += 1

    # token bytes
    tb = np.zeros((V, max_len), np.uint8)
    tl = np.zeros(V, np.int32)
    bset = np.full(1 << 18, -1, np.int32)
    for b in range(256):
        tb[b, 0] = b
        tl[b] = 1
        _bytes_insert(bset, tb, tl, b)

    out_l = np.empty(n_merges, np.int32)
    out_r = np.empty(n_merges, np.int32)
    out_c = np.empty(n_merges, np.int64)
    m = 0
    occ = np.empty(1024, np.int64)
    newpos = np.empty(2048, np.int64)
    newkey = np.empty(2048, np.int64)
    while m < n_merges and hn > 0:
        top, hn = _heap_pop(heap, hn)
        count = top >> 32
        key = np.int64(0xFFFFFFFF) - (top & np.int64(0xFFFFFFFF))
        s = _find(keys, key)
        if s < 0:
            continue
        cur = cnt[s]
        if cur != count:
            if cur >= min_freq:
                heap, hn = _heap_push(heap, hn, (cur << 32) | (np.int64(0xFFFFFFFF) - key))
            continue
        A = np.int32(key >> 16)
        B = np.int32(key & 0xFFFF)
        T = 256 + m
        # bytes of the candidate token
        if tl[A] + tl[B] > max_len:
            keys[s] = TOMB
            cnt[s] = 0
            continue
        for j in range(tl[A]):
            tb[T, j] = tb[A, j]
        for j in range(tl[B]):
            tb[T, tl[A] + j] = tb[B, j]
        tl[T] = tl[A] + tl[B]
        if _bytes_lookup(bset, tb, tl, T) >= 0:
            keys[s] = TOMB
            cnt[s] = 0
            tl[T] = 0
            continue
        _bytes_insert(bset, tb, tl, T)
        out_l[m] = A
        out_r[m] = B
        out_c[m] = cur
        m += 1

        # collect the valid occurrences
        no = 0
        r = head[s]
        while r >= 0:
            p = rpos[r]
            q = nxt[p]
            if sym[p] == A and q >= 0 and sym[q] == B:
                if no == occ.shape[0]:
                    t3 = np.empty(no * 2, np.int64)
                    t3[:no] = occ[:no]
                    occ = t3
                occ[no] = p
                no += 1
            r = rnext[r]
        if A == B:
            occ[:no].sort()
        if newpos.shape[0] < 2 * no + 2:
            newpos = np.empty(2 * no + 2, np.int64)
            newkey = np.empty(2 * no + 2, np.int64)
        nn = 0
        for i in range(no):
            p = occ[i]
            q = nxt[p]
            if sym[p] != A or q < 0 or sym[q] != B:
                continue  # consumed by the previous occurrence (A == B runs)
            w = weights[p >> CHUNK_SHIFT]
            o = prv[p]
            rr = nxt[q]
            if o >= 0:
                so = np.int64(sym[o])
                k1 = _find(keys, (so << 16) | A)
                if k1 >= 0:
                    cnt[k1] -= w
                if tl[so] + tl[T] <= max_len:
                    k2 = _find_or_insert(keys, (so << 16) | T)
                    if k2 < 0:
                        k2 = -(k2 + 2)
                        used += 1
                    cnt[k2] += w
                    newpos[nn] = o
                    newkey[nn] = (so << 16) | T
                    nn += 1
            if rr >= 0:
                sr = np.int64(sym[rr])
                k1 = _find(keys, (np.int64(B) << 16) | sr)
                if k1 >= 0:
                    cnt[k1] -= w
                if tl[T] + tl[sr] <= max_len:
                    k2 = _find_or_insert(keys, (np.int64(T) << 16) | sr)
                    if k2 < 0:
                        k2 = -(k2 + 2)
                        used += 1
                    cnt[k2] += w
                    newpos[nn] = p
                    newkey[nn] = (np.int64(T) << 16) | sr
                    nn += 1
            cnt[s] -= w
            sym[p] = T
            sym[q] = -1
            nxt[p] = rr
            nxt[q] = -1
            prv[q] = -1
            if rr >= 0:
                prv[rr] = p
        # the merged pair is gone
        keys[s] = TOMB
        cnt[s] = 0
        head[s] = -1
        # keep the new pairs that can still be chosen; drop the others for good
        for i in range(nn):
            k = newkey[i]
            ks = _find(keys, k)
            if ks < 0:
                continue
            c2 = cnt[ks]
            if c2 < min_freq:
                keys[ks] = TOMB
                cnt[ks] = 0
                continue
            if head[ks] == -1:
                # first record of this (new) pair: push it on the heap once
                heap, hn = _heap_push(heap, hn, (c2 << 32) | (np.int64(0xFFFFFFFF) - k))
            rpos[rn] = newpos[i]
            rnext[rn] = head[ks]
            head[ks] = rn
            rn += 1
        # table maintenance: rebuild when half full (drops deleted and empty slots)
        if used * 2 > keys.shape[0]:
            live = 0
            for i in range(keys.shape[0]):
                if keys[i] >= 0 and cnt[i] > 0:
                    live += 1
            newcap = keys.shape[0]
            while live * 4 > newcap:
                newcap *= 2
            keys, cnt, head, used = _rehash(keys, cnt, head, newcap)
    return out_l[:m].copy(), out_r[:m].copy(), out_c[:m].copy()


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
