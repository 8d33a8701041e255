"""Significance reports: grouped sufficient statistics from a database or Parquet files, the
`Report` built from them with :mod:`abkit.stats`, its renderers and stored snapshots."""
