"""Training configurations as data: one TOML file per model size (shipped as package data)."""
