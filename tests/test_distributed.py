"""squeeze on a Dask cluster (frappe_cli/distributed.py, ``--scheduler``).

Every test starts and stops its own cluster: in-process (threads, no sockets)
where the test is about bytes, worker processes on 127.0.0.1 where it is about
processes (file:// reads, a killed worker, Ctrl-C, a lost scheduler).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cli_util
import pytest

pytest.importorskip("distributed")
fsspec = pytest.importorskip("fsspec")

from frappe_cli import container, registry  # noqa: E402
from frappe_cli import distributed as D  # noqa: E402
from frappe_cli.errors import ClusterError, CorruptError, SqueezeError  # noqa: E402

ENV = dict(cli_util.ENV)
ENV.pop("SQUEEZE_SCHEDULER", None)
TEXT = b"".join(b"%d green bottles hanging on the wall, and if one green bottle should "
                b"accidentally fall...\n" % i for i in range(2500))  # ~210 KB


def sq(*args, env=None, timeout=120, cwd=None):
    return cli_util.sq(*args, env=env or ENV, timeout=timeout, cwd=cwd)


@pytest.fixture
def inproc():
    """A Dask cluster inside this process: one worker, two threads."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cl, Client(cl) as client:
        yield client


def _weights() -> bytes:
    import numpy as np
    from weights_util import mixed_safetensors

    return mixed_safetensors(np.random.default_rng(7), big=40_000)


def _exe() -> bytes:
    return Path("/usr/bin/ls").read_bytes()[:96 << 10] if Path("/usr/bin/ls").exists() \
        else Path(sys.executable).read_bytes()[:96 << 10]


# ------------------------------------------------------------------------------------
# bytes


@pytest.mark.parametrize("cid,level,bs", [("store", 6, 16 << 10), ("zstd", 3, 16 << 10),
                                          ("text", 1, 64 << 10), ("exe", 1, 48 << 10),
                                          ("dfloat11", 6, 64 << 10), ("enec", 6, 64 << 10)])
def test_every_lossless_codec_is_byte_identical_to_T1(inproc, cid, level, bs):
    data = {"text": TEXT[:150_000], "exe": _exe()}.get(cid) or (
        _weights() if cid in ("dfloat11", "enec") else TEXT)
    codec = registry.make(cid, level)
    want = container.compress(data, codec, block_size=bs)
    got = D.compress_bytes(data, codec, inproc, block_size=bs)
    assert got == want
    assert D.decompress_bytes(got, inproc) == data
    with D.Session(inproc) as s:  # test mode: the workers send back lengths only
        assert D.decompress_stream(s, io.BytesIO(got), None) == len(data)
        assert s.stats.bytes_received == 0


def test_api_entry_points_and_auto(inproc):
    # codec="auto" sniffs as the CLI does; a cut-off safetensors falls back to zstd
    w = _weights()
    for data in (TEXT[:40_000], w, w[:5000]):
        got = D.compress_bytes(data, "auto", inproc, block_size=16 << 10)
        from frappe_cli import api

        assert got == api.compress(data, "auto", block_size=16 << 10)
        assert D.decompress_bytes(got, inproc) == data
    blob = container.compress(TEXT, "zstd", block_size=8 << 10)
    with pytest.raises(SqueezeError, match="max_output"):
        D.decompress_bytes(blob, inproc, max_output=len(TEXT) - 1)
    # the public one-shot API takes scheduler= and gives the same bytes
    import frappe_cli

    assert frappe_cli.compress(TEXT, "zstd", block_size=8 << 10, scheduler=inproc) == blob
    assert frappe_cli.decompress(blob, scheduler=inproc) == TEXT
    assert frappe_cli.compress_files is D.compress_files


def test_lossy_codec_encodes_on_the_client_and_decodes_on_workers(inproc):
    from frappe_cli import api
    from frappe_cli.testing import corpus_file

    png = corpus_file("kodak/kodim23.png").read_bytes()
    want = api.compress(png, "frappe", bpp=0.1)
    got = D.compress_bytes(png, "frappe", inproc, bpp=0.1)
    assert got == want
    assert D.decompress_bytes(got, inproc) == api.decompress(got)


def test_window_bounds_blocks_in_flight(inproc, monkeypatch):
    peak = []
    real = D.Session.acquire

    def acquire(self, timeout):
        ok = real(self, timeout)
        peak.append(self._inflight)
        return ok

    monkeypatch.setattr(D.Session, "acquire", acquire)
    data = TEXT * 4  # ~840 KB in 4 KiB blocks: ~200 blocks
    got = D.compress_bytes(data, "zstd", inproc, level=1, block_size=4 << 10)
    assert got == container.compress(data, "zstd", level=1, block_size=4 << 10)
    # 2 worker threads -> at most 2 * 2 blocks in flight, whatever the input size
    assert max(peak) <= D.INFLIGHT_PER_THREAD * 2


