"""`intervene`: answer questions with and without editing a neuron set, side by side."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from nnvalues.config import default_store
from nnvalues.cube.store import CubeStore
from nnvalues.errors import StoreError, UsageError
from nnvalues.execution import Execution
from nnvalues.choices import TemplateMode
from nnvalues.intervene.edits import Edit
from nnvalues.intervene.generation import GenerationSettings, generate
from nnvalues.intervene.questions import check_questions, render_questions
from nnvalues.models.loading import LoadedModel
from nnvalues.models.registry import EMBEDDED
from nnvalues.select.cell import resolve_model
from nnvalues.select.neuron_set import NeuronSet, load_set
from nnvalues.select.rules import Rule, Threshold
from nnvalues.select.selecting import select


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
    edit: Edit
    settings: GenerationSettings
    template: dict[str, str]
    answers: list[Answer] = field(default_factory=list)

    @property
    def neuron_set(self) -> NeuronSet | None:
        return self.edit.neurons

    def to_json(self) -> dict[str, Any]:
        per_layer = {str(k): {"amplified": a, "suppressed": s} for k, (a, s) in self.edit.per_layer().items()}
        return {
            "model": self.model, "model_revision": self.model_revision,
            "dimension": self.neuron_set.dimension if self.neuron_set else None,
            "edit": {**self.edit.settings(), "neurons": self.edit.size, "per_layer": per_layer},
            "generation": self.settings.to_json(),
            "template": self.template,
            "neuron_set": None if self.neuron_set is None else {
                **self.neuron_set.provenance(),
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
                      rule: Rule | None = None) -> NeuronSet:
    """A saved set (by name or object) or a fresh selection from the store with `rule`
    (default: the paper's threshold), checked against the loaded model."""
    path = Path(store) if store is not None else default_store()
    if neuron_set is None:
        chosen = select(path, model=loaded.name, dimension=dimension, rule=rule or Threshold(),
                        revision=loaded.revision)
        return _check_set_fits(chosen, loaded)
    if rule is not None:
        raise UsageError("a saved neuron set already fixes the neurons: drop the selection "
                         "rule (`threshold`, `top_k`, `fdr`, `random`), or drop `neuron_set`")
    chosen = load_set(path, neuron_set) if isinstance(neuron_set, str) else neuron_set
    if dimension is not None and dimension != chosen.dimension:
        raise UsageError(f"neuron set {chosen.name} is for {chosen.dimension}, not {dimension}")
    return _check_set_fits(chosen, loaded)


def check_store_model(store: Path | str | None, model: str) -> None:
    """Refuse a store of another embedded model before spending time on loading this one."""
    if model in EMBEDDED:
        resolve_model(CubeStore.open(Path(store) if store is not None else default_store()), model)


def intervene(
    model: str | LoadedModel,
    questions: str | Sequence[str],
    edit: Edit,
    *,
    settings: GenerationSettings | None = None,
    template_mode: TemplateMode = "auto",
    device: str | None = None,
    dtype: str = "auto",
    on_batch: Callable[[int], None] | None = None,
    execution: Execution | str | None = None,
) -> InterventionResult:
    """Generate each answer twice from the same prompts: plainly and with `edit` applied on
    every forward step.

    Args:
        model: a `LoadedModel`, or a name to load (with `device` and `dtype`).
        questions: one question or several, asked in the paper's "answer questions" template.
        edit: an `Edit` (`Edit.from_neurons(neurons, direction, gamma)`).
        settings: generation settings (greedy, 128 new tokens by default).
        execution: "local", "simulate" or "remote" (NDIF); see `nnvalues.Execution`.
    Returns:
        An `InterventionResult` with one `Answer` (unedited and edited text) per question.
    Example:
        result = nv.intervene(model, "What would you do?", edit)
        print(result.answers[0].edited)
    """
    execution = Execution.of(execution).check()
    asked = check_questions([questions] if isinstance(questions, str) else list(questions))
    settings = settings or GenerationSettings()
    loaded = model if isinstance(model, LoadedModel) else execution.load(model, device=device, dtype=dtype)
    if edit.neurons is not None:
        _check_set_fits(edit.neurons, loaded)
    prompts, renderer = render_questions(loaded.tokenizer, asked, template_mode)
    ids = [p.input_ids for p in prompts]
    plain = generate(loaded, ids, None, settings, on_batch, execution)
    edited = generate(loaded, ids, edit, settings, on_batch, execution)
    answers = [Answer(q, p.text, a.text, b.text, len(a.token_ids), len(b.token_ids))
               for q, p, a, b in zip(asked, prompts, plain, edited, strict=True)]
    return InterventionResult(loaded.name, loaded.revision, edit, settings,
                              renderer.settings(), answers)
