"""The suites of ``squeeze bench --suite NAME`` (docs/ARCHITECTURE.md, "bench suites").

Each module defines ``Suite`` instances that pyproject.toml registers in the
``squeeze.bench_suites`` entry-point group.  They may import the codec packages
and the harness (``frappe_cli.bench``); the runtime packages never import them.
Timing goes through the harness's one clock, ``frappe_cli.bench.timing.median_time``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def corpora() -> Path:
    """The benchmark corpora: ``$SQUEEZE_CORPORA`` or ../shared/corpora beside the checkout."""
    env = os.environ.get("SQUEEZE_CORPORA")
    return Path(env) if env else ROOT.parent / "shared" / "corpora"
