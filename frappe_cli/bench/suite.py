"""Bench suites: what ``squeeze bench --suite NAME`` measures.

The harness (this package) owns the clock (``timing.median_time``), the peers,
the side-by-side table, the JSON record, the ``--baseline`` gate and the plots;
a suite owns what is measured, on which inputs.  The built-in suite
``lossless`` is the side-by-side table on the files given.  Every other suite
arrives as a third-party codec does, through an entry-point group (the core
names none of them)::

    [project.entry-points."squeeze.bench_suites"]
    my-suite = "my_package.bench:SUITE"      # a Suite instance

or, at run time (tests, embedding), through ``register``.  A suite whose module
is not installed (squeeze's own suites live in the source checkout's
``benchmarks/``, which the wheel does not ship) is reported in one line.

A suite is a ``Suite``: table suites set the defaults (codecs, peers, inputs)
and contribute ``extra_peers``; the harness runs them through ``runner.run``.
Suites that measure something else (rate-distortion, thread scaling) override
``run`` and return a ``Report``: rows for the JSON and the baseline gate, their
own data, and optionally the curves ``--plot`` draws.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from frappe_cli.bench import runner
from frappe_cli.bench.peers import DEFAULT_PEERS, Peer

ENTRY_POINT_GROUP = "squeeze.bench_suites"


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class SuiteUnavailable(Exception):
    """A suite that is unknown or cannot be loaded; the message is one line."""


@dataclass
class Args:
    """What the harness hands a suite: the command line, resolved."""

    files: list[str]
    codecs: list[str]
    peers: list[str]
    repeat: int = 3
    threads: int = 1
    timer: str = "cpu"
    #: the suite's own options (``Suite.options``), by ``param``
    options: dict[str, Any] = field(default_factory=dict)
    #: progress and warnings (stderr); the tables go to stdout
    log: Callable[[str], None] = _stderr


@dataclass
class Report:
    """What a suite measured."""

    #: one row per (input, codec or peer): the JSON's ``results``, the baseline gate's sizes
    results: list[runner.Result] = field(default_factory=list)
    #: the suite's own records, written into the JSON beside ``results``
    data: dict[str, Any] = field(default_factory=dict)
    #: added to the JSON's ``meta`` (rates, peer notes, ...)
    meta: dict[str, Any] = field(default_factory=dict)
    #: print ``results`` as the harness's side-by-side table (a suite that printed its
    #: own table leaves this False)
    table: bool = False
    #: keyword arguments of ``plot.curves`` for ``--plot`` (default: size against
    #: compression speed of ``results``)
    plot: dict[str, Any] | None = None
    #: False when a measurement of squeeze failed (exit status 1)
    ok: bool = True


class Suite:
    #: the ``--suite`` name
    name: str = ""
    #: one line for ``squeeze bench --help``
    description: str = ""
    #: the suite's own options, declared as the codecs' ``cli_options`` are:
    #: ``{"flag": "--bpp", "param": "bpps", "type": float, "multiple": True, "help": ..}``
    #: (also ``"is_flag": True``, ``"default"``, ``"metavar"``)
    options: tuple[dict, ...] = ()
    #: ``--codec`` and ``--peers`` when not given
    default_codecs: tuple[str, ...] = ("auto",)
    default_peers: tuple[str, ...] = tuple(DEFAULT_PEERS)
    #: the peer the table's "vs" column compares with (``--ref``)
    ref: str | None = "xz-9e"

    def extra_peers(self) -> dict[str, Peer]:
        """Peers this suite adds to the harness's (name -> Peer)."""
        return {}

    def inputs(self, args: Args) -> list[str]:
        """The inputs when no PATHS are given (prepared or found); [] = none."""
        return []

    def run(self, args: Args) -> Report:
        """Measure; the default is the side-by-side table of codecs and peers."""
        results = runner.run(args.files, args.codecs, args.peers, repeat=args.repeat,
                             threads=args.threads, timer=args.timer,
                             extra_peers=self.extra_peers(),
                             progress=lambda text: args.log(f"  running {text} ..."),
                             warn=args.log)
        return Report(results, table=True)


class Lossless(Suite):
    name = "lossless"
    description = "squeeze's codecs and the usual compressors side by side on PATHS"


BUILTIN: dict[str, Suite] = {"lossless": Lossless()}
_runtime: dict[str, Suite] = {}


def available() -> dict[str, str]:
    """Every suite name -> where it comes from ("built-in", "module:attr", "registered")."""
    from frappe_cli import registry

    out = {name: "built-in" for name in BUILTIN}
    for name, target in registry.entry_points(ENTRY_POINT_GROUP):
        out.setdefault(name, target)
    for name in _runtime:
        out.setdefault(name, "registered")
    return out


def load(name: str) -> Suite:
    """The suite called ``name``; SuiteUnavailable (one line) when it is unknown or missing."""
    if name in BUILTIN:
        return BUILTIN[name]
    if name in _runtime:
        return _runtime[name]
    known = available()
    target = known.get(name)
    if target is None:
        raise SuiteUnavailable(f"unknown suite '{name}' (known: {', '.join(sorted(known))})")
    module, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise SuiteUnavailable(f"suite '{name}' is not installed ({target}: {exc}; squeeze's "
                               "own suites come with its source checkout, benchmarks/)") from None
    if not isinstance(obj, Suite) or obj.name != name:
        raise SuiteUnavailable(f"suite '{name}' is misregistered ({target} is not its Suite)")
    return obj


def register(suite: Suite) -> Suite:
    """Add a suite at run time (tests, embedding)."""
    if suite.name in BUILTIN:
        raise ValueError(f"suite name '{suite.name}' is taken by a built-in suite")
    _runtime[suite.name] = suite
    return suite


def unregister(name: str) -> None:
    _runtime.pop(name, None)
