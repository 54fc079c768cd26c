"""The command line a zstd/xz user trusts (issue 13): every file handled, instant
Ctrl-C, output errors naming the output, -M that adapts, bounded memory on hostile
input, tiny inputs cheap.  Each test asserts the exit code, the stdout bytes and the
stderr line; the hostile files are built here."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from cli_util import DATA, ENV, as_foreground_job, sq

from frappe_cli import container



@pytest.fixture
def sample(tmp_path):
    f = tmp_path / "beer.txt"
    f.write_bytes(DATA)
    return f


def _header(codec_id: str, params: bytes, max_block: int, check: int = 2) -> bytes:
    cid = codec_id.encode()
    body = (container.MAGIC + bytes([1, check, len(cid)]) + cid
            + struct.pack("<HIH", 1, max_block, len(params)) + params)
    return body + struct.pack("<I", zlib.crc32(body))


# 1. one unreadable file does not stop the run -------------------------------------------

@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files of mode 000")
def test_unreadable_file_is_reported_and_the_rest_done(sample, tmp_path):
    bad = tmp_path / "noread.c"
    bad.write_bytes(b"secret")
    bad.chmod(0)
    rc, out, err = sq("--codec", "zstd", bad, sample)
    assert (rc, out) == (1, b"") and err == f"squeeze: {bad}: Permission denied\n"
    assert (tmp_path / "beer.txt.sqz").exists()
    for flag in ("-d", "-t", "-l"):
        rc, _, err = sq(flag, bad, str(sample) + ".sqz")
        assert rc == 1 and f"squeeze: {bad}: Permission denied\n" in err


def test_unreadable_file_in_process(sample, tmp_path, monkeypatch):
    """The same rule without root's privilege: the open fails, the run goes on."""
    from frappe_cli import cli, cli_files

    real_open = open

    def fake_open(p, mode="r", *a, **k):
        if str(p).endswith("noread.c") and "r" in mode:
            raise PermissionError(13, "Permission denied")
        return real_open(p, mode, *a, **k)

    bad = tmp_path / "noread.c"
    bad.write_bytes(b"x")
    monkeypatch.setattr(cli_files, "open", fake_open, raising=False)
    assert cli.run_files(cli.Opts(codec="zstd", progress=False), (str(bad), str(sample))) == 1
    assert (tmp_path / "beer.txt.sqz").exists()


# 2. signals: gone within a second, nothing left behind -----------------------------------

