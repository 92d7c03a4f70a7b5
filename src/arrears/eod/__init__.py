"""End-of-day (日终跑批): whole-portfolio columnar passes as of a business date.

``snapshot`` defines the per-loan daily record; ``steps`` are the ordered business steps (pure
functions over Polars frames); ``analytics`` turns snapshots into portfolio reports. The runner
that reads the book and writes the results lives in ``arrears.services.eod``.
"""
