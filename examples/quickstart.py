"""Quickstart: measure a few prompts on the embedded model and look at the cube.

    python examples/quickstart.py

Runs in about a minute on a laptop CPU (the first run also de-quantises the model once).
"""

from pathlib import Path
from tempfile import TemporaryDirectory

import nnvalues

with TemporaryDirectory() as tmp:
    store = Path(tmp) / "quickstart.zarr"
    # Four questions of one dimension, each after a value and a reversed description.
    nnvalues.locate("smollm2-135m", dimensions=["conservation"], limit=4, store=store)
    cube = nnvalues.open_cube(store)                      # the same cube, read back from disk
    for role, count in cube.nnv.per_layer().sum("layer").to_series().items():
        print(f"conservation: {count} {role} neurons pass the paper's |delta| >= 0.03")

    p = nnvalues.probability(cube)                        # fraction of prompts with m > 0
    delta = nnvalues.delta(cube).sel(model="smollm2-135m", dimension="conservation")

    per_layer = (delta >= 0.03).sum("neuron").to_series()
    print("value neurons per layer:", per_layer.to_dict())

    strongest = delta.stack(unit=("layer", "neuron")).sortby(lambda d: -abs(d))[:5]
    for (layer, neuron), value in zip(strongest["unit"].values, strongest.values):
        pos = float(p.sel(model="smollm2-135m", dimension="conservation", layer=layer,
                          neuron=neuron, polarity="positive"))
        print(f"layer {layer:2d} neuron {neuron:4d}: delta {value:+.2f} (p+ = {pos:.2f})")
