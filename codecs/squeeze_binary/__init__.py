"""squeeze_binary: Binary BPE tokenizers and executable-codec groundwork.

* ``tokenizer``: load / encode / decode the Binary BPE family (trained by
  models/train_binary_bpe.py);
* ``x86``: reversible x86 branch-target transform;
* ``regions``: ELF/PE structure (code vs data vs header regions).

Importing this package is cheap: numpy and the numba kernels load on first use.
"""
