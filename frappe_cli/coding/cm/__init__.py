"""The shared context-mixing engine (README.md beside this file is its API reference).

* ``spec``    - model specifications: keys, defaults, validation, memory (no numpy)
* ``tables``  - bit-history state machine, stretch/squash tables (exact integers)
* ``engine``  - ``new_model``, ``code_byte`` and the coder glue (numba)
* ``example`` - a minimal complete model configuration

Nothing heavy is imported here.
"""
