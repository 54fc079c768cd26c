"""Benchmark of the text codec against the usual peers (the numbers in docs/bench-text.md).

    PYTHONPATH=.:codecs python -m squeeze_text.bench --levels 6,9 --runs 3 \
        --files canterbury/alice29.txt,e1m,e3m --peers --json out.json

Sizes are whole .sqz files (container framing included). Speeds are CPU time
(``time.process_time``) in MB/s (10^6 bytes), median of ``--runs`` runs, one
thread. Every squeeze and peer output is decoded and compared. ``e1m``/``e3m``
are the first 10^6 / 3*10^6 bytes of enwik8-prefix/enwik8.head4m.
"""

from __future__ import annotations

import argparse
import bz2
import json
import lzma
import statistics
import sys
import time
from pathlib import Path

# lpaq1 -6 compressed sizes measured on this machine (../shared/reference/text.md, section 4)
LPAQ1 = {
    "canterbury/alice29.txt": 37206, "canterbury/asyoulik.txt": 34373,
    "canterbury/cp.html": 6418, "canterbury/fields.c": 2554, "canterbury/grammar.lsp": 1068,
    "canterbury/kennedy.xls": 37943, "canterbury/lcet10.txt": 89842,
    "canterbury/plrabn12.txt": 126910, "canterbury/ptt5": 43690, "canterbury/sum": 10614,
    "canterbury/xargs.1": 1514, "e1m": 227026, "e3m": 662271,
}
CANTERBURY = ["alice29.txt", "asyoulik.txt", "cp.html", "fields.c", "grammar.lsp",
              "kennedy.xls", "lcet10.txt", "plrabn12.txt", "ptt5", "sum", "xargs.1"]


def load(name: str, corpora: Path) -> bytes:
    if name in ("e1m", "e3m"):
        data = (corpora / "enwik8-prefix/enwik8.head4m").read_bytes()
        return data[: 1_000_000 if name == "e1m" else 3_000_000]
    return (corpora / name).read_bytes()


def timed(fn, runs: int):
    times = []
    out = None
    for _ in range(runs):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return out, statistics.median(times)


def bench_squeeze(data: bytes, level: int, runs: int, **params) -> dict:
    from frappe_cli import container

    blob, te = timed(lambda: container.compress(data, "text", level=level, **params), runs)
    back, td = timed(lambda: container.decompress(blob), runs)
    assert back == data, "round trip failed"
    return {"size": len(blob), "enc_s": te, "dec_s": td}


def bench_peers(data: bytes, runs: int) -> dict:
    import pyppmd
    import zstandard

    res = {}
    c, t = timed(lambda: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME), runs)
    assert lzma.decompress(c) == data
    res["xz -9e"] = {"size": len(c), "enc_s": t}
    c, t = timed(lambda: bz2.compress(data, 9), runs)
    assert bz2.decompress(c) == data
    res["bzip2 -9"] = {"size": len(c), "enc_s": t}
    zc = zstandard.ZstdCompressor(level=19)
    c, t = timed(lambda: zc.compress(data), runs)
    assert zstandard.ZstdDecompressor().decompress(c) == data
    res["zstd -19"] = {"size": len(c), "enc_s": t}

    def ppmd():
        return pyppmd.compress(data, max_order=8, mem_size=256 << 20, variant="I")

    c, t = timed(ppmd, runs)
    ok = pyppmd.decompress(c, max_order=8, mem_size=256 << 20, variant="I") == data
    res["PPMd8 o8"] = {"size": len(c), "enc_s": t, "roundtrip": ok}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="6")
    ap.add_argument("--files", default="canterbury")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peers", action="store_true")
    ap.add_argument("--corpora", default=str(Path(__file__).resolve().parents[3] / "shared"
                                              / "corpora"))
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    corpora = Path(args.corpora)
    names = []
    for f in args.files.split(","):
        names += [f"canterbury/{c}" for c in CANTERBURY] if f == "canterbury" else [f]
    levels = [int(v) for v in args.levels.split(",")]
    results = {}
    for name in names:
        data = load(name, corpora)
        row = {"bytes": len(data)}
        for level in levels:
            row[f"text -{level}"] = bench_squeeze(data, level, args.runs)
        if args.peers:
            row.update(bench_peers(data, args.runs))
        if name in LPAQ1:
            row["lpaq1 -6 (ref.)"] = {"size": LPAQ1[name]}
        results[name] = row
        line = [f"{name} ({len(data)} B)"]
        for k, v in row.items():
            if isinstance(v, dict):
                bpb = 8 * v["size"] / len(data)
                extra = ""
                if "enc_s" in v and v["enc_s"] > 0:
                    extra = f" {len(data) / v['enc_s'] / 1e6:.3f}"
                    if "dec_s" in v:
                        extra += f"/{len(data) / v['dec_s'] / 1e6:.3f} MB/s"
                    else:
                        extra += " MB/s"
                line.append(f"{k}: {v['size']} ({bpb:.3f}){extra}")
        print(" | ".join(line), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
