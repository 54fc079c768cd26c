"""Every file of ../shared/corpora round-trips through squeeze bit-exactly.

The default run pushes every corpus file through the container with the zstd
codec, and the Canterbury files through the real CLI pipeline
`squeeze -c | squeeze -dc` with `--codec auto`; the slow run does every file
through the CLI pipeline with `--codec auto` (context-mixing codecs included).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from frappe_cli import container
from frappe_cli.testing import corpora_dir

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))


def _files(sub=None):
    base = corpora_dir()
    root = base / sub if sub else base
    return sorted(p for p in root.rglob("*") if p.is_file())


def _pipeline(path: Path, codec: str = "auto") -> None:
    cmd = (f"{sys.executable} -m frappe_cli -c -q --codec {codec} < '{path}' | "
           f"{sys.executable} -m frappe_cli -dc -q | cmp -s - '{path}'")
    r = subprocess.run(cmd, shell=True, env=ENV, timeout=3600)
    assert r.returncode == 0, f"{path} did not round-trip through the CLI pipeline"


def test_every_corpus_file_zstd_container():
    files = _files()
    assert files
    for p in files:
        data = p.read_bytes()
        blob = container.compress(data, "zstd", level=2)
        assert container.decompress(blob) == data, p


def test_canterbury_cli_pipeline_auto():
    for p in _files("canterbury"):
        _pipeline(p)


@pytest.mark.slow
def test_every_corpus_file_cli_pipeline_auto():
    for p in _files():
        _pipeline(p)
