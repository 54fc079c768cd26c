"""Shipped model files (image-codec weights, tokenizers), as package data.

Each codec package that needs a model carries it in its own ``models/``
folder, next to a ``MANIFEST.json`` that lists one entry per file with
``name``, ``file`` (``<name>-<sha256[:16]>.<ext>``), ``sha256``, ``size``,
``made_by`` (the script and command that made it), ``data`` (what it was
trained on) and ``licence`` (the data's licence).  The folder is found with
:mod:`importlib.resources`, so an installed wheel (or a zip import) works the
same as a checkout.  ``$SQUEEZE_MODELS`` names a folder with its own
``MANIFEST.json`` that overrides every package.  Files are checked against the
manifest on first use; nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import ExitStack
from functools import lru_cache
from importlib import resources
from pathlib import Path

from frappe_cli.errors import SqueezeError

MODELS_FOLDER = "models"
MANIFEST = "MANIFEST.json"

_keep = ExitStack()  # holds as_file() extractions (zip imports) for the process' life


def models_dir(package: str) -> Path:
    """The folder holding ``package``'s shipped models (or ``$SQUEEZE_MODELS``)."""
    env = os.environ.get("SQUEEZE_MODELS")
    if env:
        return Path(env)
    try:
        root = resources.files(package).joinpath(MODELS_FOLDER)
    except (ModuleNotFoundError, TypeError) as exc:
        raise SqueezeError(f"cannot find the models of package {package}: {exc}") from None
    return Path(_keep.enter_context(resources.as_file(root)))


@lru_cache(maxsize=None)
def manifest(package: str) -> dict[str, dict]:
    path = models_dir(package) / MANIFEST
    try:
        entries = json.loads(path.read_text())
        return {e["name"]: e for e in entries}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise SqueezeError(f"cannot read the model manifest {path}: {exc}") from None


@lru_cache(maxsize=None)
def model_path(package: str, name: str) -> Path:
    """Path of the shipped model ``name`` of ``package``, verified against its manifest."""
    entry = manifest(package).get(name)
    folder = models_dir(package)
    if entry is None:
        raise SqueezeError(f"model '{name}' is not in {folder / MANIFEST}")
    path = folder / entry["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SqueezeError(f"model file {path} is missing: {exc.strerror}") from None
    if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise SqueezeError(f"model file {path} does not match its manifest entry")
    return path
