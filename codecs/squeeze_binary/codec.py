"""The squeeze executable codec (``exe``): bitwise context mixing for ELF / PE / Mach-O
and raw machine code, on the shared CM engine (``frappe_cli.coding.cm``).

Per block: ELF/PE structure found once by the encoder and sent as a short region
table, the x86 branch-target transform on code regions, then a CM model with
x86 instruction-state, region, record, sparse and order-n contexts, a match
model, a two-layer gated mixer network and SSE (SPEC.md section 4-6).  Any byte
string is accepted: input that does not parse is coded as one region.

This module is cheap to import: numpy/numba and the kernels load on first use.
"""

from __future__ import annotations

from typing import Any

from frappe_cli.codec import Codec
from frappe_cli.errors import CorruptError, OptionError

METHOD_CM = 0
METHOD_RAW = 1
MIB = 1 << 20
_MACHO = {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"}


def level_spec(level: int) -> dict:
    """The model configuration of ``level`` (SPEC.md section 6)."""
    from squeeze_binary import exe_levels

    return exe_levels.LEVELS[level]


class ExeCodec(Codec):
    codec_id = "exe"
    process_memory = 100 << 20  # numba and the kernels (see Codec)
    bitstream_version = 1
    lossless = True
    description = ("context mixing for executables: x86 branch transform, ELF/PE regions, "
                   "x86 instruction-state, record, sparse and causal BPE-token contexts, "
                   "match model, 2-layer gated mixer network, SSE")
    fallback = "zstd"
    options: dict[str, type] = {}

    @classmethod
    def sniff(cls, head: bytes) -> tuple[int, str, str] | None:
        """--codec auto: ELF, PE and Mach-O executables."""
        import struct

        from frappe_cli.detect import FORMAT

        if head[:4] == b"\x7fELF":
            return FORMAT, "exe", "ELF executable"
        if head[:2] == b"MZ" and len(head) >= 0x40:
            (off,) = struct.unpack_from("<I", head, 0x3C)
            if off + 4 <= len(head) and head[off:off + 4] == b"PE\x00\x00":
                return FORMAT, "exe", "PE executable"
        if head[:4] in _MACHO or (head[:4] == b"\xca\xfe\xba\xbe" and len(head) > 8
                                  and head[7] < 20):  # fat Mach-O, not a Java class file
            return FORMAT, "exe", "Mach-O executable"
        return None

    def block_size(self) -> int:
        return level_spec(self.level)["block_mib"] * MIB

    def memory_usage(self) -> int:
        from squeeze_binary import exe_levels

        return exe_levels.memory_usage(self.level)

    # -- coding ----------------------------------------------------------------------
    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        if not data:
            return bytes([METHOD_RAW])
        from squeeze_binary import exe_runner

        out = exe_runner.compress(bytes(data), level_spec(self.level))
        if out is None or len(out) >= len(data):
            return bytes([METHOD_RAW]) + bytes(data)
        return bytes([METHOD_CM]) + out

    def decode_block(self, payload: bytes, size: int):
        if not payload:
            raise CorruptError("Compressed data is corrupt (empty exe block)")
        method = payload[0]
        if method == METHOD_RAW:
            if len(payload) - 1 != size:
                raise CorruptError("Compressed data is corrupt (raw exe block size mismatch)")
            return bytes(payload[1:])
        if method != METHOD_CM:
            raise CorruptError(f"Compressed data is corrupt (unknown exe block method {method})")
        if size <= 0:
            raise CorruptError("Compressed data is corrupt (empty exe block)")
        from squeeze_binary import exe_runner

        buf = exe_runner.decompress(memoryview(payload)[1:], size, level_spec(self.level))
        return memoryview(buf).toreadonly()

    @classmethod
    def from_config(cls, cfg: dict) -> "ExeCodec":
        cfg = dict(cfg)
        cfg.pop("id", None)
        level = cfg.pop("level", 6)
        if cfg:
            raise OptionError(f"unknown exe codec parameters: {', '.join(sorted(cfg))}")
        return cls(level=level)
