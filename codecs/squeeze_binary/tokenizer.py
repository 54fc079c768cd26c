"""Binary BPE: byte-level BPE tokenizers for executables (Bommarito 2025, arXiv 2511.17573).

A tokenizer is an ordered merge list.  Token ids 0..255 are the byte values;
merge ``r`` makes token ``256 + r`` = bytes(left[r]) + bytes(right[r]).  The
first ``V - 256`` merges of a list form the vocabulary of size ``V``, so one
64K training run gives the nested 4K/8K/16K/32K/64K family.  Every token has
distinct bytes and at most ``max_len`` (16) bytes.

Encoders (both lossless: decoding is concatenation of token bytes):

* ``encode(data, "exact")``: merge-order BPE, the algorithm of the Hugging
  Face ``tokenizers`` BPE model (lowest rank first, leftmost first); gives the
  same ids as the exported ``tokenizer.json``.
* ``encode(data, "greedy")``: longest vocabulary match at each position (trie);
  several times faster, about the same bytes per token.

File format (``.bpe``; SPEC.md): 32-byte header + ``n_merges`` little-endian
u16 pairs.  Heavy imports (numpy, numba kernels) happen on first use.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from frappe_cli.errors import CorruptError, OptionError

MAGIC = b"SQBP"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sHHIII12s")  # magic, version, max_len, n_merges, chunk, min_freq, hash
FAMILY_SIZES = (4096, 8192, 16384, 32768, 65536)
MAX_VOCAB = 65536
CHUNK_SIZE = 8192
MIN_FREQ = 10
MAX_TOKEN_LEN = 16
#: name of the shipped family in models/MANIFEST.json
SHIPPED_MODEL = "binary-bpe-64k"


def _np():
    import numpy as np

    return np


def _k():
    from squeeze_binary import bpe_kernels

    return bpe_kernels


class BinaryBPE:
    """An ordered merge list and its encoders/decoder."""

    def __init__(self, left, right, *, max_len: int = MAX_TOKEN_LEN, chunk_size: int = CHUNK_SIZE,
                 min_freq: int = MIN_FREQ, validate: bool = True):
        np = _np()
        self.left = np.ascontiguousarray(left, dtype=np.int32)
        self.right = np.ascontiguousarray(right, dtype=np.int32)
        if self.left.shape != self.right.shape or self.left.ndim != 1:
            raise OptionError("merge lists must be two 1-D arrays of one length")
        if 256 + len(self.left) > MAX_VOCAB:
            raise OptionError(f"at most {MAX_VOCAB - 256} merges")
        self.max_len = int(max_len)
        self.chunk_size = int(chunk_size)
        self.min_freq = int(min_freq)
        if validate:
            self._validate()
        self._off = self._blob = None
        self._merge = None
        self._trie = None

    # -- construction -----------------------------------------------------------------
    def _validate(self) -> None:
        np = _np()
        m = len(self.left)
        ranks = np.arange(m, dtype=np.int64) + 256
        if m and ((self.left < 0).any() or (self.right < 0).any()
                  or (self.left >= ranks).any() or (self.right >= ranks).any()):
            raise CorruptError("Compressed data is corrupt (BPE merge refers to a later token)")
        off, blob = _k().token_table(self.left, self.right)
        lens = np.diff(off)
        if m and lens.max() > self.max_len:
            raise CorruptError("Compressed data is corrupt (BPE token longer than its maximum)")
        seen = set()
        mv = memoryview(blob)
        for t in range(256 + m):
            b = bytes(mv[off[t]:off[t + 1]])
            if b in seen:
                raise CorruptError("Compressed data is corrupt (two BPE tokens with equal bytes)")
            seen.add(b)
        self._off, self._blob = off, blob

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.left)

    def truncate(self, vocab_size: int) -> BinaryBPE:
        """The nested smaller vocabulary: the first ``vocab_size - 256`` merges."""
        if not 256 <= vocab_size <= self.vocab_size:
            raise OptionError(f"vocabulary size must be 256..{self.vocab_size}, not {vocab_size}")
        m = vocab_size - 256
        return BinaryBPE(self.left[:m], self.right[:m], max_len=self.max_len,
                         chunk_size=self.chunk_size, min_freq=self.min_freq, validate=False)

    # -- serialisation -----------------------------------------------------------------
    def to_bytes(self) -> bytes:
        np = _np()
        body = np.empty(2 * len(self.left), dtype="<u2")
        body[0::2] = self.left
        body[1::2] = self.right
        body = body.tobytes()
        head = HEADER.pack(MAGIC, FORMAT_VERSION, self.max_len, len(self.left), self.chunk_size,
                           self.min_freq, hashlib.sha256(body).digest()[:12])
        return head + body

    @classmethod
    def from_bytes(cls, blob: bytes, vocab_size: int | None = None) -> BinaryBPE:
        np = _np()
        if len(blob) < HEADER.size:
            raise CorruptError("Unexpected end of input (BPE model header)")
        magic, ver, max_len, m, chunk, minf, digest = HEADER.unpack_from(blob)
        if magic != MAGIC:
            raise CorruptError("File format not recognized (not a squeeze BPE model)")
        if ver != FORMAT_VERSION:
            raise CorruptError(f"Unsupported options (BPE model version {ver})")
        if m > MAX_VOCAB - 256 or not 2 <= max_len <= 255:
            raise CorruptError("Compressed data is corrupt (BPE model header)")
        body = blob[HEADER.size:]
        if len(body) != 4 * m:
            raise CorruptError("Compressed data is corrupt (BPE model size)")
        if hashlib.sha256(body).digest()[:12] != digest:
            raise CorruptError("Compressed data is corrupt (BPE model hash)")
        pairs = np.frombuffer(body, dtype="<u2").astype(np.int32)
        tok = cls(pairs[0::2], pairs[1::2], max_len=max_len, chunk_size=chunk, min_freq=minf)
        return tok if vocab_size is None else tok.truncate(vocab_size)

    @classmethod
    def load(cls, path, vocab_size: int | None = None) -> BinaryBPE:
        return cls.from_bytes(Path(path).read_bytes(), vocab_size)

    def save(self, path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def shipped(cls, vocab_size: int = 65536) -> BinaryBPE:
        """The family shipped in models/ (64K list), cut to ``vocab_size``."""
        from frappe_cli.models import model_path

        full = _load_shipped(str(model_path("squeeze_binary", SHIPPED_MODEL)))
        return full if vocab_size == full.vocab_size else full.truncate(vocab_size)

    # -- tables ------------------------------------------------------------------------
    def _table(self):
        if self._off is None:
            self._off, self._blob = _k().token_table(self.left, self.right)
        return self._off, self._blob

    def token_bytes(self, t: int) -> bytes:
        off, blob = self._table()
        if not 0 <= t < self.vocab_size:
            raise OptionError(f"token id {t} out of range")
        return blob[off[t]:off[t + 1]].tobytes()

    def token_lengths(self):
        """int64 array: byte length of every token id."""
        off, _ = self._table()
        return _np().diff(off)

    # -- encoding / decoding -----------------------------------------------------------
    def encode(self, data, method: str = "greedy"):
        """Token ids (int32 array) of ``data`` (bytes-like or uint8 array)."""
        np = _np()
        arr = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) \
            else np.ascontiguousarray(data, dtype=np.uint8)
        if method == "exact":
            if self._merge is None:
                self._merge = _k().merge_table(self.left, self.right)
            return _k().encode_exact_kernel(arr, *self._merge)
        if method == "greedy":
            if self._trie is None:
                off, blob = self._table()
                self._trie = _k().build_trie(off, blob, self.vocab_size)
            return _k().encode_greedy_kernel(arr, *self._trie, max(2, self.max_len))
        raise OptionError(f"unknown encoder '{method}' (exact or greedy)")

    def decode(self, ids) -> bytes:
        np = _np()
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        off, blob = self._table()
        out, bad = _k().decode_kernel(ids, off, blob, self.vocab_size)
        if bad >= 0:
            raise CorruptError(f"Compressed data is corrupt (token id {int(ids[bad])} is not in "
                               f"the {self.vocab_size}-token vocabulary)")
        return out.tobytes()

    # -- contexts for models -------------------------------------------------------------
    def boundaries(self, ids):
        """int64 array of len(ids) + 1: byte offset where each token starts, then the end."""
        np = _np()
        lens = self.token_lengths()[np.asarray(ids, dtype=np.int64)]
        out = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=out[1:])
        return out

    def byte_contexts(self, ids):
        """Per byte of the decoded data: (id of the token covering it, offset inside it).

        ``offset == 0`` marks a token boundary.  Arrays are int32, one entry per byte.
        """
        np = _np()
        ids = np.asarray(ids, dtype=np.int64)
        lens = self.token_lengths()[ids]
        starts = np.zeros(len(ids), dtype=np.int64)
        if len(ids):
            np.cumsum(lens[:-1], out=starts[1:])
        tok = np.repeat(ids.astype(np.int32), lens)
        pos = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(starts, lens)
        return tok, pos.astype(np.int32)

    # -- Hugging Face export -----------------------------------------------------------
    def to_hf_json(self) -> str:
        """A ``tokenizer.json`` for the HF ``tokenizers`` library (BPE model, latin-1 symbols).

        Each byte b is the character chr(b); there is no normaliser, pre-tokeniser or
        special token.  Encode with ``tok.encode(data.decode("latin-1"))`` and decode with
        ``tok.decode(ids).encode("latin-1")`` (the Fuse decoder joins tokens).
        """
        import json

        off, blob = self._table()
        raw = blob.tobytes()
        strs = [raw[off[t]:off[t + 1]].decode("latin-1") for t in range(self.vocab_size)]
        vocab = {s: i for i, s in enumerate(strs)}
        merges = [[strs[a], strs[b]] for a, b in zip(self.left.tolist(), self.right.tolist())]
        doc = {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
            "normalizer": None, "pre_tokenizer": None, "post_processor": None,
            "decoder": {"type": "Fuse"},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": merges},
        }
        return json.dumps(doc, ensure_ascii=True)

    def __repr__(self) -> str:
        return f"<BinaryBPE vocab={self.vocab_size} max_len={self.max_len}>"


_SHIPPED: dict[str, BinaryBPE] = {}


def _load_shipped(path: str) -> BinaryBPE:
    if path not in _SHIPPED:
        _SHIPPED[path] = BinaryBPE.load(path)
    return _SHIPPED[path]
