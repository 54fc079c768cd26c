"""Shared checkers that every codec's tests call (after numcodecs' test helpers).

* ``corpora_dir()`` / ``corpus_file(rel)`` find ../shared/corpora (or
  ``$SQUEEZE_CORPORA``) and skip the test with a clear reason when absent.
* ``check_roundtrip`` runs a codec through the real container and back.
* ``check_config_roundtrip`` checks ``get_config``/``from_config``.
* ``check_cheap_import`` checks that a codec module (and ``memory_usage``)
  loads without numpy or numba.
* ``check_golden`` decodes a committed golden .sqz file and compares it with
  its expected output (by sha256), so old bitstreams keep decoding.
* ``write_golden`` makes one (used once, by the test that owns it);
  ``write_golden_of`` codes the input first.
* ``check_golden_encodes`` also checks that today's encoder still writes the
  golden file's bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"


def corpora_dir() -> Path:
    """The benchmark corpora folder; skips the calling test when it is absent."""
    import pytest

    env = os.environ.get("SQUEEZE_CORPORA")
    path = Path(env) if env else REPO.parent / "shared" / "corpora"
    if not path.is_dir():
        pytest.skip(f"corpora not found at {path} (set SQUEEZE_CORPORA or put ../shared beside "
                    "the checkout)")
    return path


def corpus_file(rel: str) -> Path:
    p = corpora_dir() / rel
    if not p.is_file():
        import pytest

        pytest.skip(f"corpus file {rel} not found under {p.parent}")
    return p


def check_roundtrip(codec, data: bytes, *, threads: int = 1, block_size: int | None = None,
                    check: str = "xxh64") -> bytes:
    """Compress ``data`` with ``codec`` through the container; assert exact decode.

    Returns the .sqz bytes.  Lossless codecs must give back ``data``; lossy ones
    must decode to exactly their own reconstruction (the container's check).
    """
    from frappe_cli import container

    blob = container.compress(data, codec, threads=threads, block_size=block_size, check=check)
    out = container.decompress(blob, threads=threads, finish=False)
    if codec.lossless:
        assert out == data, f"{codec.codec_id}: round trip differs ({len(out)} vs {len(data)} B)"
    # a second decode with another thread count gives the same bytes
    assert container.decompress(blob, threads=1 if threads > 1 else 2, finish=False) == out
    return blob


def check_config_roundtrip(codec) -> None:
    cfg = codec.get_config()
    assert cfg["id"] == codec.codec_id
    assert json.loads(json.dumps(cfg)) == cfg, "config must be JSON-only"
    again = type(codec).from_config(cfg)
    assert again.get_config() == cfg


def check_cheap_import(module: str, cls: str, level: int = 6) -> None:
    """Importing ``module`` and calling ``cls(level).memory_usage()`` in a fresh
    interpreter must not load numpy or numba (``squeeze --help`` stays fast)."""
    import subprocess
    import sys

    code = (f"import sys; import {module} as c; c.{cls}({level}).memory_usage(); "
            "print('numpy' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": ":".join(sys.path)}).stdout
    assert out.split() == ["False", "False"], out


def check_golden(name: str) -> None:
    """Decode tests/golden/<name>.sqz and compare with tests/golden/<name>.json's sha256."""
    from frappe_cli import container

    blob = (GOLDEN / f"{name}.sqz").read_bytes()
    meta = json.loads((GOLDEN / f"{name}.json").read_text())
    out = container.decompress(blob, finish=False)
    assert len(out) == meta["size"], f"golden {name}: size {len(out)} != {meta['size']}"
    assert hashlib.sha256(out).hexdigest() == meta["sha256"], f"golden {name}: content differs"


def write_golden(name: str, blob: bytes, decoded: bytes, note: str) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    (GOLDEN / f"{name}.sqz").write_bytes(blob)
    meta = {"size": len(decoded), "sha256": hashlib.sha256(decoded).hexdigest(), "note": note}
    (GOLDEN / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")


def write_golden_of(name: str, data: bytes, codec, level: int, note: str,
                    block_size: int | None = None) -> None:
    """Compress ``data`` with ``codec`` at ``level`` and write it as golden file ``name``."""
    from frappe_cli import container

    blob = container.compress(data, codec, level=level, block_size=block_size)
    write_golden(name, blob, data, note)


def check_golden_encodes(name: str, data: bytes, codec, level: int,
                         block_size: int | None = None) -> bytes:
    """``check_golden``, and ``data`` compressed again (as ``write_golden_of`` did) gives
    the golden file's exact bytes; returns them.  A missing file fails the test."""
    import pytest

    from frappe_cli import container

    path = GOLDEN / f"{name}.sqz"
    if not path.exists():
        pytest.fail(f"golden file {name} missing")
    check_golden(name)
    blob = path.read_bytes()
    assert container.compress(data, codec, level=level, block_size=block_size) == blob
    return blob
