"""Throughput and memory of `locate` against a bare Hugging Face forward pass.

    python benchmarks/bench_locate.py [--model smollm2-135m] [--prompts 48] [--batch-size 8]
                                      [--dtype auto] [--memory 50,500]

Throughput: the same batches go through (a) a plain float32 `model(**inputs)` with no hooks
and (b) `locate`'s traced reduction as `locate` runs it: in `--dtype` (auto: bfloat16 on a
CPU that multiplies it natively), with the batch's shared prefix run once. The ratio of
prompts per second is printed (the target is >= 4 on a bfloat16-capable CPU; it is above 1
even in float32 because locate stops after the last layer's activation, never computes
logits, and runs the prefix once).
Memory: `locate` runs in a fresh process per prompt count and reports its RSS after loading
and at its peak during the run, which should not grow with the number of prompts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def throughput(model_name: str, n_prompts: int, batch_size: int, repeats: int,
               dtype: str) -> dict[str, object]:
    from nnvalues.data.valueinsight import load_dataset, paired_records
    from nnvalues.models.loading import load_model
    from nnvalues.prompts.render import Renderer
    from nnvalues.stats.batching import batch_units, collate, make_units
    from nnvalues.stats.counting import reduce_batch

    baseline = load_model(model_name, dtype="float32")
    loaded = load_model(model_name, dtype=dtype)
    records = paired_records(load_dataset(), limit=max(1, n_prompts // 8))[:n_prompts]
    renderer = Renderer(loaded.tokenizer)
    units = make_units(records, [renderer.render(r) for r in records])
    groups = batch_units(units, batch_size)
    pad = loaded.tokenizer.pad_token_id
    batches = [collate(g, pad, loaded.device) for g in groups]
    shared = [collate(g, pad, loaded.device, share_prefix=loaded.architecture.prefix_cache)
              for g in groups]
    prompts = sum(b.size for b in batches)

    def bare() -> None:
        with torch.inference_mode():
            for batch in batches:
                baseline.hf_model(**batch.inputs())

    def traced() -> None:
        for batch in shared:
            reduce_batch(loaded.envoy, loaded.architecture, batch, "prompt")

    traced()  # warm-up: first trace compiles nnsight's code paths
    timings: dict[str, list[float]] = {"bare": [], "locate": []}
    for _ in range(repeats):  # interleaved, so that machine noise hits both alike
        for name, run in (("bare", bare), ("locate", traced)):
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)
    best = {name: min(values) for name, values in timings.items()}
    return {
        "dtype": loaded.dtype,
        "prompts": prompts,
        "tokens_per_prompt": float(sum(int(b.attention_mask.sum()) for b in batches) / prompts),
        "bare_prompts_per_s": prompts / best["bare"],
        "locate_prompts_per_s": prompts / best["locate"],
        "ratio": best["bare"] / best["locate"],
    }


_MEMORY_CHILD = """
import sys, threading, time, nnvalues

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
model = nnvalues.load_model(sys.argv[1], dtype=sys.argv[5])
before = status("VmRSS")
peak = [before]
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], status("VmRSS"))
        time.sleep(0.01)
done = threading.Event()
threading.Thread(target=sample, daemon=True).start()
nnvalues.locate(model, dimensions=["conservation"], limit=int(sys.argv[2]),
                batch_size=int(sys.argv[3]), store=sys.argv[4], show_progress=False)
done.set()
print(before, peak[0], status("VmHWM"))
"""


def peak_memory(model_name: str, n_prompts: int, batch_size: int, dtype: str) -> dict[str, float]:
    """RSS (MiB) of a fresh process: after loading the model, and at its peak during locate.

    Read from /proc (VmRSS sampled every 10 ms, VmHWM), not from getrusage, whose maximum a
    child inherits from the parent that forked it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, model_name, str(max(1, n_prompts // 2)),
             str(batch_size), str(Path(tmp) / "s.zarr"), dtype],
            check=True, capture_output=True, text=True)
    loaded, during, high_water = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
    return {"after_load": loaded, "peak_during_locate": during, "process_high_water": high_water,
            "locate_increase": during - loaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", default="auto", help="locate's dtype (the baseline is float32)")
    parser.add_argument("--memory", default="50,500", help="prompt counts for peak memory ('' to skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = {"throughput": throughput(args.model, args.prompts, args.batch_size, args.repeats,
                                       args.dtype)}
    counts = [int(c) for c in args.memory.split(",") if c]
    result["peak_rss_mib"] = {str(n): peak_memory(args.model, n, args.batch_size, args.dtype)
                              for n in counts}
    t = result["throughput"]
    print(json.dumps(result, indent=2))
    print(f"locate ({t['dtype']}) / bare float32 forward, prompts per second: {t['ratio']:.2f}x "
          f"({t['locate_prompts_per_s']:.2f} vs {t['bare_prompts_per_s']:.2f}, "
          f"{t['tokens_per_prompt']:.0f} tokens per prompt)")
    for n, rss in result["peak_rss_mib"].items():
        print(f"{n} prompts: RSS {rss['after_load']:.0f} MiB after loading, peak "
              f"{rss['peak_during_locate']:.0f} MiB during locate (+{rss['locate_increase']:.0f})")
    if len(counts) > 1:
        first, last = (result["peak_rss_mib"][str(n)]["peak_during_locate"] for n in (counts[0], counts[-1]))
        print(f"peak RSS during locate, {counts[-1]} / {counts[0]} prompts: {last / first:.2f}x")


if __name__ == "__main__":
    main()
