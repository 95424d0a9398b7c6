"""Deviation rules: pure functions of (state, event, now, programme config) → decisions.

One module per rule family; `engine.py` folds events through them. Nothing here does I/O.
"""
