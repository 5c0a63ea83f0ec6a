"""Tokens per second of edited generation against plain generation of the same prompts.

    python benchmarks/bench_intervene.py [--model smollm2-135m] [--store PATH] [--questions 4]
                                         [--batch-size 4] [--new-tokens 48] [--repeats 5]
                                         [--threshold 0.03 | --top-k N] [--dtype auto]

The same left-padded batches are generated (greedy, a fixed number of new tokens so that
every run does the same work), all in the model's one dtype, by (a) plain `transformers`
generate, (b) the same with the paper's edit (eq. 6, gamma 2) hooked into every step (what
`generate` does here), (c) the edit inside nnsight's step loop (what a remote request runs;
here the tracing overhead), (a) and (b) again with
the batch's shared prompt prefix run once, and (a) with torch's own SDPA attention instead of
nnvalues' one-token decoding path (`nnvalues.models.attention`; CPU, half precision). Runs are interleaved and the best of `repeats`
is kept, so that noise from other work on the machine hits all alike. The ratios of tokens
per second are printed: edited / plain (target >= 0.9), shared prefix / not, and decoding
attention / torch SDPA.
The neurons come from the store when it holds the model (default: stores/activations.zarr),
otherwise from a small store measured into a temporary directory first.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from nnvalues.config import default_store


def neuron_store(model: str, store: Path | None, scratch: Path) -> Path:
    from nnvalues.cube.store import CubeStore
    from nnvalues.errors import NnvaluesError
    from nnvalues.locate import locate
    from nnvalues.select.cell import resolve_model, stored_dimensions

    path = store or default_store()
    try:
        cube_store = CubeStore.open(path)
        if stored_dimensions(cube_store, resolve_model(cube_store, model)):
            return path
    except NnvaluesError:
        if store is not None:
            raise
    path = scratch / "bench.zarr"
    locate(model, dimensions=["conservation"], limit=4, store=path, show_progress=False)
    return path


def nnsight_loop(loaded, prompts, edit, settings) -> list:
    """The batches generated with the edit inside nnsight's step loop (a remote request's path)."""
    import torch

    from nnvalues.intervene.generation import Generated, _generate_edited, pad_batch

    answers = []
    for start in range(0, len(prompts), settings.batch_size):
        inputs = pad_batch(loaded, prompts[start:start + settings.batch_size])
        with torch.inference_mode():
            sequences = _generate_edited(loaded, inputs, edit, settings.generate_kwargs())
        width = inputs["input_ids"].shape[1]
        answers += [Generated(tuple(row), "") for row in sequences[:, width:].tolist()]
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--dimension", default=None)
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()

    from nnvalues.data.valueinsight import load_dataset
    from nnvalues.intervene import GenerationSettings, build_edit, generate
    from nnvalues.intervene.questions import render_questions
    from nnvalues.models.loading import load_model
    from nnvalues.select import rule_from_options, select

    loaded = load_model(args.model, device=args.device, dtype=args.dtype)
    with tempfile.TemporaryDirectory() as scratch:
        store = neuron_store(loaded.name, args.store, Path(scratch))
        neuron_set = select(store, model=loaded.name, dimension=args.dimension,
                            rule=rule_from_options(args.threshold, args.top_k),
                            revision=loaded.revision)
    edit = build_edit(neuron_set, "positive", 2.0)
    questions = [q.text for q in load_dataset().questions][:args.questions]
    prompts = [p.input_ids for p in render_questions(loaded.tokenizer, questions)[0]]
    settings = GenerationSettings(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                  batch_size=args.batch_size)
    chosen = loaded.hf_model.config._attn_implementation
    runs = {"plain": (None, False, chosen), "edited": (edit, False, chosen),
            "edited, nnsight step loop": (edit, False, chosen), "plain, shared prefix": (None, True, chosen),
            "edited, shared prefix": (edit, True, chosen), "plain, torch sdpa": (None, False, "sdpa")}
    generate(loaded, prompts, edit, settings)  # warm-up: nnsight compiles its code paths once
    best: dict[str, float] = {}
    tokens = 0
    for _ in range(args.repeats):
        for name, (run_edit, share, attention) in runs.items():
            loaded.hf_model.set_attn_implementation(attention)
            start = time.perf_counter()
            if name == "edited, nnsight step loop":
                answers = nnsight_loop(loaded, prompts, run_edit, settings)
            else:
                answers = generate(loaded, prompts, run_edit, settings, share_prefix=share)
            elapsed = time.perf_counter() - start
            tokens = sum(len(a.token_ids) for a in answers)
            best[name] = min(best.get(name, float("inf")), elapsed)
    rates = {name: tokens / seconds for name, seconds in best.items()}
    result = {
        "model": loaded.name, "device": loaded.device, "dtype": loaded.dtype,
        "neuron_set": neuron_set.describe(), "edited_neurons": edit.size,
        "edited_layers": len(edit.layers), "questions": len(prompts),
        "batch_size": args.batch_size, "new_tokens": args.new_tokens, "tokens": tokens,
        "tokens_per_s": {k: round(v, 2) for k, v in rates.items()},
        "ratio_edited_over_plain": round(rates["edited"] / rates["plain"], 3),
        "ratio_nnsight_loop_over_plain": round(rates["edited, nnsight step loop"] / rates["plain"], 3),
        "ratio_shared_prefix_plain": round(rates["plain, shared prefix"] / rates["plain"], 3),
        "ratio_shared_prefix_edited": round(rates["edited, shared prefix"] / rates["edited"], 3),
        "attention": chosen,
        "ratio_attention_over_sdpa": round(rates["plain"] / rates["plain, torch sdpa"], 3),
    }
    print(json.dumps(result, indent=1))
    print(f"edited / plain tokens per second: {result['ratio_edited_over_plain']:.3f} "
          f"(target >= 0.9; the edit in nnsight's step loop: {result['ratio_nnsight_loop_over_plain']:.3f})")
    print(f"shared prefix / not, tokens per second: plain {result['ratio_shared_prefix_plain']:.3f}, "
          f"edited {result['ratio_shared_prefix_edited']:.3f} ({loaded.dtype})")
    print(f"{chosen} / torch sdpa, plain generation tokens per second: "
          f"{result['ratio_attention_over_sdpa']:.3f}")


if __name__ == "__main__":
    main()
