"""FRAPPE-Image ``tune``: the model new still images are coded with (psnr, the
default, or ms-ssim); the decoder needs no option, every payload names its model."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from frappe_cli import container
from frappe_cli.errors import OptionError
from frappe_cli.testing import check_config_roundtrip, check_roundtrip

codec_mod = pytest.importorskip("squeeze_image.codec")
model_mod = pytest.importorskip("squeeze_image.model")
Image = pytest.importorskip("PIL.Image")
FrappeCodec = codec_mod.FrappeCodec


def _png(h: int = 96, w: int = 128, seed: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 70 * np.sin(x / (7 + 3 * c) + c) * np.cos(y / 11)
                    + rng.normal(0, 8, (h, w)) for c in range(3)], 2)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _model_id(payload: bytes) -> str:
    return payload[1:9].hex()


def test_tune_options_are_checked():
    check_config_roundtrip(FrappeCodec(bpp=0.1, tune="ms-ssim"))
    check_config_roundtrip(FrappeCodec(quality=40, tune="psnr"))
    for bad in ("ssim", "PSNR", ""):
        with pytest.raises(OptionError, match="tune must be one of psnr, ms-ssim"):
            FrappeCodec(tune=bad)
    with pytest.raises(OptionError, match="tune must be a string"):
        FrappeCodec(tune=1)
    with pytest.raises(OptionError, match="still images"):
        FrappeCodec(frames="64x32", bpp=0.1, tune="ms-ssim")
    FrappeCodec(frames="64x32", bpp=0.1, tune="psnr")  # the default says nothing new


def test_each_tune_codes_with_its_own_model_and_decodes_without_options():
    data = _png()
    names = codec_mod.TUNE_MODELS
    from frappe_cli.models import manifest

    shipped = manifest("squeeze_image")
    payloads = {}
    for tune, name in names.items():
        codec = FrappeCodec(bpp=0.3, tune=tune)
        blob = check_roundtrip(codec, data)  # reconstruction == decoder output
        payload, _ = codec.encode_lossy(data)
        assert _model_id(payload) == shipped[name]["sha256"][:16], tune
        payloads[tune] = payload
        out = container.decompress(blob)  # a plain decoder: no tune given
        assert Image.open(io.BytesIO(out)).size == (128, 96)
    assert payloads["psnr"] != payloads["ms-ssim"]
    assert FrappeCodec(bpp=0.3)._model().ident == FrappeCodec(bpp=0.3, tune="psnr")._model().ident


def test_a_missing_tuned_model_is_one_clear_error(tmp_path):
    """A models folder without the ms-ssim model (an older install, a pinned folder):
    --tune ms-ssim says so in one line, exit 1, no output file; the default still codes."""
    from frappe_cli.models import models_dir

    src = models_dir("squeeze_image")
    every = {e["name"]: e for e in json.loads((src / "MANIFEST.json").read_text())}
    man = [every[model_mod.MODEL_NAME]]
    if man[0].get("parent"):  # a derived model needs the model it builds on
        man.append(every[man[0]["parent"]])
    models = tmp_path / "models"
    models.mkdir()
    for e in man:
        os.symlink(src / e["file"], models / e["file"])
    (models / "MANIFEST.json").write_text(json.dumps(man))
    img = tmp_path / "p.png"
    img.write_bytes(_png(40, 48))
    env = dict(os.environ, SQUEEZE_MODELS=str(models))
    run = [sys.executable, "-m", "frappe_cli", "compress", "--codec", "frappe", "--bpp", "0.2"]
    r = subprocess.run(run + ["--tune", "ms-ssim", str(img)], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "no FRAPPE model tuned for ms-ssim" in r.stderr
    assert not (tmp_path / "p.png.sqz").exists() and img.exists()
    r = subprocess.run(run + [str(img)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.png.sqz").exists()


def test_cli_tune(tmp_path):
    src = tmp_path / "p.png"
    src.write_bytes(_png(64, 80, seed=9))
    run = [sys.executable, "-m", "frappe_cli"]
    r = subprocess.run(run + ["compress", "--codec", "frappe", "--bpp", "0.3", "--tune",
                              "ms-ssim", "-k", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    blob = (tmp_path / "p.png.sqz").read_bytes()
    assert len(container.decompress(blob)) > 0
    r = subprocess.run(run + ["compress", "--codec", "frappe", "--tune", "ssim", "-c",
                              str(src)], capture_output=True, text=True)
    assert r.returncode != 0 and "ssim" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3
