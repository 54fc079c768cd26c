"""Executable suites (the measurements behind docs/bench-exe.md and docs/bench-binary.md).

* ``exe``: the exe codec per file, at the ``--codec exe:N`` levels, against
  xz -9e with and without its x86 filter (Python's ``lzma``, .xz format, CRC32)
  and, with ``--zpaq``, zpaq -m5 (the program); ``--ablate N`` also codes level N
  without the Binary BPE token contexts (codec stream sizes only).
* ``exe-tokenizer``: bytes per token and encode/decode speed of the shipped
  Binary BPE family (greedy, and with ``--exact`` merge-order BPE).
* ``exe-transform``: the x86 transform's value for LZMA2 (xz -9e on transformed
  bytes, by regions / without Jcc / whole file).
* ``exe-contexts``: indicative value of structure contexts for a byte model
  (single adaptive context, no mixing).

Sizes are exact (whole .sqz files for the codec); speeds are the harness's CPU
time, median of ``--repeat`` runs; every stream is decoded and compared.
"""

from __future__ import annotations

import lzma
import statistics
import sys
from pathlib import Path

from frappe_cli.bench import runner
from frappe_cli.bench.suite import Args, Report, Suite
from frappe_cli.bench.timing import median_time


def bench_tokenizer(files, repeat, exact, model, log=print):
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
            t_enc, ids = median_time(lambda: [tok.encode(d, m) for d in datas], repeat)  # noqa: B023 (called at once)
            t_dec, back = median_time(lambda: [tok.decode(i) for i in ids], repeat)  # noqa: B023
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
        log(msg)
    return {"files": len(files), "bytes": total, "rows": rows}


def _xz(data, x86_filter=False):
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
    if x86_filter:
        filters.insert(0, {"id": lzma.FILTER_X86})
    return len(lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                             filters=filters))


def bench_transform(files, log=print):
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
        log(f"{f.name[-50:]} " + " ".join(f"{k} {8 * r[k] / len(d):.3f}" for k in variants))
    total = sum(r["bytes"] for r in per)
    summary = {}
    for k in variants:
        summary[k] = {"bpb_total": 8 * sum(r[k] for r in per) / total,
                      "bpb_mean_per_file": statistics.fmean(8 * r[k] / r["bytes"] for r in per)}
    for k, v in summary.items():
        log(f"{k:<20} {v['bpb_total']:.4f} bpb in total, {v['bpb_mean_per_file']:.4f} per file")
    return {"files": len(per), "bytes": total, "summary": summary, "per_file": per}


def _context_kernels():
    import numpy as np
    from frappe_cli.jit import njit

    @njit(cache=True)
    def codelen(data, extra, order, bits):
        """Adaptive code length (bits) of data under hashed (extra, order-k bytes) contexts,
        P(s|c) = (n(c,s) + 0.05) / (n(c) + 256 * 0.05): a single context, no mixing."""
        size = 1 << bits
        cs = np.zeros(size, np.int32)
        ct = np.zeros(size, np.int32)
        total = 0.0
        for i in range(data.shape[0]):
            h = np.int64(extra[i]) * 1000003
            for k in range(1, order + 1):
                b = data[i - k] if i - k >= 0 else 256
                h = (h * 1315423911 + b + 1) & 0x7FFFFFFFFFFF
            hc = (h * 2654435761) & (size - 1)
            hs = ((h * 31 + data[i] + 7) * 2654435761) & (size - 1)
            total += -np.log2((cs[hs] + 0.05) / (ct[hc] + 256 * 0.05))
            cs[hs] += 1
            ct[hc] += 1
        return total

    @njit(cache=True)
    def _hb(a, s, e):
        h = np.int64(1469598103934665603)
        for i in range(s, e):
            h = (h ^ np.int64(a[i])) * np.int64(1099511628211)
        return h ^ (e - s)

    @njit(cache=True)
    def suffix_tokens(data, off, blob, V):
        """Causal token context: id of the longest vocabulary token (>= 2 bytes) that ends
        just before each position, else the previous byte (64-bit hashes, no check)."""
        cap = 1 << 20
        keys = np.zeros(cap, np.int64)
        vals = np.full(cap, -1, np.int32)
        for t in range(256, V):
            h = _hb(blob, off[t], off[t + 1])
            i = (h * 2654435761) & (cap - 1)
            while vals[i] >= 0:
                i = (i + 1) & (cap - 1)
            keys[i] = h
            vals[i] = t
        out = np.zeros(data.shape[0], np.int64)
        for j in range(data.shape[0]):
            best = np.int64(data[j - 1]) if j > 0 else 256
            for L in range(min(16, j), 1, -1):
                h = _hb(data, j - L, j)
                i = (h * 2654435761) & (cap - 1)
                found = -1
                while vals[i] >= 0:
                    if keys[i] == h:
                        found = vals[i]
                        break
                    i = (i + 1) & (cap - 1)
                if found >= 0:
                    best = found
                    break
            out[j] = best
        return out

    return codelen, suffix_tokens


