"""Measurements behind docs/bench-binary.md (tokenizer and x86 transform).

    PYTHONPATH=.:codecs python -m squeeze_binary.benchmark tokenizer DIR_OR_FILE... [--exact]
    PYTHONPATH=.:codecs python -m squeeze_binary.benchmark transform DIR_OR_FILE...

Speeds are CPU time (time.process_time) of this process, median of ``--repeat``
runs; sizes are exact.  Output is JSON on stdout, a summary on stderr.
"""

from __future__ import annotations

import argparse
import json
import lzma
import statistics
import sys
import time
from pathlib import Path


def _files(inputs) -> list[Path]:
    out = []
    for i in inputs:
        p = Path(i)
        out.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    return out


def _cpu(fn, repeat):
    times, res = [], None
    for _ in range(repeat):
        t0 = time.process_time()
        res = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), res


def bench_tokenizer(files, repeat, exact, model):
    from squeeze_binary.tokenizer import FAMILY_SIZES, BinaryBPE

    full = BinaryBPE.load(model) if model else BinaryBPE.shipped()
    datas = [f.read_bytes() for f in files]
    total = sum(map(len, datas))
    rows = []
    for v in FAMILY_SIZES:
        tok = full.truncate(v)
        tok.encode(b"warm", "greedy"), tok.encode(b"warm", "exact"), tok.decode([0])
        row = {"vocab": v, "bytes": total}
        methods = ["greedy"] + (["exact"] if exact else [])
        for m in methods:
            t_enc, ids = _cpu(lambda: [tok.encode(d, m) for d in datas], repeat)
            t_dec, back = _cpu(lambda: [tok.decode(i) for i in ids], repeat)
            assert back == datas, f"{v} {m}: round trip differs"
            n = sum(map(len, ids))
            per_file = [len(d) / max(len(i), 1) for d, i in zip(datas, ids)]
            row[m] = {"tokens": n, "bytes_per_token": total / n,
                      "mean_file_bytes_per_token": statistics.fmean(per_file),
                      "encode_MBps": total / 1e6 / t_enc, "decode_MBps": total / 1e6 / t_dec,
                      "vocab_used": len(set().union(*[set(i.tolist()) for i in ids]))}
        rows.append(row)
        g = row["greedy"]
        msg = (f"{v:>6}: greedy {g['bytes_per_token']:.3f} B/tok (enc {g['encode_MBps']:.1f} "
               f"MB/s, dec {g['decode_MBps']:.0f} MB/s, used {g['vocab_used']})")
        if exact:
            e = row["exact"]
            msg += f"; exact {e['bytes_per_token']:.3f} B/tok (enc {e['encode_MBps']:.1f} MB/s)"
        print(msg, file=sys.stderr, flush=True)
    return {"files": len(files), "bytes": total, "rows": rows}


def _xz(data, x86_filter=False):
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
    if x86_filter:
        filters.insert(0, {"id": lzma.FILTER_X86})
    return len(lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                             filters=filters))


def bench_transform(files):
    from squeeze_binary import x86

    variants = ["xz", "xz_x86", "ours_regions", "ours_regions_nojcc", "ours_whole"]
    per = []
    for f in files:
        d = f.read_bytes()
        r = {"file": str(f), "bytes": len(d)}
        r["xz"] = _xz(d)
        r["xz_x86"] = _xz(d, True)
        for name, t in (("ours_regions", x86.transform_executable(d, jcc=True)),
                        ("ours_regions_nojcc", x86.transform_executable(d, jcc=False)),
                        ("ours_whole", x86.x86_forward(d, jcc=True))):
            r[name] = _xz(t)
        per.append(r)
        print(f.name[-50:], " ".join(f"{k} {8 * r[k] / len(d):.3f}" for k in variants),
              file=sys.stderr, flush=True)
    total = sum(r["bytes"] for r in per)
    summary = {}
    for k in variants:
        summary[k] = {"bpb_total": 8 * sum(r[k] for r in per) / total,
                      "bpb_mean_per_file": statistics.fmean(8 * r[k] / r["bytes"] for r in per)}
    print(json.dumps(summary, indent=1), file=sys.stderr)
    return {"files": len(per), "bytes": total, "summary": summary, "per_file": per}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["tokenizer", "transform"])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--exact", action="store_true", help="also the merge-order encoder")
    ap.add_argument("--model", default=None)
    a = ap.parse_args()
    files = _files(a.inputs)
    if a.what == "tokenizer":
        out = bench_tokenizer(files, a.repeat, a.exact, a.model)
    else:
        out = bench_transform(files)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
