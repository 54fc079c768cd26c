"""``squeeze bench``: the command-line face of the benchmark harness.

The options common to every suite are declared here; a suite adds its own
(``Suite.options``), so ``squeeze bench --suite NAME --help`` shows them.  The
suite is looked up before the command line is parsed.
"""

from __future__ import annotations

import datetime
import json
import shlex
import sys
from pathlib import Path

import click

from frappe_cli.bench import suite as suites
from frappe_cli.bench.peers import DEFAULT_PEERS


def _split(values: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def _expand(paths: tuple[str, ...]) -> list[str]:
    """Files and every file under folders (sorted; hidden files and a corpus's README.md
    and SHA256SUMS left out); PATH@SIZE stays as it is."""
    out: list[str] = []
    for p in paths:
        pp = Path(p)
        if pp.is_dir():
            out.extend(str(x) for x in sorted(pp.rglob("*")) if x.is_file()
                       and not any(part.startswith(".") for part in x.relative_to(pp).parts)
                       and x.name not in ("README.md", "SHA256SUMS"))
        else:
            out.append(p)
    return out


def _suite_name(args: list[str]) -> str:
    """The ``--suite`` value of a command line not parsed yet (the last one wins)."""
    name = "lossless"
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--suite" and i + 1 < len(args):
            name = args[i + 1]
        elif a.startswith("--suite="):
            name = a.split("=", 1)[1]
    return name


def _suite_params(suite: suites.Suite, taken: set[str]) -> list[click.Option]:
    params = []
    for o in suite.options:
        if o["flag"] in taken:
            raise click.ClickException(f"bench: suite '{suite.name}' redefines {o['flag']}")
        kw = {"help": o.get("help"), "metavar": o.get("metavar")}
        if o.get("is_flag"):
            kw.update(is_flag=True, default=o.get("default", False))
        else:
            kw.update(type=o.get("type", str), multiple=o.get("multiple", False),
                      default=o.get("default", () if o.get("multiple") else None))
        params.append(click.Option([o["flag"], o["param"]], **kw))
    return params


class BenchCommand(click.Command):
    """A click command whose options are the harness's plus those of the chosen suite."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not hasattr(self, "_common"):
            self._common = list(self.params)
        try:
            suite = suites.load(_suite_name(args))
        except suites.SuiteUnavailable as exc:
            raise click.ClickException(f"bench: {exc}") from None
        taken = {o for p in self._common for o in getattr(p, "opts", [])}
        self.params = self._common + _suite_params(suite, taken)
        ctx.meta["squeeze.bench.suite"] = suite
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter) -> None:
        rows = []
        for name, target in sorted(suites.available().items()):
            try:
                rows.append((name, suites.load(name).description))
            except suites.SuiteUnavailable:
                rows.append((name, f"(not installed: {target})"))
        with formatter.section("Suites (--suite NAME --help shows a suite's own options)"):
            formatter.write_dl(rows)


@click.command(name="bench", cls=BenchCommand,
               context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1)
@click.option("--suite", default="lossless", show_default=True,
              help="What to benchmark (the list below).")
@click.option("--codec", "codecs", multiple=True,
              help="squeeze codecs to run: ID or ID:LEVEL, comma-separated or repeated "
                   "(default: the suite's; auto for lossless).")
@click.option("--peers", "peers", multiple=True,
              help=f"peers, comma-separated (default: the suite's; {','.join(DEFAULT_PEERS)} "
                   "for lossless; 'none' for none). Also: xz-x86-9e, zpaq-m4, zpaq-m5.")
@click.option("--repeat", "-r", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs per measurement; the median is reported.")
@click.option("-T", "--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="Threads for squeeze's codecs.")
@click.option("--timer", type=click.Choice(["cpu", "wall"]), default="cpu", show_default=True,
              help="CPU time of this process (robust on a shared machine) or wall time.")
@click.option("--ref", default=None,
              help="Peer the 'vs' column compares with (default: the suite's; xz-9e).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Also write the results as JSON to this file.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False),
              help="JSON of an earlier run: exit 1 if a size grew.")
@click.option("--max-regression", type=float, default=1.0, show_default=True, metavar="PCT",
              help="Allowed size growth against --baseline, in percent.")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Write a plot (PNG) of the results here (matplotlib).")
@click.pass_context
def bench(ctx, paths, suite, codecs, peers, repeat, threads, timer, ref, json_path, baseline,
          max_regression, plot, **options):
    """Benchmark squeeze's codecs against gzip, bzip2, xz, zstd, brotli and PPMd.

    PATHS are files or folders; PATH@SIZE takes the first SIZE bytes of a file
    (e.g. enwik8.head4m@1000000).  Every round trip is verified; sizes are
    exact, speeds are medians of --repeat runs.
    """
    from frappe_cli.bench import runner

    s: suites.Suite = ctx.meta["squeeze.bench.suite"]
    command = "squeeze bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    peer_list = _split(peers) or list(s.default_peers)
    args = suites.Args(files=_expand(paths), codecs=_split(codecs) or list(s.default_codecs),
                       peers=[] if peer_list == ["none"] else peer_list, repeat=repeat,
                       threads=threads, timer=timer, options=options)
    if not args.files:
        args.files = [str(p) for p in s.inputs(args)]
    if not args.files:
        raise click.UsageError("no input files")
    meta = {"command": command, "suite": s.name,
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": runner.machine_info(), "timer": timer, "repeat": repeat,
            "threads": threads}
    click.echo(f"# {command}")
    click.echo(f"# {meta['date']}  {meta['machine'].get('cpu', '')}  "
               f"{meta['machine']['cpus']} cpus  timer={timer} (median of {repeat})")
    try:
        report = s.run(args)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    meta.update(report.meta)
    results = report.results
    ref = ref or s.ref
    if report.table:
        runner.print_table(results, ref if ref in {r.codec for r in results} else None)
    if json_path:
        doc = dict(runner.to_json(results, meta), **report.data)
        Path(json_path).write_text(json.dumps(doc, indent=1) + "\n")
    code = 0
    if not report.ok or any(not r.ok for r in results if r.codec.startswith("sqz-")):
        click.echo("squeeze bench: a squeeze measurement FAILED", err=True)
        code = 1
    if plot:
        from frappe_cli.bench import plot as plotting

        kw = report.plot or plotting.table_curves(results)
        try:
            plotting.curves(plot, title=f"{kw.pop('title', command)}; {meta['date']}", **kw)
        except ImportError as exc:
            click.echo(f"squeeze bench: {exc.name or exc} not installed (pip install "
                       "'squeeze-codecs[bench]'); no plot written", err=True)
            code = 1
    if baseline:
        code = max(code, runner.check_baseline(results, baseline, max_regression))
    sys.exit(code)
