"""The ``squeeze`` command line: parse, route, report.  No codec logic here.

``squeeze [OPTIONS] [FILE]...`` compresses (``-d`` decompresses, ``-t`` tests,
``-l`` lists), as xz does; ``squeeze compress|decompress|test|list|bench|codecs``
name the same operations explicitly.  Only click and the standard library are
imported at start-up; numpy, numba and the codecs load when they are needed.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import click

from frappe_cli import __version__
from frappe_cli.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_WARNING,
    OptionError,
    SkipWarning,
    SqueezeError,
)

PROG = "squeeze"
DEFAULT_SUFFIX = ".sqz"
PROGRESS_MIN_BYTES = 4 << 20


# ------------------------------------------------------------------------------------
# reporting


def _debug() -> bool:
    return os.environ.get("SQUEEZE_DEBUG", "") not in ("", "0")


def printable(text: str) -> str:
    """``text`` with control characters escaped: names and strings from crafted
    headers never reach the terminal raw (no escape sequences)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def message(text: str) -> None:
    click.echo(f"{PROG}: {printable(text)}", err=True)


@dataclass
class Opts:
    mode: str = "compress"  # compress, decompress, test, list
    stdout: bool = False
    output: str | None = None
    force: bool = False
    rm: bool = False
    suffix: str = DEFAULT_SUFFIX
    level: int | None = None
    threads: int = 1
    verbose: int = 0
    quiet: int = 0
    codec: str = "auto"
    json: bool = False
    progress: bool = True
    memlimit: int | None = None
    block_size: int | None = None
    check: str = "xxh64"
    recursive: bool = False
    scheduler: str | None = None  # --scheduler: blocks coded on a Dask cluster
    params: dict = field(default_factory=dict)


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
        if _debug():
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        if self.opts.quiet < 2:
            message(f"{name}: {text}")
        self.status = EXIT_ERROR
        if self.opts.json:  # a failed file has its record too
            self.records.append({"file": name, "status": "error", "error": printable(text)})


# ------------------------------------------------------------------------------------
# the per-file work


def _display(path: str | None) -> str:
    return "(stdin)" if path in (None, "-") else path


def _is_url(path: str | None) -> bool:
    """``scheme://...``: an fsspec URL (read by the workers under --scheduler)."""
    return path is not None and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path) is not None


def _threads(n: int) -> int:
    return (os.cpu_count() or 1) if n == 0 else n


class _Progress:
    """A tqdm bar fed with the bytes of finished blocks plus, polled four times a
    second, the position inside the blocks being coded (frappe_cli.progress): a
    one-block file moves too.  ``close()`` (also on Ctrl-C) removes it."""

    def __init__(self, bar):
        import threading

        self.bar = bar
        self.done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True, name="sqz-progress")
        self._thread.start()

    def update(self, n: int) -> None:
        self.done += n

    def _poll(self) -> None:
        from frappe_cli import progress

        while not self._stop.wait(0.25):
            n = self.done + progress.live_bytes()
            if self.bar.total:
                n = min(n, self.bar.total)
            self.bar.n = n
            self.bar.refresh()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self.bar.close()


def _wants_bar(opts: Opts, total: int | None) -> bool:
    if not opts.progress or opts.quiet or not sys.stderr.isatty():
        return False
    return total is None or total >= PROGRESS_MIN_BYTES


def _decoded_size(src) -> int | None:
    """The total decoded size of a seekable .sqz file (from its block headers)."""
    from frappe_cli import container

    try:
        total = sum(s.uncompressed for s in container.scan_streams(src, seek_min=0))
    except (SqueezeError, OSError):
        total = None
    try:
        src.seek(0)
    except OSError:
        return None
    return total


class _Counting:
    """An output that reports the bytes written (None: count only, write nothing)."""

    def __init__(self, out, count: Callable[[int], None]):
        self.out = out
        self.count = count

    def write(self, b) -> int:
        n = self.out.write(b) if self.out is not None else len(b)
        self.count(len(b))
        return n

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()


