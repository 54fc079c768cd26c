"""The FRAPPE-Image training script resumes bit for bit from a checkpoint.

Training is tooling (models/train_frappe.py, not shipped) and needs torch, which
`make test` does not install: these tests run where torch is present (the
developer venv) and are skipped otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPORA = Path(os.environ.get("SQUEEZE_CORPORA", ROOT.parent / "shared" / "corpora"))
TRAIN = CORPORA / "train-images"


def _script():
    spec = importlib.util.spec_from_file_location("train_frappe",
                                                  ROOT / "models" / "train_frappe.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_frappe"] = mod
    spec.loader.exec_module(mod)
    return mod


def _args(work: Path, **kw) -> argparse.Namespace:
    a = dict(data=str(TRAIN), work=str(work), steps=4, batch=2, crop=64, lr=1e-3, seed=3,
             threads=1, eval_every=1000, arch="v2", clic="", ema=0.9, ckpt_every=1,
             stop_at=0, extend=False)
    a.update(kw)
    return argparse.Namespace(**a)


@pytest.mark.slow
def test_resume_is_bit_exact(tmp_path):
    torch = pytest.importorskip("torch")
    if not TRAIN.is_dir():
        pytest.skip(f"training photographs not found at {TRAIN}")
    tf = _script()
    tf.evaluate = lambda *a, **k: {}  # the validation pass is not what is tested
    # one run straight through ...
    tf.cmd_train(_args(tmp_path / "a"))
    # ... and one stopped at step 2 and resumed in a fresh call
    tf.cmd_train(_args(tmp_path / "b", stop_at=2))
    st = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)
    assert st["step"] == 2
    tf.cmd_train(_args(tmp_path / "b"))
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)
    assert a["step"] == b["step"] == 4
    for key in ("model", "ema"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), f"{key}.{name} differs after resuming"
    assert a["np_rng"] == b["np_rng"]
    assert torch.equal(a["torch_rng"], b["torch_rng"])
    assert b["cpu_s"] > 0
