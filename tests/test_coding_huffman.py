"""Length-limited canonical Huffman (frappe_cli.coding.huffman): code lengths, tables.

The stream checks shared with rANS (round trips, corruption, speed) are in
test_coding_streams.py."""

import heapq

import numpy as np
import pytest

from frappe_cli.coding import huffman
from frappe_cli.errors import CorruptError

RNG = np.random.default_rng(99)


def _huffman_cost(counts):
    """Unconstrained optimal cost (sum of merged weights) by the textbook heap method."""
    h = [int(c) for c in counts if c > 0]
    if len(h) < 2:
        return 0
    heapq.heapify(h)
    cost = 0
    while len(h) > 1:
        a = heapq.heappop(h)
        b = heapq.heappop(h)
        cost += a + b
        heapq.heappush(h, a + b)
    return cost


def _pm_cost(counts, maxlen):
    """Reference package-merge (explicit item lists), optimal cost under the limit."""
    w = sorted(int(c) for c in counts if c > 0)
    n = len(w)
    if n < 2:
        return 0
    leaves = [(x, 1) for x in w]  # (weight, number of leaves inside -> contributes depth)
    items = list(leaves)
    for _ in range(maxlen - 1):
        pk = [(items[2 * i][0] + items[2 * i + 1][0], items[2 * i][1] + items[2 * i + 1][1])
              for i in range(len(items) // 2)]
        items = sorted(leaves + pk, key=lambda t: t[0])
    return sum(x for x, _ in items[: 2 * n - 2])


def _cost(counts, lens):
    return int((np.asarray(counts, np.int64) * lens).sum())


@pytest.mark.parametrize("trial", range(30))
def test_lengths_optimal_and_complete(trial):
    k = int(RNG.integers(2, 257))
    counts = np.zeros(256, np.int64)
    idx = RNG.choice(256, size=k, replace=False)
    counts[idx] = RNG.integers(1, 10 ** int(RNG.integers(1, 7)), k)
    lens = huffman.lengths(counts)
    assert lens.max() <= huffman.MAX_LEN
    assert ((lens > 0) == (counts > 0)).all()
    assert sum(2.0 ** -int(x) for x in lens if x) == 1.0
    assert _cost(counts, lens) == _pm_cost(counts, huffman.MAX_LEN)
    assert _cost(counts, lens) >= _huffman_cost(counts)


def test_length_limit_binds_on_fibonacci_counts():
    fib = [1, 1]
    while len(fib) < 30:
        fib.append(fib[-1] + fib[-2])
    counts = np.zeros(256, np.int64)
    counts[:30] = fib
    lens = huffman.lengths(counts)
    assert lens.max() == huffman.MAX_LEN  # unconstrained Huffman would need 29 bits
    assert _cost(counts, lens) == _pm_cost(counts, huffman.MAX_LEN)
    s = np.repeat(np.arange(30, dtype=np.uint8), fib[:30])
    RNG.shuffle(s)
    s = s[:400_000]
    assert np.array_equal(huffman.decode(huffman.encode(s), len(s)), s)


def test_small_limits():
    counts = np.zeros(256, np.int64)
    counts[:4] = [100, 10, 1, 1]
    assert sorted(huffman.lengths(counts, 2)[:4]) == [2, 2, 2, 2]
    with pytest.raises(ValueError):
        huffman.lengths(np.ones(256, np.int64), 7)


def test_hostile_tables_rejected():
    s = np.minimum(RNG.geometric(0.3, 5000), 255).astype(np.uint8)
    blob = bytearray(huffman.encode(s, chunk=5000))
    assert blob[9] == huffman.MODE_HUF
    body = 9 + 5
    # a length above the limit
    bad = bytearray(blob)
    bad[body + 2] = (bad[body + 2] & 0xF0) | 12
    with pytest.raises(CorruptError):
        huffman.decode(bytes(bad), 5000)
    # an incomplete code (Kraft sum < 1): lengthen one code
    lens = np.zeros(256, np.int64)
    assert huffman.read_lengths(np.frombuffer(bytes(blob), np.uint8), body, len(blob), lens) > 0
    bad = bytearray(blob)
    lo = bad[body]
    i = int(np.argmin(np.where(lens[lo:] > 0, lens[lo:], 99)))
    nib = bad[body + 2 + i // 2]
    cur = (nib >> (4 * (i & 1))) & 15
    bad[body + 2 + i // 2] = (nib & ~(15 << (4 * (i & 1)))) | ((cur + 1) << (4 * (i & 1)))
    with pytest.raises(CorruptError):
        huffman.decode(bytes(bad), 5000)
