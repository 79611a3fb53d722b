"""The original's learning-rate schedule, shared by the edit, the inversion and fast mode.

It depends on nothing else in the engine, so the modules that use it import it without a loop
(``speed`` used to reach it through ``edit``, which imports ``speed``).
"""

from __future__ import annotations

import math

RAMPDOWN = 0.25  # the share of the steps spent lowering the learning rate
RAMPUP = 0.05  # the share of the steps spent raising it from 0


def get_lr(t: float, initial_lr: float, rampdown: float = RAMPDOWN, rampup: float = RAMPUP) -> float:
    """The original schedule: cosine ramp-down over the last quarter, linear ramp-up over the first 5%."""
    lr_ramp = min(1.0, (1.0 - t) / rampdown)
    lr_ramp = 0.5 - 0.5 * math.cos(lr_ramp * math.pi)
    lr_ramp = lr_ramp * min(1.0, t / rampup)
    return initial_lr * lr_ramp
