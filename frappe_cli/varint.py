"""Unsigned LEB128 varints (7 bits per byte, low groups first, high bit = more follows).

The one implementation that the container's index and the codecs' payload
headers share.  Pure Python, no imports beyond the error type: cheap to load.
"""

from __future__ import annotations

from frappe_cli.errors import CorruptError


def encode(n: int) -> bytes:
    """The varint of ``n`` (>= 0)."""
    if n < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode(buf, pos: int, limit: int = (1 << 64) - 1, what: str = "header") -> tuple[int, int]:
    """(value, position after it) of the varint at ``buf[pos]``.

    Raises CorruptError ("... ({what} ...)") when the buffer ends inside it, when
    it is longer than the 10 bytes a 64-bit value needs, or when the value is
    above ``limit``: a size read from hostile input never reaches an allocation.
    """
    v = 0
    for k in range(10):
        if pos >= len(buf):
            raise CorruptError(f"Compressed data is corrupt ({what} ends early)")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << (7 * k)
        if not b & 0x80:
            if v > limit:
                raise CorruptError(f"Compressed data is corrupt ({what}: value out of range)")
            return v, pos
    raise CorruptError(f"Compressed data is corrupt ({what}: overlong varint)")
