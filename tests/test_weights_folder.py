"""A Hugging Face style model folder (safetensors shards + index JSON):
`squeeze -r DIR` compresses every file, `safe_open` reads each shard, `squeeze -d -r`
restores the folder byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
ENV.pop("SQUEEZE_DEBUG", None)


def sq(*args):
    p = subprocess.run([sys.executable, "-m", "frappe_cli", *map(str, args)],
                       capture_output=True, env=ENV, timeout=600)
    return p.returncode, p.stdout, p.stderr.decode()


def test_model_folder_round_trip(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    from squeeze_weights import safe_open

    rng = np.random.default_rng(3)
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    shards = {}
    weight_map = {}
    for i in range(3):
        name = f"model-{i + 1:05d}-of-00003.safetensors"
        t = {f"layers.{i}.w": (rng.standard_normal((64, 48)) * 0.05).astype(np.float16),
             f"layers.{i}.b": rng.standard_normal(64).astype(np.float32)}
        st.save_file(t, str(model / name), metadata={"format": "pt"})
        shards[name] = t
        weight_map.update({k: name for k in t})
    (model / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}, indent=2))
    (model / "sub" / "config.json").write_text('{"hidden_size": 48}\n')
    originals = {p: p.read_bytes() for p in model.rglob("*") if p.is_file()}

    rc, out, err = sq("-r", "--rm", "-q", model)
    assert (rc, out, err) == (0, b"", "")
    assert sorted(p.name for p in model.rglob("*") if p.is_file()) == sorted(
        p.name + ".sqz" for p in originals)
    for name, tensors in shards.items():
        with safe_open(model / (name + ".sqz"), framework="numpy") as f:
            assert sorted(f.keys()) == sorted(tensors)
            assert f.metadata() == {"format": "pt"}
            for k, v in tensors.items():
                assert np.array_equal(f.get_tensor(k), v)
    rc, _, err = sq("-r", "-q", model)  # everything is compressed already: nothing to do
    assert (rc, err) == (0, "")
    rc, out, err = sq("-d", "-r", "--rm", model)
    assert (rc, out, err) == (0, b"", "")
    assert {p: p.read_bytes() for p in model.rglob("*") if p.is_file()} == originals