def bench_contexts(files, log=print):
    """Indicative value of structure contexts for a byte model (single adaptive context)."""
    import numpy as np

    from squeeze_binary import regions, x86
    from squeeze_binary.tokenizer import BinaryBPE

    codelen, suffix_tokens = _context_kernels()
    out = []
    for f in files:
        raw = f.read_bytes()
        d = x86.transform_executable(raw)
        arr = np.frombuffer(d, np.uint8)
        n = len(d)
        lab = regions.labels(d).astype(np.int64)
        starts, roles = x86.instruction_roles(raw)
        # causal role state: 7 = instruction start, 8 = after a prefix, else the role
        st = roles.astype(np.int64)
        po = (roles == 1) | (roles == 2)
        st[po] = np.where(starts[po] == 1, 7, 8)
        zero = np.zeros(n, np.int64)
        row = {"file": str(f), "bytes": n}
        for name, ex, order in (("o2", zero, 2), ("o2+region", lab, 2), ("o2+role", st, 2),
                                ("o2+region+role", lab * 16 + st, 2)):
            row[name] = codelen(arr, ex, order, 24) / n
        for v in (4096, 65536):
            tok = BinaryBPE.shipped(v)
            off, blob = tok._table()
            sfx = suffix_tokens(arr, off, blob, v)
            row[f"o2+suffix{v // 1024}K"] = codelen(arr, sfx, 2, 24) / n
            row[f"o1+suffix{v // 1024}K+role"] = codelen(arr, sfx * 16 + st, 1, 24) / n
            # NOT causal (greedy tokens look ahead): the offset inside the covering token
            _, offs = tok.byte_contexts(tok.encode(d))
            row[f"o2+tokoffset{v // 1024}K(non-causal)"] = codelen(
                arr, np.minimum(offs, 3).astype(np.int64), 2, 24) / n
        out.append(row)
        log(f"{f.name} " + " ".join(f"{k} {v:.3f}" for k, v in row.items()
                                    if k not in ("file", "bytes")))
    return {"files": out}


def _zpaq_m5(path: Path):
    import shutil
    import subprocess
    import tempfile

    if not shutil.which("zpaq"):
        print("squeeze bench: zpaq not installed (no 'zpaq' program on PATH; e.g. apt-get "
              "install zpaq); no zpaq -m5 column", file=sys.stderr)
        return None, None
    with tempfile.TemporaryDirectory() as td:
        arc = Path(td) / "a.zpaq"
        wall, r = median_time(lambda: subprocess.run(
            ["zpaq", "a", str(arc), str(path.resolve()), "-m5"], capture_output=True), 1, "wall")
        if r.returncode != 0:
            return None, None
        return arc.stat().st_size, wall


