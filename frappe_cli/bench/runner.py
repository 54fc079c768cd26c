"""Run squeeze codecs and peers side by side on files; verify; time; compare.

Every (file, codec) pair is compressed and decompressed ``repeat`` times after
an untimed warm-up (JIT compilation and table set-up never count); the
decompressed bytes are compared with the input; the table quotes the median
time of the runs.  Sizes are exact and comparable across machines; speeds are
per run and depend on the machine's load, so the regression check uses sizes
only.
"""

from __future__ import annotations

import io
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from frappe_cli.bench.peers import PEERS, Peer
from frappe_cli.bench.timing import median_time


@dataclass
class Entry:
    name: str
    compress: Callable[[bytes], bytes]
    #: the timed decompression; may return None when it streams to a sink
    decompress: Callable[[bytes, int], bytes | None]
    #: an untimed decompression returning the bytes, for verification
    verify: Callable[[bytes, int], bytes] | None = None
    lossless: bool = True


@dataclass
class Result:
    file: str
    codec: str
    usize: int
    csize: int | None
    comp_s: float | None
    dec_s: float | None
    ok: bool
    error: str = ""
    comp_runs: list = field(default_factory=list)
    dec_runs: list = field(default_factory=list)

    @property
    def bpb(self) -> float | None:
        return 8 * self.csize / self.usize if self.csize is not None and self.usize else None


def squeeze_entry(spec: str, threads: int = 1) -> Entry:
    """``text`` / ``text:9`` / ``auto`` / ``zstd:3`` -> an Entry running the real container."""
    from frappe_cli import container, registry

    cid, _, lvl = spec.partition(":")
    level = int(lvl) if lvl else None

    def comp(data: bytes) -> bytes:
        if cid == "auto":
            from frappe_cli import detect

            chosen, _ = detect.choose_codec(data[: 1 << 16])
        else:
            chosen = cid
        return container.compress(data, registry.make(chosen, level), threads=threads)

    def dec(blob: bytes, n: int) -> None:
        # as `squeeze -dc > file`: every block checked and written to a sink
        container.decompress_stream(io.BytesIO(blob), NullSink(), threads=threads)

    def full(blob: bytes, n: int) -> bytes:
        return container.decompress(blob, threads=threads)

    label = f"sqz-{cid}" + (f"-{level}" if level is not None else "")
    if threads != 1:
        label += f"-T{threads}"
    return Entry(label, comp, dec, full)


class NullSink:
    """A write-only file that keeps nothing (timed decoders stream into it)."""

    def write(self, b) -> int:
        return len(b)

    def flush(self) -> None:
        pass


def peer_entry(p: Peer) -> Entry:
    return Entry(p.name, p.compress, p.decompress)


def load_input(spec: str) -> tuple[str, bytes]:
    """``path`` or ``path@SIZE`` (the first SIZE bytes, e.g. enwik8.head4m@1000000)."""
    path, size = spec, None
    if not Path(spec).exists() and "@" in spec:
        path, _, s = spec.rpartition("@")
        from frappe_cli.fileio import parse_size

        size = parse_size(s)
    p = Path(path)
    with open(p, "rb") as f:
        data = f.read(size) if size is not None else f.read()
    label = p.name + (f"@{size}" if size is not None else "")
    return label, data


def run_one(label: str, data: bytes, e: Entry, repeat: int, timer: str) -> Result:
    """One (input, codec or peer) measurement: untimed warm-up, then ``repeat`` timed
    compressions and decompressions (medians), then the round-trip check."""
    try:
        warm = data[: 1 << 12]
        try:
            e.decompress(e.compress(warm), len(warm))
        except Exception:  # noqa: BLE001 - e.g. a format codec refusing a cut-off header
            e.decompress(e.compress(data), len(data))
        ctimes: list[float] = []
        dtimes: list[float] = []
        comp_s, blob = median_time(lambda: e.compress(data), repeat, timer, ctimes)
        dec_s, out = median_time(lambda: e.decompress(blob, len(data)), repeat, timer, dtimes)
        if out is None and e.verify is not None:
            out = e.verify(blob, len(data))
        ok = out == data
        return Result(label, e.name, len(data), len(blob), comp_s, dec_s, ok,
                      "" if ok else "round trip differs", ctimes, dtimes)
    except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
        return Result(label, e.name, len(data), None, None, None, False,
                      f"{type(exc).__name__}: {exc}")


