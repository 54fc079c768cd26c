"""squeeze bench: side-by-side table, verified round trips, baseline regression check."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))


def bench(*args):
    p = subprocess.run([sys.executable, "-m", "frappe_cli", "bench", *map(str, args)],
                       capture_output=True, env=ENV, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_table_json_and_baseline(tmp_path):
    f = tmp_path / "sample.txt"
    f.write_bytes(b"".join(b"row %d of a small benchmark file\n" % i for i in range(5000)))
    out = tmp_path / "run.json"
    rc, table, err = bench(f, "--codec", "zstd:3", "--peers", "gzip-9,xz-9e,zstd-19",
                           "--repeat", "2", "--json", out)
    assert rc == 0, err
    for name in ("sqz-zstd-3", "gzip-9", "xz-9e", "zstd-19"):
        assert name in table
    res = json.loads(out.read_text())
    assert {r["codec"] for r in res["results"]} == {"sqz-zstd-3", "gzip-9", "xz-9e", "zstd-19"}
    assert all(r["ok"] for r in res["results"])
    assert res["meta"]["repeat"] == 2
    # same run against itself: no regression
    rc, _, err = bench(f, "--codec", "zstd:3", "--peers", "none", "--repeat", "1",
                       "--baseline", out)
    assert rc == 0 and "no regression" in err
    # a baseline that was 5% smaller: the run regresses
    for r in res["results"]:
        r["csize"] = int(r["csize"] * 0.95)
    out.write_text(json.dumps(res))
    rc, _, err = bench(f, "--codec", "zstd:3", "--peers", "none", "--repeat", "1",
                       "--baseline", out, "--max-regression", "1")
    assert rc == 1 and "REGRESSION sample.txt sqz-zstd-3" in err


def test_prefix_spec_and_unknown_peer(tmp_path):
    f = tmp_path / "big.bin"
    f.write_bytes(bytes(range(256)) * 100)
    rc, table, _ = bench(f"{f}@1000", "--codec", "store", "--peers", "none", "--repeat", "1")
    assert rc == 0 and "big.bin@1000 (1,000 bytes)" in table
    rc, _, err = bench(f, "--peers", "lz-nothing")
    assert rc == 1 and "unknown peer" in err


def test_missing_optional_peers_are_skipped(tmp_path):
    """The default peer set runs in an environment without the bench extra: each peer
    whose package is missing is skipped with one stderr line, the others run."""
    import importlib.util

    f = tmp_path / "small.txt"
    f.write_bytes(b"".join(b"line %d of a tiny benchmark input\n" % i for i in range(300)))
    rc, table, err = bench(f, "--codec", "zstd:3", "--repeat", "1")
    assert rc == 0, err
    for name in ("sqz-zstd-3", "gzip-9", "bzip2-9", "xz-9e", "zstd-19"):
        assert name in table
    for module, peer in (("brotli", "brotli-11"), ("pyppmd", "ppmd8-o8")):
        line = (f"squeeze bench: {module} not installed (pip install 'squeeze-codecs[bench]'); "
                f"skipping {peer}")
        if importlib.util.find_spec(module) is None:
            assert err.count(line) == 1 and peer not in table
        else:
            assert line not in err and peer in table


def test_missing_peer_skips_in_process():
    from frappe_cli.bench import peers, runner

    fake = peers.Peer("fake-9", lambda d: d, lambda b, n: b, needs="squeeze_no_such_module")
    prog = peers.Peer("fake-prog", lambda d: d, lambda b, n: b, program="squeeze-no-such-prog")
    lines = []
    saved = dict(peers.PEERS)
    try:
        runner.PEERS.update({"fake-9": fake, "fake-prog": prog})
        res = runner.run([], [], ["fake-9", "gzip-9", "fake-prog"], repeat=1, warn=lines.append)
    finally:
        runner.PEERS.clear()
        runner.PEERS.update(saved)
    assert res == []  # no inputs: nothing measured, nothing raised
    assert lines == [
        "squeeze bench: squeeze_no_such_module not installed "
        "(pip install 'squeeze-codecs[bench]'); skipping fake-9",
        "squeeze bench: squeeze-no-such-prog not installed (no 'squeeze-no-such-prog' program "
        "on PATH; e.g. apt-get install squeeze-no-such-prog); skipping fake-prog",
    ]


# -- suites: the squeeze.bench_suites entry points ---------------------------------------------

PLUGIN = '''
from frappe_cli.bench import runner
from frappe_cli.bench.suite import Report, Suite
from frappe_cli.bench.timing import median_time


class Echo(Suite):
    name = "echo-test"
    description = "a third-party suite (test)"
    options = ({"flag": "--word", "param": "word", "default": "hi", "help": "what to echo"},)
    default_codecs = ()
    default_peers = ()

    def run(self, args):
        secs, out = median_time(lambda: args.options["word"] * 3, args.repeat)
        print("ECHO", out)
        rows = [runner.Result(f, "echo", 10, 5, secs, secs, True) for f in args.files]
        return Report(rows, data={"echo": out}, meta={"word": args.options["word"]})


SUITE = Echo()
'''


def _suite_group() -> list[tuple[str, str]]:
    """pyproject.toml's squeeze.bench_suites entry points."""
    import tomllib

    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(doc["project"]["entry-points"]["squeeze.bench_suites"].items())


