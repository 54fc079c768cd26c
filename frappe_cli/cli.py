"""The ``squeeze`` command line: the click commands and the entry points.

``squeeze [OPTIONS] [FILE]...`` compresses (``-d`` decompresses, ``-t`` tests,
``-l`` lists), as xz does; ``squeeze compress|decompress|test|list|bench|codecs``
name the same operations explicitly.  The work is elsewhere: ``cli_options``
(the options of a run and their checks), ``cli_files`` (the per-file work) and
``cli_reports`` (messages and the list/JSON reports).  Only click and the standard
library are imported at start-up; numpy, numba and the codecs load when needed.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
from typing import Callable

import click

from frappe_cli import __version__
from frappe_cli.cli_options import (  # noqa: F401 - Opts, codec_option_specs: the CLI's API
    DEFAULT_SUFFIX,
    Opts,
    codec_option_specs,
    opts_from,
)
from frappe_cli.cli_reports import PROG, debug, message
from frappe_cli.errors import EXIT_ERROR, EXIT_OK, OptionError, SqueezeError


def run_files(opts: Opts, files: tuple[str, ...]) -> int:
    """Do the run ``opts`` on ``files`` (``cli_files.run_files``, imported on use)."""
    from frappe_cli.cli_files import run_files as run

    return run(opts, files)


def _level_options(f):
    for n in range(9, -1, -1):
        f = click.option(f"-{n}", "level", flag_value=n,
                         help="Compression level: -0 fastest .. -9 best (default -6)."
                         if n == 0 else None, hidden=n != 0)(f)
    return f


def _parse_size_cb(ctx, param, value):
    if value is None:
        return None
    from frappe_cli.fileio import parse_size

    try:
        return parse_size(value)
    except OptionError as exc:
        raise click.BadParameter(exc.message) from None


def file_options(f, compress: bool = True):
    """Options of the default command and compress/decompress/test/list; the
    compression-only ones (level, codec, block size, check, codec options) are left
    out of decompress, test and list."""
    decorators = [
        # readable=False: an unreadable file is reported by the per-file work and the
        # run goes on with the next file (click would stop the whole run)
        click.argument("files", nargs=-1, type=click.Path(dir_okay=True, allow_dash=True,
                                                          readable=False)),
        click.option("-c", "--stdout", "to_stdout", is_flag=True,
                     help="Write to standard output; keep input files."),
        click.option("-o", "--output", metavar="FILE", help="Write to FILE (one input only)."),
        click.option("-k", "--keep", is_flag=True, help="Keep input files (the default)."),
        click.option("-r", "--recursive", is_flag=True,
                     help="Operate on every file under the FILEs that are folders."),
        click.option("--rm", is_flag=True,
                     help="Remove input files after a successful, verified write."),
        click.option("-f", "--force", is_flag=True,
                     help="Overwrite outputs; allow compressed data on a terminal."),
        click.option("-S", "--suffix", default=DEFAULT_SUFFIX, show_default=True,
                     help="Suffix of compressed files."),
        _c(_level_options),
        _c(click.option("--fast", "level", flag_value=0, help="Same as -0.")),
        _c(click.option("--best", "level", flag_value=9, help="Same as -9.")),
        click.option("-T", "--threads", type=click.IntRange(min=0), default=1, show_default=True,
                     help="Worker threads (0 = all cores); never changes the output."),
        click.option("--scheduler", metavar="ADDRESS", envvar="SQUEEZE_SCHEDULER",
                     help="Code the blocks on a Dask cluster: tcp://host:8786, or local:N for "
                          "N worker processes here (same output bytes; extra "
                          "squeeze-codecs[dask]). FILEs may then be fsspec URLs (s3://...), "
                          "read by the workers. Env: SQUEEZE_SCHEDULER."),
        click.option("-v", "--verbose", count=True, help="Report per file (twice: more)."),
        click.option("-q", "--quiet", count=True, help="Suppress warnings (twice: errors too)."),
        _c(click.option("--codec", default="auto", show_default=True, metavar="NAME|auto",
                     help="Codec to compress with (see `squeeze codecs`); auto never picks a "
                          "lossy one.")),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable report."),
        click.option("--no-progress", is_flag=True, help="Never show a progress bar."),
        click.option("-M", "--memlimit", callback=_parse_size_cb, metavar="SIZE",
                     help="Memory limit, e.g. 512MiB, 2G or 40% of RAM; 0 = none. Without it, "
                          "decoding refuses blocks over 256 MiB."),
        _c(click.option("-B", "--block-size", callback=_parse_size_cb, metavar="SIZE",
                     help="Uncompressed block size (default: the codec's).")),
        _c(click.option("-C", "--check", type=click.Choice(["none", "crc32", "xxh64"]),
                     default="xxh64", show_default=True, help="Integrity check of each block.")),
        *[_c(o) for o in _codec_options()],
        _c(click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE",
                     help="Codec-specific option (repeatable).")),
    ]
    for d in reversed(decorators):
        if compress or not getattr(d, "compress_only", False):
            f = d(f)
    return f


def _codec_options() -> list:
    return [click.option(spec["flag"], spec["param"],
                         type=(click.Choice(spec["choices"]) if "choices" in spec
                               else spec.get("type", str)),
                         metavar=spec.get("metavar"), help=spec.get("help"))
            for spec in codec_option_specs().values()]


def _c(decorator):
    """Mark a decorator of ``file_options`` as a compression-only option."""
    decorator.compress_only = True
    return decorator


def _finish(code: int) -> None:
    sys.exit(code)


COMMANDS_HELP = """\b
Commands (squeeze COMMAND --help for each):
  compress     compress files (the default)
  decompress   decompress .sqz files (also -d, unsqueeze)
  test         test the integrity of .sqz files (also -t)
  list         show information about .sqz files (also -l)
  bench        compare squeeze's codecs with gzip, xz, zstd, brotli, PPMd...
  codecs       list the available codecs
{codec_commands}
\b
With no FILE, or when FILE is -, read standard input and write standard output.
Exit status: 0 success, 1 error, 2 warning (e.g. a file was skipped).
"""


@click.command(name=PROG, epilog=COMMANDS_HELP.replace("{codec_commands}", ""),
               context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-z", "--compress", "m_compress", is_flag=True, help="Compress (the default).")
@click.option("-d", "--decompress", "m_decompress", is_flag=True, help="Decompress.")
@click.option("-t", "--test", "m_test", is_flag=True, help="Test compressed files.")
@click.option("-l", "--list", "m_list", is_flag=True, help="List information about .sqz files.")
@file_options
@click.version_option(__version__, "-V", "--version", prog_name=PROG)
def root(m_compress, m_decompress, m_test, m_list, files, **kw):
    """Compress or decompress FILEs in the .sqz format."""
    modes = [m for m, on in (("compress", m_compress), ("decompress", m_decompress),
                             ("test", m_test), ("list", m_list)) if on]
    if len(modes) > 1:
        raise click.UsageError("choose one of -z, -d, -t, -l")
    mode = modes[0] if modes else "compress"
    _finish(run_files(opts_from(mode, kw), files))


def _mode_command(mode: str, helptext: str):
    @click.command(name=mode, help=helptext,
                   context_settings={"help_option_names": ["-h", "--help"]})
    @functools.partial(file_options, compress=mode == "compress")
    def cmd(files, **kw):
        _finish(run_files(opts_from(mode, kw), files))

    return cmd


@click.command(name="codecs", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
def codecs_cmd(as_json):
    """List the codecs this installation provides, one line each."""
    from frappe_cli import registry

    rows = []
    for cid in registry.available_ids():
        cls = registry.get_class(cid)
        rows.append({"id": cid, "version": cls.bitstream_version,
                     "lossless": bool(cls.lossless), "description": cls.description})
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=1))
    else:
        for r in rows:
            kind = "lossless" if r["lossless"] else "lossy"
            click.echo(f"{r['id']:<10} v{r['version']:<3} {kind:<8} {r['description']}")
    _finish(EXIT_OK)


def _bench_command():
    from frappe_cli.bench.cli import bench

    return bench


def codec_subcommands() -> dict[str, tuple[str, str]]:
    """Subcommands contributed by codec packages (``Codec.subcommands``):
    name -> ("module:attr" of a click command, one-line help)."""
    from frappe_cli import registry

    out: dict[str, tuple[str, str]] = {}
    for cid in registry.available_ids():
        for name, spec in registry.get_class(cid).subcommands.items():
            if name not in SUBCOMMANDS:
                out.setdefault(name, spec)
    return out


def _load_command(target: str) -> click.Command:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _commands_help() -> str:
    lines = [f"  {name:<12} {text}" for name, (_t, text) in sorted(codec_subcommands().items())]
    return COMMANDS_HELP.replace("{codec_commands}", "\n".join(lines))


SUBCOMMANDS: dict[str, Callable[[], click.Command]] = {
    "compress": lambda: _mode_command("compress", "Compress FILEs (default: FILE.sqz)."),
    "decompress": lambda: _mode_command("decompress", "Decompress FILE.sqz to FILE."),
    "test": lambda: _mode_command("test", "Decompress and verify FILEs; write nothing."),
    "list": lambda: _mode_command("list", "Show the structure of .sqz FILEs."),
    "codecs": lambda: codecs_cmd,
    "bench": _bench_command,
}


def _invoke(cmd: click.Command, args: list[str], prog: str) -> int:
    try:
        cmd.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.UsageError as e:
        msg = e.format_message()
        message(msg)
        message(f"Try '{prog} --help' for more information.")
        return EXIT_ERROR
    except click.Abort:  # click's form of KeyboardInterrupt
        _interrupted()
    except click.ClickException as e:
        message(e.format_message())
        return EXIT_ERROR
    except SqueezeError as e:
        message(e.message)
        return e.exit_code
    except ImportError as e:  # an optional part (e.g. a codec family) is not installed
        if debug():
            raise
        message(f"this command is not available: {e}")
        return EXIT_ERROR
    return EXIT_OK


def main(argv: list[str] | None = None, *, prefix: tuple[str, ...] = ()) -> None:
    """Entry point of the ``squeeze`` console script."""
    args = list(prefix) + list(sys.argv[1:] if argv is None else argv)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _on_sigterm)
    prog = PROG
    bad_level = next((a for a in args if a == "--" or _MULTI_DIGIT.match(a)), None)
    if bad_level not in (None, "--"):
        message(f"{bad_level}: levels are -0..-9 (zstd's -19 is about squeeze -9, also "
                "--best; --fast is -0)")
        message(f"Try '{PROG} --help' for more information.")
        sys.exit(EXIT_ERROR)
    # a subcommand never shadows a file of that name (xz's rule: `squeeze test`
    # compresses ./test when it exists; `squeeze -t FILE` tests)
    if args and args[0] in SUBCOMMANDS and not (os.path.lexists(args[0])
                                                and not os.path.isdir(args[0])):
        name = args.pop(0)
        try:
            cmd = SUBCOMMANDS[name]()
        except ImportError as e:
            message(f"{name}: this command is not available ({e})")
            sys.exit(EXIT_ERROR)
        prog = f"{PROG} {name}"
    elif args and not args[0].startswith("-") and not os.path.lexists(args[0]) \
            and args[0] in (extra := codec_subcommands()):
        name = args.pop(0)
        try:
            cmd = _load_command(extra[name][0])
        except ImportError as e:
            message(f"{name}: this command is not available ({e})")
            sys.exit(EXIT_ERROR)
        prog = f"{PROG} {name}"
    else:
        cmd = root
        if any(a in ("-h", "--help") for a in args):
            root.epilog = _commands_help()
    try:
        code = _invoke(cmd, args, prog)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else EXIT_ERROR
    except BrokenPipeError:
        code = EXIT_ERROR
    except Exception as exc:  # noqa: BLE001
        if debug():
            raise
        message(f"Internal error ({type(exc).__name__}: {exc})")
        code = EXIT_ERROR
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass
    sys.exit(code)


_MULTI_DIGIT = re.compile(r"^-[0-9]{2,}$")


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def _interrupted() -> None:
    """Leave at once after Ctrl-C, SIGTERM or SIGHUP.  The temporary output was
    removed while the interrupt unwound the stack; a block still being coded on a
    worker thread is abandoned (os._exit does not wait for it)."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(130)


def main_decompress() -> None:
    """``unsqueeze``: ``squeeze -d``."""
    main(prefix=("-d",))


def main_cat() -> None:
    """``sqzcat``: ``squeeze -dc``."""
    main(prefix=("-d", "-c"))