def test_memory_urls_and_many_files(inproc, tmp_path):
    """memory:// is per process: it works with in-process workers."""
    w = _weights()
    with fsspec.open("memory://sq/w.safetensors", "wb") as f:
        f.write(w)
    with fsspec.open("memory://sq/t.txt", "wb") as f:
        f.write(TEXT)
    local = tmp_path / "local.txt"
    local.write_bytes(TEXT[::-1])
    recs = D.compress_files(["memory://sq/w.safetensors", "memory://sq/t.txt", str(local)],
                            inproc, "auto", level=3, block_size=32 << 10, output_dir=tmp_path)
    assert [r["error"] for r in recs] == [None] * 3
    assert [r["codec"] for r in recs] == ["dfloat11", "text", "text"]
    for r, data in zip(recs, (w, TEXT, TEXT[::-1])):
        want = container.compress(data, registry.make(r["codec"], 3), block_size=32 << 10)
        assert Path(r["output"]).read_bytes() == want, r
    # decompression of a URL: header + footer + index, then one ranged read per block
    blob = Path(recs[1]["output"]).read_bytes()
    with fsspec.open("memory://sq/t.txt.sqz", "wb") as f:
        f.write(blob)
    with D.Session(inproc) as s:
        out = io.BytesIO()
        assert D.decompress_url(s, "memory://sq/t.txt.sqz", out) == len(TEXT)
        assert out.getvalue() == TEXT
        assert s.stats.bytes_sent == 0  # nothing scattered: the workers read
        assert D.decompress_url(s, "memory://sq/t.txt.sqz", None) == len(TEXT)
    # a missing file: one error, the others are written
    (tmp_path / "o").mkdir()
    recs = D.compress_files(["memory://sq/nope", str(local)], inproc, "zstd",
                            output_dir=tmp_path / "o", on_error="record")
    assert recs[0]["error"] == "No such file or directory" and recs[1]["error"] is None
    with pytest.raises(SqueezeError, match="memory://sq/nope: No such file"):
        D.compress_files(["memory://sq/nope"], inproc, "zstd", output_dir=tmp_path / "o")


def test_url_decode_checks_blocks_and_multistream(inproc):
    a = container.compress(TEXT, "zstd", level=1, block_size=16 << 10)
    b = container.compress(TEXT[:999], "store", block_size=100)
    with fsspec.open("memory://sq/ab.sqz", "wb") as f:
        f.write(a + b + bytes(4))  # two streams and padding: read sequentially
    bad = bytearray(a)
    bad[200] ^= 1  # inside the first payload: the block check fails on a worker
    with fsspec.open("memory://sq/bad.sqz", "wb") as f:
        f.write(bytes(bad))
    with D.Session(inproc) as s:
        out = io.BytesIO()
        D.decompress_url(s, "memory://sq/ab.sqz", out)
        assert out.getvalue() == TEXT + TEXT[:999]
        with pytest.raises(CorruptError):
            D.decompress_url(s, "memory://sq/bad.sqz", io.BytesIO())
        with pytest.raises(SqueezeError, match="No such file"):
            D.decompress_url(s, "memory://sq/missing.sqz", io.BytesIO())


def test_url_decode_default_limit_judges_each_indexed_block(inproc):
    """The default decode limit on a URL with an index: every block's size in the
    index is checked before any block is read (as a local decode checks each block
    header), whatever the stream header declares."""
    from frappe_cli.errors import MemoryLimitError

    blob = container.compress(TEXT, "zstd", level=1, block_size=16 << 10)
    with fsspec.open("memory://sq/lim.sqz", "wb") as f:
        f.write(blob)
    with D.Session(inproc) as s:
        with pytest.raises(MemoryLimitError, match="exceeds the default limit"):
            D.decompress_url(s, "memory://sq/lim.sqz", io.BytesIO(), max_block=8 << 10)
        out = io.BytesIO()
        D.decompress_url(s, "memory://sq/lim.sqz", out, max_block=16 << 10)
        assert out.getvalue() == TEXT


# ------------------------------------------------------------------------------------
# worker processes


