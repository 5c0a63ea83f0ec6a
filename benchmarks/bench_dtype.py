"""What bfloat16 changes against float32, next to the sampling noise of the method.

    python benchmarks/bench_dtype.py [--model smollm2-135m] [--dimension conservation]
                                     [--pairs 80] [--batch-size 8] [--questions 8]
                                     [--new-tokens 32] [--top-k 500]

The `--pairs` questions of one dimension (each after a value and after a reversed
description) are split into two halves A and B; each half is measured by `locate` in
float32 and in bfloat16. Printed:
  dtype, all pairs      bfloat16 vs float32 (A and B pooled): identical active counts,
                        correlation of delta, Jaccard of the paper-rule, FDR and top-k sets
  dtype, half A         the same on half the pairs
  split-half noise      float32 on A vs float32 on B: what other prompts of the same kind
                        change, at the same number of pairs as "half A"
  intervention          the paper's edit (the neurons half A's float32 cell selects,
                        gamma 2) in both dtypes: identical greedy answers, share of tokens
                        before the answers part, and, teacher-forced on the float32
                        answers, the share of positions with the same top token and the
                        mean |difference| of the answer tokens' log-probabilities
and locate's prompts per second in each dtype.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def write_half(records: list, path: Path) -> Path:
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    return path


def teacher_forced(models: dict, prompts: list, answers: list, edit) -> dict[str, float]:
    """Top-token agreement and log-probability difference on the float32 answers."""
    from nnvalues.intervene.generation import pad_batch

    sequences = [list(p) + list(a) for p, a in zip(prompts, answers)]
    scores = {}
    for name, loaded in models.items():
        inputs = pad_batch(loaded, sequences)
        with torch.inference_mode(), edit.applied(loaded):
            logits = loaded.hf_model(**inputs).logits.float()
        scores[name] = torch.log_softmax(logits, dim=-1)
    first, second = scores.values()
    width = first.shape[1]
    same, differences = [], []
    for row, (prompt, answer) in enumerate(zip(prompts, answers)):
        # positions whose next token is an answer token
        at = torch.arange(width - len(answer) - 1, width - 1)
        tokens = torch.as_tensor(list(answer))
        same.append((first[row, at].argmax(-1) == second[row, at].argmax(-1)).float())
        differences.append((first[row, at, tokens] - second[row, at, tokens]).abs())
    return {"same_top_token": float(torch.cat(same).mean()),
            "mean_abs_logprob_difference": float(torch.cat(differences).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dimension", default="conservation")
    parser.add_argument("--pairs", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--top-k", type=int, default=500)
    args = parser.parse_args()

    from nnvalues.cube.agreement import compare_cells, pool_cells, standard_rules, token_agreement
    from nnvalues.data.valueinsight import load_dataset, paired_records
    from nnvalues.intervene import GenerationSettings, build_edit, generate
    from nnvalues.intervene.questions import render_questions
    from nnvalues.cube.view import pick_cell
    from nnvalues.locate import locate
    from nnvalues.models.loading import load_model
    from nnvalues.select import Threshold, select

    data = load_dataset()
    records = paired_records(data, [args.dimension], limit=args.pairs)
    pair_ids = list(dict.fromkeys(r.pair for r in records))
    halves = {"A": set(pair_ids[0::2]), "B": set(pair_ids[1::2])}
    models = {dtype: load_model(args.model, dtype=dtype) for dtype in ("float32", "bfloat16")}
    cells, rates = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for half, chosen in halves.items():
            path = write_half([r for r in records if r.pair in chosen], Path(scratch) / f"{half}.jsonl")
            for dtype, loaded in models.items():
                start = time.perf_counter()
                cube = locate(loaded, prompts=path, batch_size=args.batch_size, show_progress=False)
                cells[dtype, half] = pick_cell(cube)
                prompts = int(cells[dtype, half]["prompts"].sum())
                rates.setdefault(dtype, []).append((prompts, time.perf_counter() - start))
    neuron_set = select(cells["float32", "A"], rule=Threshold())
    rules = standard_rules(args.top_k)
    pooled = {dtype: pool_cells([cells[dtype, "A"], cells[dtype, "B"]]) for dtype in models}
    result: dict[str, object] = {
        "model": args.model, "dimension": args.dimension, "pairs": len(pair_ids),
        "locate_prompts_per_s": {d: sum(n for n, _ in r) / sum(s for _, s in r) for d, r in rates.items()},
        "dtype, all pairs": compare_cells(pooled["float32"], pooled["bfloat16"], rules),
        "dtype, half A": compare_cells(cells["float32", "A"], cells["bfloat16", "A"], rules),
        "split-half noise (float32, A vs B)": compare_cells(cells["float32", "A"],
                                                             cells["float32", "B"], rules),
    }

    edit = build_edit(neuron_set, "positive", 2.0)
    questions = [q.text for q in data.questions_for(args.dimension, "evaluate")][:args.questions]
    prompts = [p.input_ids for p in render_questions(models["float32"].tokenizer, questions)[0]]
    settings = GenerationSettings(max_new_tokens=args.new_tokens, batch_size=args.batch_size)
    answers = {(d, name): [a.token_ids for a in generate(loaded, prompts, e, settings)]
               for d, loaded in models.items() for name, e in (("plain", None), ("edited", edit))}
    result["intervention"] = {
        "edited_neurons": edit.size, "questions": len(prompts), "new_tokens": args.new_tokens,
        "edited, bfloat16 vs float32": token_agreement(answers["float32", "edited"],
                                                       answers["bfloat16", "edited"]),
        "plain, bfloat16 vs float32": token_agreement(answers["float32", "plain"],
                                                      answers["bfloat16", "plain"]),
        "float32, edited vs plain (the edit's own effect)": token_agreement(
            answers["float32", "edited"], answers["float32", "plain"]),
        "teacher-forced, edited, bfloat16 vs float32": teacher_forced(
            models, prompts, answers["float32", "edited"], edit),
    }
    print(json.dumps(result, indent=1))
    report(result)


def report(result: dict) -> None:
    for name in ("dtype, all pairs", "dtype, half A", "split-half noise (float32, A vs B)"):
        part = result[name]
        sets = ", ".join(f"{rule} {v['jaccard']:.3f} ({v['sizes'][0]}/{v['sizes'][1]})"
                         for rule, v in part["rules"].items())
        print(f"{name}: identical active counts {part['identical_active_counts']:.4f}, "
              f"delta correlation {part['delta_correlation']:.4f}; Jaccard {sets}")
    tf = result["intervention"]["teacher-forced, edited, bfloat16 vs float32"]
    for name, agreement in result["intervention"].items():
        if isinstance(agreement, dict) and "identical_answers" in agreement:
            print(f"{name}: identical answers {agreement['identical_answers']:.2f}, "
                  f"tokens before they part {agreement['agreeing_tokens']:.2f}")
    print(f"teacher-forced, edited: same top token {tf['same_top_token']:.4f}, mean |log-prob "
          f"difference| {tf['mean_abs_logprob_difference']:.4f}")
    rates = result["locate_prompts_per_s"]
    print(f"locate prompts per second: bfloat16 / float32 {rates['bfloat16'] / rates['float32']:.2f}x "
          f"({rates['bfloat16']:.2f} vs {rates['float32']:.2f})")


if __name__ == "__main__":
    main()
