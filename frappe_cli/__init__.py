"""squeeze: a compression toolkit (the `frappe_cli` import package).

Only the version lives here: importing this package must stay cheap so that
``squeeze --help`` and the zstd fallback start fast.
"""

__version__ = "0.1.0"
