"""A slow codec for tests/test_distributed.py (a cheap module: the Dask workers import it)."""

import time

from frappe_cli.zstd_store import ZstdCodec


class SlowZstd(ZstdCodec):
    """zstd that takes 40 ms a block: long enough to kill a worker mid-run."""

    codec_id = "test-slow-zstd"

    def encode_block(self, data, hint=None):
        time.sleep(0.04)
        return super().encode_block(data, hint)
