"""FRAPPE-Image golden streams: files written by bitstream version 1 keep decoding to
the same bytes (the decoder network is deterministic, see SPEC.md section 5).

A new model or format adds cases (``SQUEEZE_WRITE_GOLDEN=1 pytest
tests/test_image_golden.py`` writes the missing files with the model new streams use);
existing golden files are never rewritten.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from frappe_cli import container
from frappe_cli.testing import GOLDEN, check_golden, write_golden

codec_mod = pytest.importorskip("squeeze_image.codec")
Image = pytest.importorskip("PIL.Image")

CASES = {
    # bitstream v1 with the first model (format 1, 23 channels)
    "frappe-v1-rgb-97x61-q50": ({"quality": 50}, "RGB"),
    "frappe-v1-grey-alpha-40x33-bpp0.4": ({"bpp": 0.4}, "LA"),
    # bitstream v1 with the format-2 model (29 channels, closed-loop encoder)
    "frappe-v1-m2-rgb-131x67-bpp0.6": ({"bpp": 0.6}, "RGB"),
    "frappe-v1-m2-rgba-70x45-q30": ({"quality": 30}, "RGBA"),
    # bitstream v1 with the third model (format 2, trained on to step 11000; encoder
    # with dead-zone rounding)
    "frappe-v1-m3-rgb-123x77-bpp0.3": ({"bpp": 0.3}, "RGB"),
    "frappe-v1-m3-la-57x41-q60": ({"quality": 60}, "LA"),
    # bitstream v1 with the fourth model (format 2, trained on to step 18000)
    "frappe-v1-m4-rgb-111x83-bpp0.2": ({"bpp": 0.2}, "RGB"),
    "frappe-v1-m4-rgba-66x50-q45": ({"quality": 45}, "RGBA"),
    # bitstream v1 with the fifth model (format 2, trained on to step 26000, the last
    # 6700 steps sampling (n, D) around v4's rate path)
    "frappe-v1-m5-rgb-119x71-bpp0.12": ({"bpp": 0.12}, "RGB"),
    "frappe-v1-m5-la-61x47-q70": ({"quality": 70}, "LA"),
    # bitstream v1 with the model for --tune ms-ssim (format 2, the v5 run continued
    # with MS-SSIM in its loss)
    "frappe-v1-ms1-rgb-127x69-bpp0.08": ({"bpp": 0.08, "tune": "ms-ssim"}, "RGB"),
    "frappe-v1-ms1-rgba-59x43-q55": ({"quality": 55, "tune": "ms-ssim"}, "RGBA"),
    # bitstream v1 with the first derived model (SPEC.md section 5.2): the fifth model
    # with the dequantisation offset dq_expand
    "frappe-v1-m6-rgb-125x73-bpp0.15": ({"bpp": 0.15}, "RGB"),
    "frappe-v1-m6-la-63x45-q65": ({"quality": 65}, "LA"),
    # bitstream v1 with the --tune ms-ssim model derived the same way
    "frappe-v1-ms2-rgb-121x75-bpp0.1": ({"bpp": 0.1, "tune": "ms-ssim"}, "RGB"),
    "frappe-v1-ms2-rgba-57x49-q50": ({"quality": 50, "tune": "ms-ssim"}, "RGBA"),
    # bitstream v1 with the sixth model (format 2, v5's file warm-restarted for 8100
    # steps): the parent of the next two derived models
    "frappe-v1-m7-rgb-117x79-bpp0.25": ({"bpp": 0.25}, "RGB"),
    "frappe-v1-m7-rgba-64x52-q40": ({"quality": 40}, "RGBA"),
    # bitstream v1 with the sixth model derived with e = 0.1 (the default) and, for
    # --tune ms-ssim, with e = 0.125
    "frappe-v1-m8-rgb-129x71-bpp0.1": ({"bpp": 0.1}, "RGB"),
    "frappe-v1-m8-la-59x45-q55": ({"quality": 55}, "LA"),
    "frappe-v1-ms3-rgb-123x67-bpp0.06": ({"bpp": 0.06, "tune": "ms-ssim"}, "RGB"),
    "frappe-v1-ms3-rgba-61x43-q45": ({"quality": 45, "tune": "ms-ssim"}, "RGBA"),
    # bitstream v1 with the seventh model (the sixth's run to step 18000; entropy tables
    # per range of steps, SPEC.md section 4) and the MS-SSIM fork of that run: the
    # parents of the next derived models
    "frappe-v1-m9-rgb-113x81-bpp0.05": ({"bpp": 0.05}, "RGB"),
    "frappe-v1-m9-rgba-62x54-q35": ({"quality": 35}, "RGBA"),
    "frappe-v1-ms4-rgb-119x73-bpp0.3": ({"bpp": 0.3, "tune": "ms-ssim"}, "RGB"),
    "frappe-v1-ms4-la-55x47-q60": ({"quality": 60, "tune": "ms-ssim"}, "LA"),
    # bitstream v1 with those two derived (the default and --tune ms-ssim)
    "frappe-v1-m10-rgb-131x69-bpp0.2": ({"bpp": 0.2}, "RGB"),
    "frappe-v1-m10-la-57x51-q75": ({"quality": 75}, "LA"),
    "frappe-v1-ms5-rgb-125x77-bpp0.07": ({"bpp": 0.07, "tune": "ms-ssim"}, "RGB"),
    "frappe-v1-ms5-rgba-63x41-q50": ({"quality": 50, "tune": "ms-ssim"}, "RGBA"),
}


def _image(name: str) -> bytes:
    w, h = (int(v) for v in name.split("-")[-2].split("x"))
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 5 + y * 2) % 256, (x * y) % 256, (255 - y * 3) % 256], 2)
    arr = np.clip(rgb + 20 * np.sin(x / 3.0)[..., None], 0, 255).astype(np.uint8)
    mode = CASES[name][1]
    im = Image.fromarray(arr).convert(mode)
    if mode in ("LA", "RGBA"):
        a = ((x * 9) % 256).astype(np.uint8)
        im.putalpha(Image.fromarray(a))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_decodes(name):
    # only a missing file is written: a golden stream is never replaced
    if os.environ.get("SQUEEZE_WRITE_GOLDEN") == "1" and not (GOLDEN / f"{name}.sqz").exists():
        data = _image(name)
        blob = container.compress(data, codec_mod.FrappeCodec(**CASES[name][0]))
        write_golden(name, blob, container.decompress(blob, finish=False),
                     f"FRAPPE bitstream v1, {CASES[name][1]} input, {CASES[name][0]}")
    assert (GOLDEN / f"{name}.sqz").exists(), f"golden file tests/golden/{name}.sqz is missing"
    check_golden(name)



def test_every_shipped_model_has_golden_streams():
    """Each model ever shipped (the manifest keeps them all) decodes at least one
    golden stream, and every golden stream names a shipped model."""
    from frappe_cli.models import manifest

    shipped = {e["sha256"][:16]: n for n, e in manifest("squeeze_image").items()
               if n.startswith("frappe-image")}
    named = {}
    for name in CASES:
        blob = (GOLDEN / f"{name}.sqz").read_bytes()
        (s,) = container.scan_streams(io.BytesIO(blob))
        payload = blob[s.blocks[0].offset:s.blocks[0].offset + s.blocks[0].csize]
        named[name] = payload[1:9].hex()
    assert set(named.values()) <= set(shipped), named
    assert set(shipped) <= set(named.values()), (shipped, named)


@pytest.mark.parametrize("name", ["frappe-v1-rgb-97x61-q50", "frappe-v1-m3-rgb-123x77-bpp0.3"])
def test_golden_decodes_with_the_cli_defaults(name, tmp_path):
    """squeeze -t and -d on old and new streams, without -M (the first model's streams
    declare 1 GiB blocks: the default decode limit judges the real block size)."""
    import hashlib
    import json

    from cli_util import sq

    src = tmp_path / f"{name}.sqz"
    src.write_bytes((GOLDEN / f"{name}.sqz").read_bytes())
    assert sq("-t", src)[0::2] == (0, "")
    rc, out, err = sq("-d", "-c", src)
    assert (rc, err) == (0, "")
    # the golden record is the raw reconstruction; the CLI writes the finished file
    blob = src.read_bytes()
    want = json.loads((GOLDEN / f"{name}.json").read_text())
    raw = container.decompress(blob, finish=False)
    assert hashlib.sha256(raw).hexdigest() == want["sha256"] and len(raw) == want["size"]
    assert out == container.decompress(blob) and out[:8] == b"\x89PNG\r\n\x1a\n"
