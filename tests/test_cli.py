"""The command line: stdout bytes, the stderr line and the exit code of each behaviour."""

import json
import os
import pty
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import cli_util
import pytest
from cli_util import DATA, ENV, as_foreground_job

from frappe_cli import container

sq = partial(cli_util.sq, timeout=120)


@pytest.fixture
def sample(tmp_path):
    f = tmp_path / "beer.txt"
    f.write_bytes(DATA)
    return f


def test_compress_keeps_input_and_decompress_restores(sample):
    rc, out, err = sq("--codec", "zstd", sample)
    assert (rc, out, err) == (0, b"", "")
    sqz = sample.with_name("beer.txt.sqz")
    assert sqz.exists() and sample.exists()
    sample.rename(sample.with_name("orig.txt"))
    rc, out, err = sq("-d", sqz)
    assert (rc, err) == (0, "")
    assert sample.read_bytes() == DATA and sqz.exists()


def test_subcommands_equal_shorthands(sample, tmp_path):
    rc, out, _ = sq("compress", "--codec", "zstd", "-c", sample)
    rc2, out2, _ = sq("--codec", "zstd", "-c", sample)
    assert rc == rc2 == 0 and out == out2 and out.startswith(container.MAGIC)
    rc, dec, err = sq("decompress", "-c", "-", input=out)
    assert (rc, dec, err) == (0, DATA, "")
    rc, _, err = sq("test", "-", input=out)
    assert (rc, err) == (0, "")
    rc, listing, _ = sq("list", "--json", "-", input=out)
    assert rc == 0 and json.loads(listing)[0]["uncompressed"] == len(DATA)


def test_pipeline_stdin_stdout():
    rc, comp, err = sq(input=DATA)
    assert rc == 0 and err == "" and comp.startswith(container.MAGIC)
    rc, dec, err = sq("-d", input=comp)
    assert (rc, dec, err) == (0, DATA, "")
    # `-` names stdin explicitly; sqzcat style -dc
    rc, dec, _ = sq("-dc", "-", input=comp)
    assert (rc, dec) == (0, DATA)


def test_shell_pipeline(sample, tmp_path):
    cmd = (f"cat {sample} | {sys.executable} -m frappe_cli --codec zstd -3 | "
           f"{sys.executable} -m frappe_cli -d | cmp - {sample}")
    assert subprocess.run(cmd, shell=True, env=ENV, timeout=120).returncode == 0


def test_existing_output_needs_force(sample):
    assert sq("--codec", "zstd", sample)[0] == 0
    rc, out, err = sq("--codec", "zstd", sample)
    assert rc == 1 and err == f"squeeze: {sample}.sqz: File exists\n"  # names the output
    assert sq("-f", "--codec", "zstd", sample)[0] == 0


def test_decompress_never_overwrites_without_force(sample):
    assert sq("--codec", "zstd", sample)[0] == 0
    rc, _, err = sq("-d", str(sample) + ".sqz")
    assert rc == 1 and err == f"squeeze: {sample}: File exists\n"  # the output is named
    assert sample.read_bytes() == DATA


def test_rm_removes_input_only_after_success(sample, tmp_path):
    rc, _, err = sq("--rm", "--codec", "zstd", sample)
    assert (rc, err) == (0, "") and not sample.exists()
    rc, _, err = sq("-d", "--rm", str(sample) + ".sqz")
    assert (rc, err) == (0, "") and sample.read_bytes() == DATA
    assert not Path(str(sample) + ".sqz").exists()
    # a failing decompression keeps the input
    bad = tmp_path / "bad.txt.sqz"
    bad.write_bytes(b"not squeezed at all")
    rc, _, err = sq("-d", "--rm", bad)
    assert rc == 1 and bad.exists() and not (tmp_path / "bad.txt").exists()


def test_errors_continue_with_next_file_exit_1(sample, tmp_path):
    missing = tmp_path / "missing.txt"
    rc, _, err = sq("--codec", "zstd", missing, sample)
    assert rc == 1
    assert err == f"squeeze: {missing}: No such file or directory\n"
    assert Path(str(sample) + ".sqz").exists()


def test_warnings_exit_2(sample, tmp_path):
    assert sq("--codec", "zstd", sample)[0] == 0
    rc, _, err = sq(str(sample) + ".sqz")
    assert rc == 2 and err == f"squeeze: {sample}.sqz: File already has '.sqz' suffix, skipping\n"
    rc, _, err = sq("-d", sample)
    assert rc == 2 and err == f"squeeze: {sample}: Filename has an unknown suffix, skipping\n"
    rc, _, err = sq(tmp_path)
    assert rc == 2 and err == f"squeeze: {tmp_path}: Is a directory, skipping\n"
    rc, _, err = sq("-q", tmp_path)
    assert (rc, err) == (2, "")


