"""Evaluation of edits: a grid of edits measured by G-Eval and/or judge-free metrics, kept
in a results store, and read back with paired statistics.

    from nnvalues.evaluate import Grid, evaluate, evidence_table
    grid = Grid(models=("smollm2-135m",), methods=("paper", "random"), seeds=5)
    evaluate(grid, None, metrics=("contrast", "fluency"), results="stores/evaluation.zarr")
    evidence_table("stores/evaluation.zarr")   # one row per cell x metric, with CIs and p-values
"""

from nnvalues.evaluate.grid import ALL_NEURONS, METHODS, SETS, Cell, Condition, Grid
from nnvalues.evaluate.neurons import SelectionOptions
from nnvalues.evaluate.evidence import evidence_table
from nnvalues.evaluate.report import open_results, tables, to_csv
from nnvalues.evaluate.plan import Plan
from nnvalues.evaluate.runner import DEFAULT_RESULTS, EvaluationSummary, evaluate
from nnvalues.evaluate.store import ResultsStore

__all__ = [
    "ALL_NEURONS", "Cell", "Condition", "DEFAULT_RESULTS", "EvaluationSummary", "Grid", "METHODS",
    "Plan", "ResultsStore", "SETS", "SelectionOptions", "evaluate", "evidence_table", "open_results",
    "tables", "to_csv",
]
