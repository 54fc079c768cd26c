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
