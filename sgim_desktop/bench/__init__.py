"""The speed benchmark (``sgim-desktop bench``) and its baseline, a re-implementation of the original's step."""