@pytest.fixture(scope="module")
def big_text(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    words = [b"alpha", b"beta", b"gamma", b"delta", b"squeeze", b"block", b"\n"]
    import random

    rnd = random.Random(5)
    data = b" ".join(rnd.choice(words) for _ in range(700_000))  # ~4 MB, one text block
    f = d / "big.txt"
    f.write_bytes(data)
    rc, _, err = sq("-q", "--codec", "text", "-0", "-k", f)  # a stream to decode
    assert rc == 0, err
    return f


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("mode", ["compress", "decompress"])
def test_signal_exits_within_a_second_and_leaves_nothing(big_text, tmp_path, sig, mode):
    out = tmp_path / ("o.sqz" if mode == "compress" else "o.txt")
    src = big_text if mode == "compress" else Path(str(big_text) + ".sqz")
    args = ["--codec", "text"] if mode == "compress" else ["-d"]
    p = subprocess.Popen([sys.executable, "-m", "frappe_cli", *args, "--no-progress", "-o",
                          str(out), str(src)], stderr=subprocess.PIPE, env=ENV,
                         start_new_session=True, preexec_fn=as_foreground_job)
    time.sleep(2.5)  # in the middle of the (single) block
    assert p.poll() is None, "finished too early for the test to mean anything"
    t0 = time.monotonic()
    p.send_signal(sig)
    p.wait(timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == 130, p.stderr.read()
    assert took < 1.0, f"took {took:.2f} s to exit"
    assert os.listdir(tmp_path) == []


# 3. output errors name the output --------------------------------------------------------

def test_messages_name_the_output(sample, tmp_path):
    rc, _, _ = sq("--codec", "zstd", sample)
    rc, out, err = sq("--codec", "zstd", sample)
    assert (rc, out, err) == (1, b"", f"squeeze: {sample}.sqz: File exists\n")
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        (ro / "ok.c").write_bytes(b"int x;\n" * 100)
        ro.chmod(0o555)
        try:
            rc, _, err = sq("--codec", "zstd", ro / "ok.c")
            assert rc == 1 and err == f"squeeze: {ro / 'ok.c'}.sqz: Permission denied\n"
        finally:
            ro.chmod(0o755)


# 4. -M adapts, 0 means none, decoding has a safe default --------------------------------

def test_memlimit_lowers_threads_then_level(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(DATA * 20)  # 3.2 MB: the estimate counts blocks of at most the file
    rc, out, err = sq("-c", "--codec", "zstd", "-9", "-T2", "-M", "100MiB", big)
    assert rc == 0 and container.decompress(out) == DATA * 20
    assert err == (f"squeeze: {big}: reduced the threads from 2 to 1 to fit the memory "
                   "limit of 100 MiB\n")
    rc, out2, err = sq("-c", "--codec", "zstd", "-9", "-M", "60MiB", big)
    assert rc == 0 and container.decompress(out2) == DATA * 20
    assert err == (f"squeeze: {big}: lowered the level from 9 to 7 to fit the memory limit "
                   "of 60 MiB\n")
    rc, out3, err = sq("-c", "--codec", "zstd", "-9", "-M", "0", big)
    assert (rc, err) == (0, "") and out3 == out
    rc, out4, err = sq("-c", "--codec", "zstd", "-9", "-M", "5MiB", big)
    assert (rc, out4) == (1, b"") and "Memory usage limit reached" in err


def test_hostile_block_size_refused_by_default(tmp_path):
    """A 100-byte file whose block claims 1 GiB of text: refused before its payload is
    read or anything allocated for it."""
    bomb = tmp_path / "bomb.sqz"
    bomb.write_bytes(_header("text", b'{"level":6}', 1 << 30)
                     + container._block_head(1, 1 << 30, 40) + b"\x00" * 48)
    rc, out, err = sq("-d", "-c", "-T2", bomb)
    assert (rc, out) == (1, b"")
    assert err == (f"squeeze: {bomb}: Memory usage limit reached (a block of 1024 MiB exceeds "
                   "the default limit of 256 MiB for decoding; raise it with -M/--memlimit)\n")
    rc, out, err = sq("-d", "-c", "-M", "1GiB", bomb)
    assert rc == 1 and "Memory usage limit reached" in err


def test_declared_block_size_is_a_bound_not_a_refusal():
    """The first image codec's streams declare 1 GiB blocks for small pictures: the
    default limit judges each block's real size, so such streams decode without -M."""
    blob = container.compress(DATA, "zstd", block_size=1 << 16)
    cid = b"zstd"
    at = len(container.MAGIC) + 3 + len(cid) + 2  # the header's max_block_size field
    (plen,) = struct.unpack("<H", blob[at + 4:at + 6])
    end = at + 6 + plen
    body = bytearray(blob[:end])
    assert blob[len(container.MAGIC) + 3:len(container.MAGIC) + 3 + len(cid)] == cid
    struct.pack_into("<I", body, at, 1 << 30)
    big = bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))) + blob[end + 4:]
    assert container.decompress(big) == DATA
    rc, out, err = sq("-d", "-c", "-", input=big)
    assert (rc, out, err) == (0, DATA, "")


def test_decode_lowers_threads_before_refusing(sample):
    blob = container.compress(DATA, "zstd", block_size=1 << 20)
    rc, out, err = sq("-d", "-c", "-T4", "-M", "40MiB", "-", input=blob)  # fits 1 thread
    assert (rc, out, err) == (0, DATA, "")


# 5. tiny inputs -----------------------------------------------------------------------------