def suites_env(tmp_path: Path) -> dict:
    """An environment whose sys.path holds a distribution declaring pyproject's suites and
    two test ones (a plugin, and one whose module is missing), whatever is installed."""
    site = tmp_path / "site"
    (site / "sqz_suites_test-0.dist-info").mkdir(parents=True)
    (site / "sqz_echo_suite.py").write_text(PLUGIN)
    lines = ["[squeeze.bench_suites]"] + [f"{k} = {v}" for k, v in _suite_group()]
    lines += ["echo-test = sqz_echo_suite:SUITE", "gone-test = sqz_no_such_module:SUITE"]
    (site / "sqz_suites_test-0.dist-info" / "entry_points.txt").write_text("\n".join(lines))
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT),
                                                         str(ROOT / "codecs")]))


def bench_in(env, *args):
    p = subprocess.run([sys.executable, "-m", "frappe_cli", "bench", *map(str, args)],
                       capture_output=True, env=env, timeout=600)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_pyproject_suites_are_suites():
    """Every suite pyproject.toml registers imports from the checkout and is that suite."""
    import importlib

    from frappe_cli.bench.suite import Suite

    group = _suite_group()
    assert {"text", "exe", "weights", "image"} <= {k for k, _ in group}
    for name, target in group:
        module, _, attr = target.partition(":")
        assert module.startswith("benchmarks.suites."), target  # tooling, not the wheel
        suite = getattr(importlib.import_module(module), attr)
        assert isinstance(suite, Suite) and suite.name == name, target


def test_plugin_suite_and_missing_suite(tmp_path):
    env = suites_env(tmp_path)
    f = tmp_path / "in.bin"
    f.write_bytes(b"x" * 10)
    out = tmp_path / "echo.json"
    rc, table, err = bench_in(env, "--suite", "echo-test", f, "--word", "ab", "--repeat", "2",
                              "--json", out)
    assert rc == 0, err
    assert "ECHO ababab" in table
    doc = json.loads(out.read_text())
    assert doc["echo"] == "ababab" and doc["meta"]["word"] == "ab"
    assert doc["meta"]["suite"] == "echo-test" and doc["results"][0]["codec"] == "echo"
    # its baseline gate is the harness's
    rc, _, err = bench_in(env, "--suite", "echo-test", f, "--baseline", out, "--repeat", "1")
    assert rc == 0 and "no regression" in err
    rc, text, _ = bench_in(env, "--suite", "echo-test", "--help")
    assert rc == 0 and "--word" in text
    rc, text, _ = bench_in(env, "--help")
    assert rc == 0 and "echo-test" in text and "gone-test" in text and "not installed" in text
    # a registered suite whose module is not installed: one line, exit 1
    rc, _, err = bench_in(env, "--suite", "gone-test", f)
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "suite 'gone-test' is not installed" in err
    rc, _, err = bench_in(env, "--suite", "no-such-suite", f)
    assert rc == 1 and "unknown suite 'no-such-suite'" in err


