"""The squeeze text codec: bitwise context mixing with an online-trained two-layer
gated network, on the shared CM engine (``frappe_cli.coding.cm``).

SPEC.md beside this file specifies the bitstream.  This module is cheap to
import: numpy/numba and the kernels load on first use.
"""

from __future__ import annotations

from typing import Any

from frappe_cli.codec import Codec
from frappe_cli.errors import CorruptError, OptionError

METHOD_CM = 0
METHOD_RAW = 1
MIB = 1 << 20


def level_spec(level: int) -> dict:
    """The model configuration of ``level`` (see SPEC.md, section 'Levels')."""
    from squeeze_text import levels

    return levels.LEVELS[level]


class TextCodec(Codec):
    codec_id = "text"
    process_memory = 100 << 20  # numba and the kernels (see Codec)
    bitstream_version = 1
    lossless = True
    description = ("context mixing for text: orders 1-24, word, sparse, column and markup "
                   "contexts, match model, online-trained 2-layer gated mixer network, SSE")
    fallback = "zstd"
    options: dict[str, type] = {}

    @classmethod
    def sniff(cls, head: bytes) -> tuple[int, str, str] | None:
        """--codec auto: text, and binary data nothing more specific claims."""
        from frappe_cli.detect import text_fraction

        if text_fraction(head) > 0.95:
            return 10, "text", "text" if head else "empty input"
        return 5, "binary", "binary data"

    def block_size(self) -> int:
        return level_spec(self.level)["block_mib"] * MIB

    def memory_usage(self) -> int:
        from squeeze_text import levels

        return levels.memory_usage(self.level)

    # -- coding ----------------------------------------------------------------------
    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        if not data:
            return bytes([METHOD_RAW])
        from squeeze_text import runner

        out = runner.compress(data, self.level)
        if out is None or len(out) >= len(data):
            return bytes([METHOD_RAW]) + bytes(data)
        return bytes([METHOD_CM]) + out

    def decode_block(self, payload: bytes, size: int) -> bytes:
        if not payload:
            raise CorruptError("Compressed data is corrupt (empty text block)")
        method = payload[0]
        if method == METHOD_RAW:
            if len(payload) - 1 != size:
                raise CorruptError("Compressed data is corrupt (raw text block size mismatch)")
            return bytes(payload[1:])
        if method != METHOD_CM:
            raise CorruptError(f"Compressed data is corrupt (unknown text block method {method})")
        if size <= 0:
            raise CorruptError("Compressed data is corrupt (empty text block)")
        from squeeze_text import runner

        return runner.decompress(memoryview(payload)[1:], size, self.level)

    @classmethod
    def from_config(cls, cfg: dict) -> "TextCodec":
        cfg = dict(cfg)
        cfg.pop("id", None)
        level = cfg.pop("level", 6)
        if cfg:
            raise OptionError(f"unknown text codec parameters: {', '.join(sorted(cfg))}")
        return cls(level=level)
