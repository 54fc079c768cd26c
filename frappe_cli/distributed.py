"""squeeze on a Dask cluster: block encodes and decodes run as tasks.

``squeeze compress|decompress|test --scheduler ADDRESS`` (or ``SQUEEZE_SCHEDULER``)
and :func:`compress_files`, :func:`compress_bytes`, :func:`decompress_bytes`
come here.  The bytes written are the bytes of a local ``-T1`` run: the client
writes the same header, cuts the same blocks (the codec's own ``split``), has
each block coded by ``container._encode_one`` on a worker and writes the
results in input order, followed by the same index and footer.

Data movement
  * A local file or a pipe is read by the client; each block is scattered to a
    worker (one hop) and only its payload comes back.
  * An fsspec URL (``file://``, ``s3://``, ``gs://``, ``hdfs://``,
    ``memory://``...) is read by the workers themselves: each task reads its
    own byte range and only the payload travels back.  The codec's
    ``split_ranges`` hook names the ranges: fixed-size codecs (store, zstd,
    text, exe) need no reading to know them; format-aware codecs that cut at
    boundaries a header describes (the weight packers: tensors) have the client
    read the file's *header* (safetensors JSON / .npy header, a few KiB) and run
    their own ``split`` over it with the rest stood in by zeros
    (``codec.layout_ranges``).  Codecs whose cuts depend on the data (no
    ``split_ranges``) are read by the client and scattered.  ``memory://``
    lives in one process: it works with in-process (thread) workers only,
    e.g. ``Client(LocalCluster(processes=False))``.
  * Decompression of a URL reads the header, the footer and the index (three
    ranged reads) and hands each worker its block's byte range; the worker
    checks the block header against the index and the block's check.  A file
    of several concatenated streams, or one whose footer/index is damaged, is
    read sequentially by the client instead (so damage gets the same message
    as without ``--scheduler``).

Bounded memory
  At most ``INFLIGHT_PER_THREAD`` (2) blocks per worker thread of the cluster
  are in flight (submitted and not yet written), whatever the input size;
  the client keeps a copy of each scattered in-flight block so that it can
  resend it.  Client memory is therefore about ``2 * threads * block size``
  (inputs) plus the same for results, as for a local ``-T threads`` run.

Faults
  A worker that dies loses the blocks scattered to it: Dask reruns the tasks
  it can (URL reads) and the client resends the blocks it scattered (up to
  ``MAX_RETRIES`` times each), so the output is still byte-identical.  An
  unreachable scheduler (``CONNECT_TIMEOUT`` s), a lost scheduler, a URL that
  cannot be read or a block that keeps failing is a :class:`ClusterError` or
  another ``SqueezeError``: one line, exit 1, and no output file (outputs go
  through ``fileio.AtomicOutput``).  Ctrl-C cancels the futures.

``distributed`` and ``fsspec`` (extra ``squeeze-codecs[dask]``) are imported
only when a cluster is used; importing this module is cheap.
"""

from __future__ import annotations

import io
import os
import re
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from frappe_cli import container
from frappe_cli.codec import Codec
from frappe_cli.errors import (
    ClusterError,
    InputError,
    OptionError,
    SkipWarning,
    SqueezeError,
    TruncatedError,
)

__all__ = ["compress_files", "compress_bytes", "decompress_bytes", "connect", "Session",
           "compress_stream", "decompress_stream", "compress_url", "decompress_url", "is_url"]

#: blocks in flight (submitted, result not yet written) per worker thread
INFLIGHT_PER_THREAD = 2
#: resends of one block after infrastructure failures (a dead worker) before giving up
MAX_RETRIES = 4
#: seconds to wait for the scheduler (``SQUEEZE_CONNECT_TIMEOUT`` overrides)
CONNECT_TIMEOUT = 5.0
#: seconds to wait for the first worker to join (``SQUEEZE_WORKER_TIMEOUT`` overrides)
WORKER_TIMEOUT = 60.0
SNIFF_BYTES = 1 << 16
_POLL_S = 2.0  # how often a wait for a result checks the scheduler and the workers
_MAX_HEADER = 19 + container.MAX_CODEC_ID + container.MAX_PARAMS_SIZE + 4
_RECORD_HEAD = 13  # kind, usize, csize, crc32
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: Any) -> bool:
    """Whether ``path`` is an fsspec URL (``scheme://...``) rather than a local path."""
    return isinstance(path, str) and bool(_URL.match(path))


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


# ------------------------------------------------------------------------------------
# the session: one client (and, for local:N, its LocalCluster)


@dataclass
class RunStats:
    """What a session moved and computed (benchmarks, ``--json`` diagnostics)."""

    tasks: int = 0
    retries: int = 0
    bytes_sent: int = 0      # client -> workers (scattered blocks/payloads)
    bytes_received: int = 0  # workers -> client (payloads/decoded blocks)
    task_cpu_s: float = 0.0  # CPU seconds the tasks reported (thread time)
    latency_s: float = 0.0   # sum over tasks of submit -> result on the client


