"""Golden files of the text codec: old bitstreams must keep decoding.

The inputs are generated here (no corpus files in the repository); the .sqz
files were written once with ``SQUEEZE_WRITE_GOLDEN=1 pytest tests/test_text_golden.py``
and must never be rewritten for an existing bitstream version.
"""

import os

import pytest

from frappe_cli import container
from frappe_cli.testing import GOLDEN, check_golden_encodes, write_golden_of

WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if "
    "so no will more what up out can said about other into than its time only could new them "
    "man some these then two first may any like now my such make over our even most me state "
    "after also made many did must before back see through way where get much go well your "
    "know should down work year because come people just say each those take day good how "
    "long little own life great think world use last give part place right never under "
    "compression context mixing arithmetic coder probability model entropy squeeze block"
).split()


def synthetic_text(n: int, seed: int) -> bytes:
    """Deterministic pseudo-English with markup, numbers, capitals and line structure."""
    x = seed
    out = []
    size = 0
    sentence_start = True
    while size < n:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        r = x >> 33
        w = WORDS[r % len(WORDS)]
        if sentence_start:
            w = w.capitalize()
            sentence_start = False
        k = (r >> 12) % 40
        if k == 0:
            w = f"[[{w}]]"
        elif k == 1:
            w = f"{{{{{w}|{(r >> 20) % 1000}}}}}"
        elif k == 2:
            w = str((r >> 8) % 100000)
        out.append(w)
        k = (r >> 18) % 16
        if k < 2:
            out.append(". " if k else ".\n")
            sentence_start = True
        elif k == 2:
            out.append(", ")
        else:
            out.append(" ")
        size += len(w) + 1
    return "".join(out).encode("ascii")[:n]


CASES = {
    "text-v1-l0-synth": (0, synthetic_text(6000, 1)),
    "text-v1-l6-synth": (6, synthetic_text(20000, 2)),
    "text-v1-l9-synth": (9, synthetic_text(12000, 3)),
    "text-v1-l6-twoblocks": (6, synthetic_text(3000, 4) + bytes(range(256)) * 4),
}


@pytest.mark.skipif(not os.environ.get("SQUEEZE_WRITE_GOLDEN"), reason="writer only")
def test_write_golden():  # pragma: no cover - used once per bitstream version
    for name, (level, data) in CASES.items():
        write_golden_of(name, data, "text", level, f"text codec level {level}, synthetic input "
                        f"({len(data)} bytes) from tests/test_text_golden.py",
                        block_size=2048 if "twoblocks" in name else None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_decodes(name):
    # it decodes, and today's encoder still produces exactly the same stream
    level, data = CASES[name]
    check_golden_encodes(name, data, "text", level,
                         block_size=2048 if "twoblocks" in name else None)


def test_golden_uses_the_cm_path():
    # the golden streams exercise the codec itself, not the zstd/stored fallback
    for name in CASES:
        info = container.scan_streams(open(GOLDEN / f"{name}.sqz", "rb"))[0]
        assert info.blocks[0].kind == container.KIND_CODEC
