"""Sub-commands of the `feedbot` CLI, one module each."""
