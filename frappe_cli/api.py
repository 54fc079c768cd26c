"""The public Python API: the three tiers of ``lzma`` and python-zstandard.

* one shot: :func:`compress`, :func:`decompress`;
* incremental: :class:`Compressor`, :class:`Decompressor` (the stdlib ``lzma``
  semantics: ``eof``, ``unused_data``, ``needs_input``, ``max_length``);
* file objects: :func:`open` and :class:`SqueezeFile` (an ``io.BufferedIOBase``)
  whose ``seek()`` on a seekable ``.sqz`` decodes only the block that holds the
  target offset.

Everything is exported by ``frappe_cli`` (``import frappe_cli as squeeze``).
Every failure caused by the data is a :class:`~frappe_cli.errors.SqueezeError`
(``FormatError``, ``CorruptError``, ``TruncatedError``, ``UnsupportedError``,
``MemoryLimitError``, ``OptionError``, ``InputError``); misuse of an object
(I/O on a closed file, a second ``flush()``) raises what ``io`` and ``lzma``
raise (``ValueError``, ``EOFError``).  The bytes written never depend on
``threads`` and are the bytes ``squeeze`` writes for the same input and
options.  docs/API.md has examples.
"""

from __future__ import annotations

import builtins
import io
import os
import threading
import weakref
from bisect import bisect_right
from collections import deque
from typing import Any, BinaryIO, Iterator

from frappe_cli import container
from frappe_cli.codec import DEFAULT_LEVEL, Codec, read_exact
from frappe_cli.errors import (
    FormatError,
    InputError,
    OptionError,
    SqueezeError,
    TruncatedError,
)

__all__ = ["compress", "decompress", "Compressor", "Decompressor", "open", "SqueezeFile"]

SNIFF_BYTES = 1 << 16  # what --codec auto looks at (the CLI's peek)
_PIPE_LIMIT = 4 << 20  # input bytes a Compressor buffers before the caller waits


def _threads(n: int) -> int:
    if not isinstance(n, int) or n < 0:
        raise OptionError(f"threads must be an integer >= 0, not {n!r}")
    return (os.cpu_count() or 1) if n == 0 else n


def _as_view(data: Any) -> memoryview:
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'") from None
    if view.ndim != 1 or view.format != "B":
        try:
            view = view.cast("B")
        except TypeError:  # not C-contiguous
            view = memoryview(view.tobytes())
    return view


def make_codec(codec: str | Codec, level: int | None, options: dict,
               head: bytes) -> tuple[Codec, bool]:
    """The codec to compress with: ``(codec, chosen_by_auto)``."""
    from frappe_cli import registry

    if isinstance(codec, Codec):
        if options or level not in (None, codec.level):
            raise OptionError("options and level go into the Codec instance itself")
        return codec, False
    if not isinstance(codec, str):
        raise OptionError(f"codec must be a codec id or 'auto', not {codec!r}")
    if codec != "auto":
        return registry.make(codec, level, **options), False
    from frappe_cli import detect

    cid, _reason = detect.choose_codec(bytes(head[:SNIFF_BYTES]))
    return registry.make(cid, level, **options), cid != "zstd"


def _fallback(level: int | None) -> Codec:
    from frappe_cli import registry

    return registry.make("zstd", level)


# ------------------------------------------------------------------------------------
# one shot


def compress(data: Any, codec: str | Codec = "auto", level: int = DEFAULT_LEVEL,
             threads: int = 1, block_size: int | None = None, *, check: str = "xxh64",
             scheduler: str | None = None, **options: Any) -> bytes:
    """Compress ``data`` (any bytes-like object) into one ``.sqz`` stream.

    ``codec="auto"`` sniffs the content as ``squeeze`` does (never a lossy
    codec) and falls back to zstd when the sniffed format turns out to be
    malformed.  ``options`` are the codec's own (e.g. ``dtype="bf16"`` for the
    weight codecs, ``bpp=0.1`` for ``frappe``).  ``scheduler`` runs the block
    encodes on a Dask cluster (``"tcp://host:8786"`` or ``"local:N"``; extra
    ``squeeze-codecs[dask]``); the bytes are the same.
    """
    view = _as_view(data)
    nthreads = _threads(threads)
    c, auto = make_codec(codec, level, options, view[:SNIFF_BYTES])
    try:
        return _compress_with(c, view, nthreads, block_size, check, scheduler)
    except InputError:
        if not auto:
            raise
        return _compress_with(_fallback(level), view, nthreads, block_size, check, scheduler)