def test_corrupt_truncated_foreign_inputs(sample, tmp_path):
    assert sq("--codec", "zstd", sample)[0] == 0
    blob = Path(str(sample) + ".sqz").read_bytes()
    cases = {
        "trunc.sqz": (blob[:-10], "Unexpected end of input"),
        "foreign.sqz": (b"PK\x03\x04 this is a zip", "File format not recognized"),
        "flip.sqz": (blob[:60] + bytes([blob[60] ^ 0x40]) + blob[61:],
                     "Compressed data is corrupt"),
        "garbage.sqz": (blob + b"junk", "Compressed data is corrupt (trailing garbage"),
    }
    for name, (content, msg) in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        before = p.read_bytes()
        rc, out, err = sq("-d", p)
        assert rc == 1, name
        assert err.startswith(f"squeeze: {p}: {msg}"), (name, err)
        assert err.count("\n") == 1 and "Traceback" not in err
        assert not (tmp_path / name[:-4]).exists(), "no partial output may be left"
        assert p.read_bytes() == before, "the input is never harmed"
        assert not [x for x in os.listdir(tmp_path) if x.endswith(".tmp")]
        rc, _, err = sq("-t", p)
        assert rc == 1 and err.startswith(f"squeeze: {p}: {msg}")


def test_unknown_codec_and_bad_level(sample):
    rc, _, err = sq("--codec", "nope", sample)
    assert rc == 1 and err == f"squeeze: {sample}: Unsupported options: unknown codec 'nope'\n"
    assert not Path(str(sample) + ".sqz").exists()


def test_usage_errors_exit_1(sample):
    rc, _, err = sq("--no-such-option")
    assert rc == 1 and err.startswith("squeeze: No such option") and "--help" in err
    rc, _, err = sq("-o", "x", sample, sample)
    assert rc == 1 and "single input file" in err
    rc, _, err = sq("-d", "-t", sample)
    assert rc == 1
    rc, _, err = sq("-T", "-2", sample)
    assert rc == 1


def test_output_option_and_suffix(sample, tmp_path):
    out = tmp_path / "custom.bin"
    assert sq("--codec", "zstd", "-o", out, sample)[0] == 0
    assert container.decompress(out.read_bytes()) == DATA
    assert sq("--codec", "zstd", "-S", ".sq", sample)[0] == 0
    assert Path(str(sample) + ".sq").exists()
    sample.unlink()
    assert sq("-d", "-S", ".sq", str(sample) + ".sq")[0] == 0
    assert sample.read_bytes() == DATA


def test_levels_threads_and_determinism(sample):
    outs = {}
    for args in (["-1"], ["-9"], ["-9", "-T", "2"], ["-9", "-T", "0"]):
        rc, out, _ = sq("--codec", "zstd", "-c", "-B", "16KiB", *args, sample)
        assert rc == 0
        outs[" ".join(args)] = out
    assert outs["-9"] == outs["-9 -T 2"] == outs["-9 -T 0"]
    assert len(outs["-9"]) < len(outs["-1"])


def test_json_reports(sample):
    rc, out, _ = sq("--json", "--codec", "zstd", sample)
    rec = json.loads(out)
    assert rec["uncompressed"] == len(DATA) and rec["codec"] == "zstd"
    rc, out, err = sq("-c", "--json", "--codec", "zstd", sample)
    assert out.startswith(container.MAGIC)  # data on stdout, the report on stderr
    assert json.loads(err)["compressed"] == len(out)


def test_list_output(sample):
    assert sq("--codec", "zstd", "-B", "32KiB", sample)[0] == 0
    rc, out, err = sq("-l", str(sample) + ".sqz")
    assert rc == 0 and err == ""
    lines = out.decode().splitlines()
    assert lines[0].split()[:3] == ["Codec", "Blocks", "Compressed"]
    assert lines[1].split()[0] == "zstd" and lines[1].split()[1] == "5"
    rc, out, _ = sq("-lv", str(sample) + ".sqz")
    assert out.decode().count("block ") == 5


def test_codecs_command():
    rc, out, err = sq("codecs")
    assert rc == 0
    ids = [line.split()[0] for line in out.decode().splitlines()]
    assert "zstd" in ids and "store" in ids
    rc, out, _ = sq("codecs", "--json")
    assert {"id", "version", "lossless", "description"} <= set(json.loads(out)[0])


