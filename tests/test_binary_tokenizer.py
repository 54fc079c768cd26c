"""Binary BPE tokenizer: encoders, decoder, shipped family, HF export, CLI (the trainer:
tests/test_train_binary_bpe.py)."""

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from squeeze_binary import tokenizer as T
from squeeze_binary.tokenizer import BinaryBPE

from frappe_cli.errors import CorruptError
from frappe_cli.testing import corpus_file

SYSTEM_FILES = ["/usr/bin/ls", "/usr/bin/cat", "/usr/lib/x86_64-linux-gnu/libz.so.1"]


@pytest.fixture(scope="module")
def full():
    return BinaryBPE.shipped()


@pytest.fixture(scope="module")
def small(full):
    return full.truncate(4096)


def system_file(path, limit=None):
    p = Path(path)
    if not p.is_file():
        pytest.skip(f"{path} not on this machine")
    data = p.read_bytes()
    return data[:limit] if limit else data


# bytes that look like executables: many zeros, common opcodes, and anything else
exe_bytes = st.lists(st.one_of(st.sampled_from([0, 0, 0, 0xFF, 0x48, 0x89, 0x8B, 0xE8, 0x0F]),
                               st.integers(0, 255)), max_size=600).map(bytes)


# -- reference implementations (plain Python, slow) ----------------------------------------


