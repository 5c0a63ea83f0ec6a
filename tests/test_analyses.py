"""Every analyses/ script on tiny stores built here (a cube from `nnvalues.locate` on a tiny
model, a results store from a judge-free `evaluate`), run_all, skips, and the HTML page."""

from __future__ import annotations

import base64
import importlib
import io
import sys
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

import nnvalues
from nnvalues.evaluate import Grid, evaluate
from nnvalues.evaluate.likert import Instrument, LikertItem
from nnvalues.intervene import GenerationSettings
from tests.cli import run_cli
from tests.conftest import measure_cube
from tests.test_evaluate import commands  # noqa: F401  (the CLI fixture)

ANALYSES = Path(__file__).resolve().parents[1] / "analyses"
DIMS = ("openness_to_change", "self_enhancement")
PVQ = Instrument("pvq40", (1, 2, 3, 4, 5, 6), "1 = not like me at all, 6 = very much like me", True,
                 tuple(LikertItem(f"pvq40-{n:02d}", f"Portrait number {n}.", (DIMS[n % 2],))
                       for n in range(1, 9)))
CUBE_FILES = ["layer_distribution.png", "layer_distribution.svg", "layer_distribution.csv",
              "layer_distribution_totals.md", "chance_counts.png", "chance_counts.csv",
              "neuron_overlap.png", "neuron_overlap.csv"]
RESULTS_FILES = ["evidence.csv", "gamma_sweep.png", "gamma_sweep.svg", "neuron_count_sweep.png",
                 "threshold_tradeoff.png", "table1_positive_edits.md", "table1_positive_edits.csv",
                 "table4_negative_edits.csv", "specificity_heatmap.png", "pvq40_profile.png",
                 "pvq40_profile.svg"]


@pytest.fixture(scope="module")
def stores(tiny_model_dir, tmp_path_factory):
    model = tiny_model_dir("llama")
    root = tmp_path_factory.mktemp("analyses")
    cube = measure_cube(model, root, DIMS)
    options = dict(cube=cube, results=root / "r.zarr", metrics=("contrast", "likert", "fluency"), limit=2,
                   settings=GenerationSettings(max_new_tokens=4, batch_size=8), reference_tokens=4,
                   instruments=[PVQ], show_progress=False)
    base = dict(models=(str(model),), methods=("paper", "random"), seeds=1, gammas=(1.0,),
                directions=("positive",), dimensions=DIMS[:1], thresholds=(0.2,))
    for grid in (dict(base, dimensions=DIMS, directions=("positive", "negative"), gammas=(1.0, 3.0),
                      measure_dimensions=DIMS),
                 dict(base, neurons=(1, 2)), dict(base, thresholds=(0.1, 0.4))):
        evaluate(Grid(**grid), None, **options)
    # A second results store with one gamma, one count, one threshold and no likert.
    plain = dict(options, results=root / "plain.zarr", metrics=("contrast",))
    evaluate(Grid(**base), None, **plain)
    return cube, root / "r.zarr", root / "plain.zarr"


def script(name: str):
    if str(ANALYSES) not in sys.path:
        sys.path.insert(0, str(ANALYSES))
    return importlib.import_module(name)


def test_run_all_writes_every_figure_and_table(stores, tmp_path, capsys):
    cube, results, _ = stores
    out = tmp_path / "figures"
    assert script("run_all").main(["--cube", str(cube), "--results", str(results), "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "skipped" not in shown and "failed" not in shown
    for name in CUBE_FILES + RESULTS_FILES:
        assert (out / name).stat().st_size > 0, name
    for png in out.glob("*.png"):
        assert matplotlib.image.imread(png).ndim == 3
    for svg in out.glob("*.svg"):
        ElementTree.parse(svg)
    # The tables hold the numbers of their sources, computed here independently.
    delta = nnvalues.delta(nnvalues.open_cube(cube)).isel(model=0)
    layers = pd.read_csv(out / "layer_distribution.csv")
    paper = layers[layers["rule"].str.startswith("paper")]
    for (dim, layer), selected in paper.set_index(["dimension", "layer"])["selected"].items():
        assert selected == int((np.abs(delta.sel(dimension=dim, layer=layer)) >= 0.03).sum())
    evidence = pd.read_csv(out / "evidence.csv")
    table = pd.read_csv(out / "table1_positive_edits.csv")
    row = evidence[(evidence.method == "unedited") & (evidence.metric == "contrast")
                   & (evidence.dimension == DIMS[0])].iloc[0]
    assert table.loc[table["Method"] == "Unedited", "Openness to Change"].iloc[0] == \
        f"{row['mean']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
    assert set(table["Method"]) == {"Unedited", "ValueLocate t=0.2", "Random (ValueLocate t=0.2)"}
    assert "results " in (out / "table1_positive_edits.md").read_text()


def test_each_script_skips_what_its_store_lacks_in_one_line(stores, tmp_path, capsys):
    cube, _, plain = stores
    out = tmp_path / "figures"
    for name in ("gamma_sweep", "neuron_count_sweep", "threshold_tradeoff", "specificity_heatmap",
                 "pvq40_profile"):
        assert script(name).main(["--results", str(plain), "--out", str(out)]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{name}: skipped ("), lines
    assert script("edit_tables").main(["--results", str(plain), "--out", str(out)]) == 0
    assert (out / "table1_positive_edits.csv").exists() and not (out / "gamma_sweep.png").exists()
    assert script("layer_distribution").main(["--cube", str(tmp_path / "none.zarr"), "--out", str(out)]) == 0
    assert "skipped (no activation cube at" in capsys.readouterr().out
    assert script("neuron_count_sweep").main(["--results", str(plain), "--gamma", "7", "--out", str(out)]) == 0
    assert "skipped (no gamma 7 (the store holds 1))" in capsys.readouterr().out
    assert script("edit_tables").main(["--results", str(plain), "--gamma", "7", "--out", str(out)]) == 0
    assert "no gamma 7" in capsys.readouterr().out


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a" and "download" in attrs:
            self.links.append(attrs["href"])
        self._in_heading = tag in ("h1", "h2", "h3")

    def handle_data(self, data):
        if self._in_heading:
            self.headings.append(data)
            self._in_heading = False


def test_report_html_is_one_page_with_images_tables_and_provenance(stores, tmp_path, capsys, monkeypatch,
                                                                   commands):  # noqa: F811
    cube, results, _ = stores
    page = tmp_path / "report.html"
    done = run_cli(capsys, monkeypatch, "report", str(results), "--html", str(page))
    assert done.code == 0, done.err
    text = page.read_text(encoding="utf-8")
    parsed = Page()
    parsed.feed(text)
    parsed.close()
    assert len(parsed.images) >= 7
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        image = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert image.shape[0] > 100 and image.shape[1] > 100
    (csv,) = parsed.links
    evidence = pd.read_csv(io.BytesIO(base64.b64decode(csv.split(",", 1)[1])))
    assert {"diff_random", "p_value"} <= set(evidence.columns) and len(evidence) > 0
    assert {"Figures", "Evidence tables", "Provenance", "Results store"} <= set(parsed.headings)
    assert any(h.startswith("Neuron sets (") for h in parsed.headings)
    assert f"Activation cube {cube}" in parsed.headings
    assert "paper-t0.2" in text and "cube_fingerprint" in text
    assert "src=\"http" not in text and "<script" not in text  # nothing to fetch