def _compress_with(codec: Codec, view: memoryview, threads: int, block_size: int | None,
                   check: str, scheduler: str | None) -> bytes:
    if scheduler is not None:
        from frappe_cli.distributed import compress_bytes

        return compress_bytes(view, codec, scheduler=scheduler, block_size=block_size,
                              check=check)
    out = io.BytesIO()
    container.compress_stream(io.BytesIO(view), out, codec, check=check, threads=threads,
                              block_size=block_size)
    return out.getvalue()


def decompress(data: Any, threads: int = 1, max_output: int | None = None, *,
               memlimit: int | None = None, scheduler: str | None = None) -> bytes:
    """Decode every ``.sqz`` stream in ``data`` and return their concatenation.

    ``max_output`` (bytes) guards against decompression bombs: a block that
    would take the output past it is refused before it is decoded
    (``MemoryLimitError``).  ``memlimit`` refuses streams whose blocks need more
    memory, as ``squeeze -M`` does.
    """
    view = _as_view(data)
    if max_output is not None and (not isinstance(max_output, int) or max_output < 0):
        raise OptionError(f"max_output must be a byte count >= 0, not {max_output!r}")
    if scheduler is not None:
        from frappe_cli.distributed import decompress_bytes

        return decompress_bytes(view, scheduler=scheduler, max_output=max_output)
    return b"".join(container.iter_decompress(io.BytesIO(view), threads=_threads(threads),
                                              memlimit=memlimit, max_output=max_output))


# ------------------------------------------------------------------------------------
# incremental compression: the container's own streaming encoder on a thread, fed
# through a bounded pipe, so the bytes are exactly the one-shot bytes


class _Aborted(Exception):
    pass


class _Pipe:
    """A bounded byte queue from the caller to the encoder thread."""

    def __init__(self, limit: int):
        self.cond = threading.Condition()
        self.chunks: deque[memoryview] = deque()
        self.size = 0
        self.limit = limit
        self.closed = False
        self.aborted = False

    def feed(self, data: bytes, alive) -> None:
        with self.cond:
            self.chunks.append(memoryview(data))
            self.size += len(data)
            self.cond.notify_all()
            while self.size > self.limit and alive():
                self.cond.wait(0.05)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def abort(self) -> None:
        with self.cond:
            self.aborted = True
            self.cond.notify_all()

    def read(self, n: int = -1) -> bytes:
        with self.cond:
            while not self.aborted and not self.closed and (n < 0 or self.size < n):
                self.cond.wait()
            if self.aborted:
                raise _Aborted
            want = self.size if n < 0 else min(n, self.size)
            parts = []
            while want > 0:
                head = self.chunks[0]
                if len(head) <= want:
                    parts.append(head.tobytes())
                    self.chunks.popleft()
                    want -= len(head)
                    self.size -= len(head)
                else:
                    parts.append(head[:want].tobytes())
                    self.chunks[0] = head[want:]
                    self.size -= want
                    want = 0
            self.cond.notify_all()
        return b"".join(parts)


class _Sink:
    """What the encoder thread writes, until the caller takes it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.parts: list[bytes] = []

    def write(self, b) -> int:
        with self.lock:
            self.parts.append(bytes(b))
        return len(b)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        with self.lock:
            out = b"".join(self.parts)
            self.parts.clear()
        return out


class _Recorder:
    """A reader that keeps what it read until ``stop()`` (the replay for a restart)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.log: list[bytes] | None = []

    def read(self, n: int = -1) -> bytes:
        b = self.raw.read(n)
        if self.log is not None:
            self.log.append(bytes(b))
        return b

    def stop(self) -> bytes:
        data = b"".join(self.log or [])
        self.log = None
        return data


