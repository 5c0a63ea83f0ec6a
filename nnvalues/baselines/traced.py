"""The gradient baselines inside nnsight traces, so that they run where the model is (NDIF).

One request is one `envoy.session`: the method's traces for each of its batches run one
after another on the server, which adds their [layer, polarity, neuron] sums (float64, the
precision of the running tally) and the method's [layer, neuron] counts; nothing else
leaves the server, no token's activation or gradient. Inside a trace:

- the weights do not require gradients (NDIF freezes them; here `FrozenParameters` does the
  same): every activation read asks for one with `requires_grad_`, which makes the first
  layer's a leaf of the graph and leaves the later layers, which depend on it, in it;
- gradients are read in a `with objective.backward():` block, in reverse order of the forward;
- the objective and the reductions run in float32 with autocast off (NDIF runs requests under
  half-precision autocast on GPUs), in blocks that read no module, so the forward itself is
  left as the server runs it.
The per-batch arithmetic is the method's own (`reduce`, shared with the local hooks path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch

from nnvalues.baselines.batches import FrozenParameters, ScoringBatch
from nnvalues.models.architecture import Architecture

if TYPE_CHECKING:
    from nnvalues.baselines.method import ScoringMethod
    from nnvalues.models.loading import LoadedModel


def activations(envoy: Any, architecture: Architecture,
                layers: Sequence[int] | None = None) -> list[Any]:
    """Inside a trace, in forward order: each layer's act_fn output, in the autograd graph."""
    found = []
    for layer in range(architecture.n_layers) if layers is None else layers:
        output = architecture.activation_module(envoy, layer).output
        output.requires_grad_(True)
        found.append(output)
    return found


def gradients(tensors: Sequence[Any]) -> list[torch.Tensor]:
    """Inside a `with objective.backward():` block: d objective / d tensor of each, float32,
    read from the last tensor of the forward to the first (the order autograd reaches them)."""
    found: list[Any] = [None] * len(tensors)
    for index in reversed(range(len(tensors))):
        found[index] = tensors[index].grad.float()
    return found


def exact(like: torch.Tensor) -> Any:
    """Autocast off on the device of `like`: the block's arithmetic keeps its own dtypes."""
    return torch.autocast(like.device.type, enabled=False)


def score_request(loaded: "LoadedModel", scorer: "ScoringMethod", batches: Sequence[ScoringBatch],
                  **session_options: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The float64 [layer, polarity, neuron] sums of the batches and their summed [layer,
    neuron] counts (None for methods without), from one session.

    `session_options` choose where the session runs (a `backend`, or `remote="local"`).
    """
    import nnsight

    envoy, architecture = loaded.envoy, loaded.architecture
    counts = None
    with torch.enable_grad(), FrozenParameters(loaded.hf_model):
        with envoy.session(**session_options):
            total = None
            for batch in batches:
                sums, aux = scorer.traced_batch(envoy, architecture, batch)
                total = sums.double() if total is None else total + sums.double()
                if aux is not None:
                    counts = aux.double() if counts is None else counts + aux.double()
            total = nnsight.save(total)
            if counts is not None:
                counts = nnsight.save(counts)
    return total, counts
