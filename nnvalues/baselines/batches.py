"""Batches of prompts followed by their target tokens, and the activations gradient methods read.

A scoring batch is `locate`'s batch (left-padded, pairs kept together, the same unit order)
with each row's target tokens appended, so the right end of every row is its target and
the column that predicts target token j is the same for all rows of equal target length.
Gradient methods cannot use `locate`'s shared-prefix cache or inference mode: locally they
run plain forward passes under `torch.enable_grad` with hooks on the activation modules
(remotely, nnsight traces: `nnvalues.baselines.traced`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from nnvalues.models.loading import LoadedModel
from nnvalues.prompts.render import RenderedPrompt
from nnvalues.stats.batching import Batch, Row, Unit, collate
from nnvalues.stats.sessions import on_device


@dataclass
class ScoringBatch:
    batch: Batch
    """Prompt + target tokens, left-padded, with polarity and pair selectors."""
    target_lengths: torch.Tensor
    """[rows] target tokens appended to each row."""

    @property
    def width(self) -> int:
        return int(self.batch.input_ids.shape[1])

    @property
    def last_prompt(self) -> torch.Tensor:
        """[rows] column of each row's last prompt token (it predicts the first target token)."""
        return self.width - self.target_lengths - 1

    def predicts(self) -> torch.Tensor:
        """[rows, width] True at the columns whose next token is a target token."""
        columns = torch.arange(self.width, device=self.target_lengths.device)[None]
        return (columns >= self.last_prompt[:, None]) & (columns < self.width - 1)

    def inputs(self) -> dict[str, Any]:
        return self.batch.inputs()

    def target_log_likelihood(self, logits: torch.Tensor) -> torch.Tensor:
        """[rows] sum of log p(target token) over each row's target, from the model's logits
        for the last `logits.shape[1]` columns (see `keep_logits`)."""
        keep = logits.shape[1]
        ids = self.batch.input_ids[:, self.width - keep:]
        log_p = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        chosen = log_p.gather(-1, ids[:, 1:, None]).squeeze(-1)
        mask = self.predicts()[:, self.width - keep:-1]
        return (chosen * mask).sum(dim=1)

    def keep_logits(self) -> int:
        """How many trailing columns need logits: the longest target plus one."""
        return int(self.target_lengths.max()) + 1

    def model_inputs(self) -> dict[str, Any]:
        """The model's keyword arguments, asking only for the logits the targets need."""
        return {**self.inputs(), "logits_to_keep": self.keep_logits()}

    def to(self, device: Any) -> "ScoringBatch":
        """The batch with every tensor on `device` (where a trace finds the model)."""
        return ScoringBatch(on_device(self.batch, device), self.target_lengths.to(device))


def scoring_batch(units: Sequence[Unit], targets: dict[str, tuple[int, ...]], pad_id: int,
                  device: str | torch.device = "cpu") -> ScoringBatch:
    """`locate`'s batch of `units` with each row's target (by prompt id) appended."""
    extended = [tuple(Row(RenderedPrompt(row.prompt.id, row.prompt.text,
                                         row.prompt.input_ids + targets[row.prompt.id]), row.polarity)
                      for row in unit) for unit in units]
    lengths = [len(targets[row.prompt.id]) for unit in units for row in unit]
    batch = collate(extended, pad_id, device)
    return ScoringBatch(batch, torch.tensor(lengths, dtype=torch.long, device=device))


class ActivationHooks:
    """Forward hooks on every layer's activation module (the act_fn output nnvalues calls a
    neuron) that keep its output in the autograd graph, optionally scaled first.

    `scale(layer, output)` returns the factor to multiply the output by, or None to leave
    it as it is. `raw[layer]` is the output before scaling, `outputs[layer]` after: take
    gradients with respect to `outputs`. While the hooks are on, the weights do not require
    gradients (so autograd keeps nothing for them): the graph starts at the first layer's
    activation.
    """

    def __init__(self, loaded: LoadedModel, scale: Any = None):
        self.loaded = loaded
        self.scale = scale
        self.raw: list[torch.Tensor | None] = [None] * loaded.architecture.n_layers
        self.outputs: list[torch.Tensor | None] = [None] * loaded.architecture.n_layers
        self._handles: list[Any] = []
        self._frozen = FrozenParameters(loaded.hf_model)

    def __enter__(self) -> "ActivationHooks":
        self._frozen.__enter__()
        architecture = self.loaded.architecture
        for layer in range(architecture.n_layers):
            module = architecture.activation_module(self.loaded.hf_model, layer)
            self._handles.append(module.register_forward_hook(self._hook(layer)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._frozen.__exit__()

    def _hook(self, layer: int) -> Any:
        def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
            if torch.is_grad_enabled() and not output.requires_grad:
                output.requires_grad_()  # the first layer: nothing before it needs a gradient
            self.raw[layer] = output
            factor = None if self.scale is None else self.scale(layer, output)
            scaled = output if factor is None else output * factor
            self.outputs[layer] = scaled
            return scaled
        return hook

    def gradients(self, objective: torch.Tensor) -> list[torch.Tensor]:
        """d objective / d output of every layer's activation, in float32."""
        grads = torch.autograd.grad(objective, self.outputs, allow_unused=True)
        return [torch.zeros_like(o, dtype=torch.float32) if g is None else g.float()
                for o, g in zip(self.outputs, grads)]


class FrozenParameters:
    """While entered, no weight of `model` requires a gradient, as on NDIF: autograd keeps
    nothing for the weights, and the graph starts where an activation asks for one."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self._frozen: list[torch.nn.Parameter] = []

    def __enter__(self) -> "FrozenParameters":
        self._frozen = [p for p in self.model.parameters() if p.requires_grad]
        for parameter in self._frozen:
            parameter.requires_grad_(False)
        return self

    def __exit__(self, *exc: Any) -> None:
        for parameter in self._frozen:
            parameter.requires_grad_(True)
        self._frozen = []
