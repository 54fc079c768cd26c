"""FRAPPE-Image entropy tables per range of steps (SPEC.md section 4): a model file with
step edges holds one table set per range, and a stream at step D is coded with the set
of D's range; nothing else in the stream changes, and models without edges are read as
before (one set)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from image_util import wavy_image

from frappe_cli.errors import SqueezeError, UnsupportedError

ROOT = Path(__file__).resolve().parent.parent
model_mod = pytest.importorskip("squeeze_image.model")
entropy = pytest.importorskip("squeeze_image.entropy")
pytest.importorskip("constriction")

EDGE = 300


@pytest.fixture(scope="module")
def arrays():
    from frappe_cli.models import model_path

    try:
        return model_mod.model_arrays(model_path("squeeze_image", model_mod.MODEL_NAME))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"image model not available: {exc}")


@pytest.fixture(scope="module")
def models(arrays):
    """(one-set model, the same with its rows mirrored, a two-set model: the first
    below step EDGE, the mirrored ones from EDGE on)."""
    arrays = _one_set(arrays)
    f = arrays["ctx_freqs"]
    mirrored = np.ascontiguousarray(f[:, :, ::-1])
    one = model_mod.Model(arrays, "one")
    alt = model_mod.Model({**arrays, "ctx_freqs": mirrored}, "alt")
    two = model_mod.Model({**arrays, "ctx_step_edges": np.array([EDGE], np.int64),
                           "ctx_freqs": np.stack([f, mirrored])}, "two")
    return one, alt, two


def _one_set(arrays: dict) -> dict:
    """The model's arrays with one table set (its first, where it has several)."""
    out = {k: v for k, v in arrays.items() if k != "ctx_step_edges"}
    if out["ctx_freqs"].ndim == 4:
        out["ctx_freqs"] = out["ctx_freqs"][0]
    return out


def test_a_shipped_ranged_model_reads_its_sets(arrays):
    if "ctx_step_edges" not in arrays:
        pytest.skip("the shipped default has one table set")
    mdl = model_mod.Model(arrays, "shipped")
    R, n_ch = arrays["ctx_freqs"].shape[:2]
    assert len(mdl.ctx_edges) == R - 1 and mdl.n_ch == n_ch
    bounds = (16, *mdl.ctx_edges, 2049)  # set g: steps bounds[g] .. bounds[g + 1] - 1
    for g in range(R):
        for D in (bounds[g], bounds[g + 1] - 1):
            assert np.array_equal(mdl.freqs[mdl.table(3, D)], arrays["ctx_freqs"][g, 3])
            assert np.array_equal(mdl.cost[mdl.table(3, D)], mdl.cost[g * n_ch + 3])


def test_the_step_picks_the_table_set(models):
    one, _alt, two = models
    assert one.ctx_edges == () and two.ctx_edges == (EDGE,)
    assert two.freqs.shape == (2 * one.n_ch, *one.freqs.shape[1:])
    for k in (0, 5, one.n_ch - 1):
        assert one.table(k, 16) == one.table(k, 2048) == k
        assert two.table(k, EDGE - 1) == k and two.table(k, 16) == k
        assert two.table(k, EDGE) == two.table(k, 2048) == one.n_ch + k


@pytest.mark.parametrize("D", [128, EDGE - 1, EDGE, 700])
def test_streams_use_the_set_of_their_step_and_round_trip(models, D):
    one, alt, two = models
    n = 14
    ys = two.analysis(wavy_image(64, 96, D), n)
    qs = [entropy.quantise(y, D) for y in ys]
    same = one if D < EDGE else alt  # the one-set model with that range's tables
    other = alt if D < EDGE else one
    data = entropy.encode(two, qs, n, D)
    assert data == entropy.encode(same, qs, n, D) != entropy.encode(other, qs, n, D)
    assert entropy.estimate_bits(two, qs, n, D) == entropy.estimate_bits(same, qs, n, D)
    cc = entropy.ChannelCache(two, ys)
    assert cc.encode(n, D) == data and cc.bits(n, D) == entropy.estimate_bits(two, qs, n, D)
    shapes = [q.shape for q in qs] + [(1, 1)] * (two.n_ch - n)
    assert two.fast_coder() is not None
    for dec in (entropy.decode, entropy._decode_waves):  # numba kernel and constriction
        got, end = dec(two, memoryview(data), 0, n, D, shapes)
        assert end == len(data)
        assert all(np.array_equal(a, b) for a, b in zip(got, qs))


def test_inconsistent_tables_are_refused(arrays):
    arrays = _one_set(arrays)
    f = arrays["ctx_freqs"]
    bad = [
        {"ctx_step_edges": np.array([EDGE], np.int64), "ctx_freqs": f},  # one set, 2 ranges
        {"ctx_step_edges": np.array([500, EDGE], np.int64),
         "ctx_freqs": np.stack([f, f, f])},  # edges not increasing
        {"ctx_step_edges": np.array([EDGE, EDGE], np.int64),
         "ctx_freqs": np.stack([f, f, f])},  # a repeated edge
        {"ctx_freqs": f[:-1]},  # a channel short
    ]
    for extra in bad:
        with pytest.raises(SqueezeError, match="entropy tables"):
            model_mod.Model({**arrays, **extra}, "bad")


def test_frame_streams_refuse_a_ranged_model():
    from frappe_cli.models import model_path

    frames = pytest.importorskip("squeeze_image.frames")
    try:
        fa = model_mod.model_arrays(model_path("squeeze_image", model_mod.FRAMES_MODEL))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no frames model: {exc}")
    assert frames._Core(model_mod.Model(fa, "00" * 8)).mdl.ctx_edges == ()
    ranged = model_mod.Model({**fa, "ctx_step_edges": np.array([EDGE], np.int64),
                              "ctx_freqs": np.stack([fa["ctx_freqs"]] * 2)}, "00" * 8)
    with pytest.raises(UnsupportedError, match="one entropy table set"):
        frames._Core(ranged)


@pytest.fixture()
def fit(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "models"))
    import frappe_fit

    yield frappe_fit
    sys.modules.pop("frappe_fit", None)


def test_fitted_ranges_make_a_loadable_model(fit, arrays):
    S = len(fit.FIT_STEPS)
    arrays = _one_set(arrays)
    n_ch, nb1, A = arrays["ctx_freqs"].shape
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 50, (S, n_ch, nb1, A))
    esc = rng.integers(0, 5, 4096)
    assert fit.step_ranges(()) == [list(range(S))]
    edges = (100, 400)
    groups = fit.step_ranges(edges)
    assert [fit.FIT_STEPS[g[0]] for g in groups] == [32, 128, 400]
    out = fit.tables_from_counts(counts, esc, edges)
    assert out["ctx_freqs"].shape == (3, n_ch, nb1, A)
    assert (out["ctx_freqs"].sum(-1) == fit.TOTAL).all() and out["ctx_freqs"].min() >= 1
    assert np.array_equal(out["fit_counts"][1], counts[groups[1]].sum(0))
    mdl = model_mod.Model({**arrays, **out}, "fit")
    assert mdl.ctx_edges == edges and mdl.table(2, 399) == n_ch + 2
    single = fit.tables_from_counts(counts, esc)
    assert "ctx_step_edges" not in single and single["ctx_freqs"].shape == (n_ch, nb1, A)
    assert np.array_equal(single["fit_counts"], counts.sum(0))
    for bad in ((16,), (3000,), (400, 100), (100, 110)):  # a range without a fitted step
        with pytest.raises(ValueError, match="without a fitted step"):
            fit.step_ranges(bad)
