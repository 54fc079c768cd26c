"""squeeze_weights: lossless packers for model weights (DFloat11 and ENEC).

``codec.DFloat11Codec`` (id ``dfloat11``) and ``codec.EnecCodec`` (id ``enec``);
``listing.describe_sqz`` for ``squeeze list -v``; ``bench`` for the bench inputs
and peers.  The bitstream is specified in SPEC.md.
"""