def _fmt_speed(n: int, s: float | None) -> str:
    if s is None:
        return "-"
    if s <= 0:
        return "inf"
    v = n / s / 1e6
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def print_table(results: list[Result], ref: str | None, out=sys.stdout) -> None:
    by_file: dict[str, list[Result]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)
    w = max([len(r.codec) for r in results] + [5])
    head = (f"{'codec':<{w}} {'size':>11} {'bits/B':>7} {'ratio':>7} {'vs ' + (ref or '-'):>9}"
            f" {'comp MB/s':>10} {'dec MB/s':>9}  ok")
    for fname, rows in by_file.items():
        refsize = next((r.csize for r in rows if r.codec == ref and r.ok), None)
        print(f"\n{fname} ({rows[0].usize:,} bytes)", file=out)
        print(head, file=out)
        for r in rows:
            if r.csize is None:
                print(f"{r.codec:<{w}} {'failed':>11}  {r.error}", file=out)
                continue
            rel = f"{100 * r.csize / refsize:.1f}%" if refsize else "-"
            ratio = r.usize / r.csize if r.csize else 0.0
            print(f"{r.codec:<{w}} {r.csize:>11,} {r.bpb:>7.3f} {ratio:>7.3f} {rel:>9}"
                  f" {_fmt_speed(r.usize, r.comp_s):>10} {_fmt_speed(r.usize, r.dec_s):>9}"
                  f"  {'yes' if r.ok else 'NO: ' + r.error}", file=out)
    if len(by_file) > 1:
        totals = summarize(results)
        refsize = totals.get(ref, {}).get("csize") if ref else None
        print(f"\nTOTAL over {len(by_file)} files", file=out)
        print(head, file=out)
        for codec, t in totals.items():
            if t["csize"] is None:
                print(f"{codec:<{w}} {'incomplete':>11}", file=out)
                continue
            rel = f"{100 * t['csize'] / refsize:.1f}%" if refsize else "-"
            bpb = 8 * t["csize"] / t["usize"] if t["usize"] else 0.0
            ratio = t["usize"] / t["csize"] if t["csize"] else 0.0
            print(f"{codec:<{w}} {t['csize']:>11,} {bpb:>7.3f} {ratio:>7.3f} {rel:>9}"
                  f" {_fmt_speed(t['usize'], t['comp_s']):>10}"
                  f" {_fmt_speed(t['usize'], t['dec_s']):>9}  {'yes' if t['ok'] else 'NO'}",
                  file=out)


def summarize(results: list[Result]) -> dict[str, dict]:
    totals: dict[str, dict] = {}
    for r in results:
        t = totals.setdefault(r.codec, {"usize": 0, "csize": 0, "comp_s": 0.0, "dec_s": 0.0,
                                        "ok": True})
        t["usize"] += r.usize
        if r.csize is None or t["csize"] is None:
            t["csize"] = None
        else:
            t["csize"] += r.csize
            for k in ("comp_s", "dec_s"):  # None: not timed (a reference size)
                t[k] = None if t[k] is None or getattr(r, k) is None else t[k] + getattr(r, k)
        t["ok"] = t["ok"] and r.ok
    return totals


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def to_json(results: list[Result], meta: dict) -> dict:
    return {"meta": meta, "results": [dict(asdict(r), bpb=r.bpb) for r in results],
            "totals": summarize(results)}


def check_baseline(results: list[Result], baseline_path: str, max_regression: float,
                   out=sys.stderr) -> int:
    """Exit status 1 when any (file, codec) size grew by more than ``max_regression`` %."""
    base = json.loads(Path(baseline_path).read_text())
    old = {(r["file"], r["codec"]): r["csize"] for r in base["results"] if r.get("csize")}
    bad = 0
    compared = 0
    for r in results:
        key = (r.file, r.codec)
        if key not in old or r.csize is None:
            continue
        compared += 1
        growth = 100.0 * (r.csize - old[key]) / old[key]
        if growth > max_regression:
            bad += 1
            print(f"squeeze bench: REGRESSION {r.file} {r.codec}: {old[key]:,} -> {r.csize:,} "
                  f"bytes (+{growth:.2f}% > {max_regression}%)", file=out)
    print(f"squeeze bench: {compared} results compared with {baseline_path}: "
          f"{'no regression' if not bad else f'{bad} regression(s)'}", file=out)
    return 1 if bad else 0


def run(paths: list[str], codecs: list[str], peers: list[str], *, repeat: int = 3,
        threads: int = 1, timer: str = "cpu", extra_peers: dict[str, Peer] | None = None,
        progress: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None) -> list[Result]:
    """Results of every codec and peer on every input.

    ``peers`` are names of ``PEERS`` or of ``extra_peers`` (a suite's own, e.g.
    format-aware compressors).  An unknown peer name is a ValueError; a known
    peer whose package or program is missing is skipped with one ``warn`` line
    (default: stderr) naming what is missing, and the rest run.
    """
    if warn is None:
        def warn(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

    available = dict(PEERS)
    available.update(extra_peers or {})
    entries = [squeeze_entry(c, threads) for c in codecs]
    for name in peers:
        p = available.get(name)
        if p is None:
            raise ValueError(f"unknown peer '{name}' (known: {', '.join(sorted(available))})")
        lack = p.missing()
        if lack is not None:
            warn(f"squeeze bench: {lack}; skipping {name}")
            continue
        entries.append(peer_entry(p))
    results = []
    for spec in paths:
        label, data = load_input(spec)
        for e in entries:
            if progress:
                progress(f"{label}: {e.name}")
            results.append(run_one(label, data, e, repeat, timer))
    return results
