"""Neuron selection from stored cubes: the paper's threshold, top-k, a random control, and
significance with false-discovery-rate control; results are saved as named neuron sets."""

from nnvalues.select.api import DEFAULT_FDR, Rule, rule_counts, select_neurons
from nnvalues.select.neuron_set import NeuronSet, list_sets, load_set, save_set
from nnvalues.select.rules import PAPER_THRESHOLD, ROLES, Selection

__all__ = [
    "DEFAULT_FDR", "NeuronSet", "PAPER_THRESHOLD", "ROLES", "Rule", "Selection", "list_sets",
    "load_set", "rule_counts", "save_set", "select_neurons",
]
