"""A synthetic support world that writes through the same event API as production."""
