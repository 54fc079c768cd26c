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
             stop_at=0, extend=False, nd_path="", msssim_weight=None, fork_from="",
             grow_blocks=0, grow_lr=10.0, init_model="", rate_kappa=None, nd_range=None)
    a.update(kw)
    return argparse.Namespace(**a)


def _trainer():
    """(torch, the training script) or a skip where either is missing."""
    torch = pytest.importorskip("torch")
    if not TRAIN.is_dir():
        pytest.skip(f"training photographs not found at {TRAIN}")
    tf = _script()
    tf.evaluate = lambda *a, **k: {}  # the validation pass is not what is tested
    return torch, tf


def _straight_and_resumed(torch, tf, tmp_path: Path, **kw):
    """Checkpoints of one run straight through and of one stopped at step 2 and
    resumed (without ``kw``: what the checkpoint holds must be enough)."""
    tf.cmd_train(_args(tmp_path / "a", **kw))
    tf.cmd_train(_args(tmp_path / "b", stop_at=2, **kw))
    st = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)
    assert st["step"] == 2
    tf.cmd_train(_args(tmp_path / "b"))
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)
    assert a["step"] == b["step"] == 4
    for key in ("model", "ema"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), f"{key}.{name} differs after resuming"
    return a, b


@pytest.mark.slow
def test_resume_is_bit_exact(tmp_path):
    torch, tf = _trainer()
    a, b = _straight_and_resumed(torch, tf, tmp_path)
    assert a["np_rng"] == b["np_rng"]
    assert torch.equal(a["torch_rng"], b["torch_rng"])
    assert b["cpu_s"] > 0


SHIPPED = ROOT / "codecs" / "squeeze_image" / "models"


def _path_model() -> Path:
    import json

    entries = json.loads((SHIPPED / "MANIFEST.json").read_text())
    return SHIPPED / next(e["file"] for e in entries if e["name"] == "frappe-image")


def test_path_sampler_draws_near_the_rate_path():
    np = pytest.importorskip("numpy")
    tf = _script()
    tf.set_arch("v2")
    s = tf.PathSampler(str(_path_model()), uniform=0.0)
    n, d = s(np.random.default_rng(5), 4000)
    assert n.min() >= tf.N_MIN and n.max() <= len(tf.PATCHES)
    assert d.min() >= tf.D_MIN and d.max() <= tf.D_MAX
    # every draw is within dn channels and exp(dd) in step of some path point
    ok = ((np.abs(n[:, None] - s.n[None, :]) <= s.dn)
          & (np.abs(np.log(d[:, None] / s.d[None, :])) <= s.dd + 1e-9)).any(1)
    assert ok.all()
    # and it is not the uniform sampler: few channels never come with fine steps
    few = n <= 8
    assert few.any() and d[few].min() > 1.0
    n2, d2 = tf.sample_nd(np.random.default_rng(5), 4000)
    assert d2[n2 <= 8].min() < 0.5
    # the same generator state gives the same draws (a resumed run is bit-exact)
    a = s(np.random.default_rng(9), 16)
    b = s(np.random.default_rng(9), 16)
    assert all((x == y).all() for x, y in zip(a, b))


@pytest.mark.slow
def test_path_sampler_is_kept_on_resume(tmp_path):
    torch, tf = _trainer()
    a, b = _straight_and_resumed(torch, tf, tmp_path, nd_path=str(_path_model()))
    assert a["sampler"] is not None and a["sampler"] == b["sampler"]
    # a different path file for a run that has one is refused
    other = SHIPPED / "frappe-image-6fbab9c7b2a1a1a1.npz"
    with pytest.raises(SystemExit):
        tf.cmd_train(_args(tmp_path / "b", nd_path=str(other), steps=6, extend=True))


