"""Bounded memory on large weight streams (safetensors read through ``split``)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import io, json, resource, struct, sys, time
import numpy as np
from frappe_cli import container, registry

MB = int(sys.argv[1]); CID = sys.argv[2]; OUT = sys.argv[3]
rng = np.random.default_rng(0)
piece = rng.normal(0, 0.05, 1 << 21).astype(np.float32).view(np.uint32)
piece = ((piece + (((piece >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16).tobytes()  # 4 MiB BF16
n = (MB << 20) // 2
hdr = json.dumps({"w": {"dtype": "BF16", "shape": [n], "data_offsets": [0, 2 * n]}}).encode()
hdr += b" " * (-len(hdr) % 8)
total = 8 + len(hdr) + 2 * n

class Gen(io.RawIOBase):
    # a safetensors file of MB MiB produced on the fly (never held in memory)
    def __init__(self):
        self.pos = 0
        self.head = struct.pack("<Q", len(hdr)) + hdr
    def readable(self):
        return True
    def read(self, k=-1):
        if self.pos >= total:
            return b""
        k = total - self.pos if k < 0 else min(k, total - self.pos)
        out = bytearray()
        while len(out) < k:
            p = self.pos + len(out)
            if p < len(self.head):
                out += self.head[p:p + k - len(out)]
            else:
                q = (p - len(self.head)) % len(piece)
                out += piece[q:q + k - len(out)]
        self.pos += len(out)
        return bytes(out)

class Count:
    def __init__(self):
        self.n = 0
    def write(self, b):
        self.n += len(b)
        return len(b)

base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
codec = registry.make(CID)
with open(OUT, "wb") as f:
    st = container.compress_stream(Gen(), f, codec, threads=2)
mid = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sink = Count()
with open(OUT, "rb") as f:
    n_out = container.decompress_stream(f, sink, threads=2)
end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kb": base, "compress_kb": mid, "decompress_kb": end,
                  "in": total, "out": n_out, "ratio": total / st.compressed}))
"""


def _run(mb: int, cid: str, tmp_path) -> dict:
    out = tmp_path / "big.sqz"
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'codecs'}", "PATH": "/usr/bin:/bin"}
    import os

    for k in ("NUMBA_CACHE_DIR", "HOME"):
        if k in os.environ:
            env[k] = os.environ[k]
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(mb), cid, str(out)], check=False,
                       capture_output=True,
                       text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cid", ["dfloat11", "enec"])
def test_memory_bounded_256mb(cid, tmp_path):
    res = _run(256, cid, tmp_path)
    assert res["out"] == res["in"]
    # ~4 blocks of 4 MiB in flight per direction, plus payloads and scratch
    assert res["compress_kb"] - res["base_kb"] < 200 * 1024, res
    assert res["decompress_kb"] - res["base_kb"] < 200 * 1024, res


@pytest.mark.slow
def test_memory_bounded_4gb(tmp_path):
    res = _run(4096, "dfloat11", tmp_path)
    assert res["out"] == res["in"]
    assert res["compress_kb"] < 1024 * 1024 and res["decompress_kb"] < 1024 * 1024, res
