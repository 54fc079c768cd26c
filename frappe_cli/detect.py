"""Content sniffing for ``--codec auto``.

Looks at the first bytes of the input (never the file name) and names a
codec with a short reason.  It never picks a lossy codec: images go to the
lossless fallback unless the user asks for ``--codec frappe``.
A codec that is not installed falls back to ``zstd``.
"""

from __future__ import annotations

import math
import struct
from collections import Counter

SNIFF_BYTES = 1 << 16
#: inputs shorter than this (the whole input fits the sniffed head) go to zstd
SMALL_INPUT = 2048

# already-compressed or media containers: context modelling cannot gain much
_COMPRESSED_MAGIC = [
    (b"\x89SQZ\r\n\x1a\n", "squeeze stream"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"\x04\x22\x4d\x18", "lz4 data"),
    (b"PK\x03\x04", "zip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!\x1a\x07", "rar archive"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM media"),
    (b"%PDF", None),  # PDFs mix text and deflate streams: leave to the text model
]

_MACHO = {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"}


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= (100 << 20) and head[8:9] == b"{"


def _is_pe(head: bytes) -> bool:
    if head[:2] != b"MZ" or len(head) < 0x40:
        return False
    (off,) = struct.unpack_from("<I", head, 0x3C)
    return off + 4 <= len(head) and head[off:off + 4] == b"PE\x00\x00"


def order0_entropy(data: bytes) -> float:
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def _text_fraction(data: bytes) -> float:
    if not data:
        return 1.0
    printable = sum(1 for b in data if 32 <= b < 127 or b in (9, 10, 13) or b >= 0x80)
    return printable / len(data)


def sniff(head: bytes) -> tuple[str, str]:
    """Return ``(kind, reason)``; kind is one of text, exe, weights, compressed, binary."""
    if head[:6] == b"\x93NUMPY":
        return "weights", "NumPy array"
    if _is_safetensors(head):
        return "weights", "safetensors model weights"
    if head[:4] == b"\x7fELF":
        return "exe", "ELF executable"
    if _is_pe(head):
        return "exe", "PE executable"
    if head[:4] in _MACHO or (head[:4] == b"\xca\xfe\xba\xbe" and len(head) > 8
                              and head[7] < 20):  # fat Mach-O, not a Java class file
        return "exe", "Mach-O executable"
    for magic, what in _COMPRESSED_MAGIC:
        if head.startswith(magic):
            if what is None:
                break
            return "compressed", what
    if not head:
        return "text", "empty input"
    if order0_entropy(head) > 7.5 and len(head) >= 4096:
        return "compressed", "high-entropy data"
    if _text_fraction(head) > 0.95:
        return "text", "text"
    return "binary", "binary data"


#: kind -> preferred codec ids, best first; the first installed one is used
PREFERENCE = {
    "text": ["text", "zstd"],
    "binary": ["text", "zstd"],
    "exe": ["exe", "text", "zstd"],
    "weights": ["dfloat11", "zstd"],
    "compressed": ["zstd"],
}


def choose_codec(head: bytes) -> tuple[str, str]:
    """Pick an installed lossless codec for data starting with ``head``."""
    from frappe_cli import registry
    from frappe_cli.errors import UnsupportedError

    kind, reason = sniff(head)
    if len(head) < SMALL_INPUT and kind in ("text", "binary"):
        # the whole input is this small: loading the context-mixing kernels would cost
        # more time than it saves bytes (~0.8 s of CPU for a 6-byte file)
        return "zstd", f"small input ({len(head)} bytes)"
    for cid in PREFERENCE[kind]:
        try:
            cls = registry.get_class(cid)
        except UnsupportedError:
            continue
        if cls.lossless:
            return cid, reason
    return "zstd", reason