def test_text_suite_with_reference_rows(tmp_path):
    f = tmp_path / "xargs.1"  # a Canterbury name: lpaq1's recorded size is a reference row
    f.write_bytes(b"".join(b"xargs line %d: run a command on items\n" % i for i in range(120)))
    out = tmp_path / "text.json"
    rc, table, err = bench_in(suites_env(tmp_path), "--suite", "text", f, "--peers", "xz-9e",
                              "--repeat", "1", "--json", out)
    assert rc == 0, err
    codecs = {r["codec"]: r for r in json.loads(out.read_text())["results"]}
    assert set(codecs) == {"sqz-text-6", "xz-9e", "lpaq1-6-ref"}
    assert codecs["lpaq1-6-ref"]["csize"] == 1514 and codecs["lpaq1-6-ref"]["comp_s"] is None
    assert "vs xz-9e" in table


def test_weights_suites(tmp_path):
    import numpy as np
    from squeeze_weights import formats as F

    w = (np.random.default_rng(3).standard_normal(60_000) * 0.02).astype(np.float32)
    f = tmp_path / "tiny.safetensors"
    f.write_bytes(F.write_safetensors([("w", "BF16", [60_000],
                                        (w.view(np.uint32) >> 16).astype(np.uint16).tobytes())]))
    env = suites_env(tmp_path)
    out = tmp_path / "w.json"
    rc, table, err = bench_in(env, "--suite", "weights", f, "--peers", "zstd-3-planes",
                              "--repeat", "1", "--json", out)
    assert rc == 0, err
    res = json.loads(out.read_text())["results"]
    assert {r["codec"] for r in res} == {"sqz-dfloat11", "sqz-enec", "zstd-3-planes"}
    assert all(r["ok"] for r in res)
    rc, text, err = bench_in(env, "--suite", "weights-threads", f, "--reps", "2", "--repeat", "1")
    assert rc == 0 and "speed-up" in text, err


def test_exe_suites(tmp_path):
    exe = Path("/usr/bin/true")
    if not exe.is_file():
        import pytest

        pytest.skip("no /usr/bin/true")
    env = suites_env(tmp_path)
    out = tmp_path / "exe.json"
    rc, table, err = bench_in(env, "--suite", "exe", exe, "--ablate", "6", "--repeat", "1",
                              "--json", out)
    assert rc == 0, err
    doc = json.loads(out.read_text())
    assert {r["codec"] for r in doc["results"]} == {"sqz-exe-6", "xz-9e", "xz-x86-9e"}
    assert "ablate_L6" in doc["summary"] and "vs xz-x86-9e" in table
    rc, table, err = bench_in(env, "--suite", "exe-transform", exe)
    assert rc == 0 and "x86-regions+xz" in table, err


