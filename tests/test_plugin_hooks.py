"""A third-party codec uses every hook the built-in ones use (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import io
from typing import Any

import click
import pytest

from frappe_cli import cli, container, detect, registry
from frappe_cli.codec import Codec
from frappe_cli.errors import CorruptError

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


@pytest.fixture
def plugin():
    registry.register(RevCodec)
    try:
        yield RevCodec
    finally:
        registry.unregister(RevCodec.codec_id)


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
    registry.register(OptCodec)
    try:
        specs = cli.codec_option_specs()
        assert specs["flip"]["flag"] == "--flip"
        assert specs["bpp"]["flag"] == "--bpp"  # the built-in image codec's, by the hook
        opts = cli._opts_from("compress", _click_kw("--flip", "3", "--codec", "opt-test"))
        assert opts.params == {"flip": 3} and opts.codec == "opt-test"
    finally:
        registry.unregister(OptCodec.codec_id)


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
    run = cli.Run(opts)
    with pytest.raises(Exception, match="--bpp is an option of the frappe codec: add --codec "
                                        "frappe"):
        cli.compress_one(run, str(src))
