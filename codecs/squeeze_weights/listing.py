"""Per-tensor and per-dtype listing of a weights .sqz (``squeeze list -v``).

``describe_sqz(path)`` walks the stream(s) written by the ``dfloat11`` or
``enec`` codec, decodes the first blocks to recover the safetensors / .npy
header, and attributes every chunk's compressed bytes to the tensors its
elements belong to (chunks are cut at tensor boundaries; pooled small
tensors share their chunk's bytes by element count; block and chunk headers
are spread the same way).  With ``entropy=True`` (default) every float block
is decoded to compute each tensor's entropy bound: its top byte (the
exponent) at its empirical per-tensor entropy, the other bytes raw.
"""

from __future__ import annotations

import struct
from pathlib import Path

from frappe_cli.errors import CorruptError
from squeeze_weights import formats as F


def _float_block_layout(payload: bytes) -> tuple[int, int, list[int], list[int]]:
    """(kind, n, chunk element counts, chunk compressed sizes) of a float payload."""
    kind = payload[1]
    w = F.KIND_WIDTH[kind]
    (n,) = struct.unpack_from("<I", payload, 2)
    tail = payload[6]
    pos = 7 + tail
    (nch,) = struct.unpack_from("<I", payload, pos)
    pos += 4
    counts = list(struct.unpack_from(f"<{nch}I", payload, pos))
    pos += 4 * nch
    sizes = []
    for c in range(nch):
        s = 0
        for k in range(w):
            s += struct.unpack_from("<I", payload, pos + 5 * (c * w + k) + 1)[0]
        sizes.append(s)
    return kind, n, counts, sizes