def test_tiny_input_is_cheap_and_small(tmp_path):
    f = tmp_path / "six"
    f.write_bytes(b"hello\n")
    code = ("import resource, sys, time; from frappe_cli import cli\n"
            "t = time.process_time()\n"
            "try:\n    cli.main(['-q', sys.argv[1]])\nexcept SystemExit as e:\n"
            "    print(e.code, 'numba' in sys.modules, time.process_time() - t)\n")
    out = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True,
                         env=ENV, timeout=60).stdout.split()
    assert out[:2] == ["0", "False"], out  # no numba loaded for a 6-byte file
    s = container.scan_streams(open(str(f) + ".sqz", "rb"))[0]
    assert s.header.codec_id == "zstd"


# 6. smaller differences ------------------------------------------------------------------------

def test_symlinks_and_hard_links(sample, tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(sample)
    rc, _, err = sq("--codec", "zstd", link)
    assert (rc, err) == (2, f"squeeze: {link}: Is a symbolic link, skipping\n")
    rc, out, err = sq("-c", "--codec", "zstd", link)  # to stdout it is read
    assert rc == 0 and container.decompress(out) == DATA
    hard = tmp_path / "hard.txt"
    os.link(sample, hard)
    rc, _, err = sq("--rm", "--codec", "zstd", hard)
    assert (rc, err) == (2, f"squeeze: {hard}: Input file has 1 other hard link, skipping\n")
    assert hard.exists() and not Path(str(hard) + ".sqz").exists()


def test_json_has_a_record_for_failed_files(sample, tmp_path):
    missing = tmp_path / "missing.txt"
    rc, out, err = sq("--json", "--codec", "zstd", sample, missing)
    assert rc == 1
    recs = [json.loads(line) for line in err.splitlines() if line.startswith("{")] or \
        [json.loads(line) for line in out.decode().splitlines()]
    by_file = {r["file"]: r for r in recs}
    assert by_file[str(missing)]["status"] == "error"
    assert by_file[str(missing)]["error"] == "No such file or directory"
    assert by_file[str(sample)]["status"] == "ok"


def test_files_named_like_subcommands_are_files(tmp_path):
    for name in ("test", "list", "codecs", "bench"):
        (tmp_path / name).write_bytes(DATA[:5000])
        rc, out, err = sq("--codec", "zstd", name, cwd=tmp_path)
        assert (rc, out, err) == (0, b"", ""), name
        assert (tmp_path / f"{name}.sqz").exists()
    rc, out, _ = sq("codecs")  # no such file here: the subcommand
    assert rc == 0 and b"zstd" in out


def test_codec_option_without_its_codec_names_its_codec(sample, tmp_path):
    """--bpp (the frappe codec's, by its cli_options hook) without --codec frappe: one
    line naming the codec it belongs to, never the codec auto would have chosen;
    exit 1 and no output, whatever the number of files."""
    other = tmp_path / "small.txt"
    other.write_bytes(b"hello\n")  # auto would choose zstd for it
    rc, out, err = sq("--bpp", "0.1", sample, other)
    assert (rc, out, err) == (1, b"", "squeeze: --bpp is an option of codec frappe; "
                                      "add --codec frappe\n")
    rc, out, err = sq("--codec", "zstd", "--bpp", "0.1", sample)
    assert (rc, out, err) == (1, b"", "squeeze: --bpp is an option of codec frappe, not of "
                                      "zstd; use --codec frappe\n")
    rc, out, err = sq("-O", "quality=5", "-c", sample)
    assert (rc, out) == (1, b"") and err == ("squeeze: --quality is an option of codec "
                                             "frappe; add --codec frappe\n")
    # an option of a lossless codec: auto may choose that codec, so it is checked per file
    rc, out, err = sq("--dtype", "bf16", sample)
    assert (rc, out) == (1, b"") and err == (f"squeeze: {sample}: --dtype is an option of "
                                             "codecs dfloat11 and enec; add --codec dfloat11\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beer.txt", "small.txt"]


def test_decompress_help_has_no_compression_options():
    rc, out, _ = sq("decompress", "--help")
    assert rc == 0
    for opt in (b"--codec", b"--block-size", b"--bpp", b"--dtype", b"--check", b"-0"):
        assert opt not in out, opt
    rc, out, _ = sq("compress", "--help")
    assert b"--codec" in out and b"--best" in out


def test_zstd_style_levels(sample):
    rc, out, err = sq("-c", "-19", sample)
    assert rc == 1 and out == b""
    assert err.startswith("squeeze: -19: levels are -0..-9")
    rc, a, _ = sq("-c", "--codec", "zstd", "--best", sample)
    rc2, b, _ = sq("-c", "--codec", "zstd", "-9", sample)
    assert rc == rc2 == 0 and a == b
    rc, a, _ = sq("-c", "--codec", "zstd", "--fast", sample)
    rc2, b, _ = sq("-c", "--codec", "zstd", "-0", sample)
    assert a == b


# 7. hostile input ------------------------------------------------------------------------------

def test_header_strings_never_reach_the_terminal_raw(tmp_path):
    params = b'{"\\u001b[31mred":1,"level":6}'
    f = tmp_path / "esc.sqz"
    f.write_bytes(_header("zstd", params, 1 << 20) + b"\xff\x00" + b"\x00" * 20)
    rc, out, err = sq("-d", "-c", f)
    assert rc == 1 and out == b""
    assert "\x1b" not in err and "\\x1b[31mred" in err and err.count("\n") == 1


@pytest.mark.parametrize("params", [b'{"level":true}', b"{}", b'{"level":6,"level":6}',
                                    b'{"level":6,"x":' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_header_parser_follows_the_spec(tmp_path, params):
    f = tmp_path / "h.sqz"
    f.write_bytes(_header("zstd", params, 1 << 20) + b"\xff\x00" + b"\x00" * 20)
    rc, out, err = sq("-d", "-c", f)
    assert (rc, out) == (1, b"") and err.startswith(f"squeeze: {f}: Unsupported options")
    assert err.count("\n") == 1


def test_auto_on_a_pipe_falls_back_to_zstd(tmp_path):
    """A weights-looking input that is malformed: the pipeline still works."""
    bad = struct.pack("<Q", 60) + b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,99]}}'
    bad = bad.ljust(68, b" ") + os.urandom(3000)
    rc, out, err = sq("-c", "-", input=bad)
    assert (rc, err) == (0, "") and container.decompress(out) == bad


