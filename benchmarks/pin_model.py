"""A models folder in which an older shipped FRAPPE model is the one new images are
encoded with: ``python benchmarks/pin_model.py MODELS_DIR NAME OUT_DIR``.

OUT_DIR/MANIFEST.json gets MODELS_DIR's entry NAME (e.g. ``frappe-image-v1``) under
the name the codec encodes with (``frappe-image``) and OUT_DIR a link to its file (and,
for a derived model, its parent's entry and file too);
``SQUEEZE_MODELS=OUT_DIR squeeze ...`` then measures that model (the held-out bench).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def pin(models: Path, name: str, out: Path, as_name: str = "frappe-image") -> Path:
    every = {e["name"]: e for e in json.loads((models / "MANIFEST.json").read_text())}
    if name not in every:
        raise SystemExit(f"pin_model: no model named {name!r} in {models / 'MANIFEST.json'}")
    entry = every[name]
    # a derived model (SPEC.md section 5.2) needs the model it builds on beside it
    keep = [dict(entry, name=as_name)]
    if entry.get("parent"):
        keep.append(every[entry["parent"]])
    out.mkdir(parents=True, exist_ok=True)
    for e in keep:
        link = out / e["file"]
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink((models / e["file"]).resolve(), link)
    (out / "MANIFEST.json").write_text(json.dumps(keep, indent=1) + "\n")
    return out / entry["file"]


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    pin(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
