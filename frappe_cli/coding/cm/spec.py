"""Model specifications of the CM engine (pure Python: no numpy, cheap to import).

A *spec* is a dict that fixes the shape of a model: how many contexts of each
kind a configuration feeds, the sizes of the tables, the mixer network and the
APM stages, and the learning parameters.  ``normalize`` fills defaults and
validates; ``memory`` gives the bytes a model of that spec allocates (what
``Codec.memory_usage`` reports).  See README.md for the meaning of each key.
"""

from __future__ import annotations

# bit-level parts of a mixer selector (multiplied into the configuration's selector)
SEL_NONE, SEL_C0, SEL_BITPOS, SEL_MATCH, SEL_HITS = 0, 1, 2, 3, 4
SEL_MULT = (1, 256, 8, 16, 16)
SEL_NAMES = {"none": SEL_NONE, "c0": SEL_C0, "bitpos": SEL_BITPOS, "match": SEL_MATCH,
             "hits": SEL_HITS}

LINE = 64  # bytes per hash-table line
APM_BUCKETS = 33

DEFAULTS = {
    "hashed": 6,
    "hash_bits": 20,
    "direct": [1, 256],
    "extra_inputs": 1,
    "run": 1,
    "match_bits": 20,
    "match_min": 7,
    "mixers": [(1, SEL_C0)],
    "final": (1, SEL_NONE),
    "apms": [],
    "apm_rate": 6,
    "lr": 1000,
    "lr_min": 150,
    "lr_half": 1 << 15,
    "final_lr": 100,
    "sm_limit": 255,
    "w_init": 4096,
    "p_min": 1,
}


def normalize(spec: dict) -> dict:
    """Defaults filled in, types checked; raises ValueError on a bad spec."""
    unknown = set(spec) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown CM spec keys: {sorted(unknown)}")
    s = dict(DEFAULTS)
    s.update(spec)
    s["hashed"] = int(s["hashed"])
    s["hash_bits"] = int(s["hash_bits"])
    s["direct"] = [int(r) for r in s["direct"]]
    s["mixers"] = [(int(a), int(b)) for a, b in s["mixers"]]
    s["final"] = (int(s["final"][0]), int(s["final"][1]))
    s["apms"] = [(int(a), int(b)) for a, b in s["apms"]]
    for key in ("extra_inputs", "run", "match_bits", "match_min", "apm_rate", "lr", "lr_min",
                "lr_half", "final_lr", "sm_limit", "w_init", "p_min"):
        s[key] = int(s[key])
    if not 0 <= s["hashed"] <= 64:
        raise ValueError("hashed contexts must be 0..64")
    if not 8 <= s["hash_bits"] <= 26:
        raise ValueError("hash_bits must be 8..26")
    if any(not 1 <= r <= 1 << 24 for r in s["direct"]) or len(s["direct"]) > 16:
        raise ValueError("direct contexts: at most 16, rows 1..2^24")
    if not s["mixers"] or len(s["mixers"]) > 16:
        raise ValueError("1..16 layer-1 mixers")
    for sets, kind in s["mixers"] + [s["final"]]:
        if not 1 <= sets <= 1 << 16 or kind not in range(len(SEL_MULT)):
            raise ValueError("bad mixer selector")
    if len(s["apms"]) > 8 or sum(w for _, w in s["apms"]) > 16:
        raise ValueError("at most 8 APMs, weights summing to at most 16")
    if any(not 1 <= r <= 1 << 16 or w < 0 for r, w in s["apms"]):
        raise ValueError("bad APM")
    if s["extra_inputs"] not in (0, 1) or s["run"] not in (0, 1):
        raise ValueError("extra_inputs and run are 0 or 1")
    if not (0 <= s["match_bits"] <= 28 and 1 <= s["match_min"] <= 64):
        raise ValueError("bad match model size")
    if not 1 <= s["sm_limit"] <= 511 or not 1 <= s["apm_rate"] <= 12:
        raise ValueError("bad adaptation rates")
    if not (0 <= s["lr_min"] <= 1 << 16 and 0 <= s["lr"] <= 1 << 16 and s["lr_half"] >= 1
            and 0 <= s["final_lr"] <= 1 << 16 and 1 <= s["p_min"] <= 4096):
        raise ValueError("bad learning rates")
    return s


def n_inputs(s: dict) -> int:
    return s["hashed"] * (1 + s["extra_inputs"] + s["run"]) + len(s["direct"]) + 3


def n_ctx(s: dict) -> int:
    """Length of the per-byte ``ctx`` array a configuration fills."""
    return s["hashed"] + len(s["direct"]) + len(s["mixers"]) + 1 + len(s["apms"])


def memory(spec: dict) -> int:
    """Bytes a model of ``spec`` allocates (within a few KB)."""
    s = normalize(spec)
    ni = n_inputs(s)
    total = LINE << s["hash_bits"]
    total += 256 * sum(s["direct"])
    total += 4 << s["match_bits"] if s["match_bits"] else 0
    total += 4 * ni * sum(sets * SEL_MULT[k] for sets, k in s["mixers"])
    total += 4 * (len(s["mixers"]) + 1) * s["final"][0] * SEL_MULT[s["final"][1]]
    total += 2 * APM_BUCKETS * 256 * sum(r for r, _ in s["apms"])
    total += 4 * 256 * (s["hashed"] + len(s["direct"])) + 256 * s["hashed"]
    return total + (64 << 10)
