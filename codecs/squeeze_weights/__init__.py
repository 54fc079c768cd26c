"""squeeze_weights: lossless packers for model weights (DFloat11 and ENEC).

``codec.DFloat11Codec`` (id ``dfloat11``) and ``codec.EnecCodec`` (id ``enec``);
``DFloat11Codec.describe`` (``listing.describe_sqz``) for ``squeeze list -v``;
``bench`` for the bench inputs and peers.  The bitstream is specified in SPEC.md.

The safetensors-style API lives in ``safetensors_io`` and is exported here
lazily (``import squeeze_weights`` stays cheap: the codec module imports it)::

    from squeeze_weights import safe_open, load_file, save_file
"""

from frappe_cli import lazy_exports

#: names exported lazily from squeeze_weights.safetensors_io
_LAZY = dict.fromkeys(("safe_open", "load_file", "save_file", "serialize", "RawTensor",
                       "TensorNotFoundError"), "squeeze_weights.safetensors_io")

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