def test_a_fork_moves_the_path_sampler_to_another_range(tmp_path):
    torch, tf = _trainer()
    path = str(_path_model())
    tf.cmd_train(_args(tmp_path / "p", stop_at=2, nd_path=path))
    p = torch.load(tmp_path / "p" / "ckpt.pt", weights_only=False)
    assert (p["sampler"]["lo"], p["sampler"]["hi"]) == (0.02, 1.2)
    tf.cmd_train(_args(tmp_path / "f", fork_from=str(tmp_path / "p" / "ckpt.pt"),
                       nd_range=[0.02, 0.4]))
    f = torch.load(tmp_path / "f" / "ckpt.pt", weights_only=False)
    assert f["step"] == 4 and (f["sampler"]["lo"], f["sampler"]["hi"]) == (0.02, 0.4)
    assert f["sampler"]["path_from"] == p["sampler"]["path_from"]
    # resumed, the fork keeps its range; another range for a started run is refused
    tf.cmd_train(_args(tmp_path / "f", steps=6, extend=True))
    assert torch.load(tmp_path / "f" / "ckpt.pt", weights_only=False)["sampler"] == f["sampler"]
    with pytest.raises(SystemExit):
        tf.cmd_train(_args(tmp_path / "f", steps=8, extend=True, nd_range=[0.02, 0.8]))
    # the range belongs to a path sampler
    with pytest.raises(SystemExit):
        tf.cmd_train(_args(tmp_path / "u", nd_range=[0.02, 0.4]))


def test_training_ms_ssim_is_the_bench_metric():
    """The differentiable MS-SSIM of the training loss equals the bench's (numpy,
    float64) on real photographs and distortions, odd sizes included."""
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    Image = pytest.importorskip("PIL.Image")
    if not TRAIN.is_dir():
        pytest.skip(f"training photographs not found at {TRAIN}")
    sys.path.insert(0, str(ROOT))
    from benchmarks.suites.image import ms_ssim

    tf = _script()
    files = sorted(TRAIN.glob("*.png"))[:2]
    rng = np.random.default_rng(2)
    for f, (h, w), noise in zip(files, ((193, 201), (256, 170)), (25, 6)):
        a = np.asarray(Image.open(f).convert("RGB"))[:h, :w]
        b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255)
        b = b.astype(np.uint8)
        ta, tb = (torch.from_numpy(np.array(v)).permute(2, 0, 1)[None].double() for v in (a, b))
        tb.requires_grad_(True)
        got = tf.ms_ssim_torch(torch, ta, tb)
        assert abs(got.item() - ms_ssim(a, b)) < 1e-9
        got.sum().backward()
        assert torch.isfinite(tb.grad).all() and tb.grad.abs().sum() > 0
    # the mixed distortion: PSNR's term alone at weight 0, in dB either way
    x = torch.rand(2, 3, 176, 176) * 2 - 1
    xh = (x + 0.05 * torch.randn_like(x)).clamp(-1, 1)
    d0 = tf.distortion_db(torch, xh, x, 0.0)
    mse = ((xh - x) ** 2).mean((1, 2, 3)) * 127.5 ** 2
    assert torch.allclose(d0, 10 * torch.log10(mse + 1e-3))
    ms = tf.ms_ssim_torch(torch, (xh + 1) * 127.5, (x + 1) * 127.5)
    d1 = tf.distortion_db(torch, xh, x, 1.0)
    assert torch.allclose(d1, (d0 + 10 * torch.log10(1 - ms + 1e-6)) / 2)


@pytest.mark.slow
def test_ms_ssim_loss_is_kept_on_resume_and_set_by_a_fork(tmp_path):
    torch, tf = _trainer()
    a, b = _straight_and_resumed(torch, tf, tmp_path, msssim_weight=0.5, crop=192)
    assert a["loss"] == b["loss"] == {"msssim_weight": 0.5, "from_step": 0}
    # a run keeps its loss: another weight is refused
    with pytest.raises(SystemExit):
        tf.cmd_train(_args(tmp_path / "b", msssim_weight=1.0, steps=6, extend=True,
                           crop=192))
    # a fork of a PSNR-only run takes a new weight from the step it starts at
    tf.cmd_train(_args(tmp_path / "p", stop_at=2, crop=192))
    assert torch.load(tmp_path / "p" / "ckpt.pt", weights_only=False)["loss"] == {
        "msssim_weight": 0.0, "from_step": 0}
    tf.cmd_train(_args(tmp_path / "f", fork_from=str(tmp_path / "p" / "ckpt.pt"),
                       msssim_weight=2.0, crop=192))
    f = torch.load(tmp_path / "f" / "ckpt.pt", weights_only=False)
    assert f["step"] == 4 and f["loss"] == {"msssim_weight": 2.0, "from_step": 2}
    assert f["forked_from"]["step"] == 2 and f["forked_from"]["loss"]["msssim_weight"] == 0.0
    # the fork trained with its own loss: not the PSNR run's next steps
    tf.cmd_train(_args(tmp_path / "p", crop=192))
    p = torch.load(tmp_path / "p" / "ckpt.pt", weights_only=False)
    assert not all(torch.equal(t, f["model"][k]) for k, t in p["model"].items())
    # --fork-from never replaces a run's own checkpoint
    with pytest.raises(SystemExit):
        tf.cmd_train(_args(tmp_path / "f", fork_from=str(tmp_path / "p" / "ckpt.pt")))