def _make_progress(opts: Opts, total: int | None, desc: str) -> tuple[Callable | None, Any]:
    if not _wants_bar(opts, total):
        return None, None
    from tqdm import tqdm

    bar = _Progress(tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                         desc=printable(desc), file=sys.stderr, leave=False,
                         dynamic_ncols=True))
    return bar.update, bar


def _open_input(path: str | None, opts: Opts | None = None,
                to_stdout: bool = True) -> tuple[BinaryIO, int | None, Path | None]:
    """Open an input file.  As xz does, a symbolic link is skipped unless the output
    goes to standard output or -f is given, and --rm skips a file with other hard
    links (deleting one name would not free the data and would surprise)."""
    if path in (None, "-"):
        return sys.stdin.buffer, None, None
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise SqueezeError("No such file or directory")
    if opts is not None and not opts.force and not to_stdout:
        if p.is_symlink():
            raise SkipWarning("Is a symbolic link, skipping")
        if opts.rm and p.is_file() and p.stat().st_nlink > 1:
            n = p.stat().st_nlink - 1
            raise SkipWarning(f"Input file has {n} other hard link{'s' if n > 1 else ''}, "
                              "skipping")
    if p.is_dir():
        raise SkipWarning("Is a directory, skipping")
    if not p.exists():
        raise SqueezeError("No such file or directory")
    if not p.is_file():
        raise SkipWarning("Not a regular file, skipping")
    f = open(p, "rb")
    return f, p.stat().st_size, p


#: decoding without -M refuses streams whose blocks are larger than this (zstd
#: refuses windows over 128 MiB unless told); squeeze's encoders cut at most 64 MiB
DEFAULT_DECODE_BLOCK_LIMIT = 256 << 20


def decode_limits(opts: Opts) -> dict:
    """The memory guards of a decode: -M SIZE, -M 0 (none) or the default."""
    if opts.memlimit is None:
        return {"memlimit": None, "max_block": DEFAULT_DECODE_BLOCK_LIMIT}
    if opts.memlimit == 0:
        return {"memlimit": None, "max_block": None}
    return {"memlimit": opts.memlimit, "max_block": None}


def _build_codec(opts: Opts, head: bytes):
    from frappe_cli import registry

    codec_id = opts.codec
    reason = ""
    if codec_id == "auto":
        from frappe_cli import detect

        codec_id, reason = detect.choose_codec(head)
        foreign = sorted(set(opts.params) - set(registry.get_class(codec_id).options))
        if foreign:
            # an option of a codec the user did not choose (--bpp without --codec frappe)
            owners = [cid for cid in registry.available_ids()
                      if foreign[0] in registry.get_class(cid).options]
            spec = codec_option_specs().get(foreign[0], {})
            flag = spec.get("flag", f"-O {foreign[0]}=...")
            if owners:
                raise OptionError(f"{flag} is an option of the {' and '.join(owners)} codec"
                                  f"{'s' if len(owners) > 1 else ''}: add --codec "
                                  f"{owners[0]}")
            raise OptionError(f"no codec takes the option '{foreign[0]}'")
    codec = registry.make(codec_id, opts.level, **opts.params)
    return codec, reason


def _memory_fit(codec, opts: Opts, threads: int, name: str, size: int | None = None):
    """Adapt to -M as xz does: fewer threads, then smaller blocks, then a lower level,
    each said on stderr; refuse only when nothing fits.  Returns (codec, threads,
    block size or None)."""
    limit = opts.memlimit
    bs = opts.block_size
    if not limit:  # None or -M 0: no limit
        return codec, threads, bs

    def need(c, t: int, b: int | None) -> int:
        block = b or c.block_size()
        if size is not None:  # a block never holds more than the file
            block = max(1, min(block, size))
        return c.process_memory + t * (c.memory_usage() + 3 * block)

    def say(text: str) -> None:
        if opts.quiet < 1:
            message(f"{name}: {text} to fit the memory limit of {limit >> 20} MiB")

    if need(codec, threads, bs) <= limit:
        return codec, threads, bs
    t = threads
    while t > 1 and need(codec, t, bs) > limit:
        t -= 1
    if t != threads:
        say(f"reduced the threads from {threads} to {t}")
    if need(codec, t, bs) <= limit:
        return codec, t, bs
    b = bs or codec.block_size()
    small = b
    while small > (1 << 20) and need(codec, t, small) > limit:
        small //= 2
    if need(codec, t, small) <= limit:
        say(f"reduced the block size from {b >> 20} MiB to {max(small >> 20, 1)} MiB")
        return codec, t, small
    from frappe_cli import registry

    level = codec.level
    while level > 0:
        level -= 1
        lower = registry.make(codec.codec_id, level, **opts.params)
        if need(lower, t, bs) <= limit:
            say(f"lowered the level from {codec.level} to {level}")
            return lower, t, bs
    from frappe_cli.errors import MemoryLimitError

    raise MemoryLimitError(
        f"Memory usage limit reached ({need(codec, 1, bs) >> 20} MiB needed by "
        f"{codec.codec_id} level {codec.level}, limit {limit >> 20} MiB)"
    )


