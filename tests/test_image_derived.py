"""FRAPPE-Image derived models (SPEC.md section 5.2): a small model file that names a
shipped model by its sha256 and replaces some of its arrays (the dequantisation
offset ``dq_expand``); the parent's own streams keep decoding with the parent."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frappe_cli.errors import SqueezeError

model_mod = pytest.importorskip("squeeze_image.model")
codec_mod = pytest.importorskip("squeeze_image.codec")
Image = pytest.importorskip("PIL.Image")


def _shipped():
    from frappe_cli.models import manifest, models_dir

    return models_dir("squeeze_image"), manifest("squeeze_image")


def _base_entry():
    """A full (not derived) format-2 model of the package: the default's parent."""
    folder, man = _shipped()
    entry = man[model_mod.MODEL_NAME]
    return folder, man[entry["parent"]] if entry.get("parent") else entry


def _derive(folder: Path, parent: dict, e: float, name="frappe-image", with_parent=True,
            parent_sha=None) -> Path:
    src, _ = _base_entry()
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, parent_sha256=np.array(parent_sha or parent["sha256"]),
                        dq_expand=np.float32(e))
    blob = buf.getvalue()
    digest = hashlib.sha256(blob).hexdigest()
    path = folder / f"{name}-{digest[:16]}.npz"
    path.write_bytes(blob)
    entries = [{"name": name, "file": path.name, "sha256": digest, "size": len(blob),
                "parent": parent["name"]}]
    if with_parent:
        os.symlink(src / parent["file"], folder / parent["file"])
        entries.append(dict(parent))
    (folder / "MANIFEST.json").write_text(json.dumps(entries))
    return path


