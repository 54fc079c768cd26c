"""The Binary BPE trainer (models/train_binary_bpe.py: tooling, not in the wheel)."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from squeeze_binary.tokenizer import BinaryBPE

from models import train_binary_bpe as T

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "models" / "train_binary_bpe.py"
SYSTEM_FILES = ["/usr/bin/ls", "/usr/bin/cat", "/usr/lib/x86_64-linux-gnu/libz.so.1"]


def system_file(path):
    p = Path(path)
    if not p.is_file():
        pytest.skip(f"{path} not on this machine")
    return p.read_bytes()


def naive_train(chunks, n_merges, min_freq, max_len):
    """Weighted-by-repetition byte BPE with the trainer's rules, by full recounts."""
    seqs = [[bytes([b]) for b in c] for c in chunks]
    ids = {bytes([b]): b for b in range(256)}
    inv = {b: bytes([b]) for b in range(256)}
    out = []
    while len(out) < n_merges:
        counts = {}
        for s in seqs:
            for x, y in zip(s, s[1:]):
                counts[(ids[x], ids[y])] = counts.get((ids[x], ids[y]), 0) + 1
        cands = [(c, p) for p, c in counts.items()
                 if len(inv[p[0]] + inv[p[1]]) <= max_len and inv[p[0]] + inv[p[1]] not in ids]
        if not cands:
            break
        c, p = max(cands, key=lambda x: (x[0], -x[1][0], -x[1][1]))
        if c < min_freq:
            break
        a, b = inv[p[0]], inv[p[1]]
        new = a + b
        ids[new] = 256 + len(out)
        inv[256 + len(out)] = new
        out.append(p)
        for s in seqs:
            r, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    r.append(new)
                    i += 2
                else:
                    r.append(s[i])
                    i += 1
            s[:] = r
    return out


# -- trainer ----------------------------------------------------------------------------------


def test_trainer_matches_reference():
    rng = random.Random(5)
    for _ in range(25):
        alpha = rng.choice([b"ab", b"abc", b"\x00\x01\xff", b"aaab"])
        chunks = [bytes(rng.choice(alpha) for _ in range(rng.randint(0, 300)))
                  for _ in range(rng.randint(1, 5))]
        chunks += chunks[: rng.randint(0, 2)]  # repeated chunks are counted with weights
        nm, mf, ml = rng.randint(1, 60), rng.randint(1, 4), rng.randint(2, 6)
        tok, stats = T.train(chunks, 256 + nm, min_freq=mf, max_len=ml)
        got = list(zip(tok.left.tolist(), tok.right.tolist()))
        assert got == naive_train(chunks, nm, mf, ml)
        assert stats["merges"] == len(got)


def test_training_is_nested_and_chunked():
    files = [system_file(p) for p in SYSTEM_FILES[:2]]
    a, _ = T.train(files, 256 + 300)
    b, _ = T.train(files, 256 + 500)
    assert (b.left[:300] == a.left).all() and (b.right[:300] == a.right).all()
    # merges never cross 8 KiB chunks: a file made of two chunks, each a run of one byte
    # whose boundary pair occurs only there
    tok, _ = T.train([b"\x01" * 8192 + b"\x02" * 8192], 256 + 40, min_freq=1)
    for t in range(256, tok.vocab_size):
        assert len(set(tok.token_bytes(t))) == 1


def test_train_and_export_stages(tmp_path):
    """``train`` writes WORK/NAME.bpe, ``export`` the package data and its MANIFEST entry."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = random.Random(7)
    for k in range(3):
        (corpus / f"f{k}").write_bytes(bytes(rng.choice(b"\x00\x01\x48\x89\xe8") for _ in
                                             range(20_000)))
    work, out = tmp_path / "work", tmp_path / "models"

    def run(*args):
        r = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return r

    run("train", corpus, "--work", work, "--name", "tiny", "-V", "400", "--min-freq", "2")
    tok = BinaryBPE.load(work / "tiny.bpe")
    assert 256 < tok.vocab_size <= 400
    assert json.loads((work / "tiny.stats.json").read_text())["files"] == 3
    run("export", "--work", work, "--name", "tiny", "--out", out, "--made-by", "test")
    (entry,) = json.loads((out / "MANIFEST.json").read_text())
    assert entry["name"] == "tiny" and entry["made_by"] == "test"
    data = (out / entry["file"]).read_bytes()
    assert len(data) == entry["size"] and entry["file"].startswith("tiny-")
    assert BinaryBPE.from_bytes(data).vocab_size == tok.vocab_size
