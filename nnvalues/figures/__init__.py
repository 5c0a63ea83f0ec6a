"""Figures and tables of the stores: the paper's and the ones it lacks.

Each `analyses/` script is a thin reader that calls one builder here; `nnvalues report
--html` calls the same builders to put every figure on one page. A builder raises `Skip`
when the store lacks what it needs (no gamma axis, no PVQ40 ratings, ...).
"""

from nnvalues.figures.output import Skip

__all__ = ["Skip"]