def test_log_rate_term_prices_bits_by_the_rd_slope():
    torch, tf = _trainer()
    bpp = torch.tensor([0.05, 0.2, 1.0], requires_grad=True)
    lin = tf.rate_term(torch, bpp, {"msssim_weight": 0.0, "from_step": 0})
    assert torch.allclose(lin, tf.LAMBDA * bpp)
    log = tf.rate_term(torch, bpp, {"msssim_weight": 0.0, "from_step": 0, "rate_kappa": 1.5})
    # one doubling of the rate costs ~k dB wherever it happens (the floor aside)
    twice = tf.rate_term(torch, 2 * bpp.detach() + tf.RATE_FLOOR, {"rate_kappa": 1.5})
    assert torch.allclose(twice - log.detach(), torch.full((3,), 1.5))
    # the price of a bit falls with the rate: k / ((bpp + floor) ln 2) dB per bpp
    log.sum().backward()
    want = 1.5 / ((bpp.detach() + tf.RATE_FLOOR) * torch.log(torch.tensor(2.0)))
    assert torch.allclose(bpp.grad, want)
    assert bpp.grad[0] > tf.LAMBDA > bpp.grad[2]


def test_log_rate_loss_is_kept_on_resume_and_set_by_a_fork(tmp_path):
    torch, tf = _trainer()
    a, b = _straight_and_resumed(torch, tf, tmp_path, rate_kappa=1.5)
    assert a["loss"] == b["loss"] == {"msssim_weight": 0.0, "from_step": 0,
                                      "rate_kappa": 1.5}
    with pytest.raises(SystemExit):
        tf.cmd_train(_args(tmp_path / "b", rate_kappa=2.0, steps=6, extend=True))
    tf.cmd_train(_args(tmp_path / "p", stop_at=2))
    tf.cmd_train(_args(tmp_path / "f", fork_from=str(tmp_path / "p" / "ckpt.pt"),
                       rate_kappa=1.5))
    f = torch.load(tmp_path / "f" / "ckpt.pt", weights_only=False)
    assert f["loss"] == {"msssim_weight": 0.0, "from_step": 2, "rate_kappa": 1.5}
    tf.cmd_train(_args(tmp_path / "p"))
    p = torch.load(tmp_path / "p" / "ckpt.pt", weights_only=False)
    assert not all(torch.equal(t, f["model"][k]) for k, t in p["model"].items())