def test_a_derived_model_is_its_parent_with_the_arrays_it_replaces(tmp_path):
    src, parent = _base_entry()
    base = model_mod.load(path=str(src / parent["file"]))
    assert base.dq_expand == 0
    path = _derive(tmp_path / "m", parent, 0.05)
    mdl = model_mod.load(path=str(path))
    assert mdl.ident == hashlib.sha256(path.read_bytes()).hexdigest()[:16] != base.ident
    assert mdl.dq_expand == np.float32(0.05)
    assert np.array_equal(mdl.head_w, base.head_w) and mdl.blocks == base.blocks
    assert np.array_equal(mdl.path_d, base.path_d) and np.array_equal(mdl.freqs, base.freqs)
    # the decoder reads q + sign(q) e: the parent fed with those values computes the same
    rng = np.random.default_rng(1)
    H, W = 64, 96
    qs = [rng.integers(-3, 4, (H // p, W // p)).astype(np.int32) for p in base.patches]
    expanded = [q.astype(np.float32) + np.sign(q).astype(np.float32) * np.float32(0.05)
                for q in qs]
    n, delta = 20, 0.75
    assert np.array_equal(mdl.decoder_input(qs, n, delta, H, W),
                          base.decoder_input(expanded, n, delta, H, W))
    a = mdl.synthesis(qs, n, delta, H, W, H, W)
    assert np.array_equal(a, base.synthesis(expanded, n, delta, H, W, H, W))
    assert not np.array_equal(a, base.synthesis(qs, n, delta, H, W, H, W))
    # e = 0 is the parent itself
    zero = model_mod.load(path=str(_derive(tmp_path / "z", parent, 0.0)))
    assert np.array_equal(zero.synthesis(qs, n, delta, H, W, H, W),
                          base.synthesis(qs, n, delta, H, W, H, W))


def test_a_missing_or_wrong_parent_is_one_clear_error(tmp_path):
    _src, parent = _base_entry()
    lone = _derive(tmp_path / "lone", parent, 0.05, with_parent=False)
    with pytest.raises(SqueezeError, match="builds on model .* which is not installed"):
        model_mod.load(path=str(lone))
    wrong = _derive(tmp_path / "wrong", parent, 0.05, parent_sha="ab" * 32)
    with pytest.raises(SqueezeError, match="not installed"):
        model_mod.load(path=str(wrong))
    # a derived model of a derived model is refused (one level only)
    first = _derive(tmp_path / "d1", parent, 0.05)
    entry = json.loads((tmp_path / "d1" / "MANIFEST.json").read_text())[0]
    entry = dict(entry, sha256=hashlib.sha256(first.read_bytes()).hexdigest(), name="first")
    second = _derive(tmp_path / "d2", entry, 0.07, with_parent=False)
    os.symlink(first, tmp_path / "d2" / first.name)
    man = json.loads((tmp_path / "d2" / "MANIFEST.json").read_text()) + [entry]
    (tmp_path / "d2" / "MANIFEST.json").write_text(json.dumps(man))
    with pytest.raises(SqueezeError, match="derives from a derived model"):
        model_mod.load(path=str(second))


def test_the_cli_without_the_parent_fails_in_one_line(tmp_path):
    _src, parent = _base_entry()
    _derive(tmp_path / "models", parent, 0.05, with_parent=False)
    img = tmp_path / "p.png"
    Image.fromarray(np.full((40, 48, 3), 90, np.uint8)).save(img)
    env = dict(os.environ, SQUEEZE_MODELS=str(tmp_path / "models"))
    r = subprocess.run([sys.executable, "-m", "frappe_cli", "compress", "--codec", "frappe",
                        "--bpp", "0.2", str(img)], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "not installed" in r.stderr and not (tmp_path / "p.png.sqz").exists()


def test_shipped_derived_models_name_a_shipped_parent():
    folder, man = _shipped()
    derived = [e for e in man.values() if e.get("parent")]
    for e in derived:
        parent = man[e["parent"]]
        assert e["parent_sha256"] == parent["sha256"] and "parent" not in parent
        with np.load(folder / e["file"]) as z:
            assert str(z["parent_sha256"]) == parent["sha256"]
            assert z["dq_expand"] == np.float32(e["dq_expand"])
            assert set(z.files) == {"parent_sha256", "dq_expand"}
        assert e["size"] < 4096  # a few arrays, not a copy of the network
        mdl = model_mod.load(name=e["name"])
        assert mdl.dq_expand == np.float32(e["dq_expand"])


def test_train_frappe_derive_writes_a_derived_model(tmp_path):
    """models/train_frappe.py derive: the offset measured on the validation split, the
    source kept under its parent name, a small file that loads as parent + offset."""
    import argparse
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("train_frappe_d",
                                                  root / "models" / "train_frappe.py")
    tf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tf)
    src, parent = _base_entry()
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(src / parent["file"], models / parent["file"])
    (models / "MANIFEST.json").write_text(json.dumps([dict(parent, name="frappe-image")]))
    data = tmp_path / "photos"  # every 10th file is the validation split: 2 of 20
    data.mkdir()
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:64, 0:96]
    for i in range(20):
        img = np.stack([(x * (i + 2) + y * 3) % 256, (x * y // 7) % 256,
                        (200 - 2 * y + 9 * i) % 256], 2) + rng.integers(0, 20, (64, 96, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(data / f"{i:02d}.png")
    args = argparse.Namespace(data=str(data), out=str(models), source="frappe-image",
                              parent_name="frappe-image-v5", name="frappe-image",
                              dq_expand=0.05, metric="psnr", made_by="test")
    tf.cmd_derive(args)
    man = {e["name"]: e for e in json.loads((models / "MANIFEST.json").read_text())}
    assert man["frappe-image-v5"]["sha256"] == parent["sha256"]
    new = man["frappe-image"]
    assert new["parent"] == "frappe-image-v5" and new["dq_expand"] == 0.05
    assert set(new["dq_expand_choice"]["mean_by_value"]) == {"0", "0.05"}
    assert new["size"] == (models / new["file"]).stat().st_size < 4096
    mdl = model_mod.load(path=str(models / new["file"]))
    assert mdl.dq_expand == np.float32(0.05)
    with pytest.raises(SystemExit, match="derived model"):
        tf.cmd_derive(args)  # the source is now derived itself
