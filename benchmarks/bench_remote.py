"""What remote `locate` sends and receives per batch, against a naive remote trace.

    python benchmarks/bench_remote.py [--model smollm2-135m|DIR] [--prompts 32] [--batch-size 8]
                                      [--per-request 1,2,4] [--host URL]

Without --host, a self-hosted NDIF server is started on loopback (tests/ndif_server.py; the
first run installs it). The same batches of ValueInsight prompts are reduced remotely with
1, 2, 4, ... batches per request (nnsight sessions), counting requests and bytes at the HTTP
layer. The baseline is the naive way: one request per batch that saves every layer's
activation ([layers, batch, tokens, neurons]) and reduces here. Its bytes are measured on the
first batch and computed for all of them; the ratio printed is naive bytes / our bytes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nnsight
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnvalues.data.valueinsight import load_dataset, paired_records  # noqa: E402
from nnvalues.execution import Execution  # noqa: E402
from nnvalues.models.loading import load_model  # noqa: E402
from nnvalues.prompts.render import Renderer  # noqa: E402
from nnvalues.stats.sessions import reduce_request  # noqa: E402
from nnvalues.stats.batching import batch_units, collate, make_units  # noqa: E402


def model_directory(spec: str) -> str:
    """A directory the server can open: the embedded model's dense copy, or `spec` itself."""
    if Path(spec).is_dir():
        return spec
    return load_model(spec).hf_model.config._name_or_path


def naive_batch(loaded, batch, execution: Execution) -> None:
    """Every layer's activation comes back; the reduction would happen here."""
    envoy, arch = loaded.envoy, loaded.architecture
    with torch.inference_mode():
        with envoy.trace(batch.inputs(), **execution.trace_options(loaded)) as tracer:
            acts = torch.stack([arch.activation_module(envoy, layer).output
                                for layer in range(arch.n_layers)]).save()
            tracer.stop()
    assert acts.shape[:2] == (arch.n_layers, batch.size)


def run(host: str, args: argparse.Namespace) -> None:
    model = model_directory(args.model)
    probe = Execution("remote", host=host)
    loaded = probe.load(model)
    records = paired_records(load_dataset(), limit=max(1, args.prompts // 8))[:args.prompts]
    renderer = Renderer(loaded.tokenizer)
    units = make_units(records, [renderer.render(r) for r in records])
    batches = [collate(g, loaded.tokenizer.pad_token_id)
               for g in batch_units(units, args.batch_size)]
    prompts = sum(b.size for b in batches)
    arch = loaded.architecture
    # What a naive trace returns, uncompressed: float32 activations at every position.
    naive_bytes = sum(arch.n_layers * b.size * b.input_ids.shape[1] * arch.n_neurons * 4
                      for b in batches)
    print(f"model {loaded.name}: {arch.n_layers} layers x {arch.n_neurons} neurons; "
          f"{prompts} prompts in {len(batches)} batches of <= {args.batch_size}; server {host}")

    # Warm-up: the first request deploys the model on the server.
    reduce_request(loaded.envoy, arch, batches[:1], "prompt", **probe.trace_options(loaded))

    naive = Execution("remote", host=host)
    started = time.perf_counter()
    naive_batch(loaded, batches[0], naive)
    naive_seconds = time.perf_counter() - started
    first_raw = arch.n_layers * batches[0].size * batches[0].input_ids.shape[1] * arch.n_neurons * 4
    compression = naive.meter.bytes_received / first_raw
    naive_raw = naive_bytes / len(batches)
    naive_wire = naive_raw * compression  # batch 1's compression applied to the average batch
    print(f"naive trace of batch 1: {first_raw:,} bytes of activations, "
          f"{naive.meter.bytes_received:,} received (zstd x{1 / compression:.1f}) in {naive_seconds:.1f} s; per batch on average "
          f"{naive_raw:,.0f} raw, ~{naive_wire:,.0f} received, 1 request")

    print(f"\n{'batches/request':>15} {'requests':>8} {'req/batch':>9} {'sent/batch':>11} "
          f"{'recv/batch':>11} {'naive/ours raw':>14} {'naive/ours wire':>15} {'seconds':>8}")
    for per_request in args.per_request:
        execution = Execution("remote", host=host, batches_per_request=per_request)
        started = time.perf_counter()
        for start in range(0, len(batches), per_request):
            reduce_request(loaded.envoy, arch, batches[start:start + per_request], "prompt",
                           **execution.trace_options(loaded))
        seconds = time.perf_counter() - started
        m, n = execution.meter, len(batches)
        received = m.bytes_received / n
        print(f"{per_request:15d} {m.requests:8d} {m.requests / n:9.2f} {m.bytes_sent / n:11,.0f} "
              f"{received:11,.0f} {naive_raw / received:14,.0f} {naive_wire / received:15,.0f} "
              f"{seconds:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--per-request", default="1,2,4",
                        type=lambda text: [int(v) for v in text.split(",")])
    parser.add_argument("--host", help="an NDIF server this process can reach (default: start one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    nnsight.CONFIG.APP.REMOTE_LOGGING = False
    if args.host:
        run(args.host, args)
        return
    from tests.ndif_server import serve

    with serve(log=lambda line: print(line, file=sys.stderr)) as stack:
        with stack.enter():
            run(stack.host, args)


if __name__ == "__main__":
    main()
