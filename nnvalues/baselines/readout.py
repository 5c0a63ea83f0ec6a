"""What LPIP needs of a model's anatomy: the final norm linearised at one position, the
unembedding, each layer's down projection and its optional post-FFN norm.

A norm is linearised by fixing its statistic (the RMS, or the standard deviation of a
LayerNorm) at the position scored, so that it becomes an affine map and a neuron's
contribution passes through it on its own. Gated models: a neuron's contribution to the
residual stream is m_k * W_down[:, k] with m = act_fn(gate x) * (up x), the input of
`down_proj`; GPT-2: m = act(c_fc x) times row k of `c_proj`. Models that norm the MLP's
output before adding it (Gemma 2/3, OLMo-2) get that norm linearised the same way, with
the RMS of the MLP output at the position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nnvalues.errors import ModelError
from nnvalues.models.loading import LoadedModel


@dataclass
class AffineNorm:
    """A norm with its statistic held fixed: u -> gain * centre(u) / s + bias."""

    gain: torch.Tensor
    bias: torch.Tensor | None
    centred: bool
    eps: float

    @classmethod
    def of(cls, module: Any) -> "AffineNorm":
        weight = module.weight.detach().float()
        eps = float(getattr(module, "variance_epsilon", getattr(module, "eps", 1e-6)))
        if isinstance(module, torch.nn.LayerNorm):
            bias = None if module.bias is None else module.bias.detach().float()
            return cls(weight, bias, True, eps)
        # An RMS norm: its effective gain (w, or 1 + w in Gemma) is its output on a vector of
        # ones, whose RMS is 1.
        with torch.no_grad():
            ones = torch.ones(1, weight.shape[0], dtype=module.weight.dtype, device=weight.device)
            gain = module(ones)[0].float() * (1.0 + eps) ** 0.5
        return cls(gain, None, False, eps)

    def statistic(self, x: torch.Tensor) -> torch.Tensor:
        """[rows] the RMS (or standard deviation) of each row of [rows, d] inputs."""
        x = x.float()
        if self.centred:
            x = x - x.mean(dim=-1, keepdim=True)
        return (x.pow(2).mean(dim=-1) + self.eps).sqrt()

    def linear(self, u: torch.Tensor) -> torch.Tensor:
        """gain * centre(u) along the first axis ([d, ...] columns), without the statistic."""
        if self.centred:
            u = u - u.mean(dim=0, keepdim=True)
        return self.gain.reshape(-1, *([1] * (u.dim() - 1))) * u

    def apply(self, u: torch.Tensor, statistic: torch.Tensor) -> torch.Tensor:
        """[rows, d] -> [rows, d] with each row's fixed statistic."""
        out = self.linear(u.float().T).T / statistic[:, None]
        return out if self.bias is None else out + self.bias


@dataclass
class Readout:
    norm: AffineNorm
    unembed: torch.Tensor
    """[vocab, d]"""
    unembed_bias: torch.Tensor | None
    softcap: float | None

    def logits(self, normed: torch.Tensor, capped: bool = True) -> torch.Tensor:
        z = normed @ self.unembed.T
        if self.unembed_bias is not None:
            z = z + self.unembed_bias
        return self.cap(z) if capped else z

    def cap(self, z: torch.Tensor) -> torch.Tensor:
        return z if self.softcap is None else self.softcap * torch.tanh(z / self.softcap)


@dataclass
class FfnOutput:
    """One layer's down projection as a [d, neurons] matrix, and its post-FFN norm if any."""

    down_module: Any
    down: torch.Tensor
    post_norm: AffineNorm | None
    post_norm_module: Any


def base_model(loaded: LoadedModel) -> Any:
    return loaded.hf_model.base_model


def final_norm_module(loaded: LoadedModel) -> Any:
    base = base_model(loaded)
    module = getattr(base, "norm", None) or getattr(base, "ln_f", None)
    if module is None:
        raise ModelError(f"{loaded.name}: no final norm found (looked for .norm and .ln_f)")
    return module


def readout(loaded: LoadedModel) -> Readout:
    head = loaded.hf_model.get_output_embeddings()
    bias = getattr(head, "bias", None)
    return Readout(AffineNorm.of(final_norm_module(loaded)), head.weight.detach().float(),
                   None if bias is None else bias.detach().float(),
                   getattr(loaded.hf_model.config, "final_logit_softcapping", None))


def ffn_output(loaded: LoadedModel, layer: int) -> FfnOutput:
    block = loaded.architecture.layer_modules(loaded.hf_model)[layer]
    down_module = getattr(block.mlp, "down_proj", None) or getattr(block.mlp, "c_proj", None)
    if down_module is None:
        raise ModelError(f"{loaded.name}: layer {layer} has no down_proj or c_proj")
    weight = down_module.weight.detach().float()
    # nn.Linear keeps [out, in] = [d, neurons]; GPT-2's Conv1D keeps [in, out].
    down = weight if isinstance(down_module, torch.nn.Linear) else weight.T
    post = getattr(block, "post_feedforward_layernorm", None)
    return FfnOutput(down_module, down, None if post is None else AffineNorm.of(post), post)
