"""What the ``squeeze`` command line prints: one-line messages, the per-run state
(``Run``: the worst outcome so far and the records) and the reports at the end of a
run (the ``list`` table, ``--json``).  Only click and the standard library.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from frappe_cli.errors import EXIT_ERROR, EXIT_OK, EXIT_WARNING, SkipWarning, SqueezeError

if TYPE_CHECKING:  # pragma: no cover
    from frappe_cli.cli_options import Opts

PROG = "squeeze"


def debug() -> bool:
    """``SQUEEZE_DEBUG=1``: tracebacks instead of one-line errors."""
    return os.environ.get("SQUEEZE_DEBUG", "") not in ("", "0")


def printable(text: str) -> str:
    """``text`` with control characters escaped: names and strings from crafted
    headers never reach the terminal raw (no escape sequences)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def message(text: str) -> None:
    click.echo(f"{PROG}: {printable(text)}", err=True)


class Run:
    """Per-invocation state: the worst outcome so far and the JSON records."""

    def __init__(self, opts: Opts):
        self.opts = opts
        self.status = EXIT_OK
        self.records: list[dict] = []
        self.session = None  # a frappe_cli.distributed.Session under --scheduler

    def fail(self, name: str, exc: BaseException) -> None:
        from frappe_cli.errors import OutputError

        # an output that cannot be written is named itself (xz's wording)
        if isinstance(exc, OutputError) and exc.filename:
            name = exc.filename
        if isinstance(exc, SkipWarning):
            if self.opts.quiet < 1:
                message(f"{name}: {exc.message}")
            self.status = max(self.status, EXIT_WARNING)
            if self.opts.json:
                self.records.append({"file": name, "status": "skipped",
                                     "message": exc.message})
            return
        if isinstance(exc, SqueezeError):
            text = exc.message
        elif isinstance(exc, OSError):
            text = exc.strerror or str(exc)
        elif isinstance(exc, MemoryError):
            text = "Memory usage limit reached (cannot allocate memory)"
        else:
            text = f"Internal error ({type(exc).__name__}: {exc})"
        if debug():
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        if self.opts.quiet < 2:
            message(f"{name}: {text}")
        self.status = EXIT_ERROR
        if self.opts.json:  # a failed file has its record too
            self.records.append({"file": name, "status": "error", "error": printable(text)})


def print_list(run: Run) -> None:
    """``squeeze -l``: one row per stream (``-v``: blocks and the codec's rows), or
    the records as one JSON list."""
    recs = run.records
    if run.opts.json:
        import json

        click.echo(json.dumps(recs, indent=1))
        return
    if not recs:
        return
    click.echo(f"{'Codec':<10} {'Blocks':>6} {'Compressed':>14} {'Uncompressed':>14} "
               f"{'Ratio':>6} {'Bits/B':>7} {'Check':<6} Filename")
    tc = tu = 0
    for r in recs:
        ratio = r["compressed"] / r["uncompressed"] if r["uncompressed"] else 0.0
        click.echo(f"{r['codec']:<10} {r['blocks']:>6} {r['compressed']:>14,} "
                   f"{r['uncompressed']:>14,} {ratio:>6.3f} {8 * ratio:>7.3f} "
                   f"{r['check']:<6} {r['file']}")
        if r.get("summary", {}).get("text"):
            click.echo(f"    {r['summary']['text']}")
        tc += r["compressed"]
        tu += r["uncompressed"]
        if run.opts.verbose:
            for i, b in enumerate(r["block_list"]):
                click.echo(f"    block {i:>5}  {b['kind']:<6} {b['compressed']:>12,} -> "
                           f"{b['uncompressed']:>12,}")
            for d in r.get("details") or []:
                click.echo("    " + "  ".join(f"{k}={v}" for k, v in d.items()))
    if len(recs) > 1:
        ratio = tc / tu if tu else 0.0
        click.echo(f"{'total':<10} {sum(r['blocks'] for r in recs):>6} {tc:>14,} {tu:>14,} "
                   f"{ratio:>6.3f} {8 * ratio:>7.3f} {'':<6} {len(recs)} streams")


def report(run: Run, targets: tuple[str, ...]) -> None:
    """The end of a run: the ``list`` report, or the ``--json`` records (one line
    each; on stderr when the data went to stdout)."""
    opts = run.opts
    if opts.mode == "list":
        print_list(run)
    elif opts.json:
        import json

        data_on_stdout = opts.mode != "test" and (opts.stdout or targets == ("-",))
        text = "\n".join(json.dumps(r) for r in run.records)
        if text:
            click.echo(text, err=data_on_stdout)
