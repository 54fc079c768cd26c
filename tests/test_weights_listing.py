"""``describe_sqz``: per-tensor / per-dtype rows for ``squeeze list -v``."""

import numpy as np
import pytest
from squeeze_weights import formats as F
from squeeze_weights.listing import describe_sqz
from weights_util import mixed_safetensors, weight_bits

from frappe_cli import container
from frappe_cli.errors import CorruptError

RNG = np.random.default_rng(31)


@pytest.mark.parametrize("cid", ["dfloat11", "enec"])
def test_rows_add_up(tmp_path, cid):
    data = mixed_safetensors(RNG, big=20_000)
    p = tmp_path / "m.sqz"
    p.write_bytes(container.compress(data, cid, block_size=1 << 14))
    rows = describe_sqz(p)
    tensors = [r for r in rows if r["row"] == "tensor"]
    total = rows[-1]
    assert total["row"] == "total" and total["original"] == len(data)
    assert total["compressed"] == p.stat().st_size
    parts = sum(r["compressed"] for r in rows if r["row"] in ("tensor", "other"))
    assert abs(parts - total["compressed"]) <= len(rows)
    dtypes = {r["dtype"] for r in tensors}
    assert dtypes == {"BF16", "F16", "F32", "F64", "F8_E4M3", "F8_E5M2"}
    big = next(r for r in tensors if r["name"] == "BF16.weights")
    assert big["elements"] == 20_000 // 7 * 7 and big["original"] == big["elements"] * 2
    if cid == "dfloat11":
        # compressed / original like the main table; never below the entropy bound
        assert big["bound"] - 0.01 <= big["ratio"] < 0.77
    for r in rows:
        for k in ("ratio", "bound"):
            assert r[k] is None or r[k] == round(r[k], 3)
        if r["original"]:
            assert r["ratio"] == round(r["compressed"] / r["original"], 3)
    for r in rows:
        assert set(r) >= {"name", "dtype", "elements", "original", "compressed", "ratio", "bound"}


def test_bound_matches_entropy(tmp_path):
    bits = weight_bits("BF16", 300_000, RNG)
    data = F.write_safetensors([("w", "BF16", [300_000], bits.tobytes())])
    p = tmp_path / "w.sqz"
    p.write_bytes(container.compress(data, "dfloat11"))
    row = describe_sqz(p)[0]
    e = (bits >> 7) & 0xFF
    c = np.bincount(e, minlength=256)
    q = c[c > 0] / len(e)
    h = -(q * np.log2(q)).sum()
    assert abs(row["bound"] - (h + 8) / 16) <= 0.0005 + 1e-12
    assert describe_sqz(p, entropy=False)[0]["bound"] is None


def test_npy_and_non_weights(tmp_path):
    import io

    buf = io.BytesIO()
    np.save(buf, RNG.normal(size=(100, 50)).astype(np.float32))
    p = tmp_path / "a.sqz"
    p.write_bytes(container.compress(buf.getvalue(), "dfloat11"))
    rows = describe_sqz(p)
    assert rows[0]["name"] == "array" and rows[0]["elements"] == 5000
    p.write_bytes(container.compress(b"hello" * 100, "zstd"))
    with pytest.raises(CorruptError):
        describe_sqz(p)


def test_cli_list_verbose_ratios(tmp_path):
    """``squeeze -l -v`` prints per-tensor ratios as its main table does (compressed /
    uncompressed, 3 decimals)."""
    import re
    import subprocess
    import sys

    bits = weight_bits("BF16", 50_000, RNG)
    data = F.write_safetensors([("w", "BF16", [50_000], bits.tobytes()),
                                ("ids", "I32", [100], bytes(400))])
    p = tmp_path / "w.safetensors.sqz"
    p.write_bytes(container.compress(data, "dfloat11"))
    out = subprocess.run([sys.executable, "-m", "frappe_cli", "-l", "-v", str(p)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    main = re.search(r"^dfloat11\s+\d+\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)", out.stdout, re.M)
    assert main and float(main[3]) < 1
    row = re.search(r"row=tensor\s+name=w\s.*original=(\d+)\s+compressed=(\d+)\s+"
                    r"ratio=([\d.]+)\s+bound=([\d.]+)", out.stdout)
    assert row, out.stdout
    orig, comp = int(row[1]), int(row[2])
    assert row[3] == str(round(comp / orig, 3)) and 0.6 < float(row[3]) < 0.8
    assert len(row[3].split(".")[1]) <= 3 and len(row[4].split(".")[1]) <= 3
    assert float(row[4]) <= float(row[3]) + 0.01
    total = re.search(r"row=total\s.*ratio=([\d.]+)", out.stdout)
    assert total and float(total[1]) == float(main[3])