def test_killed_worker_output_is_still_identical():
    from distributed import Client, LocalCluster
    from distributed_util import SlowZstd  # a plugin codec: shipped to the workers pickled

    registry.register(SlowZstd)
    try:
        codec = SlowZstd(1)
        data = TEXT * 2  # 420 KB in 4 KiB blocks: ~100 blocks, ~2 s on two workers
        # -T8: the same bytes as -T1 (the container's promise), 8x sooner
        want = container.compress(data, codec, block_size=4 << 10, threads=8)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=50) as cl, \
                Client(cl) as client:
            pids = list(client.run(os.getpid).values())
            assert len(pids) == 2
            out = io.BytesIO()
            done = []
            s = D.Session(client)

            def progress(n):
                done.append(n)

            t = threading.Thread(target=lambda: D.compress_stream(
                s, io.BytesIO(data), out, codec, block_size=4 << 10, progress=progress))
            t.start()
            deadline = time.monotonic() + 30
            while len(done) < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(pids[0], signal.SIGKILL)
            t.join(60)
            assert not t.is_alive()
            assert len(done) == -(-len(data) // (4 << 10))
            assert out.getvalue() == want
            assert s.stats.retries >= 1  # blocks scattered to the dead worker were resent
    finally:
        registry.unregister(SlowZstd.codec_id)


def test_cli_file_urls_and_several_files_on_worker_processes(tmp_path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    a.write_bytes(TEXT)
    b.write_bytes(TEXT[:50_000] * 3)
    c.write_bytes(TEXT[7:120_000])
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = sq("compress", "--scheduler", "local:2", "--codec", "zstd", "-B", "16KiB", a, b,
                    f"file://{c}", f"file://{tmp_path}/missing.txt", cwd=out)
    assert rc == 1 and err.count("\n") == 1 and "missing.txt: No such file" in err, err
    for f, sqz in ((a, Path(f"{a}.sqz")), (b, Path(f"{b}.sqz")), (c, out / "c.txt.sqz")):
        # what `squeeze -T1 --codec zstd -B 16KiB` writes
        want = container.compress(f.read_bytes(), registry.make("zstd"), block_size=16 << 10)
        assert sqz.read_bytes() == want, f
    assert not (out / "missing.txt.sqz").exists()
    # decompress a URL (index first, ranged reads by the workers) and a local file;
    # the scheduler from the environment
    env = dict(ENV, SQUEEZE_SCHEDULER="local:1")
    rc, _, err = sq("decompress", "-f", f"file://{out}/c.txt.sqz", Path(f"{a}.sqz"), env=env,
                    cwd=out)
    assert (rc, err) == (0, "")
    assert (out / "c.txt").read_bytes() == c.read_bytes() and a.read_bytes() == TEXT
    assert sorted(os.listdir(out)) == ["c.txt", "c.txt.sqz"]  # no temporary file left


def test_unreachable_scheduler_one_line_exit_1(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(TEXT)
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(ENV, SQUEEZE_CONNECT_TIMEOUT="2")
    t0 = time.monotonic()
    rc, out, err = sq("--scheduler", f"tcp://127.0.0.1:{port}", f, env=env)
    assert rc == 1 and out == b""
    assert err.count("\n") == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:" in err
    assert time.monotonic() - t0 < 20
    assert os.listdir(tmp_path) == ["a.txt"]


def _children(pid: int) -> set[int]:
    kids = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.add(int(d))
    return kids


def _wait_tmp(folder: Path, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(n.endswith(".tmp") for n in os.listdir(folder)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no output was started"
        time.sleep(0.05)


def test_ctrl_c_cancels_and_leaves_nothing(tmp_path):
    f = tmp_path / "big.txt"
    f.write_bytes(TEXT * 20)  # 4 MB of text: far longer than the test waits
    p = subprocess.Popen([sys.executable, "-m", "frappe_cli", "--scheduler", "local:1",
                          "--codec", "text", "-B", "256KiB", f], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=cli_util.as_foreground_job)
    try:
        _wait_tmp(tmp_path, p)
        time.sleep(0.5)
        kids = _children(p.pid)
        assert kids  # the worker's nanny process
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert rc == 130
    assert os.listdir(tmp_path) == ["big.txt"]
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{k}").exists() and "zombie" not in _state(k) for k in kids):
        assert time.monotonic() < deadline, "worker processes left behind"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return "zombie" if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] \
            == "Z" else "alive"
    except OSError:
        return "zombie"


def test_lost_scheduler_one_line_exit_1(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    sched = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                              "127.0.0.1", "--port", str(port), "--no-dashboard"], env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", addr,
                               "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                               "--no-nanny"], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    f = tmp_path / "big.txt"
    f.write_bytes(TEXT * 20)
    try:
        env = dict(ENV, SQUEEZE_CONNECT_TIMEOUT="20")
        p = subprocess.Popen([sys.executable, "-m", "frappe_cli", "--scheduler", addr, "--codec",
                              "text", "-B", "256KiB", f], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_tmp(tmp_path, p)
        time.sleep(0.3)
        sched.kill()
        out, err = p.communicate(timeout=30)
    finally:
        for q in (sched, worker):
            q.kill()
            q.wait()
    err = err.decode()
    assert p.returncode == 1 and out == b""
    assert err.count("\n") == 1 and f"lost the Dask scheduler at {addr}" in err, err
    assert os.listdir(tmp_path) == ["big.txt"]


# ------------------------------------------------------------------------------------
# start-up stays cheap


def test_help_and_local_runs_do_not_import_dask(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(TEXT[:1000])
    code = ("import sys\nfrom frappe_cli import cli\nimport frappe_cli.distributed\n"
            "for argv in (['--help'], ['--codec', 'zstd', '-q', '-k', sys.argv[1]]):\n"
            "    try:\n        cli.main(argv)\n    except SystemExit:\n        pass\n"
            "print('LOADED', sorted(m for m in ('distributed', 'dask', 'fsspec', 'tornado')"
            " if m in sys.modules), file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, env=ENV,
                       timeout=60)
    assert "LOADED []" in p.stderr.decode(), p.stderr.decode()
    assert Path(f"{f}.sqz").exists()
    assert ClusterError("x").exit_code == 1
