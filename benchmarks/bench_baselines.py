"""Cost of each baseline per prompt, against one forward pass of `locate`, and its peak memory.

    python benchmarks/bench_baselines.py [--model smollm2-135m] [--pairs 4]
                                         [--methods lpip,qrnca,cgvst,atp,meandiff] [--memory]

Time: the same prompts (the first `pairs` questions of conservation, both polarities) go
through `locate`'s traced reduction and through each method's full scoring run (targets
included, into a throw-away store); the ratio of seconds per prompt is printed, so ">= 1"
means that many locate forward passes. meandiff reads the cube `locate` just wrote.
Memory (--memory): each method runs in a fresh process that reports its resident size
after loading the model and its high-water mark (VmHWM) at the end.
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

DIMENSION = "conservation"


def locate_seconds_per_prompt(loaded, pairs: int, batch_size: int) -> float:
    from nnvalues.data.valueinsight import load_dataset, paired_records
    from nnvalues.prompts.render import Renderer
    from nnvalues.stats.batching import batch_units, collate, make_units
    from nnvalues.stats.counting import reduce_batch

    records = paired_records(load_dataset(), [DIMENSION], limit=pairs)
    renderer = Renderer(loaded.tokenizer)
    units = make_units(records, [renderer.render(r) for r in records])
    batches = [collate(b, loaded.tokenizer.pad_token_id, loaded.device,
                       share_prefix=loaded.architecture.prefix_cache)
               for b in batch_units(units, batch_size)]
    reduce_batch(loaded.envoy, loaded.architecture, batches[0], "prompt")  # warm-up
    start = time.perf_counter()
    for batch in batches:
        reduce_batch(loaded.envoy, loaded.architecture, batch, "prompt")
    return (time.perf_counter() - start) / len(records)


def method_seconds_per_prompt(loaded, method: str, pairs: int, batch_size: int, cube: Path,
                              folder: Path) -> float:
    from nnvalues.baselines import score

    start = time.perf_counter()
    (summary,) = score(loaded, method=method, dimensions=[DIMENSION], limit=pairs,
                       batch_size=batch_size, store=folder / f"{method}.zarr", cube=cube,
                       show_progress=False)
    return (time.perf_counter() - start) / summary.prompts


_CHILD = """
import sys, nnvalues
from nnvalues.baselines import score

def field(name):
    for line in open("/proc/self/status"):
        if line.startswith(name):
            return int(line.split()[1]) / 1024
model = nnvalues.load_model(sys.argv[1])
loaded = field("VmRSS")
score(model, method=sys.argv[2], dimensions=["conservation"], limit=int(sys.argv[3]),
      batch_size=int(sys.argv[4]), store=sys.argv[5], cube=sys.argv[6], show_progress=False)
print(loaded, field("VmHWM"))
"""


def peak_memory(model: str, method: str, pairs: int, batch_size: int, cube: Path,
                folder: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, model, method, str(pairs), str(batch_size),
                          str(folder / f"mem-{method}.zarr"), str(cube)],
                         check=True, capture_output=True, text=True)
    loaded, high = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
    return {"after_load_mib": loaded, "high_water_mib": high, "increase_mib": high - loaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--methods", default="lpip,qrnca,cgvst,atp,meandiff")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory per method")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import nnvalues

    loaded = nnvalues.load_model(args.model)
    methods = [m for m in args.methods.split(",") if m]
    result: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cube = folder / "cube.zarr"
        nnvalues.locate(loaded, dimensions=[DIMENSION], limit=args.pairs, store=cube,
                        show_progress=False)
        base = locate_seconds_per_prompt(loaded, args.pairs, args.batch_size)
        result["locate"] = {"seconds_per_prompt": base, "ratio": 1.0}
        for method in methods:
            seconds = method_seconds_per_prompt(loaded, method, args.pairs, args.batch_size, cube,
                                                folder)
            result[method] = {"seconds_per_prompt": seconds, "ratio": seconds / base}
            if args.memory:
                result[method].update(peak_memory(args.model, method, args.pairs,
                                                  args.batch_size, cube, folder))
    print(json.dumps(result, indent=2))
    for name, row in result.items():
        memory = (f", peak +{row['increase_mib']:.0f} MiB over the loaded model"
                  if "increase_mib" in row else "")
        print(f"{name:9s} {row['seconds_per_prompt']:8.3f} s/prompt = {row['ratio']:7.1f} x "
              f"locate's forward{memory}")


if __name__ == "__main__":
    main()
