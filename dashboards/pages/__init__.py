"""The dashboard's pages: one module each, with ``PATH``, ``NAME``, ``layout`` and ``register_callbacks``."""
