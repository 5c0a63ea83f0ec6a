"""Where batch summaries come from: one trace per batch here, one session per request remotely.

Locally every batch is its own trace (`nnvalues.stats.counting.reduce_batch`). Remotely each trace would be a request with its own
queueing and round trip, so a session wraps several batches: the server runs them one after
another, adds their [layers, 8, neurons] summaries (in float64, the precision of the running
tally) and sends back one summary per request. Nothing else leaves the server.

The block runs where the model is, so it does not assume where that is: the batch's masks
follow the activations to their device, and the reduction runs with autocast off (NDIF runs
requests under half-precision autocast, which would round token counts above 256).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import torch

from nnvalues.models.architecture import Architecture
from nnvalues.stats.batching import Batch, Unit, collate
from nnvalues.stats.counting import reduce_batch, reduce_layer

if TYPE_CHECKING:
    from nnvalues.execution import Execution
    from nnvalues.models.loading import LoadedModel


def on_device(batch: Batch, device: Any) -> Batch:
    """The batch with every tensor on `device`."""
    return dataclasses.replace(batch, **{
        f.name: getattr(batch, f.name).to(device) for f in dataclasses.fields(batch)
        if isinstance(getattr(batch, f.name), torch.Tensor)
    })


def summarise_layers(envoy: Any, architecture: Architecture, batch: Batch, rule: str) -> Any:
    """Inside a trace: the batch's [layers, 8, neurons] summary, computed where the model is."""
    summaries = []
    for layer in range(architecture.n_layers):
        output = architecture.activation_module(envoy, layer).output
        if layer == 0:
            batch = on_device(batch, output.device)
        with torch.autocast(output.device.type, enabled=False):
            summaries.append(reduce_layer(output, batch, rule))
    return torch.stack(summaries)


def reduce_request(envoy: Any, architecture: Architecture, batches: Sequence[Batch], rule: str,
                   **session_options: Any) -> torch.Tensor:
    """The [layers, 8, neurons] float64 sum of the batches' summaries, from one session.

    `session_options` choose where the session runs (a `backend`, or `remote="local"`).
    Each forward stops after the last layer's activation is read.
    """
    import nnsight

    with torch.inference_mode():
        with envoy.session(**session_options):
            parts = []
            for batch in batches:
                with envoy.trace(batch.inputs()) as tracer:
                    parts.append(summarise_layers(envoy, architecture, batch, rule).double())
                    tracer.stop()
            total = nnsight.save(torch.stack(parts).sum(dim=0))
    return total


def summaries(loaded: "LoadedModel", groups: list[list[Unit]], rule: str,
              trace_options: dict[str, Any], execution: "Execution",
              prepare: Callable[[list[Unit]], list[Unit]] | None = None,
              ) -> Iterator[tuple[Any, Batch, int]]:
    """Summaries with the rows and units they cover: per batch here, per request remotely.

    `prepare` turns a group into the units measured, just before its turn (e.g. it appends
    each prompt's generated answer), so an interrupted run never prepares what it skips.
    """
    pad_id = loaded.tokenizer.pad_token_id
    if prepare is None:
        prepare = list
    if execution.serialised:
        # Several batches per request, and no prefix cache to ship with them.
        step = execution.batches_per_request
        for start in range(0, len(groups), step):
            request = [prepare(group) for group in groups[start:start + step]]
            batches = [collate(group, pad_id, loaded.device) for group in request]
            summary = reduce_request(loaded.envoy, loaded.architecture, batches, rule,
                                     **execution.trace_options(loaded))
            units = [unit for group in request for unit in group]
            # All the request's rows as one batch: what the tally counts besides the summary.
            yield summary, collate(units, pad_id), len(units)
        return
    # Remote-style trace options keep one self-contained request per batch, without a cache.
    share_prefix = loaded.architecture.prefix_cache and "remote" not in trace_options
    for group in groups:
        group = prepare(group)
        batch = collate(group, pad_id, loaded.device, share_prefix=share_prefix)
        summary = reduce_batch(loaded.envoy, loaded.architecture, batch, rule, **trace_options)
        yield summary, batch, len(group)
