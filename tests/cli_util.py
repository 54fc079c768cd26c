"""The squeeze command line as the tests run it: a child ``python -m frappe_cli`` on
this checkout's sources."""

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the child's environment: this checkout's sources on the path, no SQUEEZE_DEBUG
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
ENV.pop("SQUEEZE_DEBUG", None)
#: a text input: 3000 lines of a song
DATA = b"".join(b"%d bottles of beer on the wall, %d bottles of beer\n" % (i, i)
                for i in range(3000))


def sq(*args, input=None, cwd=None, env=None, timeout=300):
    """Run the CLI; returns (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([sys.executable, "-m", "frappe_cli", *map(str, args)], input=input,
                       capture_output=True, cwd=cwd, env=env or ENV, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode()


def as_foreground_job() -> None:
    """``preexec_fn`` for a child the test interrupts: SIGINT as a foreground job gets
    it.  A shell starts background jobs (a CI runner under ``nohup ... &`` too) with
    SIGINT ignored; the child inherits that and, like xz, rightly keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
