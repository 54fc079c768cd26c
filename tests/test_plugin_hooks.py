"""A third-party codec uses every hook the built-in ones use (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import click
import pytest

from frappe_cli import cli, cli_files, cli_options, cli_reports, container, detect, registry
from frappe_cli.codec import Codec, layout_ranges, read_exact
from frappe_cli.errors import CorruptError, OptionError

MAGIC = b"REV!"


@click.command("revtool")
@click.argument("word")
def revtool(word):
    """Print WORD reversed (a codec package's own subcommand)."""
    click.echo(word[::-1])


class RevCodec(Codec):
    codec_id = "rev-test"
    description = "reverses each block (a test plugin)"
    subcommands = {"revtool": (f"{__name__}:revtool", "reverse a word")}

    @classmethod
    def sniff(cls, head: bytes):
        if head.startswith(MAGIC):
            return detect.FORMAT + 5, "rev", "REV! file"
        return None

    @classmethod
    def describe(cls, path):
        return [{"magic": MAGIC.decode(), "file": str(path).rsplit("/", 1)[-1]}]

    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        return b"R" + bytes(data)[::-1]

    def decode_block(self, payload: bytes, size: int) -> bytes:
        if payload[:1] != b"R":
            raise CorruptError("bad rev payload")
        return bytes(payload[1:])[::-1]


@contextlib.contextmanager
def registered(cls):
    """``cls`` registered for the duration of the block (as an entry point would)."""
    registry.register(cls)
    try:
        yield cls
    finally:
        registry.unregister(cls.codec_id)


@pytest.fixture
def plugin():
    with registered(RevCodec) as cls:
        yield cls


def test_sniff_hook_wins_auto(plugin):
    data = MAGIC + bytes(range(256)) * 20
    assert detect.choose_codec(data) == ("rev-test", "REV! file")
    assert detect.sniff(data)[0] == "rev"
    assert detect.choose_codec(b"plain text " * 500)[0] == "text"  # others unaffected


def test_container_roundtrip_and_describe_hook(plugin, tmp_path, capsys):
    data = MAGIC + b"0123456789" * 1000
    src = tmp_path / "x.rev"
    src.write_bytes(data)
    assert cli.run_files(cli.Opts(codec="auto", progress=False), (str(src),)) == 0
    blob = (tmp_path / "x.rev.sqz").read_bytes()
    assert container.scan_streams(io.BytesIO(blob))[0].header.codec_id == "rev-test"
    assert container.decompress(blob) == data
    assert cli.run_files(cli.Opts(mode="list", verbose=1), (str(src) + ".sqz",)) == 0
    assert "magic=REV!  file=x.rev.sqz" in capsys.readouterr().out


def test_subcommand_hook(plugin, capsys):
    assert "revtool" in cli.codec_subcommands()
    with pytest.raises(SystemExit) as e:
        cli.main(["revtool", "squeeze"])
    assert e.value.code == 0 and capsys.readouterr().out == "ezeeuqs\n"
    assert "revtool      reverse a word" in cli._commands_help()


def test_codecs_command_lists_the_plugin(plugin, capsys):
    assert "rev-test" in registry.available_ids()
    with pytest.raises(SystemExit):
        cli.main(["codecs"])
    assert "rev-test" in capsys.readouterr().out


class OptCodec(RevCodec):
    codec_id = "opt-test"
    options = {"flip": int}
    cli_options = ({"flag": "--flip", "param": "flip", "type": int,
                    "help": "Test plugin: an option of its own."},)
    subcommands = {}


def test_cli_options_hook():
    with registered(OptCodec):
        specs = cli.codec_option_specs()
        assert specs["flip"]["flag"] == "--flip"
        assert specs["bpp"]["flag"] == "--bpp"  # the built-in image codec's, by the hook
        opts = cli_options.opts_from("compress", _click_kw("--flip", "3", "--codec", "opt-test"))
        assert opts.params == {"flip": 3} and opts.codec == "opt-test"


def _click_kw(*args):
    """Parse ARGS with a fresh `compress` command; return its keyword arguments."""
    got = {}

    @click.command()
    @cli.file_options
    def cmd(files, **kw):
        got.update(kw)

    cmd.main(list(args), standalone_mode=False)
    return got


def test_codec_option_without_its_codec_is_explained(tmp_path):
    src = tmp_path / "t.txt"
    src.write_bytes(b"some text " * 500)
    opts = cli.Opts(codec="auto", params={"bpp": 0.1}, progress=False)
    run = cli_reports.Run(opts)
    with pytest.raises(Exception, match="--bpp is an option of codec frappe; add --codec "
                                        "frappe"):
        cli_files.compress_one(run, str(src))


# -- the hooks of issue 14's last core exceptions: array claims and split ranges ------

SEG = b"SEG!"


class SegCodec(Codec):
    """A format-aware third-party codec: its input names a record size in an 8-byte
    header and blocks hold whole records (so a cluster can cut them from the header
    alone); it claims little-endian int16 arrays for the numcodecs codec."""

    codec_id = "seg-test"
    description = "whole records of the size the header names (a test plugin)"
    options = {"width": int}
    ranged = 0  # split_ranges calls

    def split(self, reader, block_size):
        head = read_exact(reader, 8)
        if head[:4] != SEG or len(head) < 8 or block_size < 8:
            yield from super().split(io.BytesIO(head + reader.read()), block_size)
            return
        rec = max(1, int.from_bytes(head[4:8], "little"))
        yield head, "h"
        step = max(rec, block_size - block_size % rec) if rec <= block_size else block_size
        while True:
            data = read_exact(reader, step)
            if not data:
                return
            yield data, "r"

    def split_ranges(self, read, size, block_size):
        type(self).ranged += 1
        return layout_ranges(self, read(0, min(size, 8)), size, block_size)

    @classmethod
    def array_params(cls, dtype):
        return (60, {"width": 2}) if dtype.str == "<i2" else None

    @classmethod
    def array_dtype(cls, params):
        return "<i2" if params.get("width") == 2 else None

    @classmethod
    def canonical_params(cls, params):
        if "width" not in params:
            return params
        try:
            return {**params, "width": int(params["width"])}
        except (TypeError, ValueError):
            raise OptionError(f"width must be a whole number, not {params['width']!r}") from None

    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        return (hint or "-").encode() + bytes(data)

    def decode_block(self, payload: bytes, size: int) -> bytes:
        if payload[:1] not in (b"h", b"r", b"-") or len(payload) != size + 1:
            raise CorruptError("bad seg payload")
        return bytes(payload[1:])


@pytest.fixture
def seg():
    with registered(SegCodec) as cls:
        yield cls


def test_array_hooks_in_the_numcodecs_codec(seg):
    np = pytest.importorskip("numpy")
    pytest.importorskip("numcodecs")
    from frappe_cli.numcodecs_codec import Squeeze, array_claim, stream_params

    x = np.arange(-3000, 3000, 3, dtype="<i2")
    assert array_claim(x.dtype) == ("seg-test", {"width": 2})
    blob = Squeeze().encode(x)  # codec="auto": the claim of highest priority
    assert stream_params(blob) == {"id": "seg-test", "level": 6, "width": 2}
    back = Squeeze().decode(blob)  # typed by array_dtype
    assert back.dtype == np.dtype("<i2") and np.array_equal(back, x)
    # a named codec gets the claimed parameters it was not given
    assert stream_params(Squeeze(codec="seg-test").encode(x))["width"] == 2
    # canonical_params: the configuration is stored in its canonical spelling
    assert Squeeze(codec="seg-test", width="2").get_config()["width"] == 2
    with pytest.raises(OptionError, match="width must be a whole number"):
        Squeeze(codec="seg-test", width="two")
    # others are unaffected
    assert array_claim(np.dtype("<i4")) is None
    assert array_claim(np.dtype("<f4"))[0] == "dfloat11"
    assert Squeeze().decode(Squeeze(codec="zstd").encode(x)).dtype == np.uint8


def test_split_ranges_hook_on_a_cluster(seg, tmp_path):
    pytest.importorskip("distributed")
    fsspec = pytest.importorskip("fsspec")
    from distributed import Client, LocalCluster

    from frappe_cli import distributed as D

    data = SEG + (24).to_bytes(4, "little") + bytes(range(256)) * 300
    url = "memory://seg-test/x.seg"
    with fsspec.open(url, "wb") as f:
        f.write(data)
    codec = SegCodec()
    want, off = [], 0
    for block, hint in codec.split(io.BytesIO(data), 1000):
        want.append((off, len(block), hint))
        off += len(block)
    assert list(D._range_blocks(codec, url, len(data), 1000, {})) == want
    assert [n for _, n, _ in want[1:3]] == [984, 984]  # whole records
    SegCodec.ranged = 0
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cl, Client(cl) as client:
        rec, = D.compress_files([url], client, "seg-test", block_size=1000, output_dir=tmp_path)
    assert SegCodec.ranged == 1  # the workers read their own ranges
    out = Path(rec["output"]).read_bytes()
    assert out == container.compress(data, SegCodec(), block_size=1000)  # same bytes as -T1
    assert container.decompress(out) == data


def test_split_ranges_that_do_not_tile_the_input_are_refused(seg):
    pytest.importorskip("fsspec")
    from frappe_cli import distributed as D

    class Gap(SegCodec):
        def split_ranges(self, read, size, block_size):
            return iter([(0, 5, None)])

    with pytest.raises(OptionError, match="ranges end at byte 5 of 100"):
        list(D._range_blocks(Gap(), "memory://seg-test/unused", 100, 1000, {}))
