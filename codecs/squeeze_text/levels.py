"""Levels of the text codec: which contexts, how much memory, which block size.

Pure data (no numpy): ``memory_usage`` must stay cheap.  Every entry is part of
the bitstream (bitstream version 1): change one and bump ``TextCodec.bitstream_version``.
"""

from __future__ import annotations

from frappe_cli.coding.cm import config

# context catalogue of kernels.py (names -> ids); SPEC.md defines each one
HASHED = {
    "o2": 0, "o3": 1, "o4": 2, "o5": 3, "o6": 4, "o7": 5, "o8": 6, "o12": 7, "o16": 8, "o24": 9,
    "word": 10, "word2": 11, "word3": 12, "wskip": 13, "sp23": 14, "sp34": 15, "sp13": 16,
    "col": 17, "colc1": 18, "class": 19, "xml": 20, "wpos": 21, "cls4c1": 22, "cls12": 23,
    "clsw": 24, "cls6c2": 25, "ind1": 26, "ind2": 27, "let": 28, "brk": 29, "w1c": 30,
}
DIRECT = {"o0": (0, 1), "o1": (1, 256), "o2": (2, 65536)}
SELECT = {"none": (0, 1), "c1": (1, 256), "c2": (2, 256), "class2": (3, 64), "col": (4, 16),
          "wlen": (5, 16), "class3": (6, 512), "c12h": (7, 1024), "brk": (8, 20)}
APMCTX = {"c0": (0, 1), "c1": (1, 256), "c2h": (2, 1024), "c3h": (3, 1024), "word": (4, 1024)}
CATALOGUE = config.Catalogue(HASHED, DIRECT, SELECT, APMCTX)


def _level(hashed, mixers, final, apms, hash_bits, match_bits, block_mib, direct=("o0", "o1"),
           **rates):
    return config.level(CATALOGUE, hashed, direct, mixers, final, apms, hash_bits, match_bits,
                        block_mib, **rates)


_C5 = ["o2", "o3", "o4", "o6", "word"]
_C7 = _C5 + ["word2", "class"]
_C9 = _C7 + ["col", "cls6c2"]
_C12 = _C9 + ["brk", "ind1", "o5"]
_C18 = _C12 + ["o8", "word3", "wskip", "sp13", "cls4c1", "w1c"]
_C30 = [h for h in HASHED if h != "o24"]
_M1 = [("none", "c0")]
_M2 = [("none", "match"), ("none", "c0")]
_M3 = _M2 + [("c1", "none")]
_M4 = _M3 + [("class2", "bitpos")]
_M6 = _M4 + [("none", "hits"), ("brk", "c0")]
_M11 = _M6 + [("c2", "c0"), ("class3", "bitpos"), ("col", "c0"), ("wlen", "c0"), ("c12h", "none")]
_F = ("none", "c0")
_FAST = {"extra_inputs": 0, "run": 0}

LEVELS = {
    0: _level(_C5, _M1, ("none", "none"), [], 18, 18, 16, **_FAST),
    1: _level(_C5, _M2, _F, [], 19, 18, 16, **_FAST),
    2: _level(_C5, _M3, _F, [("c1", 8)], 20, 20, 16),
    3: _level(_C7, _M3, _F, [("c1", 8)], 20, 20, 32),
    4: _level(_C7, _M4, _F, [("c1", 8)], 21, 20, 32),
    5: _level(_C9, _M4, _F, [("c1", 8)], 21, 21, 32),
    6: _level(_C9, _M4, _F, [("c1", 8)], 22, 22, 64),
    7: _level(_C12, _M6, _F, [("c1", 8)], 22, 22, 64),
    8: _level(_C18, _M6, _F, [("c1", 5), ("c2h", 5)], 23, 22, 64, lr=800, lr_min=100),
    9: _level(_C30, _M11, _F, [("c1", 5), ("c2h", 5)], 24, 22, 64, lr=600, lr_min=80),
}