def describe_sqz(path, entropy: bool = True) -> list[dict]:
    """Rows for ``squeeze list -v``: one per tensor, one per dtype, one total.

    Row keys: ``row`` ("tensor", "dtype", "other" or "total"), ``name``,
    ``dtype``, ``elements``, ``original`` (bytes), ``compressed`` (bytes),
    ``ratio`` (compressed / original, as the main ``squeeze -l`` table, rounded
    to 3 decimals; None for an empty row), ``bound`` (the same ratio at the
    entropy bound; None when not computed).
    """
    import numpy as np

    from frappe_cli import container, registry
    from frappe_cli.zstd_store import zstd_decompress

    path = Path(path)
    with open(path, "rb") as f:
        streams = container.scan_streams(f)
        if len(streams) != 1:
            raise CorruptError("weights listing needs a single .sqz stream")
        st = streams[0]
        codec = registry.from_config(st.header.params)
        if codec.codec_id not in ("dfloat11", "enec"):
            raise CorruptError(f"not a weights stream (codec {codec.codec_id})")
        rec = container._BLOCK_HEAD.size + 4
        chk = container.CHECK_SIZES[st.header.check]
        pos = st.header.size
        off = 0
        blocks = []  # (file offset, usize, csize, kind, payload position)
        for b in st.blocks:
            blocks.append((off, b.usize, b.csize, b.kind, pos + rec))
            pos += rec + b.csize + chk
            off += b.usize

        def payload(i: int) -> bytes:
            f.seek(blocks[i][4])
            return f.read(blocks[i][2])

        def decoded(i: int) -> bytes:
            _, usize, _, kind, _ = blocks[i]
            p = payload(i)
            if kind == container.KIND_STORED:
                return p
            if kind == container.KIND_ZSTD:
                return zstd_decompress(p, usize)
            return bytes(codec.decode_block(p, usize))

        # the file's own header, from the first blocks
        head = b""
        i = 0
        while len(head) < 16 and i < len(blocks):
            head += decoded(i)
            i += 1
        layout = None
        if F.is_safetensors_head(head):
            need = 8 + F.safetensors_header_size(head[:8])
            while len(head) < need and i < len(blocks):
                head += decoded(i)
                i += 1
            layout = F.parse_safetensors(head[:need])
        elif F.is_npy_head(head):
            need = F.npy_header_size(head[:12])
            while len(head) < need and i < len(blocks):
                head += decoded(i)
                i += 1
            layout = F.parse_npy(head[:need])
        regions = layout.regions if layout else []
        # tensors: name -> accumulators
        rows: dict[str, dict] = {}
        order: list[str] = []
        for r in regions:
            if r.kind:
                rows[r.name] = {"row": "tensor", "name": r.name, "dtype": r.dtype,
                                "elements": r.size // F.KIND_WIDTH[r.kind], "original": r.size,
                                "compressed": 0.0, "_bits": 0.0, "_start": r.start,
                                "_end": r.end, "_w": F.KIND_WIDTH[r.kind]}
                order.append(r.name)
        other = {"row": "other", "name": "(headers, padding, non-float tensors)", "dtype": "",
                 "elements": 0, "original": 0, "compressed": 0.0, "_bits": 0.0}
        spans = sorted((t["_start"], t["_end"], t["name"]) for t in rows.values())
        starts = [s[0] for s in spans]

        def owner(a: int, b: int) -> list[tuple[str, int]]:
            """Tensors overlapping file range [a, b) with the overlapping byte counts."""
            import bisect

            out = []
            j = max(0, bisect.bisect_right(starts, a) - 1)
            while j < len(spans) and spans[j][0] < b:
                s, e, nm = spans[j]
                ov = min(b, e) - max(a, s)
                if ov > 0:
                    out.append((nm, ov))
                j += 1
            return out

        for bi, (boff, usize, csize, kind, _) in enumerate(blocks):
            rec_bytes = csize + rec + chk
            p = payload(bi) if kind == container.KIND_CODEC else b""
            if kind == container.KIND_CODEC and p[:1] == b"\x01":
                fk, n, counts, sizes = _float_block_layout(p)
                w = F.KIND_WIDTH[fk]
                overhead = rec_bytes - sum(sizes)
                data = None
                if entropy:
                    data = np.frombuffer(bytes(codec.decode_block(p, usize)), np.uint8)
                e0 = 0
                for m, sz in zip(counts, sizes):
                    a = boff + e0 * w
                    share = sz + overhead * m / max(n, 1)
                    own = owner(a, a + m * w)
                    tot = sum(ov for _, ov in own) or 1
                    for nm, ov in own:
                        rows[nm]["compressed"] += share * ov / tot
                    e0 += m
                if entropy and data is not None:
                    for nm, _ov in owner(boff, boff + n * w):
                        t = rows[nm]
                        a = max(boff, t["_start"]) - boff
                        b = min(boff + n * w, t["_end"]) - boff
                        t["_bits"] += _top_byte_bits(data[a:b], w)
            else:
                own = owner(boff, boff + usize)
                covered = sum(ov for _, ov in own)
                data = np.frombuffer(decoded(bi), np.uint8) if entropy and own else None
                for nm, ov in own:
                    t = rows[nm]
                    t["compressed"] += rec_bytes * ov / usize
                    if data is not None:
                        a = max(boff, t["_start"]) - boff
                        t["_bits"] += _top_byte_bits(data[a:a + ov], t["_w"])
                other["original"] += usize - covered
                other["compressed"] += rec_bytes * (usize - covered) / usize
                other["_bits"] += (usize - covered) * 8
    # the stream's own header, index and footer
    other["compressed"] += st.compressed - sum(b.csize + rec + chk for b in st.blocks)
    out: list[dict] = []
    by_dtype: dict[str, dict] = {}
    for nm in order:
        t = rows[nm]
        out.append(_finish(t, entropy))
        d = by_dtype.setdefault(t["dtype"], {"row": "dtype", "name": f"(all {t['dtype']})",
                                             "dtype": t["dtype"], "elements": 0, "original": 0,
                                             "compressed": 0.0, "_bits": 0.0})
        for k in ("elements", "original", "compressed", "_bits"):
            d[k] += t[k]
    for d in by_dtype.values():
        out.append(_finish(d, entropy))
    out.append(_finish(other, entropy))
    total = {"row": "total", "name": "(total)", "dtype": "", "elements":
             sum(rows[nm]["elements"] for nm in order), "original": st.uncompressed,
             "compressed": st.compressed, "_bits": sum(rows[nm]["_bits"] for nm in order)
             + other["_bits"]}
    out.append(_finish(total, entropy))
    return out


def _top_byte_bits(x, w: int) -> float:
    """Bits of a float region at the bound: rotated top byte at its entropy, the rest raw."""
    import numpy as np

    n = len(x) // w
    if n == 0:
        return 0.0
    a = x[: n * w].reshape(n, w)
    # after rotating left by one bit the top byte is (b[w-1] << 1 | b[w-2] >> 7)
    if w == 1:
        top = ((a[:, 0].astype(np.uint16) << 1) | (a[:, 0] >> 7)) & 0xFF
    else:
        top = ((a[:, w - 1].astype(np.uint16) << 1) | (a[:, w - 2] >> 7)) & 0xFF
    c = np.bincount(top.astype(np.int64), minlength=256)
    p = c[c > 0] / n
    h = float(-(p * np.log2(p)).sum())
    return n * h + n * 8 * (w - 1)


def _finish(t: dict, entropy: bool) -> dict:
    r = {k: v for k, v in t.items() if not k.startswith("_")}
    r["compressed"] = round(r["compressed"])
    # as the main table of ``squeeze -l``: compressed / original, 3 decimals
    r["ratio"] = round(r["compressed"] / r["original"], 3) if r["original"] else None
    r["bound"] = (round(t["_bits"] / (8 * r["original"]), 3)
                  if entropy and t.get("_bits") and r["original"] else None)
    return r
