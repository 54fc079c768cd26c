"""The shipped FRAPPE model's rate path is what ``models/frappe_fit.choose_path``
picks from the validation grids stored beside it (the manifest's recipe, with the
default MS-SSIM weight), and weight 0 is PSNR alone."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
model_mod = pytest.importorskip("squeeze_image.model")


@pytest.fixture()
def fit(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "models"))
    import frappe_fit

    yield frappe_fit
    sys.modules.pop("frappe_fit", None)


def _grids(mdl_path):
    z = model_mod.model_arrays(mdl_path)  # a derived model's include its parent's
    if "val_msssim" not in z:
        pytest.skip("the shipped model has no MS-SSIM grid")
    return z


def test_shipped_path_is_the_fitted_choice(fit):
    from frappe_cli.models import model_path

    z = _grids(model_path("squeeze_image", "frappe-image"))
    mdl = model_mod.load()
    grids = {k: z[k] for k in ("val_bpp", "val_psnr", "val_steps", "val_msssim")}
    path = fit.choose_path(grids, mdl.n_ch)
    assert np.array_equal(path["path_n"], z["path_n"])
    assert np.array_equal(path["path_d"], z["path_d"])
    # PSNR alone picks differently somewhere; weight 0 is PSNR alone
    alone = fit.choose_path({k: grids[k] for k in ("val_bpp", "val_psnr", "val_steps")},
                            mdl.n_ch)
    assert not np.array_equal(alone["path_n"], path["path_n"])
    assert np.array_equal(fit.choose_path(grids, mdl.n_ch, 0.0)["path_n"], alone["path_n"])


def test_path_measurement_is_the_same_with_worker_processes(fit):
    """``train_frappe.py export --jobs N`` measures the validation images in N
    processes: the grids (and so the shipped path) must not depend on N."""
    from frappe_cli.models import model_path

    arrays = model_mod.model_arrays(model_path("squeeze_image", "frappe-image"))
    mdl = model_mod.Model(arrays, "fit")
    y, x = np.mgrid[0:64, 0:96]
    val = np.stack([np.stack([(x * 3 + y) % 256, (x * y) % 256, (200 - y * 2) % 256], 2),
                    np.stack([(x * 7) % 256, (y * 5) % 256, (x + y) % 256], 2)]).astype(np.uint8)
    one = fit.measure_path(mdl, val, log=lambda _m: None)
    two = fit.measure_path(mdl, val, log=lambda _m: None, jobs=2, arrays=arrays)
    assert one.keys() == two.keys()
    for k in one:
        assert np.array_equal(one[k], two[k]), k