def compress_one(run: Run, path: str | None) -> None:
    from frappe_cli import fileio
    from frappe_cli.errors import InputError

    opts = run.opts
    name = _display(path)
    if run.session is not None and _is_url(path):
        from frappe_cli import distributed

        return distributed.cli_compress_url(run, path)
    # standard input goes to standard output unless -o names a file (as xz/zstd do)
    to_stdout = opts.stdout or (path in (None, "-") and not opts.output)
    if path not in (None, "-") and not opts.force and path.endswith(opts.suffix):
        if not to_stdout:
            raise SkipWarning(f"File already has '{opts.suffix}' suffix, skipping")
    src, size, p = _open_input(path, opts, to_stdout)
    try:
        if to_stdout and sys.stdout.isatty() and not opts.force:
            raise SqueezeError("Compressed data cannot be written to a terminal")
        head, reader = fileio.peek(src, 1 << 16)
        codec, reason = _build_codec(opts, head)
        if opts.rm and not codec.lossless and not opts.force:
            raise SqueezeError(f"--rm with the lossy codec {codec.codec_id} would lose the "
                               "original; add -f to insist")
        if opts.verbose >= 2 and reason:
            message(f"{name}: auto: {codec.codec_id} ({reason})")
        try:
            stats, dest = _compress_to(run, codec, reader, p, path, size, to_stdout)
        except InputError as exc:
            # --codec auto must compress anything: when the sniffed format turns out
            # to be malformed (a cut-off safetensors file...), start again with zstd
            if opts.codec != "auto" or p is None or to_stdout:
                raise
            if opts.verbose >= 1:
                message(f"{name}: {codec.codec_id}: {exc.message}; using zstd")
            from frappe_cli import registry

            codec = registry.make("zstd", opts.level)
            src.seek(0)
            stats, dest = _compress_to(run, codec, src, p, path, size, to_stdout)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    rec = {"file": name, "output": dest, "codec": stats.codec_id, "level": codec.level,
           "uncompressed": stats.uncompressed, "compressed": stats.compressed,
           "blocks": stats.blocks, "block_kinds": stats.kinds, "status": "ok"}
    run.records.append(rec)
    if opts.verbose and not opts.json:
        ratio = stats.compressed / stats.uncompressed if stats.uncompressed else 0.0
        bpb = 8 * ratio
        message(f"{name}: {stats.uncompressed} -> {stats.compressed} bytes "
                f"({ratio:.3f}, {bpb:.3f} bits/byte, {stats.codec_id} -{codec.level})")