class Session:
    """A connection to a Dask scheduler shared by every stream of a run.

    ``scheduler`` is ``"tcp://host:port"`` (or ``host:port``), ``"local:N"``
    (a ``LocalCluster`` of N single-threaded worker processes on 127.0.0.1,
    closed with the session), ``"local"`` (one per core) or an existing
    ``distributed.Client`` (left open).
    """

    def __init__(self, scheduler: Any, *, connect_timeout: float | None = None,
                 quiet: bool = False):
        self.cluster = None
        self.owns_client = True
        self.aborted = False
        self.lost = False
        self.stats = RunStats()
        self._cond = threading.Condition()
        self._inflight = 0
        self._limit = 0
        self._limit_at = 0.0
        self._live: set = set()
        self._no_workers_since: float | None = None
        self._live_lock = threading.Lock()
        timeout = connect_timeout if connect_timeout is not None else _env_float(
            "SQUEEZE_CONNECT_TIMEOUT", CONNECT_TIMEOUT)
        try:
            import distributed
        except ImportError as exc:
            raise ClusterError("--scheduler needs the optional packages distributed and fsspec "
                               f"(pip install 'squeeze-codecs[dask]'): {exc}") from None
        if quiet:
            _quiet_dask()
        if isinstance(scheduler, distributed.Client):
            self.client = scheduler
            self.owns_client = False
            self.address = getattr(scheduler, "scheduler", None) and scheduler.scheduler.address
            self.address = self.address or "(client)"
        elif hasattr(scheduler, "scheduler_address"):  # a cluster object
            self.address = scheduler.scheduler_address
            self.client = self._connect(distributed, scheduler, timeout)
        elif isinstance(scheduler, str) and (scheduler == "local"
                                             or scheduler.startswith("local:")):
            self.address = scheduler
            n = _local_workers(scheduler)
            try:
                self.cluster = distributed.LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=50 if quiet else 30)
            except Exception as exc:  # noqa: BLE001
                raise ClusterError(f"cannot start a local Dask cluster ({_why(exc)})") from None
            self.client = self._connect(distributed, self.cluster, timeout)
        elif isinstance(scheduler, str) and scheduler:
            self.address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
            self.client = self._connect(distributed, self.address, timeout)
        else:
            raise OptionError(f"invalid scheduler {scheduler!r} (tcp://host:port or local:N)")
        self._wait_for_workers()

    def _connect(self, distributed, target, timeout: float):
        try:
            return distributed.Client(target, timeout=f"{timeout}s", set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError...
            self.close()
            raise ClusterError(
                f"cannot reach the Dask scheduler at {self.address} ({_why(exc)})") from None

    def _wait_for_workers(self) -> None:
        wait = _env_float("SQUEEZE_WORKER_TIMEOUT", WORKER_TIMEOUT)
        try:
            self.client.wait_for_workers(1, timeout=wait)
        except Exception as exc:  # noqa: BLE001
            lost = self.client is not None and self.client.status != "running"
            self.close()
            if lost:
                raise ClusterError(f"lost the Dask scheduler at {self.address}") from None
            raise ClusterError(f"no Dask worker joined the scheduler at {self.address} within "
                               f"{wait:g} s ({_why(exc)})") from None

    # -- lifetime ------------------------------------------------------------------
    def close(self) -> None:
        client, self.client = getattr(self, "client", None), None
        if client is not None and self.owns_client:
            try:
                client.close(timeout=3)
            except Exception:  # noqa: BLE001 - closing a broken client
                pass
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            try:
                cluster.close(timeout=5)
            except Exception:  # noqa: BLE001
                pass

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def abort(self) -> None:
        """Cancel every future of this session (Ctrl-C); waiting streams then fail."""
        self.aborted = True
        with self._live_lock:
            futs = list(self._live)
            self._live.clear()
        if futs and self.client is not None:
            try:
                self.client.cancel(futs, force=True)
            except Exception:  # noqa: BLE001
                pass
        with self._cond:
            self._cond.notify_all()

    # -- the in-flight window --------------------------------------------------------
    def threads(self) -> int:
        """Worker threads in the cluster now (the window is 2 per thread)."""
        try:
            n = sum(self.client.nthreads().values())
        except Exception:  # noqa: BLE001
            self.check_alive()
            n = 0
        return n

    def window(self) -> int:
        now = time.monotonic()
        if now - self._limit_at > 2.0 or not self._limit:
            n = self.threads()
            if n:
                self._limit = INFLIGHT_PER_THREAD * n
            self._limit = max(self._limit, 1)
            self._limit_at = now
        return self._limit

    def acquire(self, timeout: float) -> bool:
        limit = self.window()
        with self._cond:
            if self._inflight >= limit and timeout > 0:
                self._cond.wait(timeout)
            if self.aborted:
                raise ClusterError("interrupted")
            if self._inflight >= limit:
                return False
            self._inflight += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify()

    # -- tasks -----------------------------------------------------------------------
    def check_alive(self) -> None:
        if self.aborted:
            raise ClusterError("interrupted")
        client = self.client
        if client is None or client.status not in ("running", "newly-created"):
            self.lost = True
            raise ClusterError(f"lost the Dask scheduler at {self.address}")

    def check_workers(self) -> None:
        """A cluster left without workers for WORKER_TIMEOUT s fails the run (it would
        otherwise wait forever)."""
        if self.threads():
            self._no_workers_since = None
            return
        now = time.monotonic()
        if self._no_workers_since is None:
            self._no_workers_since = now
        wait = _env_float("SQUEEZE_WORKER_TIMEOUT", WORKER_TIMEOUT)
        if now - self._no_workers_since > wait:
            raise ClusterError(f"no Dask worker left at {self.address} for {wait:g} s")

    def scatter(self, data: bytes):
        self.stats.bytes_sent += len(data)
        return self.client.scatter(data, hash=False)

    def submit(self, fn: Callable, *args: Any):
        fut = self.client.submit(fn, *args, pure=False)
        with self._live_lock:
            self._live.add(fut)
        self.stats.tasks += 1
        return fut

    def forget(self, fut) -> None:
        with self._live_lock:
            self._live.discard(fut)


def _local_workers(spec: str) -> int:
    if spec == "local":
        return os.cpu_count() or 1
    try:
        n = int(spec.split(":", 1)[1])
    except ValueError:
        n = 0
    if not 1 <= n <= 1024:
        raise OptionError(f"invalid scheduler '{spec}' (local:N with N workers, 1..1024)")
    return n


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _quiet_dask() -> None:
    """The CLI reports cluster trouble as one line: silence Dask's own logging."""
    import logging
    import warnings

    names = [n for n in list(logging.root.manager.loggerDict)
             if n.split(".")[0] in ("distributed", "tornado", "asyncio", "dask")]
    for name in ["distributed", "tornado", "asyncio", "dask", *names]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    warnings.filterwarnings("ignore", module=r"distributed(\.|$)")


def connect(scheduler: Any, **kw: Any) -> Session:
    """Open a :class:`Session` (use it as a context manager)."""
    if isinstance(scheduler, Session):
        return scheduler
    return Session(scheduler, **kw)


class _Borrowed:
    """``with _session(x) as s``: a Session passed in stays open, a new one is closed."""

    def __init__(self, scheduler: Any):
        self.own = not isinstance(scheduler, Session)
        self.session = scheduler if not self.own else None
        self.scheduler = scheduler

    def __enter__(self) -> Session:
        if self.own:
            self.session = Session(self.scheduler)
        return self.session

    def __exit__(self, *exc) -> None:
        if self.own and self.session is not None:
            self.session.close()


# ------------------------------------------------------------------------------------
# worker side (module-level functions: pickled by reference)


@dataclass(frozen=True)
class _Range:
    """A byte range of a URL that the worker reads itself."""

    url: str
    offset: int
    size: int
    storage_options: tuple = ()

    def read(self) -> bytes:
        fs, path = _fs(self.url, dict(self.storage_options))
        try:
            data = fs.cat_file(path, start=self.offset, end=self.offset + self.size)
        except FileNotFoundError:
            raise SqueezeError(f"cannot read {self.url} (No such file or directory)") from None
        except OSError as exc:
            raise SqueezeError(f"cannot read {self.url} ({_why(exc)})") from None
        if len(data) != self.size:
            raise TruncatedError(f"Unexpected end of input ({self.url} is shorter than "
                                 f"expected: it changed while being read?)")
        return bytes(data)


_CODECS: dict[str, Codec] = {}
_CODECS_LOCK = threading.Lock()


def _worker_codec(ref: tuple) -> Codec:
    kind, value = ref
    if kind == "obj":
        return value
    key = container.canonical_json(value)
    codec = _CODECS.get(key)
    if codec is None:
        from frappe_cli import registry

        with _CODECS_LOCK:
            codec = _CODECS.get(key)
            if codec is None:
                codec = _CODECS[key] = registry.from_config(value)
    return codec


def _encode_task(ref: tuple, data: Any, hint: Any, chk: int) -> tuple:
    c0 = time.thread_time()
    if isinstance(data, _Range):
        data = data.read()
    kind, payload, usize, cbytes = container._encode_one(_worker_codec(ref), data, hint, chk)
    return kind, payload, usize, cbytes, time.thread_time() - c0


def _decode_task(ref: tuple, header: container.StreamHeader, src: Any, expect: tuple,
                 want: bool) -> tuple:
    """Decode one block: ``src`` is the record's payload+check (``expect`` = its
    BlockInfo fields) or a ``_Range`` of the whole record (``expect`` = the
    index's (usize, csize), compared with the block header)."""
    c0 = time.thread_time()
    csz = container.CHECK_SIZES[header.check]
    if isinstance(src, _Range):
        rec = src.read()
        r = container._Reader(io.BytesIO(rec))
        info = container._read_block_head(r, header)
        if info is None or (info.usize, info.csize) != tuple(expect):
            raise container.CorruptError(
                "Compressed data is corrupt (index does not match the blocks)")
        payload = rec[_RECORD_HEAD:_RECORD_HEAD + info.csize]
        chk = rec[_RECORD_HEAD + info.csize:]
    else:
        info = container.BlockInfo(*expect)
        payload, chk = src[:info.csize], src[info.csize:info.csize + csz]
    out = container._decode_one(_worker_codec(ref), info, payload, header.check, chk)
    result = bytes(out) if want else len(out)
    return result, time.thread_time() - c0


# ------------------------------------------------------------------------------------
# the client's ordered pipeline


class _Spec(ABC):
    """One task to (re)submit; ``nbytes`` is what it holds on the client."""

    @abstractmethod
    def submit(self, s: Session):
        """Submit the task to the cluster; returns its future."""


@dataclass
class _EncodeData(_Spec):
    ref: tuple
    data: bytes
    hint: Any
    chk: int

    def submit(self, s: Session):
        return s.submit(_encode_task, self.ref, s.scatter(self.data), self.hint, self.chk)


@dataclass
class _EncodeRange(_Spec):
    ref: tuple
    rng: _Range
    hint: Any
    chk: int

    def submit(self, s: Session):
        return s.submit(_encode_task, self.ref, self.rng, self.hint, self.chk)


@dataclass
class _DecodeData(_Spec):
    ref: tuple
    header: container.StreamHeader
    info: container.BlockInfo
    record: bytes  # payload + check
    want: bool

    def submit(self, s: Session):
        info = (self.info.kind, self.info.usize, self.info.csize)
        return s.submit(_decode_task, self.ref, self.header, s.scatter(self.record), info,
                        self.want)


@dataclass
class _DecodeRange(_Spec):
    ref: tuple
    header: container.StreamHeader
    rng: _Range
    expect: tuple
    want: bool

    def submit(self, s: Session):
        return s.submit(_decode_task, self.ref, self.header, self.rng, self.expect, self.want)


@dataclass
class _Item:
    spec: _Spec
    fut: Any
    t0: float
    tries: int = 0


def _retryable(fut, exc: BaseException) -> bool:
    from concurrent.futures import CancelledError

    try:
        from distributed import KilledWorker
    except ImportError:  # pragma: no cover
        KilledWorker = ()  # noqa: N806
    try:
        from distributed.comm.core import CommClosedError
    except ImportError:  # pragma: no cover
        CommClosedError = ()  # noqa: N806
    import asyncio

    if getattr(fut, "status", "") in ("cancelled", "lost"):
        return True
    return isinstance(exc, (CancelledError, asyncio.CancelledError, KilledWorker,
                            CommClosedError, TimeoutError))


class _Pipe:
    """Futures in submission order; results come out in that order.

    The session's window bounds the blocks in flight over every stream of the
    run; a stream waiting for room takes its own oldest result first, so
    streams that share the window never wait on each other forever.
    """

    def __init__(self, session: Session):
        self.s = session
        self.q: deque[_Item] = deque()

    def _submit(self, spec: _Spec):
        for attempt in range(MAX_RETRIES + 1):
            self.s.check_alive()
            try:
                return spec.submit(self.s)
            except (SqueezeError, KeyboardInterrupt):
                raise
            except Exception:  # noqa: BLE001 - a worker died during the scatter...
                self.s.check_alive()
                if attempt == MAX_RETRIES:
                    raise
                self.s.stats.retries += 1
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError  # pragma: no cover

    def put(self, spec: _Spec) -> Iterator[tuple[_Spec, Any]]:
        # with results of its own pending, a stream makes room by taking its oldest
        # one (no waiting); without, it waits for another stream to make room
        while not self.s.acquire(0.0 if self.q else 0.05):
            if self.q:
                yield self._take()
        try:
            fut = self._submit(spec)
        except BaseException:
            self.s.release()
            raise
        self.q.append(_Item(spec, fut, time.perf_counter()))

    def drain(self) -> Iterator[tuple[_Spec, Any]]:
        while self.q:
            yield self._take()

    def _take(self) -> tuple[_Spec, Any]:
        item = self.q[0]
        while True:
            try:
                res = item.fut.result(timeout=_POLL_S)
                break
            except (SqueezeError, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001
                self.s.check_alive()
                if isinstance(exc, TimeoutError) and item.fut.status == "pending":
                    self.s.check_workers()  # still running: unless every worker is gone
                    continue
                if not _retryable(item.fut, exc):
                    raise
                self._resubmit(item)
                for other in list(self.q)[1:]:  # blocks lost with the same worker
                    if getattr(other.fut, "status", "") in ("cancelled", "lost"):
                        self._resubmit(other)
        self.q.popleft()
        self.s.forget(item.fut)
        self.s.release()
        result, cpu = res[:-1], res[-1]
        st = self.s.stats
        st.task_cpu_s += cpu
        st.latency_s += time.perf_counter() - item.t0
        return item.spec, result

    def _resubmit(self, item: _Item) -> None:
        item.tries += 1
        if item.tries > MAX_RETRIES:
            raise ClusterError(f"a block failed {item.tries} times on the Dask cluster at "
                               f"{self.s.address} (workers keep dying?)")
        self.s.stats.retries += 1
        self.s.forget(item.fut)
        item.fut = self._submit(item.spec)

    def cancel(self) -> None:
        futs = [it.fut for it in self.q]
        n = len(self.q)
        self.q.clear()
        for _ in range(n):
            self.s.release()
        for f in futs:
            self.s.forget(f)
        if futs and self.s.client is not None:
            try:
                self.s.client.cancel(futs, force=True)
            except Exception:  # noqa: BLE001
                pass


# ------------------------------------------------------------------------------------
# compression


def _codec_ref(codec: Codec) -> tuple:
    """How workers get the codec: its config when they can rebuild it from the
    registry (built-ins and entry-point plugins), else the pickled object."""
    from frappe_cli import registry

    cid = codec.codec_id
    if cid in registry.BUILTIN or cid in registry._plugin_entry_points():
        return ("cfg", codec.get_config())
    return ("obj", codec)


def _fs(url: str, storage_options: dict | None = None):
    try:
        import fsspec
    except ImportError as exc:
        raise ClusterError("URL inputs need the optional package fsspec "
                           f"(pip install 'squeeze-codecs[dask]'): {exc}") from None
    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        raise SqueezeError(f"cannot open {url} ({_why(exc)})") from None


def url_size(url: str, storage_options: dict | None = None) -> int:
    fs, path = _fs(url, storage_options)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise SqueezeError("No such file or directory") from None
    except OSError as exc:
        raise SqueezeError(f"cannot read {url} ({_why(exc)})") from None
    if info.get("type") == "directory":
        raise SkipWarning("Is a directory, skipping")
    size = info.get("size")
    if size is None:
        raise SqueezeError(f"cannot read {url} (unknown size)")
    return int(size)


def url_read(url: str, start: int, end: int, storage_options: dict | None = None) -> bytes:
    fs, path = _fs(url, storage_options)
    try:
        return bytes(fs.cat_file(path, start=start, end=end))
    except FileNotFoundError:
        raise SqueezeError("No such file or directory") from None
    except OSError as exc:
        raise SqueezeError(f"cannot read {url} ({_why(exc)})") from None


def _range_blocks(codec: Codec, url: str, size: int, bs: int,
                  so: dict | None) -> Iterator[tuple[int, int, Any]] | None:
    """``(offset, length, hint)`` of every block without reading the data (the
    codec's ``split_ranges`` hook), or None when this codec's cuts depend on more
    than a header (then the client reads)."""
    ranges = codec.split_ranges(lambda start, end: url_read(url, start, end, so), size, bs)
    if ranges is None:
        return None

    def checked() -> Iterator[tuple[int, int, Any]]:
        # a codec's ranges must tile the input as its split would: in order, no gap
        # and no block over the block size
        pos = 0
        for off, n, hint in ranges:
            if n == 0:
                continue
            if n > bs:
                raise OptionError(f"codec {codec.codec_id} cut a block larger than {bs} bytes")
            if off != pos or n < 0:
                raise OptionError(f"codec {codec.codec_id} returned a range at byte {off} "
                                  f"where byte {pos} was next")
            pos += n
            yield off, n, hint
        if pos != size:
            raise OptionError(f"codec {codec.codec_id}'s ranges end at byte {pos} of {size}")

    return checked()


def _start_stream(codec: Codec, check: str, block_size: int | None):
    if check not in container.CHECK_NAMES:
        raise OptionError(f"unknown check type '{check}' (none, crc32, xxh64)")
    chk = container.CHECK_NAMES[check]
    bs = block_size or codec.block_size()
    if not 1 <= bs <= container.MAX_BLOCK_SIZE:
        raise OptionError(f"block size must be 1..{container.MAX_BLOCK_SIZE}")
    header = container.StreamHeader(codec.codec_id, codec.bitstream_version, chk, bs,
                                    codec.get_config())
    return chk, bs, header


def _write_stream(session: Session, dst: BinaryIO, codec: Codec, header, specs: Iterable[_Spec],
                  progress: Callable[[int], None] | None) -> container.StreamStats:
    stats = container.StreamStats(codec_id=codec.codec_id)
    index: list[tuple[int, int]] = []
    hbytes = header.encode()
    dst.write(hbytes)
    stats.compressed += len(hbytes)

    def emit(res: tuple) -> None:
        kind, payload, usize, cbytes = res
        head = container._block_head(kind, usize, len(payload))
        dst.write(head)
        dst.write(payload)
        dst.write(cbytes)
        session.stats.bytes_received += len(payload) + len(cbytes)
        index.append((usize, len(payload)))
        stats.blocks += 1
        stats.uncompressed += usize
        stats.compressed += len(head) + len(payload) + len(cbytes)
        stats.kinds[container.KIND_NAMES[kind]] += 1
        if progress:
            progress(usize)

    pipe = _Pipe(session)
    try:
        for spec in specs:
            for _, res in pipe.put(spec):
                emit(res)
        for _, res in pipe.drain():
            emit(res)
    finally:
        pipe.cancel()
    tail = container._index_and_footer(index)
    dst.write(tail)
    stats.compressed += len(tail)
    return stats


def compress_stream(session: Session, src: BinaryIO, dst: BinaryIO, codec: Codec, *,
                    check: str = "xxh64", block_size: int | None = None,
                    progress: Callable[[int], None] | None = None) -> container.StreamStats:
    """``container.compress_stream`` with the blocks coded on the cluster (same bytes).

    ``src`` is read here and its blocks are scattered.  Lossy codecs are coded
    locally (their header needs every block's reconstruction size first).
    """
    if not codec.lossless:
        return container.compress_stream(src, dst, codec, check=check, threads=1,
                                         block_size=block_size, progress=progress)
    chk, bs, header = _start_stream(codec, check, block_size)
    ref = _codec_ref(codec)
    specs = (_EncodeData(ref, data, hint, chk) for data, hint in
             container._checked_blocks(codec.split(src, bs), bs, codec.codec_id))
    return _write_stream(session, dst, codec, header, specs, progress)


def compress_url(session: Session, url: str, dst: BinaryIO, codec: Codec, *,
                 check: str = "xxh64", block_size: int | None = None,
                 storage_options: dict | None = None,
                 progress: Callable[[int], None] | None = None) -> container.StreamStats:
    """Compress the file at ``url``; the workers read their own byte ranges."""
    so = storage_options or {}
    size = url_size(url, so)
    chk, bs, header = _start_stream(codec, check, block_size)
    ranges = _range_blocks(codec, url, size, bs, so) if codec.lossless else None
    if ranges is None:  # the client reads (and scatters) what only the codec can cut
        fs, path = _fs(url, so)
        with fs.open(path, "rb") as f:
            return compress_stream(session, f, dst, codec, check=check, block_size=block_size,
                                   progress=progress)
    ref = _codec_ref(codec)
    sot = tuple(sorted(so.items()))
    specs = (_EncodeRange(ref, _Range(url, off, n, sot), hint, chk) for off, n, hint in ranges)
    return _write_stream(session, dst, codec, header, specs, progress)


# ------------------------------------------------------------------------------------
# decompression


class _Budget:
    """``max_output`` across the streams of one input (the container's rule)."""

    def __init__(self, max_output: int | None):
        self._left = [max_output]

    def spend(self, n: int) -> None:
        container._spend(self._left, n)


def _limits(codec: Codec, header: container.StreamHeader, memlimit: int | None) -> None:
    """-M as a local one-thread decode checks it (each worker thread decodes one block
    at a time); the default limit is checked per block (``check_block_limit``)."""
    container._memory_check(codec, header, 1, memlimit)


def _decode_ref(codec: Codec, header: container.StreamHeader) -> tuple:
    ref = _codec_ref(codec)
    return ("cfg", dict(header.params)) if ref[0] == "cfg" else ref


class _Deliver:
    """Writes decoded blocks in order (finish_output, max_output, counting)."""

    def __init__(self, codec: Codec, dst: BinaryIO | None, budget: _Budget, session: Session):
        self.codec = codec
        self.dst = dst
        self.budget = budget
        self.exact = codec.lossless or dst is None
        self.session = session
        self.n = 0
        self.seen: list[tuple[int, int]] = []

    def before(self, usize: int) -> None:
        if self.exact:
            self.budget.spend(usize)

    def __call__(self, usize: int, csize: int, out: Any) -> None:
        self.seen.append((usize, csize))
        if self.dst is None:
            self.n += out  # test mode: the workers send only the length
            return
        self.session.stats.bytes_received += len(out)
        out = self.codec.finish_output(out)
        if not self.exact:
            self.budget.spend(len(out))
        self.dst.write(out)
        self.n += len(out)


def decompress_stream(session: Session, src: BinaryIO, dst: BinaryIO | None, *,
                      memlimit: int | None = None, max_output: int | None = None,
                      max_block: int | None = None,
                      progress: Callable[[int], None] | None = None) -> int:
    """``container.decompress_stream`` with the blocks decoded on the cluster.

    ``src`` is read sequentially here and each block's payload is scattered;
    ``dst=None`` tests (the workers return only the decoded length).
    """
    budget = _Budget(max_output)
    r = container._Reader(src)
    first = True
    total = 0
    while True:
        if not first and (container._skip_padding(r) or r.at_eof()):  # xz-style padding
            return total
        header = container.read_header(r, first=first)
        first = False
        codec = container.codec_for(header)
        _limits(codec, header, memlimit)
        ref = _decode_ref(codec, header)
        deliver = _Deliver(codec, dst, budget, session)
        pipe = _Pipe(session)
        csz = container.CHECK_SIZES[header.check]
        try:
            for info, payload, chk in container._stream_blocks(r, header, progress, max_block):
                deliver.before(info.usize)
                rec = payload + chk if csz else payload
                spec = _DecodeData(ref, header, info, rec, dst is not None)
                for sp, (out,) in pipe.put(spec):
                    deliver(sp.info.usize, sp.info.csize, out)
            for sp, (out,) in pipe.drain():
                deliver(sp.info.usize, sp.info.csize, out)
        finally:
            pipe.cancel()
        container._read_index_and_footer(r, deliver.seen)
        total += deliver.n


def _index_plan(url: str, size: int, so: dict):
    """Header + per-block (offset, record length, usize, csize) of a one-stream file
    from its header, footer and index; None when that does not add up."""
    head = url_read(url, 0, min(size, _MAX_HEADER), so)
    header = container.read_header(container._Reader(io.BytesIO(head)))  # errors as local
    if size < header.size + 1 + container.FOOTER_SIZE:
        return None
    foot = url_read(url, size - container.FOOTER_SIZE, size, so)
    (isize,) = container._FOOTER.unpack(foot[:4])
    (fcrc,) = struct.unpack("<I", foot[4:8])
    if foot[8:] != container.FOOTER_MAGIC or fcrc != container._crc(foot[:4]):
        return None
    istart = size - container.FOOTER_SIZE - isize
    if isize < 6 or istart < header.size:
        return None
    idx = url_read(url, istart, size - container.FOOTER_SIZE, so)
    if idx[0] != container.KIND_INDEX:
        return None
    r = container._Reader(io.BytesIO(idx[1:]))
    raw = bytearray([container.KIND_INDEX])
    try:
        count = container._read_varint(r, raw)
        if count > isize:
            return None
        sizes = [(container._read_varint(r, raw), container._read_varint(r, raw))
                 for _ in range(count)]
        (crc,) = struct.unpack("<I", r.read(4))
    except SqueezeError:
        return None
    if crc != container._crc(bytes(raw)) or len(raw) + 4 != isize:
        return None
    csz = container.CHECK_SIZES[header.check]
    blocks = []
    pos = header.size
    for u, c in sizes:
        n = _RECORD_HEAD + c + csz
        blocks.append((pos, n, u, c))
        pos += n
    if pos != istart:
        return None  # several streams (or damage): the sequential path decides
    return header, blocks


def decompress_url(session: Session, url: str, dst: BinaryIO | None, *,
                   memlimit: int | None = None, max_output: int | None = None,
                   max_block: int | None = None, storage_options: dict | None = None,
                   progress: Callable[[int], None] | None = None) -> int:
    """Decode the .sqz file at ``url``: index first, each worker reads its block."""
    so = storage_options or {}
    size = url_size(url, so)
    plan = _index_plan(url, size, so) if size else None
    if plan is None:
        fs, path = _fs(url, so)
        with fs.open(path, "rb") as f:
            return decompress_stream(session, f, dst, memlimit=memlimit,
                                     max_output=max_output, max_block=max_block,
                                     progress=progress)
    header, blocks = plan
    codec = container.codec_for(header)
    _limits(codec, header, memlimit)
    for _off, _n, u, _c in blocks:  # the index gives every block's size: refuse first
        container.check_block_limit(u, max_block)
    ref = _decode_ref(codec, header)
    deliver = _Deliver(codec, dst, _Budget(max_output), session)
    sot = tuple(sorted(so.items()))
    pipe = _Pipe(session)
    try:
        for off, n, u, c in blocks:
            deliver.before(u)
            spec = _DecodeRange(ref, header, _Range(url, off, n, sot), (u, c), dst is not None)
            for sp, (out,) in pipe.put(spec):
                deliver(sp.expect[0], sp.expect[1], out)
                if progress:
                    progress(sp.rng.size)
        for sp, (out,) in pipe.drain():
            deliver(sp.expect[0], sp.expect[1], out)
            if progress:
                progress(sp.rng.size)
    finally:
        pipe.cancel()
    return deliver.n


# ------------------------------------------------------------------------------------
# Python API


def _make_codec(codec: Any, level: int | None, options: dict, head: bytes) -> tuple[Codec, bool]:
    from frappe_cli.api import make_codec  # the one-shot API's rule, shared

    return make_codec(codec, level, options, head)


def compress_bytes(data: Any, codec: Any = "auto", scheduler: Any = None, *,
                   level: int | None = None, block_size: int | None = None,
                   check: str = "xxh64", **options: Any) -> bytes:
    """Compress ``data`` into one .sqz stream with the blocks coded on ``scheduler``.

    The bytes equal ``frappe_cli.compress(data, codec, level, threads=1, ...)``.
    ``scheduler``: an address, ``"local:N"``, a ``distributed.Client`` or a
    :class:`Session` (reused, not closed).
    """
    if scheduler is None:
        raise OptionError("compress_bytes needs a scheduler")
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    c, auto = _make_codec(codec, level, options, bytes(view[:SNIFF_BYTES]))
    with _Borrowed(scheduler) as s:
        try:
            return _compress_mem(s, c, view, block_size, check)
        except InputError:
            if not auto:
                raise
            from frappe_cli import registry

            return _compress_mem(s, registry.make("zstd", level), view, block_size, check)


def _compress_mem(s: Session, codec: Codec, view: Any, block_size: int | None,
                  check: str) -> bytes:
    out = io.BytesIO()
    compress_stream(s, io.BytesIO(view), out, codec, check=check, block_size=block_size)
    return out.getvalue()


def decompress_bytes(data: Any, scheduler: Any = None, *, max_output: int | None = None,
                     memlimit: int | None = None) -> bytes:
    """Decode every .sqz stream in ``data`` with the blocks decoded on ``scheduler``."""
    if scheduler is None:
        raise OptionError("decompress_bytes needs a scheduler")
    out = io.BytesIO()
    with _Borrowed(scheduler) as s:
        decompress_stream(s, io.BytesIO(data), out, memlimit=memlimit, max_output=max_output)
    return out.getvalue()


def compress_files(paths: Iterable[Any], scheduler: Any = None, codec: Any = "auto",
                   level: int | None = None, *, block_size: int | None = None,
                   check: str = "xxh64", suffix: str = ".sqz", output_dir: Any = None,
                   force: bool = False, storage_options: dict | None = None,
                   on_error: str = "raise", **options: Any) -> list[dict]:
    """Compress many files on a Dask cluster at once; returns one record per file.

    ``paths`` are local paths or fsspec URLs (the workers read URLs themselves).
    Each output is ``PATH + suffix`` (for a URL: its base name + suffix in
    ``output_dir``, default the current folder; ``output_dir`` also applies to
    local paths when given), written through a temporary file and renamed, and
    byte-identical to ``squeeze -T1``.  Blocks of several files are in flight
    together (the window is shared), so many small files keep every worker busy.

    Records: ``{"input", "output", "codec", "uncompressed", "compressed",
    "blocks", "error"}``.  ``on_error="raise"`` (default) raises the first
    failure once every file is done (the other outputs stay); ``"record"``
    only reports it in the record.
    """
    if on_error not in ("raise", "record"):
        raise OptionError("on_error must be 'raise' or 'record'")
    items = list(paths)
    records: list[dict] = [{} for _ in items]
    with _Borrowed(scheduler) as s:
        def one(i: int) -> None:
            path = items[i]
            rec = {"input": str(path), "output": None, "codec": None, "uncompressed": 0,
                   "compressed": 0, "blocks": 0, "error": None}
            records[i] = rec
            try:
                _compress_path(s, path, rec, codec, level, block_size, check, suffix,
                               output_dir, force, storage_options, options)
            except SqueezeError as exc:
                rec["error"] = exc
            except OSError as exc:
                rec["error"] = SqueezeError(f"{exc.strerror or exc}")

        for_each(s, range(len(items)), one)
    first = next((r["error"] for r in records if r["error"] is not None), None)
    for r in records:
        if r["error"] is not None:
            r["error"] = r["error"].message
    if first is not None and on_error == "raise":
        bad = next(r for r in records if r["error"] is not None)
        raise type(first)(f"{bad['input']}: {first.message}")
    return records


def _compress_path(s: Session, path: Any, rec: dict, codec: Any, level: int | None,
                   block_size: int | None, check: str, suffix: str, output_dir: Any,
                   force: bool, so: dict | None, options: dict) -> None:
    from frappe_cli import fileio, registry

    url = is_url(path)
    if url:
        size = url_size(path, so)
        head = url_read(path, 0, min(size, SNIFF_BYTES), so)
        name = os.path.basename(_fs(path, so)[1].rstrip("/")) or "output"
        dest = Path(output_dir or ".") / (name + suffix)
        like = None
    else:
        p = Path(path)
        if not p.is_file():
            raise SqueezeError("No such file or directory" if not p.exists()
                               else "Not a regular file")
        with open(p, "rb") as f:
            head = f.read(SNIFF_BYTES)
        dest = (Path(output_dir) / (p.name + suffix)) if output_dir else Path(str(p) + suffix)
        like = p
    c, auto = _make_codec(codec, level, options, head)

    def run(c: Codec) -> container.StreamStats:
        with fileio.AtomicOutput(dest, force=force, like=like) as out:
            if url:
                return compress_url(s, path, out, c, check=check, block_size=block_size,
                                    storage_options=so)
            with open(path, "rb") as f:
                return compress_stream(s, f, out, c, check=check, block_size=block_size)

    try:
        st = run(c)
    except InputError:
        if not auto:
            raise
        c = registry.make("zstd", level)
        st = run(c)
    rec.update(output=str(dest), codec=st.codec_id, uncompressed=st.uncompressed,
               compressed=st.compressed, blocks=st.blocks)


def for_each(session: Session, items: Iterable[Any], fn: Callable[[Any], None], *,
             concurrency: int | None = None) -> None:
    """Run ``fn(item)`` for every item, several at once (threads sharing the session's
    window, at most one file per window slot); Ctrl-C cancels every future."""
    items = list(items)
    if not items:
        return
    conc = concurrency or max(1, session.window())
    conc = min(conc, len(items))
    if conc <= 1:
        for it in items:
            fn(it)
        return
    todo = deque(items)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not todo or errors:
                    return
                it = todo.popleft()
            try:
                fn(it)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=worker, daemon=True, name=f"squeeze-file-{i}")
               for i in range(conc)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        session.abort()
        deadline = time.monotonic() + 5
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        raise
    if errors:
        raise errors[0]


# ------------------------------------------------------------------------------------
# the command line (frappe_cli.cli_files routes here when --scheduler is given)


def cli_run(run: Any, targets: tuple, work: Callable[[Any, str], None]) -> bool:
    """Open the run's session, do every file, close it; False (after one message)
    when the scheduler cannot be reached or the cluster cannot start."""
    from frappe_cli.cli_reports import message

    debug = os.environ.get("SQUEEZE_DEBUG", "") not in ("", "0")
    try:
        run.session = Session(run.opts.scheduler, quiet=not debug)
    except SqueezeError as exc:
        if run.opts.quiet < 2:
            message(exc.message)
        run.status = max(run.status, exc.exit_code)
        return False
    try:
        cli_run_files(run, targets, work)
    finally:
        session, run.session = run.session, None
        session.close()
    return True


def cli_run_files(run: Any, targets: tuple, work: Callable[[Any, str], None]) -> None:
    """``run_files``' loop with a session: several files at once when they go to
    files of their own (not stdout, not stdin); a lost scheduler stops the run
    after one message."""
    from frappe_cli.cli_files import display_name

    session: Session = run.session
    opts = run.opts
    reported = {"lost": False}

    def one(path: str) -> None:
        if session.lost or session.aborted:
            if session.lost:
                run.status = max(run.status, 1)
            return
        try:
            work(run, path)
        except (KeyboardInterrupt, BrokenPipeError):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            if session.aborted:
                return
            if session.lost:
                if reported["lost"]:
                    run.status = max(run.status, 1)
                    return
                reported["lost"] = True
            run.fail(display_name(path), exc)

    concurrent = (len(targets) > 1 and "-" not in targets and not opts.stdout
                  and opts.mode in ("compress", "decompress", "test"))
    if not concurrent:
        for path in targets:
            one(path)
        return
    opts.progress = False  # one bar per file would interleave
    order = {display_name(t): i for i, t in enumerate(targets)}
    try:
        for_each(session, targets, one)
    finally:
        run.records.sort(key=lambda r: order.get(r.get("file"), len(order)))


def cli_compress_stream(run: Any, reader: BinaryIO, out: BinaryIO, codec: Codec,
                        update: Callable | None, block_size: int | None = None
                        ) -> container.StreamStats:
    """The CLI's encode step (``block_size``: after -M adapted it)."""
    opts = run.opts
    return compress_stream(run.session, reader, out, codec, check=opts.check,
                           block_size=block_size if block_size is not None else opts.block_size,
                           progress=update)


def cli_decompress_stream(run: Any, src: BinaryIO, out: BinaryIO | None, limits: dict,
                          update: Callable | None) -> int:
    """The CLI's decode step; ``limits`` = ``cli_options.decode_limits(opts)``."""
    return decompress_stream(run.session, src, out, memlimit=limits.get("memlimit"),
                             max_block=limits.get("max_block"), progress=update)


def _stdout(fileio: Any) -> Any:
    """Standard output as the CLI writes it (a failed write names ``(stdout)``)."""
    import sys

    wrap = getattr(fileio, "OutputFile", None)
    return wrap(sys.stdout.buffer, "(stdout)") if wrap else sys.stdout.buffer


def _url_name(url: str) -> str:
    return os.path.basename(_fs(url)[1].rstrip("/"))


def cli_compress_url(run: Any, url: str) -> None:
    """``squeeze --scheduler X compress URL``: the output goes to the URL's base
    name + suffix in the current folder (or -o / -c); the workers read the input."""
    import sys

    from frappe_cli import cli_files, fileio, registry
    from frappe_cli.cli_reports import message

    opts = run.opts
    if opts.rm:
        raise SqueezeError("--rm does not apply to URL inputs")
    if not opts.stdout and not opts.force and url.endswith(opts.suffix):
        raise SkipWarning(f"File already has '{opts.suffix}' suffix, skipping")
    size = url_size(url)
    head = url_read(url, 0, min(size, SNIFF_BYTES))
    codec, reason = cli_files.build_codec(opts, head)
    if opts.verbose >= 2 and reason:
        message(f"{url}: auto: {codec.codec_id} ({reason})")
    update, bar = cli_files.make_progress(opts, size, url)

    def run_with(c: Codec):
        kw = dict(check=opts.check, block_size=opts.block_size, progress=update)
        if opts.stdout:
            if sys.stdout.isatty() and not opts.force:
                raise SqueezeError("Compressed data cannot be written to a terminal")
            out = _stdout(fileio)
            st = compress_url(run.session, url, out, c, **kw)
            out.flush()
            return st, "(stdout)"
        dest = Path(opts.output) if opts.output else Path(_url_name(url) + opts.suffix)
        with fileio.AtomicOutput(dest, force=opts.force) as out:
            st = compress_url(run.session, url, out, c, **kw)
        return st, str(dest)

    try:
        try:
            stats, dest = run_with(codec)
        except InputError as exc:
            if opts.codec != "auto" or opts.stdout:
                raise
            if opts.verbose >= 1:
                message(f"{url}: {codec.codec_id}: {exc.message}; using zstd")
            codec = registry.make("zstd", opts.level)
            stats, dest = run_with(codec)
    finally:
        if bar is not None:
            bar.close()
    run.records.append({"file": url, "output": dest, "codec": stats.codec_id,
                        "level": codec.level, "uncompressed": stats.uncompressed,
                        "compressed": stats.compressed, "blocks": stats.blocks,
                        "block_kinds": stats.kinds, "status": "ok"})
    if opts.verbose and not opts.json:
        ratio = stats.compressed / stats.uncompressed if stats.uncompressed else 0.0
        message(f"{url}: {stats.uncompressed} -> {stats.compressed} bytes "
                    f"({ratio:.3f}, {8 * ratio:.3f} bits/byte, {stats.codec_id} -{codec.level})")


def cli_decompress_url(run: Any, url: str) -> None:
    """``squeeze --scheduler X decompress|test URL`` (index first, ranged reads)."""
    from frappe_cli import cli_files, fileio
    from frappe_cli.cli_options import decode_limits
    from frappe_cli.cli_reports import message

    opts = run.opts
    test = opts.mode == "test"
    if opts.rm:
        raise SqueezeError("--rm does not apply to URL inputs")
    if not test and not opts.stdout and not opts.output and not url.endswith(opts.suffix):
        raise SkipWarning("Filename has an unknown suffix, skipping")
    size = url_size(url)
    update, bar = cli_files.make_progress(opts, size, url)
    limits = decode_limits(opts)
    kw = dict(memlimit=limits.get("memlimit"), max_block=limits.get("max_block"),
              progress=update)
    try:
        if test:
            n = decompress_url(run.session, url, None, **kw)
            dest = None
        elif opts.stdout:
            out = _stdout(fileio)
            n = decompress_url(run.session, url, out, **kw)
            out.flush()
            dest = "(stdout)"
        else:
            name = _url_name(url)
            dest_path = Path(opts.output) if opts.output else Path(name[: -len(opts.suffix)])
            with fileio.AtomicOutput(dest_path, force=opts.force) as out:
                n = decompress_url(run.session, url, out, **kw)
            dest = str(dest_path)
    finally:
        if bar is not None:
            bar.close()
    run.records.append({"file": url, "output": dest, "uncompressed": n, "compressed": size,
                        "status": "ok"})
    if opts.verbose and not opts.json:
        message(f"{url}: {'OK' if test else 'decompressed'} ({n} bytes)")
