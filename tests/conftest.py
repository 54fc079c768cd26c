import os
import sys
from pathlib import Path

# the tests run from a checkout; make both source roots importable without an install
ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "codecs"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

os.environ.setdefault("SQUEEZE_DEBUG", "0")