def _compress_to(run: Run, codec, reader: BinaryIO, p: Path | None, path: str | None,
                 size: int | None, to_stdout: bool):
    """Compress ``reader`` to stdout or to the output file; returns (stats, destination)."""
    from frappe_cli import fileio

    opts = run.opts
    codec, threads, block_size = _memory_fit(codec, opts, _threads(opts.threads),
                                             _display(path), size)
    update, bar = _make_progress(opts, size, _display(path))

    def encode(out: BinaryIO):
        if run.session is not None:  # --scheduler: the blocks are coded on the cluster
            from frappe_cli import distributed

            return distributed.cli_compress_stream(run, reader, out, codec, update, block_size)
        from frappe_cli.api import compress_with_fallback

        # --codec auto on a pipe: restart with zstd if the sniffed format is malformed
        fallback = None
        if opts.codec == "auto" and codec.codec_id != "zstd":
            from frappe_cli import registry

            fallback = registry.make("zstd", codec.level)
        # a pipe cannot be read again: past the first block, code whatever comes
        return compress_with_fallback(reader, out, codec, fallback, check=opts.check,
                                      threads=threads, block_size=block_size,
                                      progress=update,
                                      lenient_late=fallback is not None and (
                                          to_stdout or p is None))

    try:
        if to_stdout:
            out = fileio.OutputFile(sys.stdout.buffer, "(stdout)")
            stats = encode(out)
            out.flush()
            return stats, "(stdout)"
        dest_path = Path(opts.output) if opts.output else Path(path + opts.suffix)
        if p is not None and fileio.same_file(p, dest_path):
            raise SqueezeError("Output file is the input file")
        before = _identity(p)
        with fileio.AtomicOutput(dest_path, force=opts.force, like=p) as out:
            stats = encode(out)
        if opts.rm and p is not None:
            _verify_written(dest_path, stats.uncompressed, threads)
            _remove_input(p, before)
        return stats, str(dest_path)
    finally:
        if bar is not None:
            bar.close()


def _identity(p: Path | None) -> tuple | None:
    """What identifies the input's contents for ``--rm``: size, mtime, inode."""
    if p is None:
        return None
    st = p.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _remove_input(p: Path, before: tuple | None) -> None:
    """``--rm``: delete the input only if it is still what was read (a file that grew
    or was replaced while squeeze read it is kept, with an error)."""
    try:
        now = _identity(p)
    except OSError:
        now = None
    if now != before:
        raise SqueezeError("File changed while it was being processed; input kept")
    p.unlink()


def _verify_written(path: Path, expect_size: int, threads: int) -> None:
    """Decode the written file before the input may be removed (``--rm``).

    Every block check was computed from the input, so a full test decode proves
    the file on disk reproduces the input exactly.
    """
    from frappe_cli import container

    try:
        with open(path, "rb") as f:
            total = container.decompress_stream(f, None, threads=threads)
    except SqueezeError as exc:
        raise SqueezeError(f"Verification of {path} failed ({exc.message}); input kept") from None
    if total != expect_size:
        raise SqueezeError(f"Verification of {path} failed (size); input kept")


def decompress_one(run: Run, path: str | None) -> None:
    from frappe_cli import container, fileio

    opts = run.opts
    name = _display(path)
    if run.session is not None and _is_url(path):
        from frappe_cli import distributed

        return distributed.cli_decompress_url(run, path)
    test = opts.mode == "test"
    from_stdin = path in (None, "-")
    to_stdout = not test and (opts.stdout or (from_stdin and not opts.output))
    if not test and not to_stdout and not opts.output and not path.endswith(opts.suffix):
        raise SkipWarning("Filename has an unknown suffix, skipping")
    src, size, p = _open_input(path, opts, to_stdout or test)
    try:
        if from_stdin and sys.stdin.isatty() and not opts.force:
            raise SqueezeError("Compressed data cannot be read from a terminal")
        threads = _threads(opts.threads)
        total = _decoded_size(src) if p is not None and _wants_bar(opts, None) else None
        update, bar = _make_progress(opts, total if total is not None else size, name)
        counter = None
        if bar is not None and total is not None:
            # count decoded bytes (a block's position shows while it decodes)
            counter, update = update, None
        kw = dict(threads=threads, progress=update, **decode_limits(opts))

        def decode(out: BinaryIO | None) -> int:
            if run.session is not None:  # --scheduler: the blocks are decoded on the cluster
                from frappe_cli import distributed

                return distributed.cli_decompress_stream(run, src, out, decode_limits(opts),
                                                         update)
            if counter is not None:
                out = _Counting(out, counter)
            return container.decompress_stream(src, out, **kw)

        try:
            if test:
                n = decode(None)
                dest = None
            elif to_stdout:
                out = fileio.OutputFile(sys.stdout.buffer, "(stdout)")
                n = decode(out)
                out.flush()
                dest = "(stdout)"
            else:
                dest_path = Path(opts.output) if opts.output else Path(path[: -len(opts.suffix)])
                if p is not None and fileio.same_file(p, dest_path):
                    raise SqueezeError("Output file is the input file")
                before = _identity(p)
                with fileio.AtomicOutput(dest_path, force=opts.force, like=p) as out:
                    n = decode(out)
                dest = str(dest_path)
                if opts.rm and p is not None:
                    _remove_input(p, before)
        finally:
            if bar is not None:
                bar.close()
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    run.records.append({"file": name, "output": dest, "uncompressed": n,
                        "compressed": size, "status": "ok"})
    if opts.verbose and not opts.json:
        message(f"{name}: {'OK' if test else 'decompressed'} ({n} bytes)")


