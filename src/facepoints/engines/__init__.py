"""Engines that run ``facepoints detect`` beyond one process.

``ray_engine``: a Ray cluster (``pip install 'facepoints[ray]'``), sharded Parquet output; docs/scale.md.
The local engine is :func:`facepoints.files.detect_files`. Both give the same records (docs/output.md).
"""