def _run_with_tty_stdout(args):
    """Run the CLI with stdout on a pseudo-terminal; returns (rc, stderr)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "frappe_cli", *map(str, args)], stdout=slave,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=ENV)
    os.close(slave)
    _, err = p.communicate(timeout=60)
    os.close(master)
    return p.returncode, err.decode()


def test_refuses_compressed_data_on_a_terminal(sample):
    rc, err = _run_with_tty_stdout(["-c", "--codec", "zstd", sample])
    assert rc == 1
    assert err == f"squeeze: {sample}: Compressed data cannot be written to a terminal\n"
    master, slave = pty.openpty()
    p = subprocess.run([sys.executable, "-m", "frappe_cli", "-d"], stdin=slave,
                       capture_output=True, env=ENV, timeout=60)
    os.close(slave)
    os.close(master)
    assert p.returncode == 1
    assert p.stderr.decode() == "squeeze: (stdin): Compressed data cannot be read from a terminal\n"


def test_full_disk_leaves_nothing(sample):
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full not available")
    with open("/dev/full", "wb") as full:
        p = subprocess.run([sys.executable, "-m", "frappe_cli", "-c", "--codec", "zstd",
                            str(sample)], stdout=full, stderr=subprocess.PIPE, env=ENV,
                           timeout=60)
    assert p.returncode == 1
    assert p.stderr.decode() == "squeeze: (stdout): No space left on device\n"  # the output


def test_full_disk_on_file_output_removes_temp(sample, tmp_path, monkeypatch):
    """In-process: a write failing with ENOSPC mid-way leaves no output and no temp file."""
    import errno

    from frappe_cli import cli, fileio

    real_enter = fileio.AtomicOutput.__enter__

    def enter(self):
        f = real_enter(self)

        class Full:
            def write(self, b):
                raise OSError(errno.ENOSPC, "No space left on device")

            def __getattr__(self, name):
                return getattr(f, name)

        return Full()

    monkeypatch.setattr(fileio.AtomicOutput, "__enter__", enter)
    opts = cli.Opts(codec="zstd")
    assert cli.run_files(opts, (str(sample),)) == 1
    assert sorted(os.listdir(tmp_path)) == ["beer.txt"]


def test_interrupt_leaves_no_partial_output(tmp_path):
    """SIGINT/SIGTERM while compressing from a slow pipe: no output file, no temp file."""
    out = tmp_path / "out.sqz"
    for sig in (signal.SIGINT, signal.SIGTERM):
        p = subprocess.Popen([sys.executable, "-m", "frappe_cli", "--codec", "zstd", "-B",
                              "64KiB", "-o", str(out), "-"], stdin=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=ENV, preexec_fn=as_foreground_job)
        p.stdin.write(os.urandom(300_000))
        p.stdin.flush()
        time.sleep(1.5)
        p.send_signal(sig)
        p.stdin.close()
        p.wait(timeout=60)
        left = os.listdir(tmp_path)
        if p.returncode == 0:
            # the signal landed after the end of input (a loaded machine can delay
            # the child that long): then the output must be whole, never partial
            assert left == ["out.sqz"], left
            assert container.decompress(out.read_bytes())  # complete and valid
            out.unlink()
        else:
            assert left == [], left


def test_output_option_applies_to_stdin(tmp_path):
    """`-o FILE -` writes FILE (not stdout), in both directions, with normal permissions."""
    out = tmp_path / "o.sqz"
    rc, so, _ = sq("--codec", "zstd", "-o", out, "-", input=DATA)
    assert rc == 0 and so == b"" and out.is_file()
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()
    back = tmp_path / "o.txt"
    rc, so, _ = sq("-d", "-o", back, "-", input=out.read_bytes())
    assert rc == 0 and so == b"" and back.read_bytes() == DATA
    rc, _, err = sq("-d", "-o", back, "-", input=out.read_bytes())  # exists, no -f
    assert rc == 1 and "exists" in err


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_debug_traceback_only_when_asked(tmp_path):
    p = tmp_path / "x.sqz"
    p.write_bytes(b"junk")
    rc, _, err = sq("-d", p)
    assert "Traceback" not in err
    rc, _, err = sq("-d", p, env=dict(ENV, SQUEEZE_DEBUG="1"))
    assert rc == 1 and "Traceback" in err


def test_help_is_light():
    """`squeeze --help` must not import numpy, numba, constriction or any codec's machinery.

    The codec *classes* load (their hooks contribute options and commands; codec
    modules import only the standard library and the core, which
    check_cheap_import holds them to), never their block coders, kernels or models."""
    code = ("import sys\nfrom frappe_cli import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('numpy', 'numba', 'constriction', 'zstandard', 'torch',"
            " 'squeeze_text.block_coder', 'squeeze_text.kernels',"
            " 'squeeze_binary.exe_block_coder',"
            " 'squeeze_image.model', 'squeeze_weights.kernels', 'frappe_cli.coding.cm.engine')"
            " if m in sys.modules]\nprint('HEAVY', heavy, file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, env=ENV, timeout=60)
    assert "HEAVY []" in p.stderr.decode(), p.stderr.decode()
    assert b"Usage: squeeze" in p.stdout


def test_version():
    rc, out, _ = sq("-V")
    assert rc == 0 and out.decode().startswith("squeeze, version ")
