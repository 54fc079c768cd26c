import os
import sys
from pathlib import Path

# the tests run from a checkout; make both source roots importable without an install
ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "codecs"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

os.environ.setdefault("SQUEEZE_DEBUG", "0")

import signal  # noqa: E402

import pytest  # noqa: E402

_SIGNALS = [getattr(signal, s) for s in ("SIGPIPE", "SIGTERM", "SIGHUP") if hasattr(signal, s)]


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    """An in-process ``cli.main`` installs the console script's handlers (SIGPIPE
    default: a later test whose child closes its stdin early would kill pytest);
    each test gets the process's handlers back."""
    saved = {s: signal.getsignal(s) for s in _SIGNALS}
    yield
    for s, h in saved.items():
        if h is not None and signal.getsignal(s) is not h:
            signal.signal(s, h)