class _Holder:
    """A writer that holds everything back until ``release()``."""

    def __init__(self, dst: BinaryIO):
        self.dst = dst
        self.held: list[bytes] | None = []

    def write(self, b) -> int:
        if self.held is None:
            return self.dst.write(b)
        self.held.append(bytes(b))
        return len(b)

    def flush(self) -> None:
        if self.held is None:
            self.dst.flush()

    def release(self) -> None:
        if self.held is not None:
            held, self.held = self.held, None
            for b in held:
                self.dst.write(b)


def compress_with_fallback(src: BinaryIO, dst: BinaryIO, codec: Codec, fallback: Codec | None,
                           *, progress=None, lenient_late: bool = False,
                           **kw: Any) -> container.StreamStats:
    """``container.compress_stream``, restarted with ``fallback`` (zstd) on the same
    bytes when ``codec`` rejects the input (``InputError``) before its first block
    is written: the stream is held back and the input recorded until then (at most
    about ``2 * threads + 1`` blocks), so pipes work as well as files.  This is how
    ``--codec auto`` keeps its promise to compress anything.  ``lenient_late``: once
    the first block is out (no restart possible), the codec is told to code what it
    cannot parse as opaque data (``Codec.lenient_input``) instead of failing.
    """
    if fallback is None:
        return container.compress_stream(src, dst, codec, progress=progress, **kw)
    rec, hold = _Recorder(src), _Holder(dst)

    def first(n: int) -> None:
        if hold.held is not None:
            rec.stop()
            hold.release()
            if lenient_late:
                codec.lenient_input = True
        if progress:
            progress(n)

    try:
        stats = container.compress_stream(rec, hold, codec, progress=first, **kw)
    except InputError:
        if hold.held is None:
            raise
        from frappe_cli.fileio import PeekReader

        replay = rec.stop()
        return container.compress_stream(PeekReader(src, replay), dst, fallback,
                                         progress=progress, **kw)
    hold.release()
    return stats


class _State:
    def __init__(self):
        self.error: BaseException | None = None
        self.done = threading.Event()


def _encode_worker(state: _State, pipe: _Pipe, sink: _Sink, resolve, kw: dict) -> None:
    kw = dict(kw)
    fallback = kw.pop("fallback")
    try:
        head = read_exact(pipe, SNIFF_BYTES)
        codec, auto = resolve(head)
        from frappe_cli.fileio import PeekReader

        # the input is not kept: past the first block, code whatever comes
        compress_with_fallback(PeekReader(pipe, head), sink, codec,
                               fallback if auto else None, lenient_late=auto, **kw)
    except _Aborted:
        pass
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
        state.error = exc
        pipe.abort()
    finally:
        state.done.set()


class Compressor:
    """Incremental compressor (``lzma.LZMACompressor``'s interface).

    ``compress(chunk)`` returns whatever compressed bytes are ready (often
    ``b""``: a block is coded once it is complete); ``flush()`` finishes the
    stream and returns the rest.  The concatenation of everything returned is
    byte-identical to :func:`compress` of the concatenated input with the same
    arguments.  Memory is bounded by the block size (about ``2 * threads + 1``
    blocks plus 4 MiB of input); a call that hands over more input than that
    returns once the encoder has taken it.
    """

    def __init__(self, codec: str | Codec = "auto", level: int = DEFAULT_LEVEL,
                 block_size: int | None = None, *, threads: int = 1, check: str = "xxh64",
                 **options: Any):
        nthreads = _threads(threads)
        if check not in container.CHECK_NAMES:
            raise OptionError(f"unknown check type '{check}' (none, crc32, xxh64)")
        if block_size is not None and not 1 <= block_size <= container.MAX_BLOCK_SIZE:
            raise OptionError(f"block size must be 1..{container.MAX_BLOCK_SIZE}")
        if codec != "auto":  # bad options fail here, not on the encoder thread
            fixed, _ = make_codec(codec, level, options, b"")
            resolve = lambda head: (fixed, False)  # noqa: E731
        else:
            make_codec("zstd", level, {}, b"")  # validates the level
            resolve = lambda head: make_codec("auto", level, options, head)  # noqa: E731
        self._kw = {"check": check, "threads": nthreads, "block_size": block_size,
                    "fallback": None}
        self._level = level
        self._resolve = resolve
        self._pipe = _Pipe(_PIPE_LIMIT)
        self._sink = _Sink()
        self._state = _State()
        self._thread: threading.Thread | None = None
        self._flushed = False
        # an abandoned compressor must not leave its thread waiting for input
        weakref.finalize(self, self._pipe.abort)

    def _start(self) -> None:
        if self._thread is None:
            kw = dict(self._kw, fallback=_fallback(self._level))
            self._thread = threading.Thread(
                target=_encode_worker, name="squeeze-compressor", daemon=True,
                args=(self._state, self._pipe, self._sink, self._resolve, kw))
            self._thread.start()

    def _raise(self) -> None:
        if self._state.error is not None:
            raise self._state.error

    def compress(self, data: Any) -> bytes:
        if self._flushed:
            raise ValueError("Compressor has been flushed")
        self._raise()
        view = _as_view(data)
        if len(view):
            self._start()
            self._pipe.feed(view.tobytes(), lambda: not self._state.done.is_set())
        self._raise()
        return self._sink.take()

    def flush(self) -> bytes:
        if self._flushed:
            raise ValueError("Repeated call to flush()")
        self._flushed = True
        self._raise()
        self._start()
        self._pipe.close()
        while not self._state.done.wait(0.1):
            pass
        self._raise()
        return self._sink.take()


