"""Evaluation of edits: a grid of generations judged by G-Eval, kept in a results store,
and read back as the paper's tables.

    from nnvalues.evaluate import Grid, evaluate, summarise
    from nnvalues.judge import make_judge
    grid = Grid(models=("smollm2-135m",), methods=("paper", "random"), gammas=(2.0,))
    evaluate(grid, make_judge("local:smollm2-135m"), results="stores/evaluation.zarr")
"""

from nnvalues.evaluate.grid import ALL_NEURONS, METHODS, SETS, Cell, Condition, Grid
from nnvalues.evaluate.neurons import SelectionOptions
from nnvalues.evaluate.report import open_results, paper_tables, summarise, to_csv, to_markdown
from nnvalues.evaluate.runner import DEFAULT_RESULTS, EvaluationSummary, Plan, evaluate
from nnvalues.evaluate.store import ResultsStore

__all__ = [
    "ALL_NEURONS", "Cell", "Condition", "DEFAULT_RESULTS", "EvaluationSummary", "Grid", "METHODS",
    "Plan", "ResultsStore", "SETS", "SelectionOptions", "evaluate", "open_results", "paper_tables",
    "summarise", "to_csv", "to_markdown",
]