@pytest.mark.slow
def test_grown_decoder_starts_as_the_fork_and_resumes_bit_exact(tmp_path):
    torch, tf = _trainer()
    tf.cmd_train(_args(tmp_path / "p", stop_at=2))
    src = tmp_path / "p" / "ckpt.pt"
    # the grown network computes exactly what the fork's did (new blocks: x + 0 * f(x))
    tf.set_arch("v2")
    Model, _g, dec_in = tf.build(torch)
    old = Model()
    st = torch.load(src, weights_only=False)
    old.load_state_dict(st["model"])
    tf.set_arch("v2", 8)
    Model8, _g, _d = tf.build(torch)
    grown = Model8()
    tf._grow(torch, grown, st, 6)
    grown.load_state_dict(st["model"])
    lat = torch.randn(2, dec_in, 6, 5)
    c = torch.randn(2, len(tf.PATCHES) + 1)
    with torch.no_grad():
        assert torch.equal(old.dec(lat, c), grown.dec(lat, c))
    assert set(st["ema"]) == set(grown.state_dict())
    # a grown fork trains all its blocks, keeps its depth, and resumes bit-exactly
    for w in ("g1", "g2"):
        tf.cmd_train(_args(tmp_path / w, fork_from=str(src), grow_blocks=2,
                           stop_at=3 if w == "g2" else 0))
    tf.cmd_train(_args(tmp_path / "g2"))
    g1, g2 = (torch.load(tmp_path / w / "ckpt.pt", weights_only=False) for w in ("g1", "g2"))
    assert g1["step"] == g2["step"] == 4 and g1["blocks"] == g2["blocks"] == 8
    assert g1["forked_from"]["blocks"] == 6 and g1["grown"] == {"from_blocks": 6,
                                                                "lr_mult": 10.0}
    g_old, g_new = g1["opt"]["param_groups"]
    assert g_new["lr"] == 10.0 * g_old["lr"] > 0 and "lr_mult" not in g_old
    assert min(g_new["params"]) == max(g_old["params"]) + 1
    assert all(torch.equal(t, g2["model"][k]) for k, t in g1["model"].items())
    # the new blocks learn from the first step (their last convolution leaves zero)
    assert torch.equal(st["model"]["dec.blocks.7.pw2.weight"], torch.zeros(128, 512, 1, 1))
    assert g1["model"]["dec.blocks.7.pw2.weight"].abs().max() > 0
    assert g1["model"]["dec.blocks.6.pw2.weight"].abs().max() > 0
    # growing needs a fork into an empty folder
    with pytest.raises(SystemExit):
        tf.cmd_train(_args(tmp_path / "g1", grow_blocks=1))
    tf.set_arch("v2")


@pytest.mark.slow
def test_a_run_starts_from_a_shipped_model_file(tmp_path):
    """train --init-model: the lineage survives the loss of the training machine's
    checkpoints, since the shipped model file holds every weight of the network."""
    import numpy as np

    torch, tf = _trainer()
    path = tf.resolve_model("frappe-image")  # a derived model: its parent's weights
    arrays = tf.model_file_arrays(path)
    arch, blocks = tf.model_file_arch(arrays)
    tf.set_arch(arch, blocks)
    Model, groups, dec_in = tf.build(torch)
    m = Model()
    tf._init_from_model(torch, m, path, blocks)
    back = tf.weights_to_arrays(m, groups)
    for k, v in back.items():  # the same file's network (s, g through softplus/sigmoid)
        if k in ("enc_s", "enc_g"):
            np.testing.assert_allclose(v, arrays[k], rtol=1e-5)
        else:
            assert np.array_equal(v, arrays[k]), k
    # grown by one block it computes exactly the file's decoder
    tf.set_arch(arch, blocks + 1)
    Model7, _g, _d = tf.build(torch)
    m7 = Model7()
    tf._init_from_model(torch, m7, path, blocks)
    lat = torch.randn(2, dec_in, 6, 5)
    c = torch.randn(2, len(tf.PATCHES) + 1)
    with torch.no_grad():
        assert torch.equal(m.dec(lat, c), m7.dec(lat, c))
    # a run from it records where it started, carries the CPU-hours and resumes bit-exactly
    a, b = _straight_and_resumed(torch, tf, tmp_path, init_model="frappe-image",
                                 grow_blocks=1, grow_lr=1.0)
    entry = tf._manifest_entry(path)
    assert a["init_from"] == {"model": path.name, "steps": entry["steps"], "blocks": blocks,
                              "cpu_hours": entry["training_cpu_hours"]}
    assert a["blocks"] == blocks + 1 and a["grown"] == {"from_blocks": blocks, "lr_mult": 1.0}
    assert a["cpu_s"] > 3600 * entry["training_cpu_hours"]
    with pytest.raises(SystemExit):
        tf.cmd_train(_args(tmp_path / "c", init_model="frappe-image", fork_from=str(
            tmp_path / "a" / "ckpt.pt")))
    tf.set_arch("v2")
