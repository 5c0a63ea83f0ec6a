"""Where each architecture keeps its MLP neurons.

A neuron (layer l, index k) is the k-th output of the MLP's activation function: the
`act_fn(gate_proj(x))` of gated MLPs (Llama, Qwen2, Gemma) before the multiply by
`up_proj`, and `act(c_fc(x))` in GPT-2. The adapter turns a model into module paths that
both plain PyTorch and nnsight can follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nnvalues.errors import ModelError


@dataclass(frozen=True)
class Layout:
    layers: str
    """Attribute path from the causal-LM to its list of transformer blocks."""
    activation: str
    """Attribute path from one block to the MLP activation module."""
    neurons: str
    """Config field that holds the MLP width."""


_GATED = Layout("model.layers", "mlp.act_fn", "intermediate_size")

LAYOUTS: dict[str, Layout] = {
    "llama": _GATED,
    "mistral": _GATED,
    "qwen2": _GATED,
    "qwen3": _GATED,
    "gemma": _GATED,
    "gemma2": _GATED,
    "gemma3_text": _GATED,
    "olmo2": _GATED,
    "gpt2": Layout("transformer.h", "mlp.act", "n_inner"),
}


@dataclass(frozen=True)
class Architecture:
    """The resolved neuron layout of one loaded model."""

    model_type: str
    layout: Layout
    n_layers: int
    n_neurons: int
    prefix_cache: bool = True
    """Whether a shared prompt prefix may be run once and reused through the KV cache;
    not for sliding-window attention, whose cache keeps only the last tokens."""

    def activation_path(self, layer: int) -> str:
        return f"{self.layout.layers}.{layer}.{self.layout.activation}"

    def activation_module(self, model: Any, layer: int) -> Any:
        """The activation module of `layer` on a Hugging Face model or an nnsight envoy."""
        return follow(model, self.activation_path(layer))

    def layer_modules(self, model: Any) -> Any:
        return follow(model, self.layout.layers)


def follow(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def resolve(model: torch.nn.Module) -> Architecture:
    """Find the neuron layout of a Hugging Face causal LM, or say why it is unknown."""
    config = model.config
    model_type = getattr(config, "model_type", type(model).__name__)
    layout = LAYOUTS.get(model_type)
    if layout is None:
        known = ", ".join(sorted(LAYOUTS))
        raise ModelError(
            f"architecture {model_type!r} ({type(model).__name__}) is not supported: "
            f"nnvalues knows where the MLP neurons are for {known}"
        )
    try:
        layers = follow(model, layout.layers)
        follow(layers[0], layout.activation)
    except (AttributeError, IndexError) as exc:
        raise ModelError(
            f"model of type {model_type!r} lacks the expected module {layout.layers}.0."
            f"{layout.activation} ({exc})"
        ) from None
    width = getattr(config, layout.neurons, None)
    if width is None and model_type == "gpt2":
        width = 4 * config.n_embd
    layer_types = getattr(config, "layer_types", None) or ()
    sliding = any("sliding" in str(t) for t in layer_types) or model_type in ("gemma2", "gemma3_text")
    return Architecture(model_type, layout, len(layers), int(width), prefix_cache=not sliding)
