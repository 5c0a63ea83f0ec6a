"""Find and edit the value neurons of Llama-3.1-8B on NDIF, with no GPU here.

Before the first run:
  1. An NDIF API key: sign in at https://login.ndif.us (free for research use), then
         export NDIF_API_KEY=...             # or once: python -c "import nnsight; nnsight.login()"
     nnvalues reads it from the environment or nnsight's config; it never takes it on a
     command line and never writes it anywhere.
  2. Llama's config and tokenizer come from the Hugging Face hub (the weights stay on NDIF):
     accept the licence at https://huggingface.co/meta-llama/Llama-3.1-8B, then `hf auth login`.

    python examples/ndif_llama.py [--dimension conservation] [--limit 8] [--store stores/ndif.zarr]

What it costs in NDIF requests (batch size 8, 8 batches per request):
  - locate: one request per 64 prompts of a dimension, so --limit 8 (8 questions x 2
    polarities = 16 prompts) is 1 request; the full ValueInsight set (600 prompts per
    dimension) is 10 requests per dimension, 40 for all four. Each request returns one
    [32 layers, 6, 14336] summary, about 11 MB before compression, instead of the ~100 MB
    of activations per prompt a naive trace would bring back.
  - intervene: 2 requests per batch of questions (unedited and edited generation), here 2.
An interrupted run resumes from its last finished request when started again.
The same from the command line:
    nnvalues locate --remote --model meta-llama/Llama-3.1-8B --dimensions conservation --limit 8
"""

from __future__ import annotations

import argparse

import nnvalues
from nnvalues.execution import Execution

MODEL = "meta-llama/Llama-3.1-8B"
QUESTIONS = [
    "Your neighbour asks you to water her plants all summer. What would you do?",
    "A colleague proposes a new way to run the weekly meeting. What do you think?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dimension", default="conservation")
    parser.add_argument("--limit", type=int, default=8, help="questions (pairs) to measure")
    parser.add_argument("--store", default="stores/ndif.zarr")
    args = parser.parse_args()

    ndif = Execution("remote")  # NDIF_HOST / NDIF_API_KEY or nnsight's config
    print(f"running on {ndif.describe()}")
    model = ndif.load(MODEL)  # tokenizer, config and module tree; weights stay on NDIF
    cube = nnvalues.locate(model, dimensions=[args.dimension], limit=args.limit,
                           store=args.store, execution=ndif)
    print(cube.nnv.per_layer(dimension=args.dimension).sum("layer").to_series())

    neurons = nnvalues.select(cube, dimension=args.dimension, rule=nnvalues.TopK(200))
    edit = nnvalues.Edit.from_neurons(neurons, direction="positive", gamma=2.0)
    result = nnvalues.intervene(model, QUESTIONS, edit, execution=ndif)
    for answer in result.answers:
        print(f"\nQ: {answer.question}\n  unedited: {answer.unedited}\n  edited:   {answer.edited}")
    print(f"\nNDIF: {ndif.meter.describe()}")


if __name__ == "__main__":
    main()
