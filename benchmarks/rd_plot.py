"""One rate-distortion plot from several image-suite JSON files (``squeeze bench
--suite image --json``): ``python benchmarks/rd_plot.py OUT.png A.json[:label] ...``.

Every series of every file is drawn; ``A.json:label`` renames A's squeeze series
(e.g. an older model's run), and a later file's series replaces an earlier one of
the same name (a new squeeze run beside the peers of an earlier one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def merged(specs: list[str]) -> dict:
    from benchmarks.suites.image import SQUEEZE

    out: dict = {}
    for spec in specs:
        path, _, label = spec.partition(":")
        summary = json.loads(Path(path).read_text())["summary"]
        for codec, pts in summary.items():
            out[label if (label and codec == SQUEEZE) else codec] = pts
    return out


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.suites.image import rd_plot
    from frappe_cli.bench.plot import curves

    summary = merged(argv[1:])
    n = {v["images"] for pts in summary.values() for v in pts.values() if "images" in v}
    curves(argv[0], **rd_plot(summary, f"{'/'.join(map(str, sorted(n)))} images, mean"))


if __name__ == "__main__":
    main(sys.argv[1:])
