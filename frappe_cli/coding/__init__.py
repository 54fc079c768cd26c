"""The shared entropy-coding layer.

Modules (import the one you need; nothing heavy is imported here):

* ``constriction_ans`` - the constriction adapter (the only module that imports constriction)
* ``quant``      - probability quantisation shared by every coder (exact invertibility)
* ``binary_ac``  - numba binary arithmetic coder for bitwise context mixing
* ``huffman``    - numba length-limited canonical Huffman, multi-symbol decode tables
* ``rans``       - numba interleaved rANS for bulk symbol streams
* ``chunked``    - the self-describing chunked stream of ``rans`` and ``huffman``
* ``cm``         - the context-mixing engine (state tables, mixer, SSE, match model)
"""
