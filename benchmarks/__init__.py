"""squeeze's benchmark tooling (not shipped in the wheel).

``benchmarks/suites/`` holds the suites behind ``squeeze bench --suite NAME``,
registered through the ``squeeze.bench_suites`` entry-point group; the other
scripts here are stand-alone drivers (zarr, Dask scaling, frames, cold start).
"""
