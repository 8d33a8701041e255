"""Serving: batched top-5 template scoring with a holdout, event logging, HTTP API (docs/serving.md, "How it works")."""