def naive_merge_encode(tok, data):
    """Merge-order BPE: apply the lowest-rank pair, leftmost first, until none applies."""
    ranks = {(a, b): r for r, (a, b) in enumerate(zip(tok.left.tolist(), tok.right.tolist()))}
    seq = list(data)
    while True:
        best = None
        for i in range(len(seq) - 1):
            r = ranks.get((seq[i], seq[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return seq
        r, i = best
        # all occurrences of this merge, left to right, non-overlapping
        out, j = [], 0
        a, b = tok.left[r], tok.right[r]
        while j < len(seq):
            if j + 1 < len(seq) and seq[j] == a and seq[j + 1] == b:
                out.append(256 + r)
                j += 2
            else:
                out.append(seq[j])
                j += 1
        seq = out


# -- encoders / decoder ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(exe_bytes)
def test_roundtrip_every_byte_string(full, small, data):
    for tok in (small, full):
        for method in ("greedy", "exact"):
            ids = tok.encode(data, method)
            assert ids.dtype == np.int32
            assert tok.decode(ids) == data
            assert (ids < tok.vocab_size).all()
            assert int(tok.token_lengths()[ids].sum()) == len(data)


@settings(max_examples=60, deadline=None)
@given(exe_bytes)
def test_exact_encoder_is_merge_order_bpe(small, data):
    assert small.encode(data, "exact").tolist() == naive_merge_encode(small, data)


def test_edge_inputs(full):
    assert full.encode(b"", "exact").size == 0
    assert full.encode(b"", "greedy").size == 0
    assert full.decode([]) == b""
    every = bytes(range(256))
    for method in ("greedy", "exact"):
        assert full.decode(full.encode(every, method)) == every
        assert full.encode(b"\xab", method).tolist() == [0xAB]
    zeros = bytes(100_000)
    ids = full.encode(zeros)
    assert full.decode(ids) == zeros and len(ids) == 100_000 // 16  # 16-byte cap
    assert max(len(full.token_bytes(t)) for t in range(full.vocab_size)) == 16


def test_decode_rejects_foreign_ids(small):
    with pytest.raises(CorruptError):
        small.decode([1, 2, 4096])
    with pytest.raises(CorruptError):
        small.decode([-1])


def test_real_files_both_encoders(full):
    for path in SYSTEM_FILES:
        data = system_file(path, 300_000)
        g = full.encode(data, "greedy")
        e = full.encode(data, "exact")
        assert full.decode(g) == data and full.decode(e) == data
        # greedy longest match is within a few percent of merge-order BPE
        assert abs(len(g) - len(e)) < 0.05 * len(e)
        assert len(data) / len(e) > 2.3  # executables compress to well under half the symbols


def test_ooffice_roundtrip(full):
    data = corpus_file("silesia/ooffice").read_bytes()
    for v in (4096, 65536):
        tok = full.truncate(v)
        ids = tok.encode(data)
        assert tok.decode(ids) == data
    assert full.decode(full.encode(data[:400_000], "exact")) == data[:400_000]


def test_contexts(small):
    data = system_file("/usr/bin/ls", 20_000)
    ids = small.encode(data)
    b = small.boundaries(ids)
    assert b[0] == 0 and b[-1] == len(data)
    tok, off = small.byte_contexts(ids)
    assert len(tok) == len(off) == len(data)
    starts = np.flatnonzero(off == 0)
    assert starts.tolist() == b[:-1].tolist()
    assert (tok[starts] == ids).all()
    for i in random.Random(0).sample(range(len(data)), 50):
        t = int(tok[i])
        assert small.token_bytes(t)[off[i]] == data[i]


# -- family / model file ----------------------------------------------------------------------


def test_shipped_model_matches_manifest():
    from frappe_cli.models import manifest, model_path

    entry = manifest("squeeze_binary")[T.SHIPPED_MODEL]
    path = model_path("squeeze_binary", T.SHIPPED_MODEL)
    blob = path.read_bytes()
    assert hashlib.sha256(blob).hexdigest() == entry["sha256"] and len(blob) == entry["size"]
    assert path.name == f"binary-bpe-64k-{entry['sha256'][:16]}.bpe"
    tok = BinaryBPE.from_bytes(blob)
    assert tok.vocab_size == 65536 and tok.max_len == 16
    assert tok.chunk_size == 8192 and tok.min_freq == 10
    assert len(blob) == 32 + 4 * 65280
    assert tok.to_bytes() == blob


def test_nested_vocabularies(full):
    prev = None
    for v in T.FAMILY_SIZES:
        tok = full.truncate(v)
        assert tok.vocab_size == v
        assert (tok.left == full.left[: v - 256]).all()
        if prev is not None:
            # every token of the smaller vocabulary is a token (same id, same bytes) of this one
            for t in random.Random(v).sample(range(prev.vocab_size), 200):
                assert prev.token_bytes(t) == tok.token_bytes(t)
        prev = tok
    data = system_file("/usr/bin/ls", 50_000)
    sizes = [len(data) / len(full.truncate(v).encode(data)) for v in T.FAMILY_SIZES]
    assert sizes == sorted(sizes)  # bigger vocabulary, longer tokens


def test_corrupt_model_files(small):
    blob = small.to_bytes()
    assert BinaryBPE.from_bytes(blob).vocab_size == 4096
    rng = random.Random(3)
    for _ in range(40):
        b = bytearray(blob)
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        with pytest.raises(CorruptError):
            BinaryBPE.from_bytes(bytes(b))
    for cut in (0, 10, 31, 33, len(blob) - 1):
        with pytest.raises(CorruptError):
            BinaryBPE.from_bytes(blob[:cut])
    # a merge list that refers forward is refused even with a valid hash
    bad = BinaryBPE(np.array([65, 300]), np.array([66, 1]), validate=False).to_bytes()
    with pytest.raises(CorruptError):
        BinaryBPE.from_bytes(bad)


# -- Hugging Face export -----------------------------------------------------------------------


def test_hf_export_tokenizes_identically(full):
    tokenizers = pytest.importorskip("tokenizers")
    samples = [system_file(p, 60_000) for p in SYSTEM_FILES]
    samples.append(bytes(range(256)) * 3 + b"\x00" * 100)
    for v in (4096, 16384, 65536):
        tok = full.truncate(v)
        hf = tokenizers.Tokenizer.from_str(tok.to_hf_json())
        assert hf.get_vocab_size() == v
        for data in samples:
            ids = hf.encode(data.decode("latin-1")).ids
            assert ids == tok.encode(data, "exact").tolist()
            assert hf.decode(ids).encode("latin-1") == data


# -- CLI ----------------------------------------------------------------------------------------


def test_cli(tmp_path):
    from click.testing import CliRunner
    from squeeze_binary.cli import tokenizer

    data = system_file("/usr/bin/ls", 30_000)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    r = CliRunner()
    res = r.invoke(tokenizer, ["encode", "-V", "8192", "-o", str(tmp_path / "ids"), str(src)])
    assert res.exit_code == 0, res.output
    ids = np.frombuffer((tmp_path / "ids").read_bytes(), dtype="<u2")
    assert ids.max() < 8192
    res = r.invoke(tokenizer, ["decode", "-V", "8192", "-o", str(tmp_path / "out"),
                               str(tmp_path / "ids")])
    assert res.exit_code == 0 and (tmp_path / "out").read_bytes() == data
    res = r.invoke(tokenizer, ["encode", "--text", "--method", "exact", str(src)])
    assert res.exit_code == 0
    res = r.invoke(tokenizer, ["stats", "--json", "-V", "4096", str(src)])
    assert res.exit_code == 0
    row = json.loads(res.stdout)["rows"][0]
    assert row["vocab_size"] == 4096 and row["bytes"] == len(data)
    res = r.invoke(tokenizer, ["encode", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "squeeze: " in res.stderr and "missing" in res.stderr
    (tmp_path / "odd").write_bytes(b"\x01\x02\x03")
    res = r.invoke(tokenizer, ["decode", str(tmp_path / "odd")])
    assert res.exit_code == 1 and "Unexpected end of input" in res.stderr
    res = r.invoke(tokenizer, ["train", "-o", str(tmp_path / "t.bpe"), str(src)])
    assert res.exit_code != 0  # training is tooling: models/train_binary_bpe.py
    res = r.invoke(tokenizer, ["export-hf", "-V", "4096", "-o", str(tmp_path / "hf")])
    assert res.exit_code == 0 and (tmp_path / "hf" / "tokenizer-4096.json").is_file()
