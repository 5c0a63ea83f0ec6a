"""Teacher-forced scoring (the contrast and fluency metrics) against a bare forward pass of
the same batches, and optionally the time of a quick judge-free study.

    PYTHONPATH=. python benchmarks/bench_evaluate.py [--model smollm2-135m] [--dimension conservation]
                                        [--questions 16] [--reference-tokens 64] [--repeats 3]
                                        [--study]

For each held-out question the two reference answers are scored (a) the way `evaluate`
scores them: a batch of questions at a time (`--batch`), the opening they share once, each
question prompt once, every answer a row of one batch, logits only at answer positions, the
paper's edit (threshold 0.03, gamma 2) applied; (a0) the same one question at a time (the
previous scheme); and (b) by a bare forward of the two full sequences (prompt + answer,
right-padded) per question with no edit and logits everywhere. Both count the same tokens (prompt + both answers per
question); runs are interleaved and the best of `repeats` kept. The target is a ratio
(a)/(b) of tokens per second >= 0.8. `--study` then times the quick study: one dimension,
20 questions, paper rule + 5 random seeds, both directions, gamma 2, contrast and fluency
(budget: 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def bare_forward(loaded, prompt, answers) -> None:
    rows = [list(prompt) + list(a) for a in answers]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), loaded.tokenizer.pad_token_id or 0, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for n, row in enumerate(rows):
        ids[n, :len(row)] = torch.as_tensor(row)
        mask[n, :len(row)] = 1
    with torch.inference_mode():
        loaded.hf_model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device)).logits.float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--dimension", default="conservation")
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--reference-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="Questions per scoring batch.")
    parser.add_argument("--study", action="store_true", help="Also time the quick study.")
    args = parser.parse_args()

    import nnvalues
    from nnvalues.config import default_store
    from nnvalues.evaluate.likelihood import answer_logprobs, batch_answer_logprobs
    from nnvalues.evaluate.questions import load_questions
    from nnvalues.evaluate.references import generate_references
    from nnvalues.intervene.edits import build_edit
    from nnvalues.intervene.questions import render_questions
    from nnvalues.select import select

    store = args.store or default_store()
    loaded = nnvalues.load_model(args.model)
    neurons = select(store, model=loaded.name, dimension=args.dimension)
    edit = build_edit(neurons, "positive", 2.0).to(loaded.device, loaded.hf_model.dtype)
    items = load_questions("heldout", args.dimension, args.questions)
    references = generate_references(loaded, items, args.dimension, 0, args.reference_tokens)
    prompts, _ = render_questions(loaded.tokenizer, [i.text for i in items])
    work = [(p.input_ids, [r.value_ids, r.reversed_ids]) for p, r in zip(prompts, references)]
    tokens = sum(2 * len(p) + len(a[0]) + len(a[1]) for p, a in work)
    print(f"{loaded.name}: {len(work)} questions, {len(neurons)} edited neurons, "
          f"{tokens} sequence tokens per pass (both answers with their prompt)")

    best = {"teacher-forced, edited": float("inf"), "one question at a time": float("inf"),
            "bare forward": float("inf")}
    for _ in range(args.repeats):
        start = time.perf_counter()
        for first in range(0, len(work), args.batch):
            chunk = work[first:first + args.batch]
            batch_answer_logprobs(loaded, [p for p, _ in chunk], [a for _, a in chunk], edit)
        best["teacher-forced, edited"] = min(best["teacher-forced, edited"], time.perf_counter() - start)
        start = time.perf_counter()
        for prompt, answers in work:
            answer_logprobs(loaded, prompt, answers, edit)
        best["one question at a time"] = min(best["one question at a time"], time.perf_counter() - start)
        start = time.perf_counter()
        for prompt, answers in work:
            bare_forward(loaded, prompt, answers)
        best["bare forward"] = min(best["bare forward"], time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"  {name:24s} {seconds:7.2f} s   {tokens / seconds:9.0f} tokens/s")
    ratio = best["bare forward"] / best["teacher-forced, edited"]
    print(f"ratio teacher-forced / bare forward (tokens per second): {ratio:.2f} (target >= 0.8)")
    print(f"ratio batched / one question at a time: "
          f"{best['one question at a time'] / best['teacher-forced, edited']:.2f}")

    if args.study:
        from nnvalues.evaluate import Grid, evaluate

        grid = Grid(models=(args.model,), methods=("paper", "random"), dimensions=(args.dimension,),
                    directions=("positive", "negative"), gammas=(2.0,), seeds=5)
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            done = evaluate(grid, None, cube=store, results=Path(scratch) / "r.zarr",
                            metrics=("contrast", "fluency"), limit=20, show_progress=False)
            seconds = time.perf_counter() - start
        print(f"quick study ({done.plan.describe()}): {seconds:.0f} s (budget 180 s)")


if __name__ == "__main__":
    main()
