"""The window's state and decisions, one role each: models, picture, sounds, photos, edits, files.

Arrows point one way: edits -> photos -> picture -> models, files -> (sounds, photos, picture,
models); the window wires their signals and owns none of their state.
"""