def bench_exe(files, levels, ablate, repeat, zpaq, log=print):
    """The exe codec per file against xz -9e (with and without its x86 filter) and zpaq -m5.

    Sizes are whole .sqz files (container framing included); speeds are CPU time of
    ``container.compress`` / ``container.decompress`` (median of ``repeat``); every
    stream is decoded and compared.  ``ablate``: levels also coded without the Binary
    BPE token contexts (codec stream size only, same level otherwise).
    """
    from frappe_cli import container
    from squeeze_binary import exe_block_coder, exe_levels

    # load every kernel once (numba cache, tokenizer tries) before anything is timed
    warm = files[0].read_bytes()[:65536] if files else b""
    for lv in sorted(set(levels) | set(ablate)):
        container.decompress(container.compress(warm, "exe", level=lv))
    rows = []
    for f in files:
        data = f.read_bytes()
        row = {"file": str(f), "bytes": len(data), "xz_9e": _xz(data),
               "xz_x86_9e": _xz(data, True)}
        if zpaq:
            row["zpaq_m5"], row["zpaq_m5_wall_s"] = _zpaq_m5(f)
        for lv in levels:
            t_c, blob = median_time(lambda: container.compress(data, "exe", level=lv), repeat)  # noqa: B023
            t_d, back = median_time(lambda: container.decompress(blob), repeat)  # noqa: B023
            assert back == data, f"{f}: level {lv} round trip differs"
            row[f"L{lv}"] = {"bytes": len(blob), "c_cpu_s": t_c, "d_cpu_s": t_d}
        for lv in ablate:
            spec = exe_levels.LEVELS[lv]
            with_tok = exe_block_coder.compress(data, spec)
            without = exe_block_coder.compress(data, exe_levels.without_tokens(spec))
            row[f"ablate_L{lv}"] = {"with_tokens": len(with_tok) if with_tok else len(data),
                                    "without_tokens": len(without) if without else len(data)}
        rows.append(row)
        n = len(data)
        msg = f"{f.name[-40:]:>40} {n:>9} xz86 {8 * row['xz_x86_9e'] / n:.3f}"
        for lv in levels:
            r = row[f"L{lv}"]
            msg += (f" L{lv} {8 * r['bytes'] / n:.3f} ({r['bytes'] / row['xz_x86_9e']:.3f}x)"
                    f" c {n / 1e6 / r['c_cpu_s']:.2f} d {n / 1e6 / r['d_cpu_s']:.2f} MB/s")
        log(msg)
    total = sum(r["bytes"] for r in rows)
    summary = {"files": len(rows), "bytes": total}
    for key in ["xz_9e", "xz_x86_9e"] + (["zpaq_m5"] if zpaq else []):
        if all(r.get(key) for r in rows):
            summary[key] = sum(r[key] for r in rows)
    for lv in levels:
        k = f"L{lv}"
        s = {"bytes": sum(r[k]["bytes"] for r in rows),
             "c_cpu_s": sum(r[k]["c_cpu_s"] for r in rows),
             "d_cpu_s": sum(r[k]["d_cpu_s"] for r in rows)}
        s["c_MBps"] = total / 1e6 / s["c_cpu_s"]
        s["d_MBps"] = total / 1e6 / s["d_cpu_s"]
        s["vs_xz_x86"] = s["bytes"] / summary["xz_x86_9e"]
        s["worst_file_vs_xz_x86"] = max(r[k]["bytes"] / r["xz_x86_9e"] for r in rows)
        summary[k] = s
        print(f"TOTAL L{lv}: {8 * s['bytes'] / total:.4f} bpb, xz --x86 -9e "
              f"{8 * summary['xz_x86_9e'] / total:.4f}, ratio {s['vs_xz_x86']:.4f} "
              f"(worst file {s['worst_file_vs_xz_x86']:.4f}); c {s['c_MBps']:.3f} MB/s, "
              f"d {s['d_MBps']:.3f} MB/s CPU", flush=True)
    for lv in ablate:
        k = f"ablate_L{lv}"
        w = sum(r[k]["with_tokens"] for r in rows)
        wo = sum(r[k]["without_tokens"] for r in rows)
        summary[k] = {"with_tokens": w, "without_tokens": wo, "gain": 1 - w / wo}
        print(f"ABLATION L{lv}: with tokens {w}, without {wo}: {100 * (1 - w / wo):.2f} % "
              f"smaller with them", flush=True)
    return {"rows": rows, "summary": summary}


