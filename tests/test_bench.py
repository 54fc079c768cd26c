"""squeeze bench: side-by-side table, verified round trips, baseline regression check."""

import json
import os
import subprocess
import sys
from pathlib import Path

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
