"""The per-file work of the ``squeeze`` command line: open an input, choose and fit
the codec, compress / decompress / test / list it, write the output atomically, and
``run_files``, which does every file of a run.  Imported when a command runs;
numpy, numba and the codecs load only inside the work.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from frappe_cli.cli_options import (
    Opts,
    check_codec_params,
    check_usage,
    decode_limits,
    misplaced_option,
)
from frappe_cli.cli_reports import Run, message, printable, report
from frappe_cli.errors import EXIT_ERROR, SkipWarning, SqueezeError

PROGRESS_MIN_BYTES = 4 << 20


def display_name(path: str | None) -> str:
    """How messages and records name an input (``(stdin)`` for standard input)."""
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


def make_progress(opts: Opts, total: int | None, desc: str) -> tuple[Callable | None, Any]:
    """A progress bar when stderr is a terminal and the input is large enough:
    ``(update, bar)``, or ``(None, None)``."""
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


def build_codec(opts: Opts, head: bytes):
    """The codec for one input (``--codec auto``: chosen from its first bytes) and
    the reason auto gave; a codec parameter the chosen codec does not take names the
    codec(s) that take it."""
    from frappe_cli import registry

    codec_id = opts.codec
    reason = ""
    if codec_id == "auto":
        from frappe_cli import detect

        codec_id, reason = detect.choose_codec(head)
        foreign = sorted(set(opts.params) - set(registry.get_class(codec_id).options))
        if foreign:  # an option of a codec auto did not choose (--dtype on a text file)
            raise misplaced_option(foreign[0])
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
    name = display_name(path)
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
        codec, reason = build_codec(opts, head)
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
                                             display_name(path), size)
    update, bar = make_progress(opts, size, display_name(path))

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
    name = display_name(path)
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
        update, bar = make_progress(opts, total if total is not None else size, name)
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
                why = None
                if not opts.output and p is not None:
                    # the codec may name the output after the format it decodes to
                    # (an image coded from photo.jpg decodes to photo.png)
                    dest_path, why = fileio.decoded_name(src, dest_path)
                if p is not None and fileio.same_file(p, dest_path):
                    raise SqueezeError("Output file is the input file")
                before = _identity(p)
                with fileio.AtomicOutput(dest_path, force=opts.force, like=p) as out:
                    n = decode(out)
                dest = str(dest_path)
                if why and opts.quiet < 1:
                    message(f"{name}: {why}: {dest}")
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

    name = display_name(path)
    src, size, p = _open_input(path)
    try:
        streams = container.scan_streams(src)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    described: dict[str, list[dict] | None] = {}  # list -v: each codec's rows, once
    for index, s in enumerate(streams):
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
            if h.codec_id not in described:
                described[h.codec_id] = _codec_details(h.codec_id, p)
            # rows naming a "stream" (its index in the file) go with that stream only
            details = [{k: v for k, v in d.items() if k != "stream"}
                       for d in described[h.codec_id] or [] if d.get("stream", index) == index]
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
    return cls.summarize(header.params, [(b.usize, b.csize) for b in blocks])


def _codec_details(codec_id: str, path: Path | None) -> list[dict] | None:
    """Codec-specific rows for ``list -v`` (e.g. per-tensor ratios of the weight packers);
    a row with a ``"stream"`` key belongs to that stream of the file only."""
    if path is None:
        return None
    from frappe_cli import registry
    from frappe_cli.errors import UnsupportedError

    try:
        cls = registry.get_class(codec_id)
    except UnsupportedError:
        return None
    return cls.describe(path)  # the Codec hook (None: no details)


def run_files(opts: Opts, files: tuple[str, ...]) -> int:
    """Do ``opts.mode`` on every file (``-`` or none: standard input), report, and
    return the exit status: one failing file is reported and the others done."""
    run = Run(opts)
    check_usage(opts, files)
    if opts.mode == "compress":
        check_codec_params(opts)
    work = {"compress": compress_one, "decompress": decompress_one, "test": decompress_one,
            "list": list_one}[opts.mode]
    targets = files or ("-",)
    if opts.recursive:
        targets = tuple(expand_recursive(targets, opts))
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
                run.fail(display_name(path), exc)
    report(run, targets)
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