# ------------------------------------------------------------------------------------
# incremental decompression: a push parser over the container's units


_HEADER, _BLOCK, _DONE = 0, 1, 2


class Decompressor:
    """Incremental decompressor with the stdlib ``lzma.LZMADecompressor`` semantics.

    It decodes one ``.sqz`` stream: bytes after its footer (a following stream
    included) end up in ``unused_data``.  Blocks are decoded whole and written
    out only after their check has passed, so at most one decoded block is held
    besides the unconsumed input.
    """

    def __init__(self, *, memlimit: int | None = None, threads: int = 1):
        self._memlimit = memlimit
        self._threads = _threads(threads)
        self._in = bytearray()
        self._pos = 0
        self._state = _HEADER
        self._header: container.StreamHeader | None = None
        self._codec: Codec | None = None
        self._seen: list[tuple[int, int]] = []
        self._pending = memoryview(b"")
        self._error: BaseException | None = None
        self.eof = False
        self.unused_data = b""
        self.needs_input = True

    # -- parsing ---------------------------------------------------------------------
    def _avail(self) -> memoryview:
        return memoryview(self._in)[self._pos:]

    def _step(self, dry: bool = False) -> bool:
        """Process the next unit if it is complete (``dry``: only say whether it is)."""
        view = self._avail()
        n = len(view)
        if self._state == _HEADER:
            m = len(container.MAGIC)
            if view[:min(n, m)] != container.MAGIC[:min(n, m)]:
                raise FormatError("File format not recognized")
            if n < 11:
                return False
            need = 11 + view[10] + 8
            if n < need:
                return False
            need += int.from_bytes(view[need - 2:need], "little") + 4
            if n < need:
                return False
            if dry:
                return True
            header = container.read_header(container._Reader(io.BytesIO(view[:need])))
            codec = container.codec_for(header)
            container._memory_check(codec, header, 1, self._memlimit)
            self._header, self._codec = header, codec
            self._pos += need
            self._state = _BLOCK
            return True
        if self._state != _BLOCK or n < 1:
            return False
        header, codec = self._header, self._codec
        assert header is not None and codec is not None
        if view[0] == container.KIND_INDEX:
            r = container._Reader(io.BytesIO(view[1:]))
            try:
                container._read_index_and_footer(r, self._seen)
            except TruncatedError:
                return False
            if dry:
                return True
            self._pos += 1 + r.pos
            self._state = _DONE
            self.eof = True
            self.unused_data = bytes(self._avail())
            self._in = bytearray()
            self._pos = 0
            return True
        head = container._BLOCK_HEAD.size + 4
        if n < head:
            return False
        info = container._read_block_head(container._Reader(io.BytesIO(view[:head])), header)
        assert info is not None
        csize = container.CHECK_SIZES[header.check]
        need = head + info.csize + csize
        if n < need:
            return False
        if dry:
            return True
        payload = view[head:head + info.csize].tobytes()
        chk = view[head + info.csize:need].tobytes()
        out = container._decode_one(codec, info, payload, header.check, chk)
        out = codec.finish_output(out)
        self._seen.append((info.usize, info.csize))
        self._pos += need
        if self._pos > (1 << 20) and self._pos * 2 > len(self._in):
            del self._in[:self._pos]
            self._pos = 0
        self._pending = memoryview(out).cast("B") if not isinstance(out, bytes) else \
            memoryview(out)
        return True

    # -- the lzma interface ----------------------------------------------------------
    def decompress(self, data: Any, max_length: int = -1) -> bytes:
        if self._error is not None:
            raise self._error
        if self.eof:
            raise EOFError("Already at end of stream")
        self._in += _as_view(data)
        out: list[bytes] = []
        room = max_length if max_length is not None and max_length >= 0 else -1
        try:
            while room != 0:
                if len(self._pending):
                    take = len(self._pending) if room < 0 else min(room, len(self._pending))
                    out.append(self._pending[:take].tobytes())
                    self._pending = self._pending[take:]
                    if room > 0:
                        room -= take
                    continue
                if self.eof or not self._step():
                    break
            self.needs_input = (not self.eof and not len(self._pending)
                                and not self._step(dry=True))
        except SqueezeError as exc:
            self._error = exc
            raise
        return b"".join(out)


