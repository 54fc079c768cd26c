"""Train squeeze's Binary BPE merge lists (the exe codec's tokenizer family).

Byte-level BPE over the 8 KiB chunks of a corpus of executables; one 64K run
gives the nested 4K/8K/16K/32K/64K family (the first ``V - 256`` merges of the
list are the vocabulary of size ``V``).  The runtime side (loading, encoders,
decoder, HF export, ``squeeze tokenizer``) is ``squeeze_binary.tokenizer``;
this script is tooling and is not shipped in the wheel.

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

Stages, as models/train_frappe.py (files outside the repository, default
/work/bpe-train):

  train_binary_bpe.py train CORPUS...   # -> WORK/binary-bpe-64k.bpe (+ stats.json)
  train_binary_bpe.py export            # -> binary-bpe-64k-<sha>.bpe + MANIFEST.json in the
                                        #    codec's package data, codecs/squeeze_binary/models/

Data: the training set of corpora/binaries (``python corpora/binaries/build_corpus.py
DIR`` writes DIR/train and DIR/heldout; the held-out files are never trained on).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "codecs", ROOT / "models"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import manifest  # noqa: E402  (models/manifest.py)
import numpy as np  # noqa: E402
from squeeze_binary.bpe_kernels import (  # noqa: E402
    CHUNK_SHIFT,
    EMPTY,
    TOMB,
    _find,
    _find_or_insert,
    _hash,
    _heap_pop,
    _heap_push,
)
from squeeze_binary.cli import expand_inputs  # noqa: E402
from squeeze_binary.tokenizer import (  # noqa: E402
    CHUNK_SIZE,
    MAX_TOKEN_LEN,
    MAX_VOCAB,
    MIN_FREQ,
    SHIPPED_MODEL,
    BinaryBPE,
)

from frappe_cli.errors import OptionError  # noqa: E402
from frappe_cli.jit import njit  # noqa: E402

DEFAULT_WORK = "/work/bpe-train"
PACKAGE_MODELS = ROOT / "codecs" / "squeeze_binary" / "models"


# --------------------------------------------------------------------------------------
# the trainer kernel and its tables (the pair table and heap are the encoders', shared)


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
# corpus chunks and the training call


def chunk_corpus(files: Iterable, chunk_size: int = CHUNK_SIZE):
    """(data uint8 in 8 KiB-stride layout, lens int32, weights int64, stats) of the distinct
    chunks of the files; identical chunks are stored once with their count as weight."""
    if chunk_size != 1 << CHUNK_SHIFT:
        raise OptionError(f"the trainer uses {1 << CHUNK_SHIFT}-byte chunks")
    index: dict[bytes, int] = {}
    chunks: list[bytes] = []
    weights: list[int] = []
    total = nfiles = 0
    for f in files:
        data = Path(f).read_bytes() if not isinstance(f, (bytes, bytearray)) else bytes(f)
        nfiles += 1
        total += len(data)
        for i in range(0, len(data), chunk_size):
            c = data[i:i + chunk_size]
            j = index.get(c)
            if j is None:
                index[c] = len(chunks)
                chunks.append(c)
                weights.append(1)
            else:
                weights[j] += 1
    index.clear()
    n = len(chunks)
    buf = np.zeros(n * chunk_size, dtype=np.uint8)
    lens = np.empty(n, dtype=np.int32)
    for i, c in enumerate(chunks):
        buf[i * chunk_size:i * chunk_size + len(c)] = np.frombuffer(c, dtype=np.uint8)
        lens[i] = len(c)
    stats = {"files": nfiles, "bytes": total, "chunks": int(sum(weights)), "distinct_chunks": n,
             "distinct_bytes": int(lens.sum())}
    return buf, lens, np.asarray(weights, dtype=np.int64), stats


def train(files: Iterable, vocab_size: int = 65536, *, min_freq: int = MIN_FREQ,
          max_len: int = MAX_TOKEN_LEN, chunk_size: int = CHUNK_SIZE):
    """Train one merge list of up to ``vocab_size - 256`` merges; returns (BinaryBPE, stats).

    Fewer merges result when no pair reaches ``min_freq`` any more.
    """
    if not 256 < vocab_size <= MAX_VOCAB:
        raise OptionError(f"vocabulary size must be 257..{MAX_VOCAB}")
    if not 2 <= max_len <= 255 or min_freq < 1:
        raise OptionError("max_len must be 2..255 and min_freq >= 1")
    buf, lens, weights, stats = chunk_corpus(files, chunk_size)
    left, right, counts = train_kernel(buf, lens, weights, vocab_size - 256, min_freq,
                                       max_len)
    stats["merges"] = len(left)
    stats["last_count"] = int(counts[-1]) if len(counts) else 0
    tok = BinaryBPE(left, right, max_len=max_len, chunk_size=chunk_size, min_freq=min_freq)
    return tok, stats


# --------------------------------------------------------------------------------------
# stages


def cmd_train(args) -> None:
    """Train one merge list on files or folders; write it and its statistics to --work."""
    files = expand_inputs(args.inputs)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    tok, stats = train(files, args.vocab_size, min_freq=args.min_freq, max_len=args.max_len)
    stats["cpu_s"] = time.process_time() - t0
    out = work / f"{args.name}.bpe"
    tok.save(out)
    (work / f"{args.name}.stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    print(f"{stats['files']} files, {stats['bytes']:,} bytes ({stats['distinct_chunks']:,} "
          f"distinct 8 KiB chunks); {stats['merges']:,} merges (last count "
          f"{stats['last_count']}); vocabulary {tok.vocab_size}; {stats['cpu_s']:.1f} CPU s "
          f"-> {out}", file=sys.stderr)


def cmd_export(args) -> None:
    """Copy the trained list into the codec's package data under its content hash and
    record it in MANIFEST.json (frappe_cli/models.py checks name, size and sha256)."""
    src = Path(args.work) / f"{args.name}.bpe"
    blob = src.read_bytes()
    BinaryBPE.from_bytes(blob)  # a valid merge list
    final = manifest.ship(Path(args.out), args.name, blob, "bpe", made_by=args.made_by,
                          data=args.data, licence=args.licence)
    print(f"wrote {final} ({len(blob)} bytes)", file=sys.stderr)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one merge list on files or folders")
    t.add_argument("inputs", nargs="+", help="corpus files or folders")
    t.add_argument("--work", default=DEFAULT_WORK)
    t.add_argument("--name", default=SHIPPED_MODEL, help="file name of the list (no suffix)")
    t.add_argument("--vocab-size", "-V", type=int, default=MAX_VOCAB)
    t.add_argument("--min-freq", type=int, default=MIN_FREQ)
    t.add_argument("--max-len", type=int, default=MAX_TOKEN_LEN)
    e = sub.add_parser("export", help="the trained list -> package data + MANIFEST.json")
    e.add_argument("--work", default=DEFAULT_WORK)
    e.add_argument("--name", default=SHIPPED_MODEL, help="manifest name of the list")
    e.add_argument("--out", default=str(PACKAGE_MODELS))
    e.add_argument("--made-by", default="python corpora/binaries/build_corpus.py "
                   "/work/bincorpus && python models/train_binary_bpe.py train "
                   "/work/bincorpus/train && python models/train_binary_bpe.py export; "
                   "defaults: vocabulary 65536, 8 KiB chunks, min pair frequency 10, tokens "
                   "<= 16 bytes")
    e.add_argument("--data", default="Binary BPE training set of corpora/binaries "
                   "(manifest.json, set 'train')")
    e.add_argument("--licence", default="Debian main (DFSG-free) packages under their own "
                   "licences (per package in corpora/binaries/manifest.json); the merge list "
                   "is a statistic of that data")
    args = ap.parse_args(argv)
    {"train": cmd_train, "export": cmd_export}[args.cmd](args)


if __name__ == "__main__":
    main()
