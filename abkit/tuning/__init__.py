"""Offline tuning of the serving settings for a machine (``abkit tune-batching``), run before deployment."""
