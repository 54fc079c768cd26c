"""Codec registry: built-ins load lazily; third-party codecs come in through entry points."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from frappe_cli import container, registry
from frappe_cli.errors import OptionError, UnsupportedError

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = textwrap.dedent('''
    """A third-party codec for the tests: zlib over a byte-wise XOR."""
    import zlib
    from frappe_cli.codec import Codec
    from frappe_cli.errors import CorruptError

    class XorZlib(Codec):
        codec_id = "test-xorzlib"
        bitstream_version = 1
        description = "test plugin: zlib of XOR-ed bytes"
        options = {"key": int}

        def encode_block(self, data, hint=None):
            k = self.params.get("key", 90)
            return zlib.compress(bytes(b ^ k for b in data), 9)

        def decode_block(self, payload, size):
            k = self.params.get("key", 90)
            try:
                raw = zlib.decompress(payload)
            except zlib.error as e:
                raise CorruptError(f"Compressed data is corrupt ({e})")
            return bytes(b ^ k for b in raw)
''')


@pytest.fixture
def plugin_dir(tmp_path):
    (tmp_path / "squeeze_test_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "squeeze_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: squeeze-test-plugin\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[squeeze.codecs]\ntest-xorzlib = squeeze_test_plugin:XorZlib\n"
        "zstd = squeeze_test_plugin:XorZlib\n")  # a plugin may not take a built-in id
    return tmp_path


def test_builtins_are_lazy_and_listed():
    assert "zstd" in registry.available_ids() and "store" in registry.available_ids()
    assert registry.get_class("zstd").codec_id == "zstd"


def test_unknown_id():
    with pytest.raises(UnsupportedError, match="unknown codec"):
        registry.get_class("definitely-not-a-codec")


def test_bad_options_rejected():
    with pytest.raises(OptionError):
        registry.make("zstd", 6, bogus=1)
    with pytest.raises(OptionError):
        registry.make("zstd", 12)


def test_plugin_via_entry_points_in_process(plugin_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setattr(registry, "_plugins", None)
    try:
        assert "test-xorzlib" in registry.available_ids()
        assert registry.get_class("zstd").__module__ == "frappe_cli.zstd_store"
        codec = registry.make("test-xorzlib", 5, key=7)
        data = b"plugin data " * 500
        blob = container.compress(data, codec)
        assert container.decompress(blob) == data
    finally:
        registry._cache.pop("test-xorzlib", None)
        registry._plugins = None


def test_plugin_via_cli(plugin_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin_dir), str(ROOT),
                                                        str(ROOT / "codecs")]))
    run = lambda *a, **k: subprocess.run([sys.executable, "-m", "frappe_cli", *a],  # noqa: E731
                                         capture_output=True, env=env, timeout=60, **k)
    p = run("codecs")
    assert any(line.startswith("test-xorzlib") for line in p.stdout.decode().splitlines())
    data = b"hello plugin\n" * 1000
    p = run("--codec", "test-xorzlib", "-O", "key=3", "-c", input=data)
    assert p.returncode == 0, p.stderr
    q = run("-dc", input=p.stdout)
    assert q.returncode == 0 and q.stdout == data
    # without the plugin installed the stream is "unsupported", with a clear message
    env2 = dict(env, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
    r = subprocess.run([sys.executable, "-m", "frappe_cli", "-dc"], input=p.stdout,
                       capture_output=True, env=env2, timeout=60)
    assert r.returncode == 1
    assert r.stderr.decode() == ("squeeze: (stdin): Unsupported options: unknown codec "
                                 "'test-xorzlib'\n")
