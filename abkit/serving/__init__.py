"""Serving: batched top-5 template scoring with a holdout, event logging, HTTP API.

The pieces, each usable alone: :mod:`~abkit.serving.scorer` (model interface and the Hugging
Face implementation), :mod:`~abkit.serving.batcher` (dynamic batching, independent of the web
layer), :mod:`~abkit.serving.writer` (background event writer), :mod:`~abkit.serving.service`
(assign, score, log) and :mod:`~abkit.serving.app` (FastAPI).
"""
