"""`nnvalues select`: choose neurons from a store, report what each rule selects, save sets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.baselines_cmd import baseline_rule
from nnvalues.cli.output import console, table
from nnvalues.config import default_store
from nnvalues.cube.slicing import check_export, export_table
from nnvalues.cube.store import CubeStore
from nnvalues.errors import UsageError
from nnvalues.select import (
    DEFAULT_FDR,
    FDR,
    PAPER_THRESHOLD,
    NeuronSet,
    Threshold,
    TopK,
    list_sets,
    load_set,
    rule_counts,
    rule_from_options,
    select as select_neurons,
)
from nnvalues.select.cell import open_cell, resolve_model, stored_dimensions
from nnvalues.select.chance import cell_chance_level
from nnvalues.select.neuron_set import check_name


def per_layer_table(neuron_set: NeuronSet, title: str = "neurons per layer") -> object:
    counts = neuron_set.per_layer()
    rows = [(layer, v, o) for layer, (v, o) in enumerate(zip(counts["value"], counts["opposite"]))
            if v or o]
    return table(title, ("layer", "value", "opposite"), rows)


def _report(path: Path, model: str | None, dimensions: list[str], threshold: float,
            fdr: float, test: str) -> None:
    rows = []
    for dim in dimensions:
        chance = cell_chance_level(open_cell(path, model, dim), threshold)
        rules = (Threshold(threshold), FDR(fdr, test))
        for row in rule_counts(path, model=model, dimension=dim, rules=rules):
            params = ", ".join(f"{k} {v}" for k, v in row["parameters"].items())
            by_chance = chance.describe() if chance is not None and row["rule"] == "threshold" else ""
            rows.append((row["dimension"], row["rule"], params or row["note"],
                         "" if row["value"] is None else row["value"],
                         "" if row["opposite"] is None else row["opposite"], by_chance,
                         "/".join(map(str, row["prompts"])), row["pairs"]))
    console.print(table(f"neurons each rule selects ({path}); by chance: expected count [95% band] "
                        "with polarity labels flipped at random within pairs",
                        ("dimension", "rule", "parameters", "value", "opposite", "by chance",
                         "prompts +/-", "pairs"), rows))


def _list(path: Path) -> None:
    rows = []
    for name in list_sets(path):
        saved = load_set(path, name)
        rows.append((name, saved.model, saved.dimension, saved.describe(), saved.created))
    console.print(table(f"neuron sets in {path}", ("name", "model", "dimension", "rule", "created"), rows))


def select(
    dimension: Optional[str] = typer.Option(None, help="Dimension to select for (default: report all)."),
    model: Optional[str] = typer.Option(None, help="Model label in the store (needed when it holds several)."),
    store: Optional[Path] = typer.Option(None, help="Store (default: stores/activations.zarr)."),
    threshold: Optional[float] = typer.Option(None, help=f"Paper's rule: delta >= T value, <= -T opposite (default: {PAPER_THRESHOLD})."),
    top_k: Optional[int] = typer.Option(None, help="The N largest deltas (value) and N most negative (opposite)."),
    fdr: Optional[float] = typer.Option(None, help="Per-neuron test (McNemar when paired, Fisher otherwise), Benjamini-Hochberg rate Q."),
    test: str = typer.Option("mid-p", help="Test for --fdr: McNemar mid-p or exact (on p), or paired-t (per-token mean activation)."),
    statistic: str = typer.Option("probability", help="What delta compares: probability (paper) or mean (activation per token, not confounded by prompt length)."),
    random: bool = typer.Option(False, "--random", help="A seeded random control of the same size instead."),
    match_layers: bool = typer.Option(False, help="With --random: as many random neurons per layer as the rule chose."),
    seed: int = typer.Option(0, help="Seed of the random control."),
    name: Optional[str] = typer.Option(None, help="Save the set under this name inside the store."),
    out: Optional[Path] = typer.Option(None, help="Write the set's neurons to a .csv, .json or .jsonl file."),
    list_: bool = typer.Option(False, "--list", help="List the neuron sets saved in the store."),
    method: str = typer.Option("paper", help="paper (the rules above) or a baseline: lpip, qrnca, cgvst, meandiff, atp."),
    scores: Optional[Path] = typer.Option(None, help="With --method: score store (default: stores/baselines.zarr)."),
    per_role: Optional[int] = typer.Option(None, help="With --method: neurons per role (default: as many as the paper's rule)."),
    force: bool = typer.Option(False, "--force", help="With --name: replace a saved set of that name."),
) -> None:
    """Choose value neurons from a store; without --dimension, report how many each rule selects."""
    path = store or default_store()
    # Every option is checked before anything is read or written (the report uses both rules).
    Threshold(threshold if threshold is not None else PAPER_THRESHOLD)
    FDR(fdr if fdr is not None else DEFAULT_FDR, test)  # type: ignore[arg-type]
    rule_from_options(threshold, top_k, fdr, test, statistic=statistic)
    if top_k is not None:
        TopK(top_k)
    if out is not None:
        check_export(out)
    if name is not None:
        check_name(name)
        if name in list_sets(path) and not force:
            raise UsageError(f"{path} already holds a neuron set {name!r}: pick another --name, "
                             "or pass --force to replace it")
    if list_:
        CubeStore.open(path)
        _list(path)
        return
    cube_store = CubeStore.open(path)
    label = resolve_model(cube_store, model)
    if dimension is None:
        if name or out or random or top_k is not None:
            raise UsageError("--name, --out, --random and --top-k need a --dimension")
        _report(path, label, stored_dimensions(cube_store, label),
                threshold if threshold is not None else PAPER_THRESHOLD,
                fdr if fdr is not None else DEFAULT_FDR, test)
        return
    rule = (rule_from_options(threshold, top_k, fdr, test, random, seed, match_layers, statistic)
            if method == "paper" else baseline_rule(method, scores, per_role, random))
    chosen = select_neurons(path, model=label, dimension=dimension, rule=rule, name=name)
    _report(path, label, [chosen.dimension],
            threshold if threshold is not None else PAPER_THRESHOLD,
            fdr if fdr is not None else DEFAULT_FDR, test)
    console.print(f"{chosen.model} / {chosen.dimension}: {chosen.describe()}")
    console.print(per_layer_table(chosen))
    if out is not None:
        export_table(chosen.table(), out)
        console.print(f"wrote {len(chosen)} neurons to {out}")
    if name is not None:
        console.print(f"saved as {name!r} in {path}/neuron_sets (use --neuron-set {name})")


COMMANDS = {"select": select}
