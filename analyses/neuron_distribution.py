"""Where the value neurons sit: counts per layer and dimension (the paper's Figure 4).

    python analyses/neuron_distribution.py [STORE] [--model M] [--threshold 0.03] [--out fig.png]

Prints a markdown table (layers as rows, dimensions as columns, "value / opposite" counts)
and, with --out, draws a heatmap of the share of each layer's neurons that pass the rule.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nnvalues
from nnvalues.config import default_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", nargs="?", type=Path, default=default_store())
    parser.add_argument("--model", default=None)
    parser.add_argument("--threshold", type=float, default=0.03)
    parser.add_argument("--out", type=Path, default=None, help="heatmap file (.png, .pdf, .svg)")
    args = parser.parse_args()

    cube = nnvalues.open_cube(args.store, models=[args.model] if args.model else None)
    model = args.model or str(cube["model"].values[0])
    delta = nnvalues.delta(cube).sel(model=model).dropna("neuron", how="all").dropna("layer", how="all")
    value = (delta >= args.threshold).sum("neuron")
    opposite = (delta <= -args.threshold).sum("neuron")
    dimensions = [str(d) for d in delta["dimension"].values]
    print(f"{model}: neurons with delta >= {args.threshold} / <= -{args.threshold}, "
          f"of {delta.sizes['neuron']} per layer\n")
    print("| layer | " + " | ".join(dimensions) + " |")
    print("|---|" + "---|" * len(dimensions))
    for layer in delta["layer"].values:
        cells = [f"{int(value.sel(layer=layer, dimension=d))} / {int(opposite.sel(layer=layer, dimension=d))}"
                 for d in dimensions]
        print(f"| {int(layer)} | " + " | ".join(cells) + " |")
    total = delta.sizes["layer"] * delta.sizes["neuron"]
    shares = ", ".join(f"{d} {100 * int(value.sel(dimension=d).sum()) / total:.2f}%" for d in dimensions)
    print(f"\nshare of all neurons that are value neurons: {shares}")

    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import seaborn as sns

        share = (value / delta.sizes["neuron"]).transpose("layer", "dimension").to_pandas()
        fig, ax = plt.subplots(figsize=(6, max(4, delta.sizes["layer"] * 0.22)))
        sns.heatmap(share, cmap="viridis", ax=ax, cbar_kws={"label": "share of the layer's neurons"})
        ax.set_title(f"{model}: delta >= {args.threshold}")
        fig.tight_layout()
        fig.savefig(args.out, dpi=120)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
