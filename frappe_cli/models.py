"""Shipped model files (image-codec weights, tokenizers).

Files live in ``models/`` as ``<name>-<sha256[:16]>.<ext>`` and are listed in
``models/MANIFEST.json``: one entry per file with ``name``, ``file``,
``sha256``, ``size``, ``made_by`` (the script and command that trained it),
``data`` (what it was trained on) and ``licence`` (the data's licence).
``$SQUEEZE_MODELS`` overrides the folder.  Files are checked against the
manifest on first use; nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from frappe_cli.errors import SqueezeError

REPO = Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    env = os.environ.get("SQUEEZE_MODELS")
    return Path(env) if env else REPO / "models"


@lru_cache(maxsize=None)
def manifest() -> dict[str, dict]:
    path = models_dir() / "MANIFEST.json"
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SqueezeError(f"cannot read the model manifest {path}: {exc}") from None
    return {e["name"]: e for e in entries}


@lru_cache(maxsize=None)
def model_path(name: str) -> Path:
    """Path of the shipped model ``name``, verified against its manifest entry."""
    entry = manifest().get(name)
    if entry is None:
        raise SqueezeError(f"model '{name}' is not in {models_dir() / 'MANIFEST.json'}")
    path = models_dir() / entry["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SqueezeError(f"model file {path} is missing: {exc.strerror}") from None
    if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise SqueezeError(f"model file {path} does not match its manifest entry")
    return path
