"""Shipping a trained model: its file under its content hash plus its MANIFEST.json entry.

Used by every training script's ``export`` stage (models/train_*.py), so that each
model in a codec's package data is recorded the same way: ``name``, ``file``
(``<name>-<sha256[:16]>.<ext>``), ``sha256``, ``size``, ``made_by``, ``data``,
``licence`` and any extra facts (training CPU-hours, steps...).
frappe_cli/models.py checks name, size and sha256 when the codec loads it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def ship(out: Path, name: str, blob: bytes, ext: str, *, made_by: str, data: str,
         licence: str, **extra) -> Path:
    """Write ``blob`` as ``out/<name>-<sha16>.<ext>`` (atomically) and make it the
    manifest's entry ``name`` (replacing an older entry of that name)."""
    digest = hashlib.sha256(blob).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"{name}-{digest[:16]}.{ext}"
    tmp = final.with_name(final.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, final)
    man_path = out / "MANIFEST.json"
    man = json.loads(man_path.read_text()) if man_path.exists() else []
    man = [e for e in man if e["name"] != name]
    man.append({"name": name, "file": final.name, "sha256": digest, "size": len(blob),
                "made_by": made_by, "data": data, "licence": licence, **extra})
    tmp = man_path.with_name(man_path.name + ".tmp")
    tmp.write_text(json.dumps(man, indent=1) + "\n")
    os.replace(tmp, man_path)
    return final