def list_one(run: Run, path: str | None) -> None:
    from frappe_cli import container

    name = _display(path)
    src, size, p = _open_input(path)
    try:
        streams = container.scan_streams(src)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    for s in streams:
        h = s.header
        kinds: dict[str, int] = {}
        for b in s.blocks:
            k = container.KIND_NAMES[b.kind]
            kinds[k] = kinds.get(k, 0) + 1
        rec = {
            "file": name,
            "codec": h.codec_id,
            "codec_version": h.codec_version,
            "params": h.params,
            "check": container.check_name(h.check),
            "block_size": h.max_block_size,
            "blocks": len(s.blocks),
            "block_kinds": kinds,
            "compressed": s.compressed,
            "uncompressed": s.uncompressed,
        }
        if h.check & container.CHECK_PAYLOAD:
            rec["check_covers"] = "payload"
        summary = _codec_summary(h, s.blocks)
        if summary:
            rec["summary"] = summary
        if run.opts.verbose:
            rec["block_list"] = [
                {"kind": container.KIND_NAMES[b.kind], "uncompressed": b.usize,
                 "compressed": b.csize} for b in s.blocks
            ]
            details = _codec_details(h.codec_id, p)
            if details:
                rec["details"] = details
        run.records.append(rec)


def _codec_summary(header, blocks) -> dict | None:
    """A codec's own fields for one stream in ``list`` (the ``summarize`` hook: from
    the header and the block sizes, nothing decoded), e.g. a frame stream's rate."""
    from frappe_cli import registry
    from frappe_cli.errors import UnsupportedError

    try:
        cls = registry.get_class(header.codec_id)
    except UnsupportedError:
        return None
    hook = getattr(cls, "summarize", None)
    return hook(header.params, [(b.usize, b.csize) for b in blocks]) if hook else None


def _codec_details(codec_id: str, path: Path | None) -> list[dict] | None:
    """Codec-specific rows for ``list -v`` (e.g. per-tensor ratios of the weight packers)."""
    if path is None:
        return None
    from frappe_cli import registry
    from frappe_cli.errors import UnsupportedError

    try:
        cls = registry.get_class(codec_id)
    except UnsupportedError:
        return None
    return cls.describe(path)  # the Codec hook (None: no details)


def _print_list(run: Run) -> None:
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


def run_files(opts: Opts, files: tuple[str, ...]) -> int:
    run = Run(opts)
    if opts.output and len(files) > 1:
        raise click.UsageError("-o/--output takes a single input file")
    if opts.output and opts.stdout:
        raise click.UsageError("-o/--output and -c/--stdout exclude each other")
    if opts.rm and (opts.stdout or not files or "-" in files):
        raise click.UsageError("--rm needs file arguments and cannot be used with -c/--stdout")
    if not opts.suffix or "/" in opts.suffix:
        raise click.UsageError("invalid suffix for -S/--suffix")
    if opts.mode in ("decompress", "test", "list") and opts.params:
        raise click.UsageError("codec options apply to compression only")
    work = {"compress": compress_one, "decompress": decompress_one, "test": decompress_one,
            "list": list_one}[opts.mode]
    targets = files or ("-",)
    if opts.recursive:
        if opts.output:
            raise click.UsageError("-o/--output cannot be used with -r/--recursive")
        targets = tuple(expand_recursive(targets, opts))
    if targets.count("-") > 1:
        raise click.UsageError("standard input can be named only once")
    if opts.scheduler and opts.mode != "list":
        # --scheduler: the same per-file work, with the blocks coded on a Dask cluster
        from frappe_cli import distributed

        if not distributed.cli_run(run, targets, work):
            return EXIT_ERROR  # the scheduler cannot be reached (one line was printed)
    else:
        for path in targets:
            try:
                work(run, path)
            except KeyboardInterrupt:
                raise
            except BrokenPipeError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes one line
                run.fail(_display(path), exc)
    if opts.mode == "list":
        _print_list(run)
    elif opts.json:
        import json

        data_on_stdout = opts.mode != "test" and (opts.stdout or targets == ("-",))
        text = "\n".join(json.dumps(r) for r in run.records)
        if text:
            click.echo(text, err=data_on_stdout)
    return run.status


