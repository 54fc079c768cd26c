"""Streaming keeps memory bounded by the block size, whatever the input length."""

import os
from pathlib import Path

from frappe_cli.bench import memory

ROOT = Path(__file__).resolve().parent.parent


def test_generated_stream_in_bounded_memory(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
    r = memory.run(384 << 20, "zstd", 1, block="2MiB", threads=2)
    assert r["ok"], r
    # 384 MiB went through; each process holds a few 2 MiB blocks plus the interpreter
    assert 0 < r["compress_peak_rss"] < 160 << 20, r
    assert 0 < r["decompress_peak_rss"] < 160 << 20, r
