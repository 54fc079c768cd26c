"""What the two context-mixing codecs (``text``, ``exe``) must both do: the codec
contract, edge inputs and clean failure on corrupt streams, once for both
(``CODECS``: each codec's module, inputs and corruption sample).  Each codec's own
checks are in test_text_codec.py / test_binary_exe.py."""

import numpy as np
import pytest
from exe_util import synthetic_elf

from frappe_cli import container, registry
from frappe_cli.errors import SqueezeError
from frappe_cli.testing import check_cheap_import, check_config_roundtrip, check_roundtrip
from frappe_cli.testing import corpus_file

CODECS = {
    "text": {
        "module": ("squeeze_text.codec", "TextCodec"),
        "edge": {
            "one byte": lambda: b"x",
            "all byte values": lambda: bytes(range(256)),
            "long run": lambda: b"\x00" * 100000,
            "two runs": lambda: b"a" * 5000 + b"b" * 5000,
            "random": lambda: np.random.default_rng(5).integers(0, 256, 50000,
                                                                dtype=np.uint8).tobytes(),
            "repeated text": lambda: b"the quick brown fox jumps over the lazy dog. " * 2000,
        },
        "corrupt": lambda: corpus_file("canterbury/fields.c").read_bytes(),
    },
    "exe": {
        "module": ("squeeze_binary.codec", "ExeCodec"),
        "edge": {
            "one byte": lambda: b"\xe8",
            "all byte values": lambda: bytes(range(256)),
            "zeros": lambda: bytes(70000),
            "random": lambda: np.random.default_rng(5).integers(0, 256, 40000,
                                                                dtype=np.uint8).tobytes(),
            "elf header only": lambda: synthetic_elf()[:64],
            "e8 storm": lambda: b"\xe8\x00\x00\x00\x00" * 3000,
        },
        "corrupt": lambda: synthetic_elf(4000, 5),
    },
}


@pytest.mark.parametrize("cid", CODECS)
def test_registered_and_config_roundtrip(cid):
    codec = registry.make(cid, 6)
    assert codec.codec_id == cid and codec.lossless and codec.level == 6
    for level in range(10):
        check_config_roundtrip(registry.make(cid, level))
    with pytest.raises(SqueezeError):
        registry.from_config({"id": cid, "level": 6, "bogus": 1})


@pytest.mark.parametrize("cid", CODECS)
def test_import_is_cheap(cid):
    check_cheap_import(*CODECS[cid]["module"])


@pytest.mark.parametrize("cid, name", [(cid, name) for cid, c in CODECS.items()
                                       for name in sorted(c["edge"])])
def test_edge_inputs(cid, name):
    check_roundtrip(registry.make(cid, 6), CODECS[cid]["edge"][name]())


@pytest.mark.parametrize("cid", CODECS)
def test_empty_input(cid):
    blob = container.compress(b"", cid)
    assert container.decompress(blob) == b""


@pytest.mark.parametrize("cid", CODECS)
def test_corrupted_stream_fails_cleanly(cid):
    blob = container.compress(CODECS[cid]["corrupt"](), cid)
    rng = np.random.default_rng(11)
    for _ in range(12):
        bad = bytearray(blob)
        i = int(rng.integers(0, len(bad)))
        bad[i] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(SqueezeError):
            container.decompress(bytes(bad))
    for cut in (10, len(blob) // 2, len(blob) - 1):
        with pytest.raises(SqueezeError):
            container.decompress(blob[:cut])