def test_image_suite(tmp_path):
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:200, 0:208]
    noise = np.random.default_rng(1).integers(0, 20, (200, 208, 1))
    rgb = np.stack([x, y, (x + y) // 2], -1) + noise
    f = tmp_path / "tiny.png"
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(f)
    out = tmp_path / "img.json"
    env = suites_env(tmp_path)
    rc, table, err = bench_in(env, "--suite", "image", f, "--bpp", "0.3",
                              "--peers", "jpeg", "--part", "rd", "--repeat", "1", "--json", out)
    assert rc == 0, err
    doc = json.loads(out.read_text())
    assert set(doc["summary"]) == {"squeeze-frappe", "jpeg"}
    assert {r["file"] for r in doc["results"]} == {"tiny.png@0.3bpp"}
    assert "squeeze-frappe" in table
    # --tune: one row per squeeze model, the default (psnr) under the plain name
    rc, table, err = bench_in(env, "--suite", "image", f, "--bpp", "0.3",
                              "--peers", "none", "--part", "rd", "--repeat", "1",
                              "--tune", "ms-ssim", "--tune", "psnr", "--json", out)
    assert rc == 0, err
    doc = json.loads(out.read_text())
    assert set(doc["summary"]) == {"squeeze-frappe", "squeeze-frappe-ms-ssim"}
    a, b = (doc["summary"][c]["0.3"] for c in ("squeeze-frappe", "squeeze-frappe-ms-ssim"))
    assert a != b and 0.2 < a["bpp"] <= 0.3 and 0.2 < b["bpp"] <= 0.3


def test_image_rd_plot_spans_the_run(tmp_path, monkeypatch):
    """The RD plot's axis covers every target of the run and every measured point
    (a run up to 1 bpp is drawn up to 1 bpp, not cut at a fixed 0.6)."""
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.suites import image as suite

    pt = {"psnr": 30.0, "msssim": 0.9, "ssimulacra2": 10.0}
    summary = {"squeeze-frappe": {"0.05": {"bpp": 0.049, **pt}, "1.0": {"bpp": 0.99, **pt}},
               "jpeg": {"0.05": {"bpp": 0.11, **pt}, "1.0": {"bpp": 1.2, **pt}}}
    p = suite.rd_plot(summary, "t")
    lo, hi = p["xlim"]
    assert lo < 0.049 and hi > 1.2 and p["xticks"] == [0.05, 1.0]


def test_pin_model(tmp_path, monkeypatch):
    """benchmarks/pin_model.py: a models folder where an older model is the one used."""
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.pin_model import pin

    models = tmp_path / "models"
    models.mkdir()
    (models / "m-old.npz").write_bytes(b"old")
    (models / "m-new.npz").write_bytes(b"new")
    (models / "MANIFEST.json").write_text(json.dumps([
        {"name": "frappe-image-v1", "file": "m-old.npz"},
        {"name": "frappe-image", "file": "m-new.npz"}]))
    out = tmp_path / "pinned"
    link = pin(models, "frappe-image-v1", out)
    assert link.read_bytes() == b"old"
    assert json.loads((out / "MANIFEST.json").read_text()) == [
        {"name": "frappe-image", "file": "m-old.npz"}]
    pin(models, "frappe-image-v1", out)  # again: replaces its own link
    with pytest.raises(SystemExit, match="no model named"):
        pin(models, "frappe-image-v9", out)


def test_rd_plot_merges_runs(tmp_path, monkeypatch):
    """benchmarks/rd_plot.py: peers of one run beside squeeze of another (and an older
    squeeze run under its own label), drawn with the suite's own plot."""
    pytest.importorskip("matplotlib")
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import rd_plot

    pt = {"bpp": 0.1, "psnr": 25.0, "msssim": 0.87, "ssimulacra2": -20.0, "images": 24}
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"summary": {"squeeze-frappe": {"0.1": dict(pt, psnr=24.0)},
                                           "jpeg2000": {"0.1": pt}}}))
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"summary": {"squeeze-frappe": {"0.1": dict(pt, psnr=26.0)}}}))
    m = rd_plot.merged([f"{old}:squeeze v2", str(new)])
    assert m["squeeze v2"]["0.1"]["psnr"] == 24.0 and m["squeeze-frappe"]["0.1"]["psnr"] == 26.0
    assert set(m) == {"squeeze v2", "squeeze-frappe", "jpeg2000"}
    out = tmp_path / "rd.png"
    rd_plot.main([str(out), f"{old}:squeeze v2", str(new)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frappe_decode_time_script(tmp_path, monkeypatch, capsys):
    """benchmarks/frappe_decode_time.py encodes, decodes and reports each picture
    (here one small PNG in a stand-in corpora folder with no training photos, so no
    1080p frame)."""
    pytest.importorskip("squeeze_image.codec")
    Image = pytest.importorskip("PIL.Image")
    import numpy as np

    from benchmarks import frappe_decode_time

    (tmp_path / "kodak").mkdir()
    y, x = np.mgrid[0:48, 0:80]
    Image.fromarray(np.stack([x * 3 % 256, y * 5 % 256, (x + y) % 256], 2).astype(np.uint8)) \
        .save(tmp_path / "kodak" / "kodim99.png")
    monkeypatch.setenv("SQUEEZE_CORPORA", str(tmp_path))
    out = tmp_path / "t.json"
    assert frappe_decode_time.main(["--bpp", "0.5", "--repeat", "1", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["picture"] == "kodim99.png" and 0.4 < row["real_bpp"] <= 0.5
    assert row["decode_cpu_s"] > 0
    assert "kodim99.png --bpp 0.5" in capsys.readouterr().out
    monkeypatch.setenv("SQUEEZE_CORPORA", str(tmp_path / "none"))
    assert frappe_decode_time.main([]) == 1