# ------------------------------------------------------------------------------------
# file objects


_READ, _WRITE, _CLOSED = 1, 2, 0


class _Table:
    """The block table of a seekable file: every block's output range, for seeks."""

    def __init__(self, fp: BinaryIO, base: int):
        fp.seek(base)
        streams = container.scan_streams(fp, seek_min=0)
        self.starts: list[int] = []
        self.blocks: list[tuple[container.StreamHeader, Codec, container.BlockInfo]] = []
        self.lossless = True
        total = 0
        for s in streams:
            codec = container.codec_for(s.header)
            if not codec.lossless:
                self.lossless = False
            for b in s.blocks:
                self.starts.append(total)
                self.blocks.append((s.header, codec, b))
                total += b.usize
        self.size = total

    def find(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1


class SqueezeFile(io.BufferedIOBase):
    """A ``.sqz`` file opened for reading or writing (``lzma.LZMAFile``'s interface).

    Reading streams the blocks in order (concatenated streams read as one).  On a
    seekable file, ``seek()`` reads the stream index and decodes only the block
    that holds the target offset (random access); streams of lossy codecs, whose
    output is not the blocks' bytes, seek by decoding from the start instead.
    Writing appends one stream (``"a"``: after what the file holds, so the file
    decodes to the old contents followed by the new).
    """

    def __init__(self, filename: Any, mode: str = "r", *, codec: str | Codec = "auto",
                 level: int = DEFAULT_LEVEL, block_size: int | None = None, threads: int = 1,
                 check: str = "xxh64", memlimit: int | None = None, **options: Any):
        self._fp: BinaryIO | None = None
        self._closefp = False
        self._mode = _CLOSED
        if mode in ("r", "rb"):
            fmode, self._mode_str = "rb", "rb"
        elif mode in ("w", "wb", "a", "ab", "x", "xb"):
            fmode = mode[0] + "b"
            self._mode_str = fmode
        else:
            raise ValueError(f"Invalid mode: {mode!r}")
        if fmode != "rb":
            comp = Compressor(codec, level, block_size, threads=threads, check=check,
                              **options)
        elif options or codec != "auto":
            raise ValueError("compression options apply to write modes only")
        if isinstance(filename, (str, bytes, os.PathLike)):
            self._fp = builtins.open(filename, fmode)
            self._closefp = True
            self.name = os.fsdecode(filename) if not isinstance(filename, os.PathLike) \
                else os.fspath(filename)
        elif hasattr(filename, "read" if fmode == "rb" else "write"):
            self._fp = filename
        else:
            raise TypeError("filename must be a str, bytes, os.PathLike or file object")
        if fmode == "rb":
            self._mode = _READ
            self._threads = _threads(threads)
            self._memlimit = memlimit
            try:
                seekable = self._fp.seekable()
                self._base = self._fp.tell() if seekable else 0
            except (AttributeError, OSError):
                seekable, self._base = False, 0
            self._can_seek = seekable
            self._sequential = False  # True: a lossy stream, seeks decode from the start
            self._reset()
        else:
            self._mode = _WRITE
            self._comp = comp
            self._pos = 0

    # -- state -----------------------------------------------------------------------
    def _reset(self) -> None:
        self._pos = 0
        self._src: bytes | bytearray = b""
        self._buf = memoryview(b"")
        self._gen: Iterator[bytes] | None = None
        self._table: _Table | None = None
        self._next = 0  # next block of the table (random-access mode)
        self._eof = False

    def _check(self, mode: int) -> None:
        if self._mode == _CLOSED:
            raise ValueError("I/O operation on closed file")
        if mode != self._mode:
            raise io.UnsupportedOperation("File not open for "
                                          + ("reading" if mode == _READ else "writing"))

    @property
    def closed(self) -> bool:
        return self._mode == _CLOSED

    @property
    def mode(self) -> str:
        return self._mode_str

    def close(self) -> None:
        if self._mode == _CLOSED:
            return
        try:
            if self._mode == _WRITE:
                self._fp.write(self._comp.flush())
        finally:
            try:
                if self._closefp:
                    self._fp.close()
            finally:
                self._fp = None
                self._mode = _CLOSED
                self._gen = None
                self._buf = memoryview(b"")

    def fileno(self) -> int:
        self._check_open()
        return self._fp.fileno()

    def _check_open(self) -> None:
        if self._mode == _CLOSED:
            raise ValueError("I/O operation on closed file")

    def seekable(self) -> bool:
        return self.readable() and self._can_seek

    def readable(self) -> bool:
        self._check_open()
        return self._mode == _READ

    def writable(self) -> bool:
        self._check_open()
        return self._mode == _WRITE

    # -- reading ---------------------------------------------------------------------
    def _fill(self) -> bool:
        """Decode the next block into the buffer; False at the end of the data."""
        if self._eof:
            return False
        if self._table is not None:
            if self._next >= len(self._table.blocks):
                self._eof = True
                return False
            header, codec, info = self._table.blocks[self._next]
            self._next += 1
            piece = container.read_block(self._fp, self._base, codec, header, info)
        else:
            if self._gen is None:
                self._gen = container.iter_decompress(self._fp, threads=self._threads,
                                                      memlimit=self._memlimit)
            piece = next(self._gen, None)
            if piece is None:
                self._eof = True
                return False
        # the block as an object with find() (readline), the buffer a view of it
        self._src = piece if isinstance(piece, (bytes, bytearray)) else bytes(piece)
        self._buf = memoryview(self._src)
        return True

    def read(self, size: int | None = -1) -> bytes:
        self._check(_READ)
        if size is None or size < 0:
            parts = [self._buf.tobytes()]
            self._pos += len(self._buf)
            self._buf = memoryview(b"")
            while self._fill():
                parts.append(self._buf.tobytes())
                self._pos += len(self._buf)
                self._buf = memoryview(b"")
            return b"".join(parts)
        parts = []
        while size > 0:
            if not len(self._buf) and not self._fill():
                break
            take = self._buf[:size]
            parts.append(take.tobytes())
            self._buf = self._buf[len(take):]
            self._pos += len(take)
            size -= len(take)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        self._check(_READ)
        if not len(self._buf) and not self._fill():
            return b""
        n = len(self._buf) if size is None or size < 0 else min(size, len(self._buf))
        out = self._buf[:n].tobytes()
        self._buf = self._buf[n:]
        self._pos += n
        return out

    def readinto(self, b) -> int:
        """Fill ``b`` straight from the decoded blocks (one copy per byte)."""
        self._check(_READ)
        view = memoryview(b).cast("B")
        got = 0
        while got < len(view):
            if not len(self._buf) and not self._fill():
                break
            n = min(len(self._buf), len(view) - got)
            view[got:got + n] = self._buf[:n]
            self._buf = self._buf[n:]
            self._pos += n
            got += n
        return got

    def readinto1(self, b) -> int:
        view = memoryview(b).cast("B")
        data = self.read1(len(view))
        view[:len(data)] = data
        return len(data)

    def peek(self, size: int = 0) -> bytes:
        self._check(_READ)
        if not len(self._buf):
            self._fill()
        return self._buf.tobytes()

    def readline(self, size: int | None = -1) -> bytes:
        self._check(_READ)
        limit = -1 if size is None else size
        parts = []
        while limit != 0:
            if not len(self._buf) and not self._fill():
                break
            start = len(self._src) - len(self._buf)  # the buffer is a suffix of the block
            end = len(self._src) if limit < 0 else min(len(self._src), start + limit)
            nl = self._src.find(b"\n", start, end)
            take = end - start if nl < 0 else nl - start + 1
            parts.append(self._buf[:take].tobytes())
            self._buf = self._buf[take:]
            self._pos += take
            if limit > 0:
                limit -= take
            if nl >= 0:
                break
        return b"".join(parts)

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check(_READ)
        if not self._can_seek:
            if whence == io.SEEK_CUR:
                offset += self._pos
            elif whence != io.SEEK_SET:
                raise io.UnsupportedOperation("seek from the end needs a seekable file")
            if offset < self._pos:
                raise io.UnsupportedOperation("cannot seek backwards on a non-seekable file")
            self._skip(offset - self._pos)
            return self._pos
        if self._sequential:
            return self._seek_sequential(offset, whence)
        if self._table is None:
            table = _Table(self._fp, self._base)  # moves the file position
            if not table.lossless:
                # lossy output is not the blocks' bytes: decode from the start instead
                target = self._pos
                self._fp.seek(self._base)
                self._reset()
                self._sequential = True
                self._skip(target)
                return self._seek_sequential(offset, whence)
            self._table = table
            self._gen = None
        table = self._table
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = table.size + offset
        else:
            raise ValueError(f"Invalid whence ({whence}, should be 0, 1 or 2)")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        target = min(target, table.size)
        self._buf = memoryview(b"")
        self._eof = False
        k = table.find(target)
        if k < 0 or target >= table.size:
            self._next = len(table.blocks)
            self._pos = target
            self._eof = True
            return self._pos
        self._next = k
        self._fill()
        skip = target - table.starts[k]
        self._buf = self._buf[skip:]
        self._pos = target
        return self._pos

    def _seek_sequential(self, offset: int, whence: int) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            while self.read(1 << 20):
                pass
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise ValueError(f"Invalid whence ({whence}, should be 0, 1 or 2)")
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        if offset < self._pos:
            self._fp.seek(self._base)
            self._reset()
        self._skip(offset - self._pos)
        return self._pos

    def _skip(self, n: int) -> None:
        while n > 0:
            got = self.read(min(n, 1 << 20))
            if not got:
                break
            n -= len(got)

    # -- writing ---------------------------------------------------------------------
    def write(self, data: Any) -> int:
        self._check(_WRITE)
        view = _as_view(data)
        out = self._comp.compress(view)
        if out:
            self._fp.write(out)
        self._pos += len(view)
        return len(view)

    def flush(self) -> None:
        self._check_open()

    def __iter__(self):
        self._check(_READ)
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def open(file: Any, mode: str = "rb", *, codec: str | Codec = "auto",
         level: int = DEFAULT_LEVEL, block_size: int | None = None, threads: int = 1,
         check: str = "xxh64", memlimit: int | None = None, encoding: str | None = None,
         errors: str | None = None, newline: str | None = None, **options: Any):
    """Open a ``.sqz`` file in binary or text mode (``lzma.open``'s interface).

    ``mode`` is one of ``rb wb xb ab`` (a :class:`SqueezeFile`) or ``rt wt xt at``
    (an ``io.TextIOWrapper`` around it, with ``encoding``, ``errors``,
    ``newline``).  ``file`` is a path or a file object.
    """
    if "t" in mode:
        if "b" in mode:
            raise ValueError(f"Invalid mode: {mode!r}")
    else:
        if encoding is not None:
            raise ValueError("Argument 'encoding' not supported in binary mode")
        if errors is not None:
            raise ValueError("Argument 'errors' not supported in binary mode")
        if newline is not None:
            raise ValueError("Argument 'newline' not supported in binary mode")
    bmode = mode.replace("t", "")
    f = SqueezeFile(file, bmode, codec=codec, level=level, block_size=block_size,
                    threads=threads, check=check, memlimit=memlimit, **options)
    if "t" in mode:
        encoding = io.text_encoding(encoding)
        return io.TextIOWrapper(f, encoding, errors, newline)
    return f
