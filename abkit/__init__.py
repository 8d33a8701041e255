"""abkit: run and prove online A/B experiments around an ML model in production."""

__version__ = "0.1.0"
