"""Where bfloat16's disagreements with float32 come from: the weights' rounding or the arithmetic.

    python benchmarks/bench_dtype_sources.py [--model smollm2-135m] [--dimension conservation]
                                             [--pairs 8]

A neuron is active on a prompt when its activation summed over the prompt's tokens is > 0
(the paper's counting). The `--pairs` value and reversed prompts of one dimension (the ones
`locate` renders) run one at a time, without padding, through the model in float32 and in
three other forms; printed for each, against float32: the share of (prompt, neuron) pairs
whose active state flips, and the share of neurons whose active count over these prompts is
identical (what bench_dtype.py measures at scale):
  bfloat16                   the model as `--dtype bfloat16` loads it
  float32, bfloat16 weights  every weight rounded to bfloat16, all arithmetic in float32
  bfloat16 matmuls           linear layers in bfloat16 (weights and inputs), float32 elsewhere
If the second row alone flips a large part of what the first does, no choice of arithmetic
with bfloat16 weights can come close to float32's counts.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F


def summed_activations(loaded, prompts: list[list[int]]) -> torch.Tensor:
    """[prompts, layers, neurons] activation summed over each prompt's tokens, in float32."""
    architecture = loaded.architecture
    held: dict[int, torch.Tensor] = {}
    handles = [architecture.activation_module(loaded.hf_model, layer).register_forward_hook(
        lambda _m, _i, out, layer=layer: held.__setitem__(layer, out.float().sum(dim=1)[0]))
        for layer in range(architecture.n_layers)]
    rows = []
    try:
        with torch.inference_mode():
            for ids in prompts:
                loaded.hf_model(input_ids=torch.tensor([ids], device=loaded.device))
                rows.append(torch.stack([held[layer] for layer in range(architecture.n_layers)]))
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(rows)


def round_weights(loaded) -> None:
    with torch.no_grad():
        for parameter in loaded.hf_model.parameters():
            parameter.copy_(parameter.bfloat16().float())


def bfloat16_matmuls(loaded) -> None:
    """Every linear layer multiplies in bfloat16 and hands float32 on."""
    for module in loaded.hf_model.modules():
        if isinstance(module, torch.nn.Linear):
            weight = module.weight.detach().bfloat16()
            bias = None if module.bias is None else module.bias.detach().bfloat16()
            module.forward = lambda x, w=weight, b=bias: F.linear(x.bfloat16(), w, b).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dimension", default="conservation")
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()

    from nnvalues.data.valueinsight import load_dataset, paired_records
    from nnvalues.models.loading import load_model
    from nnvalues.prompts.render import Renderer

    reference = load_model(args.model, dtype="float32")
    records = paired_records(load_dataset(), [args.dimension], limit=args.pairs)
    renderer = Renderer(reference.tokenizer, "auto")
    prompts = [list(renderer.render(r).input_ids) for r in records]
    float32 = summed_activations(reference, prompts)

    forms = {"bfloat16": summed_activations(load_model(args.model, dtype="bfloat16"), prompts)}
    round_weights(reference)
    forms["float32, bfloat16 weights"] = summed_activations(reference, prompts)
    bfloat16_matmuls(reference)
    forms["bfloat16 matmuls"] = summed_activations(reference, prompts)

    active = float32 > 0
    result = {"model": args.model, "dimension": args.dimension, "prompts": len(prompts),
              "neurons": int(active[0].numel()), "forms": {}}
    for name, summed in forms.items():
        other = summed > 0
        result["forms"][name] = {
            "flipped_prompt_neuron_pairs": float((other != active).float().mean()),
            "identical_active_counts": float((other.sum(0) == active.sum(0)).float().mean()),
        }
    print(json.dumps(result, indent=1))
    for name, found in result["forms"].items():
        print(f"{name} vs float32 over {len(prompts)} prompts: flipped (prompt, neuron) pairs "
              f"{found['flipped_prompt_neuron_pairs']:.2e}, identical active counts "
              f"{found['identical_active_counts']:.4f}")


if __name__ == "__main__":
    main()