def expand_recursive(targets: tuple[str, ...], opts: Opts) -> Iterator[str]:
    """``-r``: replace each folder by the files under it, in sorted order (zstd's -r).

    Compression takes every regular file that does not already end in the
    suffix; decompression, test and list take the files that do.  Symbolic links
    inside the tree are not followed (a link to a folder could loop, a link to a
    file would be compressed twice); a folder named on the command line is.
    """
    want_suffix = opts.mode != "compress"
    for t in targets:
        if t == "-" or not os.path.isdir(t):
            yield t
            continue
        for dirpath, dirnames, filenames in os.walk(t, onerror=None):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                if name.endswith(opts.suffix) == want_suffix:
                    yield path


# ------------------------------------------------------------------------------------
# click definitions


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


def _parse_params(values: tuple[str, ...], **named) -> dict:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got '{item}'", param_hint="-O")
        params[key.strip().replace("-", "_")] = _coerce(val.strip())
    for k, v in named.items():
        if v is not None:
            params[k] = v
    return params


def _coerce(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


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


def codec_option_specs() -> dict[str, dict]:
    """The named options codecs contribute (``Codec.cli_options``), by parameter."""
    from frappe_cli import registry

    specs: dict[str, dict] = {}
    for cid in registry.available_ids():
        for spec in registry.get_class(cid).cli_options:
            specs.setdefault(spec["param"], spec)
    return specs


def _codec_options() -> list:
    return [click.option(spec["flag"], spec["param"], type=spec.get("type", str),
                         metavar=spec.get("metavar"), help=spec.get("help"))
            for spec in codec_option_specs().values()]


def _c(decorator):
    """Mark a decorator of ``file_options`` as a compression-only option."""
    decorator.compress_only = True
    return decorator


def _opts_from(mode: str, kw: dict) -> Opts:
    params = _parse_params(kw.pop("options", ()),
                           **{p: kw.pop(p, None) for p in codec_option_specs()})
    kw.pop("keep")
    return Opts(
        mode=mode,
        stdout=kw.pop("to_stdout"),
        output=kw.pop("output"),
        force=kw.pop("force"),
        rm=kw.pop("rm"),
        suffix=kw.pop("suffix"),
        level=kw.pop("level", None),
        threads=kw.pop("threads"),
        verbose=kw.pop("verbose"),
        quiet=kw.pop("quiet"),
        codec=kw.pop("codec", "auto"),
        json=kw.pop("as_json"),
        progress=not kw.pop("no_progress"),
        memlimit=kw.pop("memlimit"),
        block_size=kw.pop("block_size", None),
        check=kw.pop("check", "xxh64"),
        recursive=kw.pop("recursive"),
        scheduler=kw.pop("scheduler") or None,
        params=params,
    )


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
    _finish(run_files(_opts_from(mode, kw), files))


def _mode_command(mode: str, helptext: str):
    @click.command(name=mode, help=helptext,
                   context_settings={"help_option_names": ["-h", "--help"]})
    @functools.partial(file_options, compress=mode == "compress")
    def cmd(files, **kw):
        _finish(run_files(_opts_from(mode, kw), files))

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
        if _debug():
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
        if _debug():
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
