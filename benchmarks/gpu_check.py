"""The GPU path, checked without a download: a Llama-3.1-8B-shaped model with random weights.

    python benchmarks/gpu_check.py [--tiny] [--prompts 64] [--batch-size 16] [--tokens 326]
                                   [--prefix 136] [--new-tokens 64] [--peak-tflops N]

The model is built from a LlamaConfig with 8B's shape (hidden 4096, MLP 14336, 32 layers,
32 heads, 8 key/value heads, vocabulary 128256) in bfloat16 on the GPU. Prompts are random
token ids of `--tokens` tokens that share their first `--prefix` (as the template makes
real prompts do). Printed, as ratios measured in this run:
  locate / bare forward   the in-trace reduction of `locate` (shared prefix, early stop)
                          against a plain forward of the same batches, prompts per second
  edited / plain          generation with an edit of ~1% of each layer's neurons on every
                          step against plain generation, tokens per second
  matmul / peak           a timed 8192^3 bfloat16 matmul against the GPU's stated peak (and
                          the bare forward's model FLOPs against the same peak)
Without a GPU (or with `--tiny`) it runs on the CPU with a tiny config of the same family,
so the script stays tested; its figures then say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import torch

LLAMA_31_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                   num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                   max_position_embeddings=131072, rope_theta=500000.0)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=512, max_position_embeddings=4096)
DENSE_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                     "A10": 125.0, "RTX 4090": 165.0}
"""Stated dense (no sparsity) bfloat16 tensor-core peaks of SXM parts, TFLOP/s."""


def build_model(tiny: bool, device: str):
    """A random-weight Llama and a word-level tokenizer whose ids are the model's vocabulary."""
    from tokenizers import Tokenizer, models
    from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

    from nnvalues.models.architecture import resolve
    from nnvalues.models.loading import LoadedModel

    shape = TINY if tiny else LLAMA_31_8B
    config = LlamaConfig(**shape, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>")),
        pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    model.generation_config.pad_token_id = 0
    name = "llama-3.1-8b-shape-random" if not tiny else "llama-tiny-random"
    return LoadedModel(name, "random", "random", model, tokenizer, resolve(model), device, "bfloat16")


def random_prompts(n: int, tokens: int, prefix: int, vocab: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(1)
    shared = torch.randint(3, vocab, (prefix,), generator=generator).tolist()
    return [shared + torch.randint(3, vocab, (tokens - prefix - i % 7,), generator=generator).tolist()
            for i in range(n)]


def timed(run: Callable[[], object], device: str, repeats: int = 2) -> float:
    """Best wall time of `repeats` runs after one warm-up, waiting for the device."""
    run()
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def locate_vs_bare(loaded, prompts: list[list[int]], batch_size: int) -> dict[str, float]:
    from nnvalues.prompts.render import RenderedPrompt
    from nnvalues.stats.batching import Row, collate
    from nnvalues.stats.counting import reduce_batch

    # Pairs of rows (positive, negative polarity), as locate measures them.
    units = [(Row(RenderedPrompt(f"p{i}", "", tuple(p)), 0), Row(RenderedPrompt(f"n{i}", "", tuple(p)), 1))
             for i, p in enumerate(prompts[::2])]
    groups = [units[i:i + batch_size // 2] for i in range(0, len(units), batch_size // 2)]
    plain = [collate(g, 0, loaded.device) for g in groups]
    shared = [collate(g, 0, loaded.device, share_prefix=True) for g in groups]

    def bare() -> None:
        with torch.inference_mode():
            for batch in plain:
                loaded.hf_model(**batch.inputs())

    def traced() -> None:
        for batch in shared:
            reduce_batch(loaded.envoy, loaded.architecture, batch, "prompt")

    seconds = {"bare": timed(bare, loaded.device), "locate": timed(traced, loaded.device)}
    rows = sum(b.size for b in plain)
    tokens = sum(int(b.attention_mask.sum()) for b in plain)
    return {"prompts": rows, "tokens": tokens, "bare_s": seconds["bare"], "locate_s": seconds["locate"],
            "ratio": seconds["bare"] / seconds["locate"]}


def edited_vs_plain(loaded, prompts: list[list[int]], batch_size: int, new_tokens: int) -> dict[str, float]:
    from nnvalues.intervene import Edit, GenerationSettings, LayerEdit, generate

    neurons = loaded.architecture.n_neurons
    count = max(2, neurons // 100)
    generator = torch.Generator().manual_seed(2)
    layers = []
    for layer in range(loaded.architecture.n_layers):
        index = torch.randperm(neurons, generator=generator)[:count]
        half = count // 2
        scale = torch.cat([torch.full((half,), 1.1), torch.ones(count - half)])
        upper = torch.cat([torch.full((half,), float("inf")), torch.zeros(count - half)])
        layers.append(LayerEdit(layer, index, scale, torch.zeros(count), upper, half, count - half))
    edit = Edit(tuple(layers))
    settings = GenerationSettings(max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                  batch_size=batch_size)
    chosen = prompts[:batch_size]
    seconds = {name: timed(lambda e=e: generate(loaded, chosen, e, settings), loaded.device)
               for name, e in (("plain", None), ("edited", edit))}
    tokens = len(chosen) * new_tokens
    return {"tokens": tokens, "plain_tokens_per_s": tokens / seconds["plain"],
            "edited_tokens_per_s": tokens / seconds["edited"],
            "ratio": seconds["plain"] / seconds["edited"], "edited_neurons": edit.size}


def matmul_tflops(device: str, size: int) -> float:
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    seconds = timed(lambda: a @ b, device, repeats=5)
    return 2 * size**3 / seconds / 1e12


def stated_peak(device: str, given: float | None) -> float | None:
    if given is not None or not device.startswith("cuda"):
        return given
    name = torch.cuda.get_device_name()
    return next((peak for part, peak in DENSE_BF16_TFLOPS.items() if part in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny config (automatic without a GPU)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=326)
    parser.add_argument("--prefix", type=int, default=136)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--peak-tflops", type=float, default=None)
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tiny = args.tiny or device == "cpu"
    from nnvalues.config import configure_torch

    configure_torch(device)
    loaded = build_model(tiny, device)
    prompts = random_prompts(args.prompts, args.tokens, args.prefix, loaded.hf_model.config.vocab_size)
    result: dict[str, object] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "model": loaded.name, "dtype": loaded.dtype,
        "parameters": sum(p.numel() for p in loaded.hf_model.parameters()),
        "locate": locate_vs_bare(loaded, prompts, args.batch_size),
        "generation": edited_vs_plain(loaded, prompts, args.batch_size, args.new_tokens),
    }
    achieved = matmul_tflops(device, 1024 if tiny else 8192)
    # Model FLOPs of the bare forward: 2 per parameter per token, attention left out.
    forward = 2 * result["parameters"] * result["locate"]["tokens"] / result["locate"]["bare_s"] / 1e12
    peak = stated_peak(device, args.peak_tflops)
    result["matmul_tflops"] = achieved
    result["bare_forward_tflops"] = forward
    result["stated_peak_tflops"] = peak
    print(json.dumps(result, indent=1))
    print(f"locate / bare forward, prompts per second: {result['locate']['ratio']:.2f}x")
    print(f"edited / plain generation, tokens per second: {result['generation']['ratio']:.2f}x")
    if peak:
        print(f"bf16 matmul: {achieved:.0f} TFLOP/s = {achieved / peak:.0%} of the stated {peak:.0f}; "
              f"bare forward: {forward:.0f} TFLOP/s = {forward / peak:.0%}")
    else:
        print(f"bf16 matmul: {achieved:.3f} TFLOP/s, bare forward {forward:.3f} TFLOP/s "
              "(no stated peak for this device: pass --peak-tflops)")


if __name__ == "__main__":
    main()