def test_rm_keeps_an_input_that_changed(sample, monkeypatch):
    from frappe_cli import cli_files
    from frappe_cli.errors import SqueezeError

    before = cli_files._identity(sample)
    with open(sample, "ab") as f:
        f.write(b"appended while compressing\n")
    with pytest.raises(SqueezeError, match="changed while it was being processed"):
        cli_files._remove_input(sample, before)
    assert sample.exists()


def test_memlimit_zero_means_no_limit(sample):
    blob = container.compress(DATA, "zstd")
    rc, out, err = sq("-d", "-c", "-M", "0", "-", input=blob)
    assert (rc, out, err) == (0, DATA, "")


def test_long_file_names(tmp_path):
    for n in (238, 245, 251):
        f = tmp_path / ("n" * n)
        f.write_bytes(DATA[:1000])
        rc, out, err = sq("-c" if n + 4 > 255 else "-k", "--codec", "zstd", f)
        assert rc == 0, err
    f = tmp_path / ("m" * 250)  # the output name fits (254), the temporary name would not
    f.write_bytes(DATA[:1000])
    rc, _, err = sq("--codec", "zstd", f)
    assert (rc, err) == (0, "") and Path(str(f) + ".sqz").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_progress_moves_inside_a_block():
    """The CM kernels publish their position: a bar of a one-block file moves."""
    import threading

    from frappe_cli import progress
    from squeeze_text import block_coder
    from squeeze_text.levels import LEVELS

    data = DATA * 8  # 1.3 MB, one block
    seen = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            seen.append(progress.live_bytes())
            time.sleep(0.01)

    t = threading.Thread(target=poll)
    t.start()
    try:
        block_coder.compress(data, LEVELS[0])
    finally:
        stop.set()
        t.join()
    inside = [n for n in seen if 0 < n < len(data)]
    assert len(set(inside)) >= 3, seen[:50]
    assert progress.live_bytes() == 0  # nothing left registered
