"""Neuron-finding baselines scored on the prompts `locate` uses, stored as a score cube beside
the activation cube, and turned into neuron sets comparable with ValueLocate's.

Methods: `lpip` (Yu & Ananiadou 2024), `qrnca` (Chen, Dejl & Toni 2024), `cgvst` (the
closest documented reading of Song et al. 2024), `meandiff` (mean activation difference,
from the cube) and `atp` (attribution patching).
"""

from nnvalues.baselines.run import METHODS, ScoreSummary, default_score_store, score
from nnvalues.baselines.selection import Baseline, baseline_set
from nnvalues.baselines.targets import TARGET_RULES, TargetRule

__all__ = ["Baseline", "METHODS", "ScoreSummary", "TARGET_RULES", "TargetRule", "baseline_set",
           "default_score_store", "score"]
