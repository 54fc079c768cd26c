"""``squeeze bench``: the command-line face of the benchmark harness."""

from __future__ import annotations

import datetime
import json
import shlex
import sys
from pathlib import Path

import click

from frappe_cli.bench.peers import DEFAULT_PEERS


def _split(values: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def _expand(paths: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for p in paths:
        pp = Path(p)
        if pp.is_dir():
            out.extend(str(x) for x in sorted(pp.iterdir()) if x.is_file()
                       and not x.name.startswith(".") and x.name not in ("README.md",
                                                                          "SHA256SUMS"))
        else:
            out.append(p)
    return out


@click.command(name="bench", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1)
@click.option("--codec", "codecs", multiple=True,
              help="squeeze codecs to run: ID or ID:LEVEL, comma-separated or repeated "
                   "(default: auto).")
@click.option("--peers", "peers", multiple=True,
              help=f"peers, comma-separated (default: {','.join(DEFAULT_PEERS)}; 'none' for "
                   "none). Also: xz-x86-9e; zipnn, zstd-3-planes with --suite weights.")
@click.option("--repeat", "-r", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs per measurement; the median is reported.")
@click.option("-T", "--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="Threads for squeeze's codecs.")
@click.option("--timer", type=click.Choice(["cpu", "wall"]), default="cpu", show_default=True,
              help="CPU time of this process (robust on a shared machine) or wall time.")
@click.option("--ref", default="xz-9e", show_default=True,
              help="Peer the 'vs' column compares with.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Also write the results as JSON to this file.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False),
              help="JSON of an earlier run: exit 1 if a ratio regressed.")
@click.option("--max-regression", type=float, default=1.0, show_default=True, metavar="PCT",
              help="Allowed size growth against --baseline, in percent.")
@click.option("--suite", type=click.Choice(["lossless", "weights", "image"]), default="lossless",
              show_default=True, help="What to benchmark: generic files, model weights "
                                      "(derived files and zipnn) or images (rate-distortion).")
@click.option("--bpp", "bpps", multiple=True, type=float,
              help="Image suite: target rates (default 0.03..0.5).")
@click.option("--peer-bpp", "peer_bpps", multiple=True, type=float,
              help="Image suite: the peers' target rates (default: the --bpp list).")
@click.option("--timed-bpp", "timed_bpps", multiple=True, type=float,
              help="Image suite: rates timed as medians of --repeat runs (default: all).")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Image suite: write the rate-distortion plot (PNG) here.")
def bench(paths, codecs, peers, repeat, threads, timer, ref, json_path, baseline,
          max_regression, suite, bpps, peer_bpps, timed_bpps, plot):
    """Benchmark squeeze's codecs against gzip, bzip2, xz, zstd, brotli and PPMd.

    PATHS are files or folders; PATH@SIZE takes the first SIZE bytes of a file
    (e.g. enwik8.head4m@1000000).  Every round trip is verified; sizes are
    exact, speeds are medians of --repeat runs.
    """
    from frappe_cli.bench import runner

    command = "squeeze bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    if suite == "image":
        from squeeze_image.bench import run_bench

        code = run_bench([Path(p) for p in _expand(paths)], bpp_targets=list(bpps) or None,
                         peers=_split(peers) or None, repeat=repeat, json_path=json_path,
                         plot_path=plot, peer_targets=list(peer_bpps) or None,
                         timed_targets=list(timed_bpps) or None)
        sys.exit(code)
    files = _expand(paths)
    codec_list = _split(codecs) or (["dfloat11", "enec"] if suite == "weights" else ["auto"])
    peer_list = _split(peers)
    if peer_list == ["none"]:
        peer_list = []
    elif not peer_list:
        peer_list = ["zipnn", "zstd-3", "zstd-3-planes"] if suite == "weights" else DEFAULT_PEERS
    if suite == "weights" and not files:
        from squeeze_weights.bench import prepare_files

        files = [str(p) for p in prepare_files(Path(".bench") / "weights")]
    if not files:
        raise click.UsageError("no input files")

    def progress(text: str) -> None:
        click.echo(f"  running {text} ...", err=True)

    try:
        results = runner.run(files, codec_list, peer_list, repeat=repeat, threads=threads,
                             timer=timer, suite=suite, progress=progress)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    meta = {"command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": runner.machine_info(), "timer": timer, "repeat": repeat,
            "threads": threads}
    click.echo(f"# {command}")
    click.echo(f"# {meta['date']}  {meta['machine'].get('cpu', '')}  "
               f"{meta['machine']['cpus']} cpus  timer={timer} (median of {repeat})")
    runner.print_table(results, ref if ref in {r.codec for r in results} else None)
    if json_path:
        Path(json_path).write_text(json.dumps(runner.to_json(results, meta), indent=1) + "\n")
    code = 0
    if any(not r.ok for r in results if r.codec.startswith("sqz-")):
        click.echo("squeeze bench: a squeeze round trip FAILED", err=True)
        code = 1
    if baseline:
        code = max(code, runner.check_baseline(results, baseline, max_regression))
    sys.exit(code)
