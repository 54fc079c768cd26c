"""Golden .sqz files of the weight packers: old bitstreams always decode."""

import pytest

from frappe_cli import container
from frappe_cli.testing import GOLDEN, check_golden

GOLDENS = ["dfloat11-v1-mixed", "dfloat11-v1-mixed-huffman", "enec-v1-mixed"]


@pytest.mark.parametrize("name", GOLDENS)
def test_golden_decodes(name):
    check_golden(name)


@pytest.mark.parametrize("name", GOLDENS)
def test_encoder_is_stable(name):
    """Re-encoding the decoded golden with its own parameters gives the same bytes."""
    from frappe_cli import registry

    blob = (GOLDEN / f"{name}.sqz").read_bytes()
    data = container.decompress(blob)
    info = container.scan_streams(__import__("io").BytesIO(blob))[0]
    codec = registry.from_config(info.header.params)
    again = container.compress(data, codec, block_size=info.header.max_block_size)
    assert again == blob


def _make_goldens():  # pragma: no cover - run once by hand: python tests/test_weights_golden.py
    import numpy as np
    from weights_util import mixed_safetensors

    from frappe_cli import registry
    from frappe_cli.testing import write_golden

    data = mixed_safetensors(np.random.default_rng(11), big=2000)
    for name, cid, level in [("dfloat11-v1-mixed", "dfloat11", 6),
                             ("dfloat11-v1-mixed-huffman", "dfloat11", 2),
                             ("enec-v1-mixed", "enec", 6)]:
        blob = container.compress(data, registry.make(cid, level), block_size=1 << 15)
        write_golden(name, blob, data, f"{cid} -{level}: generated safetensors with every float "
                     "dtype, specials, empty/scalar/odd tensors, ints, metadata (32 KiB blocks)")


if __name__ == "__main__":  # pragma: no cover
    import sys
    from pathlib import Path

    sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent / "codecs")]
    _make_goldens()
