"""The `abkit` command line."""
