"""`intervene`: answer questions with and without editing a neuron set, side by side."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from nnvalues.config import default_store
from nnvalues.cube.store import CubeStore
from nnvalues.errors import StoreError, UsageError
from nnvalues.execution import Execution
from nnvalues.intervene.edits import (
    PAPER_GAMMA,
    Edit,
    build_edit,
    check_direction,
    check_gamma,
    check_rule,
)
from nnvalues.intervene.generation import GenerationSettings, generate
from nnvalues.intervene.questions import check_questions, render_questions
from nnvalues.models.loading import LoadedModel
from nnvalues.models.registry import DEFAULT_MODEL, EMBEDDED
from nnvalues.select.api import select_neurons
from nnvalues.select.cell import resolve_model
from nnvalues.select.neuron_set import NeuronSet, load_set
from nnvalues.taxonomy import dimension as lookup_dimension


@dataclass(frozen=True)
class Answer:
    question: str
    prompt: str
    """The exact text the model received (template, chat markup)."""
    unedited: str
    edited: str
    unedited_tokens: int
    edited_tokens: int


@dataclass
class InterventionResult:
    model: str
    model_revision: str
    neuron_set: NeuronSet
    edit: Edit
    settings: GenerationSettings
    template: dict[str, str]
    answers: list[Answer] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        per_layer = {str(k): {"amplified": a, "suppressed": s} for k, (a, s) in self.edit.per_layer().items()}
        return {
            "model": self.model, "model_revision": self.model_revision,
            "dimension": self.neuron_set.dimension,
            "edit": {**self.edit.settings(), "neurons": self.edit.size, "per_layer": per_layer},
            "generation": self.settings.to_json(),
            "template": self.template,
            "neuron_set": {**self.neuron_set.provenance(),
                           "neurons": {k: v for k, v in self.neuron_set.to_json()["neurons"].items()
                                       if k in ("layer", "neuron", "delta", "role")}},
            "answers": [asdict(a) for a in self.answers],
        }


def _check_set_fits(neuron_set: NeuronSet, loaded: LoadedModel) -> NeuronSet:
    if neuron_set.model != loaded.name or neuron_set.model_revision != loaded.revision:
        raise StoreError(
            f"neuron set {neuron_set.name or ''} was selected for {neuron_set.model} "
            f"(revision {neuron_set.model_revision[:12]}), not for the loaded {loaded.name} "
            f"(revision {loaded.revision[:12]})"
        )
    arch = loaded.architecture
    if (neuron_set.n_layers, neuron_set.n_neurons) != (arch.n_layers, arch.n_neurons):
        raise StoreError(f"neuron set shape {neuron_set.n_layers}x{neuron_set.n_neurons} does not "
                         f"match {loaded.name} ({arch.n_layers}x{arch.n_neurons})")
    return neuron_set


def choose_neuron_set(loaded: LoadedModel, *, store: Path | str | None = None,
                      dimension: str | None = None, neuron_set: str | NeuronSet | None = None,
                      threshold: float | None = None, top_k: int | None = None,
                      fdr: float | None = None, test: str = "mid-p", random: bool = False,
                      match_layers: bool = False, seed: int = 0) -> NeuronSet:
    """A saved set (by name) or a fresh selection from the store, checked against the model."""
    path = Path(store) if store is not None else default_store()
    if neuron_set is None:
        chosen = select_neurons(path, model=loaded.name, dimension=dimension, threshold=threshold,
                                top_k=top_k, fdr=fdr, test=test, random=random,
                                match_layers=match_layers, seed=seed, revision=loaded.revision)
        return _check_set_fits(chosen, loaded)
    if any(v is not None for v in (threshold, top_k, fdr)) or random:
        raise UsageError("a saved neuron set already fixes the neurons: drop --threshold, "
                         "--top-k, --fdr and --random, or drop --neuron-set")
    chosen = load_set(path, neuron_set) if isinstance(neuron_set, str) else neuron_set
    if dimension is not None and dimension != chosen.dimension:
        raise UsageError(f"neuron set {chosen.name} is for {chosen.dimension}, not {dimension}")
    return _check_set_fits(chosen, loaded)


def intervene(
    questions: str | Sequence[str],
    *,
    model: str | LoadedModel = DEFAULT_MODEL,
    store: Path | str | None = None,
    dimension: str | None = None,
    direction: str = "positive",
    gamma: float = PAPER_GAMMA,
    edit_rule: str = "multiply",
    neuron_set: str | NeuronSet | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    fdr: float | None = None,
    test: str = "mid-p",
    random: bool = False,
    match_layers: bool = False,
    seed: int = 0,
    settings: GenerationSettings | None = None,
    template_mode: str = "auto",
    device: str | None = None,
    dtype: str = "auto",
    on_batch: Callable[[int], None] | None = None,
    execution: Execution | str | None = None,
) -> InterventionResult:
    """Generate each answer twice, plainly and with the edit, from the same prompts.

    Neurons come from a saved set (`neuron_set`) or are selected from `store` with one rule
    (default: the paper's |delta| >= 0.03); `random` swaps them for a random control.
    `device` and `dtype` apply when `model` is a name to load. `execution` says where the
    model runs ("local", "simulate" or "remote" on NDIF, see nnvalues.execution).
    """
    execution = Execution.of(execution).check()
    asked = check_questions([questions] if isinstance(questions, str) else list(questions))
    direction, gamma, edit_rule = check_direction(direction), check_gamma(gamma), check_rule(edit_rule)
    settings = settings or GenerationSettings()
    if dimension is not None:
        lookup_dimension(dimension)
    if isinstance(model, str) and model in EMBEDDED and neuron_set is None:
        # Refuse a store of another model before spending time on loading this one.
        resolve_model(CubeStore.open(Path(store) if store is not None else default_store()), model)
    loaded = model if isinstance(model, LoadedModel) else execution.load(model, device=device, dtype=dtype)
    chosen = choose_neuron_set(loaded, store=store, dimension=dimension, neuron_set=neuron_set,
                               threshold=threshold, top_k=top_k, fdr=fdr, test=test,
                               random=random, match_layers=match_layers, seed=seed)
    edit = build_edit(chosen, direction, gamma, edit_rule)
    prompts, renderer = render_questions(loaded.tokenizer, asked, template_mode)
    ids = [p.input_ids for p in prompts]
    plain = generate(loaded, ids, None, settings, on_batch, execution)
    edited = generate(loaded, ids, edit, settings, on_batch, execution)
    answers = [Answer(q, p.text, a.text, b.text, len(a.token_ids), len(b.token_ids))
               for q, p, a, b in zip(asked, prompts, plain, edited, strict=True)]
    return InterventionResult(loaded.name, loaded.revision, chosen, edit, settings,
                              renderer.settings(), answers)
