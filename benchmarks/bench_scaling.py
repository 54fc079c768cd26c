"""squeeze on a Dask cluster vs threads: the measurements behind docs/SCALING.md.

    .venv/bin/python benchmarks/bench_scaling.py prepare          # inputs under /tmp
    .venv/bin/python benchmarks/bench_scaling.py text             # -T1 -T2 local:1 local:2 (+file://)
    .venv/bin/python benchmarks/bench_scaling.py weights          # the same on a ~450 MB BF16 model
    .venv/bin/python benchmarks/bench_scaling.py overhead         # per-task cost, bytes moved
    .venv/bin/python benchmarks/bench_scaling.py blocksize        # ratio vs block size (text codec)
    .venv/bin/python benchmarks/bench_scaling.py report           # -> benchmarks/results-scaling.md

Each configuration runs the real CLI (``frappe_cli.cli.main``) in a fresh
child process, which reports its wall time, its own CPU time and peak RSS
(the *client*: Dask workers are separate processes) and the CPU time of its
reaped children (the LocalCluster's workers).  Every run's output is hashed:
all configurations must write the same bytes.  Results accumulate in
``benchmarks/results-scaling.json``; ``report`` renders the Markdown.

Inputs are built under ``/tmp/squeeze-scaling`` from ../shared/corpora and
.bench/weights (never copied into the repository).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("SQUEEZE_SCALING_DIR", "/tmp/squeeze-scaling"))
CORPORA = Path(os.environ.get("SQUEEZE_CORPORA", ROOT.parent / "shared" / "corpora"))
RESULTS = ROOT / "benchmarks" / "results-scaling.json"
TEXT_FILES = ["silesia/dickens", "large/bible.txt", "large/world192.txt",
              "enwik8-prefix/enwik8.head4m", "canterbury/alice29.txt", "canterbury/lcet10.txt",
              "canterbury/plrabn12.txt", "canterbury/asyoulik.txt"]
TEXT_SIZE = 52_000_000
CONFIGS = [("-T1", ["-T1"]), ("-T2", ["-T2"]), ("local:1", ["--scheduler", "local:1"]),
           ("local:2", ["--scheduler", "local:2"]),
           ("local:2 file://", ["--scheduler", "local:2"])]


# ------------------------------------------------------------------------------------
# inputs


def text_corpus() -> Path:
    out = WORK / "text-52MB.txt"
    if out.exists() and out.stat().st_size == TEXT_SIZE:
        return out
    WORK.mkdir(parents=True, exist_ok=True)
    parts = [(CORPORA / f).read_bytes() for f in TEXT_FILES]
    buf = bytearray()
    while len(buf) < TEXT_SIZE:
        for p in parts:
            buf += p
    out.write_bytes(bytes(buf[:TEXT_SIZE]))
    return out


def weights_model() -> Path:
    out = WORK / "minilm-bf16-x10.safetensors"
    if out.exists():
        return out
    sys.path[:0] = [str(ROOT), str(ROOT / "codecs")]
    from benchmarks.suites.weights import prepare_files, tiled_safetensors

    src = ROOT / ".bench" / "weights" / "minilm-bf16-rne-from-fp32.safetensors"
    if not src.exists():
        prepare_files(ROOT / ".bench" / "weights")
    WORK.mkdir(parents=True, exist_ok=True)
    out.write_bytes(tiled_safetensors(src.read_bytes(), 10))
    return out


# ------------------------------------------------------------------------------------
# one configuration in a child process


def child(argv: list[str], out_path: str) -> None:
    """Run the CLI in this process; print a JSON line with times and memory."""
    sys.path[:0] = [str(ROOT), str(ROOT / "codecs")]
    from frappe_cli import cli

    t0 = time.perf_counter()
    code = 0
    try:
        cli.main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    wall = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec from the parent
    status = Path("/proc/self/status").read_text()
    hwm = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:"))
    print("RESULT " + json.dumps({
        "rc": code, "wall_s": wall, "client_cpu_s": me.ru_utime + me.ru_stime,
        "workers_cpu_s": kids.ru_utime + kids.ru_stime,
        "client_peak_rss_mib": hwm / 1024, "out": out_path}), flush=True)


def _cpu_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = f[3] + f[4]
    return (sum(f[:8]) - idle) / hz, sum(f[:8]) / hz


def _kernel_key() -> str:
    """The numba cache folder this checkout's sources map to (it changes when anyone
    edits a kernel source: then every process compiles again)."""
    code = ("import os; os.environ.pop('NUMBA_CACHE_DIR', None); import frappe_cli; "
            "print(os.environ.get('NUMBA_CACHE_DIR', ''))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'codecs'}"),
                          cwd=ROOT).stdout.strip()


def _child(argv: list[str], out: Path) -> dict:
    p = subprocess.run([sys.executable, __file__, "child", json.dumps(argv), str(out)],
                       capture_output=True, text=True, timeout=3600)
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"{argv} failed: {p.stderr[-2000:]}")
    res = json.loads(line[0][7:])
    if res["rc"] != 0:
        raise RuntimeError(f"{argv} exited {res['rc']}: {p.stderr[-2000:]}")
    return res


def run_config(name: str, flags: list[str], src: Path, codec: str, block: str,
               warm: Path | None = None) -> dict:
    """One timed run.  ``warm``: a small input compressed first with the same flags, so
    that the numba kernels are compiled and on disk (the timed run's processes, workers
    included, only load them); repeated when someone edited a kernel meanwhile."""
    out = WORK / f"out-{codec}-{name.replace(' ', '_').replace(':', '').replace('/', '')}.sqz"
    if out.exists():
        out.unlink()
    inp = f"file://{src}" if "file://" in name else str(src)
    argv = ["compress", "--codec", codec, "-B", block, "-q", "--no-progress", "-f", "-o",
            str(out), *flags, inp]
    for _attempt in range(4):
        key = _kernel_key()
        if warm is not None:
            _child(["compress", "--codec", codec, "-B", block, "-q", "--no-progress", "-f",
                    "-o", str(out), *flags, str(warm)], out)
        # the timed run's processes load the kernels in their first seconds: a kernel
        # source edited (by anyone) since the warm-up would make them compile instead
        if _kernel_key() == key:
            break
        print("  a kernel source changed during the warm-up: again", file=sys.stderr,
              flush=True)
    busy0, tot0 = _cpu_busy()
    res = _child(argv, out)
    busy1, tot1 = _cpu_busy()
    res["kernels_changed_during_run"] = _kernel_key() != key
    ncpu = os.cpu_count() or 1
    ours = res["client_cpu_s"] + res["workers_cpu_s"]
    # CPU seconds the rest of the machine used while this run ran, as a share of all cores
    res["others_cpu_share"] = max(0.0, (busy1 - busy0) - ours) / max(1e-9, tot1 - tot0)
    res["machine_cores"] = ncpu
    res["config"] = name
    res["input_bytes"] = src.stat().st_size
    res["output_bytes"] = out.stat().st_size
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    res["sha256"] = h.hexdigest()
    res["mb_per_s"] = res["input_bytes"] / 1e6 / res["wall_s"]
    res["cpu_s"] = res["client_cpu_s"] + res["workers_cpu_s"]
    out.unlink()
    return res


def warm_input(kind: str) -> Path:
    """A small input of the same kind (warm-up runs)."""
    out = WORK / f"warm-{kind}"
    if not out.exists():
        if kind == "text":
            out.write_bytes(text_corpus().read_bytes()[:1 << 20])
        else:
            sys.path[:0] = [str(ROOT), str(ROOT / "codecs")]
            from squeeze_weights.formats import write_safetensors

            raw = os.urandom(1 << 20)
            out.write_bytes(write_safetensors([("w", "BF16", [len(raw) // 2], raw)]))
    return out


def suite(kind: str, configs: list[str] | None) -> dict:
    if kind == "text":
        src, codec, block = text_corpus(), "text", "2MiB"
    else:
        src, codec, block = weights_model(), "dfloat11", "2MiB"
    rows = []
    table = dict(CONFIGS)
    order = [(n, table[n]) for n in configs] if configs else CONFIGS  # repeats allowed
    for name, flags in order:
        load = os.getloadavg()[0]
        print(f"{kind}: {name} (load {load:.2f}) ...", file=sys.stderr, flush=True)
        r = run_config(name, flags, src, codec, block, warm_input(kind))
        r["load_before"] = load
        print(f"  {r['wall_s']:.1f} s wall, {r['mb_per_s']:.2f} MB/s, cpu {r['cpu_s']:.1f} s, "
              f"client rss {r['client_peak_rss_mib']:.0f} MiB, others used "
              f"{100 * r['others_cpu_share']:.0f}% of the machine", file=sys.stderr, flush=True)
        rows.append(r)
    hashes = {r["sha256"] for r in rows}
    return {"suite": kind, "input": str(src), "input_bytes": src.stat().st_size, "codec": codec,
            "block": block, "rows": rows, "identical": len(hashes) == 1}


# ------------------------------------------------------------------------------------
# per-task overhead and bytes moved


def overhead() -> dict:
    sys.path[:0] = [str(ROOT), str(ROOT / "codecs")]
    import io

    from frappe_cli import container, registry
    from frappe_cli import distributed as D

    WORK.mkdir(parents=True, exist_ok=True)
    data = os.urandom(64 << 20)  # incompressible: store/zstd payloads are the block itself
    src = WORK / "random-64MiB.bin"
    src.write_bytes(data)
    out: dict = {"rows": []}
    for workers in (1, 2):
        with D.Session(f"local:{workers}", quiet=True) as s:
            c = s.client
            c.submit(int, 0).result()
            # sequential round trip of a trivial task (submit -> result)
            n = 200
            t0 = time.perf_counter()
            for i in range(n):
                c.submit(int, i, pure=False).result()
            rtt = (time.perf_counter() - t0) / n
            for bs_kib in (64, 1024):
                for how in ("scatter", "url"):
                    codec = registry.make("store")
                    s.stats = D.RunStats()
                    sink = io.BytesIO()
                    t0 = time.perf_counter()
                    if how == "scatter":
                        D.compress_stream(s, io.BytesIO(data), sink, codec,
                                          block_size=bs_kib << 10)
                    else:
                        D.compress_url(s, f"file://{src}", sink, codec, block_size=bs_kib << 10)
                    wall = time.perf_counter() - t0
                    t1 = time.perf_counter()
                    want = container.compress(data, codec, block_size=bs_kib << 10)
                    local = time.perf_counter() - t1
                    blocks = len(data) // (bs_kib << 10)
                    st = s.stats
                    out["rows"].append({
                        "workers": workers, "block_kib": bs_kib, "input": how, "blocks": blocks,
                        "wall_s": wall, "local_T1_s": local,
                        "per_block_ms": 1e3 * wall / blocks,
                        "local_per_block_ms": 1e3 * local / blocks,
                        "task_cpu_ms": 1e3 * st.task_cpu_s / blocks,
                        "bytes_sent": st.bytes_sent, "bytes_received": st.bytes_received,
                        "identical": sink.getvalue() == want, "rtt_ms": 1e3 * rtt})
                    print(json.dumps(out["rows"][-1]), file=sys.stderr, flush=True)
    src.unlink()
    return out


# ------------------------------------------------------------------------------------
# block size trade-off


def blocksize(which: str = "enwik8") -> dict:
    sys.path[:0] = [str(ROOT), str(ROOT / "codecs")]
    if which == "dickens":
        src, sizes = CORPORA / "silesia" / "dickens", (512, 1024, 2048, 4096, 8192, 16384)
    else:
        src, sizes = CORPORA / "enwik8-prefix" / "enwik8.head4m", (256, 512, 1024, 2048, 4096)
    rows = []
    for kib in sizes:
        out = WORK / f"bs-{kib}.sqz"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "frappe_cli", "--codec", "text", "-B", f"{kib}KiB",
                        "-T2", "-q", "-f", "-o", str(out), str(src)], check=True,
                       env=dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'codecs'}"))
        wall = time.perf_counter() - t0
        size = out.stat().st_size
        out.unlink()
        rows.append({"block_kib": kib, "blocks": -(-src.stat().st_size // (kib << 10)),
                     "compressed": size, "bits_per_byte": 8 * size / src.stat().st_size,
                     "wall_s": wall})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"input": str(src), "input_bytes": src.stat().st_size, "rows": rows}


# ------------------------------------------------------------------------------------
# results


def save(key: str, value: dict) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    value["date"] = time.strftime("%Y-%m-%d %H:%M")
    value["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")


def report() -> str:
    data = json.loads(RESULTS.read_text())
    lines = ["# Scaling results (`benchmarks/bench_scaling.py`)", "",
             "Commands (inputs under /tmp/squeeze-scaling, built by `prepare` from "
             "../shared/corpora and .bench/weights):", "", "```",
             ".venv/bin/python benchmarks/bench_scaling.py prepare",
             ".venv/bin/python benchmarks/bench_scaling.py text      "
             "# squeeze compress --codec text -B 2MiB [-T1|-T2|--scheduler local:N] ...",
             ".venv/bin/python benchmarks/bench_scaling.py text --configs local:2 local:1 "
             "local:2 --key text-repeat",
             ".venv/bin/python benchmarks/bench_scaling.py text --configs local:1 local:2 "
             "--key text-repeat2",
             ".venv/bin/python benchmarks/bench_scaling.py weights   "
             "# squeeze compress --codec dfloat11 -B 2MiB ...",
             ".venv/bin/python benchmarks/bench_scaling.py overhead",
             ".venv/bin/python benchmarks/bench_scaling.py blocksize",
             ".venv/bin/python benchmarks/bench_scaling.py blocksize-dickens",
             ".venv/bin/python benchmarks/bench_scaling.py report    # this file", "```", "",
             "Machine: 2-core x86-64 KVM guest (AMD EPYC), 24 GiB, shared with other jobs "
             "(their share of the cores is a column). Each configuration runs the CLI in a "
             "fresh child process after a 1 MiB warm-up with the same flags (numba kernels "
             "on disk). CPU = client process + its reaped children (the LocalCluster "
             "workers); client peak RSS = the CLI process's VmHWM.", ""]
    for key in ["text", "weights"] + sorted(k for k in data if k.startswith("text-repeat")):
        d = data.get(key)
        if not d:
            continue
        lines += [f"## {key}: {d['codec']} -B {d['block']} on {d['input_bytes'] / 1e6:.1f} MB "
                  f"({Path(d['input']).name}), {d['date']}", "",
                  "| config | wall s | MB/s | speed-up | CPU s (client + workers) | "
                  "MB per CPU-s | client peak RSS MiB | other jobs' share of the cores | "
                  "output |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        walls: dict[str, list[float]] = {}
        for r in d["rows"]:
            walls.setdefault(r["config"], []).append(r["wall_s"])
        for r in d["rows"]:
            ref = walls.get("local:1" if r["config"].startswith("local") else "-T1")
            sp = sum(ref) / len(ref) / r["wall_s"] if ref else float("nan")
            lines.append(f"| {r['config']} | {r['wall_s']:.1f} | {r['mb_per_s']:.2f} | "
                         f"{sp:.2f}x | {r['cpu_s']:.1f} ({r['client_cpu_s']:.1f} + "
                         f"{r['workers_cpu_s']:.1f}) | "
                         f"{r['input_bytes'] / 1e6 / r['cpu_s']:.2f} | "
                         f"{r['client_peak_rss_mib']:.0f} | "
                         f"{100 * r.get('others_cpu_share', float('nan')):.0f}% | "
                         f"{r['output_bytes']:,} |")
        lines += ["", f"All outputs identical: {'yes' if d['identical'] else 'NO'} "
                  f"(sha256 {d['rows'][0]['sha256'][:16]}...). Speed-up: -T2 against -T1, "
                  "local:N against local:1 (the mean of its runs). One run per row, in "
                  "this order.", ""]
    d = data.get("overhead")
    if d:
        lines += [f"## Per-task overhead: store codec, 64 MiB of random bytes, {d['date']}", "",
                  "| workers | block | input | blocks | wall s | ms/block | -T1 ms/block | "
                  "task CPU ms/block | sent MiB | received MiB | trivial-task RTT ms |",
                  "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in d["rows"]:
            lines.append(f"| {r['workers']} | {r['block_kib']} KiB | {r['input']} | "
                         f"{r['blocks']} | {r['wall_s']:.2f} | {r['per_block_ms']:.2f} | "
                         f"{r['local_per_block_ms']:.2f} | {r['task_cpu_ms']:.2f} | "
                         f"{r['bytes_sent'] / 2**20:.0f} | {r['bytes_received'] / 2**20:.0f} | "
                         f"{r['rtt_ms']:.2f} |")
        lines.append("")
    for d in (data.get("blocksize"), data.get("blocksize-dickens")):
        if not d:
            continue
        lines += [f"## Ratio vs block size: text codec -6 on {Path(d['input']).name} "
                  f"({d['input_bytes']:,} B), {d['date']}", "",
                  "| block | blocks | .sqz bytes | bits/byte | vs the largest |",
                  "|---:|---:|---:|---:|---:|"]
        best = d["rows"][-1]["compressed"]
        for r in d["rows"]:
            lines.append(f"| {r['block_kib']} KiB | {r['blocks']} | {r['compressed']:,} | "
                         f"{r['bits_per_byte']:.4f} | {100 * (r['compressed'] / best - 1):+.2f}% |")
        lines.append("")
    text = "\n".join(lines)
    (ROOT / "benchmarks" / "results-scaling.md").write_text(text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["prepare", "text", "weights", "overhead", "blocksize",
                                     "blocksize-dickens", "report", "child"])
    ap.add_argument("rest", nargs="*")
    ap.add_argument("--configs", nargs="*",
                    help="only these configurations, in this order, repeats allowed")
    ap.add_argument("--key", help="store the results under this key (default: the suite)")
    a = ap.parse_args()
    if a.what == "child":
        child(json.loads(a.rest[0]), a.rest[1])
    elif a.what == "prepare":
        print(text_corpus(), weights_model())
    elif a.what in ("text", "weights"):
        save(a.key or a.what, suite(a.what, a.configs))
    elif a.what == "overhead":
        save("overhead", overhead())
    elif a.what == "blocksize":
        save("blocksize", blocksize())
    elif a.what == "blocksize-dickens":
        save("blocksize-dickens", blocksize("dickens"))
    else:
        print(report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
