"""The numba stack-ANS encoder writes constriction's bytes (frappe_cli/coding/fast_ans.py)."""

from __future__ import annotations

import numpy as np


def test_fast_coder_matches_constriction_random_rows():
    from frappe_cli.coding import constriction_ans as ans, fast_ans

    rng = np.random.default_rng(7)
    for k in (2, 5, 43, 64):
        f = rng.integers(1, 3000, (9, k))
        f[:, 0] += (1 << 16) - f.sum(1)
        f = np.where(f < 1, 1, f)
        fc = fast_ans.IndexedEncoder(f, f)
        assert fc.ok
        for n in (1, 2, 37, 5000):
            sym = rng.integers(0, k, n).astype(np.int32)
            row = rng.integers(0, 9, n).astype(np.int64)
            ref = ans.Encoder("ans")
            ref.categorical_indexed(sym, ans.FreqTable(f), row)
            assert fc.stream(sym, row, fc.cdf) == ref.finish()
