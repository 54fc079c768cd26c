"""Former name of :mod:`squeeze_binary.exe_block_coder` (the executable codec's block
coder), kept only while ``squeeze_binary/benchmark.py`` and
``benchmarks/suites/exe.py`` still import it; nothing in the codec uses it.  Delete
it once their imports name ``exe_block_coder``."""

from squeeze_binary.exe_block_coder import *  # noqa: F401,F403
