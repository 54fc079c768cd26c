"""Content sniffing for ``--codec auto``.

Looks at the first bytes of the input (never the file name) and names a
codec with a short reason.  It never picks a lossy codec: images go to the
lossless fallback unless the user asks for ``--codec frappe``.
A codec that is not installed falls back to ``zstd``.
"""

from __future__ import annotations

import math
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


def order0_entropy(data: bytes) -> float:
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def text_fraction(data: bytes) -> float:
    if not data:
        return 1.0
    printable = sum(1 for b in data if 32 <= b < 127 or b in (9, 10, 13) or b >= 0x80)
    return printable / len(data)


#: claims at or above this priority name a file format (see Codec.sniff)
FORMAT = 50


def content_kind(head: bytes) -> tuple[str, str]:
    """The core's own look at the data: ``compressed`` (another compressor's or a
    media format's magic, or high entropy), ``text`` or ``binary``."""
    for magic, what in _COMPRESSED_MAGIC:
        if head.startswith(magic):
            if what is None:
                break
            return "compressed", what
    if not head:
        return "text", "empty input"
    if order0_entropy(head) > 7.5 and len(head) >= 4096:
        return "compressed", "high-entropy data"
    if text_fraction(head) > 0.95:
        return "text", "text"
    return "binary", "binary data"


def _claims(head: bytes) -> list[tuple[int, int, str, str, str]]:
    """Every installed lossless codec's claim: (priority, -order, kind, reason, id)."""
    from frappe_cli import registry

    out = []
    for order, cid in enumerate(registry.available_ids()):
        cls = registry.get_class(cid)
        if not cls.lossless:
            continue
        try:
            claim = cls.sniff(head)
        except Exception:  # noqa: BLE001 - a sniffer must not stop compression
            claim = None
        if claim:
            prio, kind, reason = claim
            out.append((int(prio), -order, kind, reason, cid))
    out.sort(reverse=True)
    return out


def sniff(head: bytes) -> tuple[str, str]:
    """Return ``(kind, reason)``: the best codec claim's kind (``text``, ``exe``,
    ``weights``, ...), or ``compressed``."""
    return _choose(head)[1:]


def choose_codec(head: bytes) -> tuple[str, str]:
    """Pick an installed lossless codec for data starting with ``head``."""
    cid, _kind, reason = _choose(head)
    return cid, reason


def _choose(head: bytes) -> tuple[str, str, str]:
    claims = _claims(head)
    if claims and claims[0][0] >= FORMAT:
        _, _, kind, reason, cid = claims[0]
        return cid, kind, reason
    kind, reason = content_kind(head)
    if kind == "compressed":
        return "zstd", kind, reason
    if len(head) < SMALL_INPUT:
        # the whole input is this small: loading the context-mixing kernels would cost
        # more time than it saves bytes (~0.8 s of CPU for a 6-byte file)
        return "zstd", kind, f"small input ({len(head)} bytes)"
    if claims:
        _, _, ckind, creason, cid = claims[0]
        return cid, ckind, creason
    return "zstd", kind, reason
