"""Neuron selection: rules as values (the paper's threshold, top-k, significance with false
discovery rate control, a random control), applied to a cube or a store, giving named,
saveable neuron sets."""

from nnvalues.select.neuron_set import NeuronSet, list_sets, load_set, save_set
from nnvalues.select.rules import (
    DEFAULT_FDR, FDR, RULES, RandomLike, Rule, Threshold, TopK, rule_from_options,
)
from nnvalues.select.selecting import rule_counts, select
from nnvalues.select.selection import PAPER_THRESHOLD, ROLES, Selection

__all__ = [
    "DEFAULT_FDR", "FDR", "NeuronSet", "PAPER_THRESHOLD", "ROLES", "RULES", "RandomLike", "Rule",
    "Selection", "Threshold", "TopK", "list_sets", "load_set", "rule_counts", "rule_from_options",
    "save_set", "select",
]