# ------------------------------------------------------------------------------------------
# the suites


class ExeSuite(Suite):
    name = "exe"
    description = "the exe codec vs xz -9e (with and without --x86) and zpaq -m5, per file"
    options = (
        {"flag": "--ablate", "param": "ablate", "type": int, "multiple": True,
         "help": "Levels also coded without the Binary BPE token contexts."},
        {"flag": "--zpaq", "param": "zpaq", "is_flag": True,
         "help": "Also zpaq -m5 (the zpaq program; wall time)."},
    )
    default_codecs = ("exe:6",)
    default_peers = ()
    ref = "xz-x86-9e"

    def run(self, args: Args) -> Report:
        levels = []
        for spec in args.codecs:
            cid, _, lvl = spec.partition(":")
            if cid != "exe":
                raise ValueError("the exe suite measures --codec exe:LEVEL only")
            levels.append(int(lvl) if lvl else 6)
        files = [Path(f) for f in args.files]
        out = bench_exe(files, levels, list(args.options.get("ablate") or ()), args.repeat,
                        args.options.get("zpaq"), log=args.log)
        results = []
        for row in out["rows"]:
            name, n = Path(row["file"]).name, row["bytes"]
            for lv in levels:
                r = row[f"L{lv}"]
                results.append(runner.Result(name, f"sqz-exe-{lv}", n, r["bytes"], r["c_cpu_s"],
                                             r["d_cpu_s"], True))
            for key, label in (("xz_9e", "xz-9e"), ("xz_x86_9e", "xz-x86-9e"),
                               ("zpaq_m5", "zpaq-m5")):
                if row.get(key):
                    results.append(runner.Result(name, label, n, row[key], None, None, True))
        return Report(results, data=out, table=True)


class TokenizerSuite(Suite):
    name = "exe-tokenizer"
    description = "Binary BPE: bytes per token and encode/decode speed per vocabulary size"
    options = (
        {"flag": "--exact", "param": "exact", "is_flag": True,
         "help": "Also the merge-order (HF-identical) encoder."},
        {"flag": "--model", "param": "model", "help": "A .bpe merge list (default: shipped)."},
    )
    default_codecs = ()
    default_peers = ()

    def run(self, args: Args) -> Report:
        out = bench_tokenizer([Path(f) for f in args.files], args.repeat,
                              args.options.get("exact"), args.options.get("model"), log=print)
        return Report(data=out)


class TransformSuite(Suite):
    name = "exe-transform"
    description = "the x86 transform's value for LZMA2 (xz -9e on the transformed bytes)"
    default_codecs = ()
    default_peers = ()
    ref = "xz-x86-9e"

    def run(self, args: Args) -> Report:
        out = bench_transform([Path(f) for f in args.files], log=args.log)
        names = {"xz": "xz-9e", "xz_x86": "xz-x86-9e", "ours_regions": "x86-regions+xz",
                 "ours_regions_nojcc": "x86-regions-nojcc+xz", "ours_whole": "x86-whole+xz"}
        results = [runner.Result(Path(r["file"]).name, label, r["bytes"], r[key], None, None,
                                 True) for r in out["per_file"] for key, label in names.items()]
        return Report(results, data=out, table=True)


class ContextsSuite(Suite):
    name = "exe-contexts"
    description = "indicative value of structure contexts for a byte model (one context)"
    default_codecs = ()
    default_peers = ()

    def run(self, args: Args) -> Report:
        return Report(data=bench_contexts([Path(f) for f in args.files], log=print))


EXE = ExeSuite()
TOKENIZER = TokenizerSuite()
TRANSFORM = TransformSuite()
CONTEXTS = ContextsSuite()
