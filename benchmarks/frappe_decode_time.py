"""CPU time to decode FRAPPE still images (issue 12, target 4: a Kodak image in at
most 1.0 s of CPU, a 1080p frame in at most 3 s).

    python benchmarks/frappe_decode_time.py [--bpp 0.1 --bpp 1.0 ...] [--repeat 3]
        [--images N] [--json FILE]

Encodes each picture with ``--codec frappe --bpp X`` (the shipped model), then
times ``container.decompress`` of the ``.sqz`` (entropy decode, synthesis and the
PNG the user gets) on this process's CPU clock, median of ``--repeat`` runs, one
thread (``-T 1``).  Pictures: the first ``--images`` Kodak files and the 1920x1080
frame tiled from the first training photograph (``suites/image.frame_1080p``).
Reads ../shared/corpora (or $SQUEEZE_CORPORA); exits with a message when absent.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bpp", type=float, action="append")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", type=int, default=4, help="Kodak files (first N, sorted)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    rates = args.bpp or [0.1, 1.0]
    sys.path[:0] = [str(ROOT), str(ROOT / "codecs")]
    from PIL import Image

    from benchmarks.suites.image import corpora, frame_1080p
    from frappe_cli import container
    from squeeze_image.codec import FrappeCodec

    kodak = corpora() / "kodak"
    if not kodak.is_dir():
        print(f"frappe_decode_time: {kodak} not found (set SQUEEZE_CORPORA)", file=sys.stderr)
        return 1
    pics = [(p.name, p.read_bytes()) for p in sorted(kodak.glob("*.png"))[:args.images]]
    frame = frame_1080p()
    if frame is not None:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="PNG")
        pics.append(("frame-1920x1080", buf.getvalue()))
    rows = []
    for bpp in rates:
        for name, data in pics:
            codec = FrappeCodec(bpp=bpp)
            blob = container.compress(data, codec)
            container.decompress(blob)  # first call: compiled kernels, loaded model
            times = []
            for _ in range(args.repeat):
                t = time.process_time()
                container.decompress(blob)
                times.append(time.process_time() - t)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
            row = {"picture": name, "bpp": bpp, "real_bpp": round(8 * len(blob) / (w * h), 4),
                   "decode_cpu_s": round(statistics.median(times), 3)}
            rows.append(row)
            print(f"{name:>16} --bpp {bpp:<5} {row['real_bpp']:.4f} bpp  decode "
                  f"{row['decode_cpu_s']:.3f} s CPU (median of {args.repeat})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
