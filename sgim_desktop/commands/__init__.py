"""Headless subcommands of the sgim-desktop CLI, one module each."""
