"""Editing value neurons while the model generates (paper eq. 6), plain and edited side by side."""

from nnvalues.intervene.api import Answer, InterventionResult, choose_neuron_set, intervene
from nnvalues.intervene.edits import DIRECTIONS, EDIT_RULES, Edit, LayerEdit, build_edit
from nnvalues.intervene.generation import GenerationSettings, Generated, generate

__all__ = [
    "Answer", "DIRECTIONS", "EDIT_RULES", "Edit", "GenerationSettings", "Generated",
    "InterventionResult", "LayerEdit", "build_edit", "choose_neuron_set", "generate", "intervene",
]
