"""The general-purpose codecs: ``zstd`` (the fallback every block is measured
against) and ``store``.

These are also the per-block fallbacks of the container: a block that another
codec would make larger than zstd does is stored as zstd (or raw), so squeeze is
never worse than zstd at the same level on any block.
"""

from __future__ import annotations

from typing import Any

from frappe_cli.codec import Codec
from frappe_cli.errors import CorruptError

# squeeze level -> (zstd level, block size, window log or 0, long-distance matching)
ZSTD_LEVELS = {
    0: (1, 4 << 20, 0, False),
    1: (2, 4 << 20, 0, False),
    2: (3, 8 << 20, 0, False),
    3: (5, 8 << 20, 0, False),
    4: (7, 16 << 20, 0, False),
    5: (9, 16 << 20, 0, False),
    6: (12, 32 << 20, 25, False),
    7: (15, 32 << 20, 25, True),
    8: (17, 64 << 20, 26, True),
    9: (19, 64 << 20, 26, True),
}


#: the largest zstd window a block may use (docs/FORMAT.md §3)
MAX_WINDOW = 1 << 27


def zstd_level(level: int) -> int:
    return ZSTD_LEVELS[level][0]


def zstd_compress(data: bytes, level: int) -> bytes:
    """Compress one block with zstd at squeeze ``level`` (0..9), single-threaded."""
    import zstandard

    zlevel, _, wlog, ldm = ZSTD_LEVELS[level]
    kwargs: dict[str, Any] = {"write_checksum": 0, "write_content_size": 1}
    if wlog:
        # never larger than the data needs: keeps decoder memory small
        wlog = max(10, min(wlog, max(len(data) - 1, 1).bit_length()))
        kwargs["window_log"] = wlog
        kwargs["enable_ldm"] = int(ldm)
    params = zstandard.ZstdCompressionParameters.from_level(zlevel, source_size=len(data),
                                                             **kwargs)
    return zstandard.ZstdCompressor(compression_params=params).compress(data)


def zstd_decompress(payload: bytes, size: int) -> bytes:
    """Decompress a block made by ``zstd_compress``; exactly ``size`` bytes or CorruptError."""
    import zstandard

    try:
        params = zstandard.get_frame_parameters(payload)
        if params.content_size != size:
            raise CorruptError("Compressed data is corrupt (zstd frame size mismatch)")
        if params.window_size > MAX_WINDOW:
            raise CorruptError("Compressed data is corrupt (zstd window above 2^27 bytes)")
        out = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).decompress(
            payload, max_output_size=max(size, 1)
        )
    except zstandard.ZstdError as exc:
        raise CorruptError(f"Compressed data is corrupt (zstd: {exc})") from exc
    if len(out) != size:
        raise CorruptError("Compressed data is corrupt (zstd block size mismatch)")
    return out


class ZstdCodec(Codec):
    codec_id = "zstd"
    bitstream_version = 1
    description = "Zstandard per block (levels -0..-9 -> zstd 1..19, long matching at -7..-9)"

    def block_size(self) -> int:
        return ZSTD_LEVELS[self.level][1]

    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        return zstd_compress(data, self.level)

    def decode_block(self, payload: bytes, size: int) -> bytes:
        return zstd_decompress(payload, size)

    def memory_usage(self) -> int:
        return 1 << ZSTD_LEVELS[self.level][2] if ZSTD_LEVELS[self.level][2] else 8 << 20


class StoreCodec(Codec):
    codec_id = "store"
    bitstream_version = 1
    description = "no compression (framing and checks only)"
    fallback = "none"

    def block_size(self) -> int:
        return 8 << 20

    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        return bytes(data)

    def decode_block(self, payload: bytes, size: int) -> bytes:
        if len(payload) != size:
            raise CorruptError("Compressed data is corrupt (stored block size mismatch)")
        return payload
