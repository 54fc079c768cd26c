"""The shared context-mixing engine (README.md beside this file is its API reference).

* ``spec``    - model specifications: keys, defaults, validation, memory (no numpy)
* ``tables``  - bit-history state machine, stretch/squash tables (exact integers)
* ``engine``  - ``new_model``, ``code_byte`` and the coder glue (numba)
* ``config``  - levels from a codec's context catalogue, per-block table sizes (no numpy)
* ``runtime`` - running a configuration's kernel on a block (numpy)
* ``codec``   - ``CMCodec``, the method-byte codec shell of the CM codecs (no numpy)
* ``example`` - a minimal complete model configuration

Nothing heavy is imported here.
"""
