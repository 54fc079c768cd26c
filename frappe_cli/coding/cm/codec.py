"""The codec shell of a CM configuration (pure Python: cheap to import).

A block payload is one method byte and its body (text SPEC.md section 'Block
payload', executable SPEC.md section 4):

* ``METHOD_CM`` (0): the configuration's CM body (``compress_cm``);
* ``METHOD_RAW`` (1): the block itself, when the CM body is not smaller (and for
  an empty block).

``CMCodec`` implements that, the level lookups and the ``-M`` estimate once; a
subclass names its levels table and implements ``compress_cm``/``decompress_cm``
(importing its block coder - the module that runs its kernel on a block through
``runtime`` - lazily, so that the codec module stays cheap).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from frappe_cli.codec import Codec
from frappe_cli.errors import CorruptError, OptionError

METHOD_CM = 0
METHOD_RAW = 1
MIB = 1 << 20


class CMCodec(Codec):
    process_memory = 100 << 20  # numba and the kernels (see Codec)
    lossless = True
    fallback = "zstd"
    options: dict[str, type] = {}
    #: block-sized arrays the block coder allocates besides the model (``config.memory_usage``)
    buffers = 2

    # -- what a configuration provides -------------------------------------------------
    @abstractmethod
    def levels(self) -> dict[int, dict]:
        """The codec's level table (``config.level`` dicts; import it lazily)."""

    @abstractmethod
    def compress_cm(self, data: bytes, lv: dict) -> bytes | None:
        """The CM body of a non-empty block, or None when it does not fit (store raw)."""

    @abstractmethod
    def decompress_cm(self, body, size: int, lv: dict):
        """The ``size`` (> 0) bytes of a CM body (bytes-like); ``CorruptError`` on junk."""

    # -- shared ------------------------------------------------------------------------
    def level_spec(self) -> dict:
        """This codec's level (``config.level`` dict)."""
        return self.levels()[self.level]

    def block_size(self) -> int:
        return self.level_spec()["block_mib"] * MIB

    def memory_usage(self) -> int:
        from frappe_cli.coding.cm import config

        return config.memory_usage(self.level_spec(), self.buffers)

    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        if not data:
            return bytes([METHOD_RAW])
        out = self.compress_cm(data, self.level_spec())
        if out is None or len(out) >= len(data):
            return bytes([METHOD_RAW]) + bytes(data)
        return bytes([METHOD_CM]) + out

    def decode_block(self, payload: bytes, size: int):
        name = self.codec_id
        if not payload:
            raise CorruptError(f"Compressed data is corrupt (empty {name} block)")
        method = payload[0]
        if method == METHOD_RAW:
            if len(payload) - 1 != size:
                raise CorruptError(f"Compressed data is corrupt (raw {name} block size mismatch)")
            return bytes(payload[1:])
        if method != METHOD_CM:
            raise CorruptError(
                f"Compressed data is corrupt (unknown {name} block method {method})")
        if size <= 0:
            raise CorruptError(f"Compressed data is corrupt (empty {name} block)")
        return self.decompress_cm(memoryview(payload)[1:], size, self.level_spec())

    @classmethod
    def from_config(cls, cfg: dict) -> "CMCodec":
        cfg = dict(cfg)
        cfg.pop("id", None)
        level = cfg.pop("level", 6)
        if cfg:
            raise OptionError(
                f"unknown {cls.codec_id} codec parameters: {', '.join(sorted(cfg))}")
        return cls(level=level)
