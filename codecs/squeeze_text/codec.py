"""The squeeze text codec: bitwise context mixing with an online-trained two-layer
gated network, on the shared CM engine (``frappe_cli.coding.cm``).

SPEC.md beside this file specifies the bitstream.  This module is cheap to
import: numpy/numba and the kernels load on first use.
"""

from __future__ import annotations

from frappe_cli.coding.cm.codec import METHOD_CM, METHOD_RAW, CMCodec

__all__ = ["METHOD_CM", "METHOD_RAW", "TextCodec"]


class TextCodec(CMCodec):
    codec_id = "text"
    bitstream_version = 1
    description = ("context mixing for text: orders 1-24, word, sparse, column and markup "
                   "contexts, match model, online-trained 2-layer gated mixer network, SSE")
    buffers = 2  # a writable copy of the block, the coder's output

    @classmethod
    def sniff(cls, head: bytes) -> tuple[int, str, str] | None:
        """--codec auto: text, and binary data nothing more specific claims."""
        from frappe_cli.detect import text_fraction

        if text_fraction(head) > 0.95:
            return 10, "text", "text" if head else "empty input"
        return 5, "binary", "binary data"

    def levels(self) -> dict[int, dict]:
        from squeeze_text.levels import LEVELS

        return LEVELS

    def compress_cm(self, data: bytes, lv: dict) -> bytes | None:
        from squeeze_text import block_coder

        return block_coder.compress(data, lv)

    def decompress_cm(self, body, size: int, lv: dict):
        from squeeze_text import block_coder

        return block_coder.decompress(body, size, lv)
