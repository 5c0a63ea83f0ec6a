"""The threshold rule's chance level against hand computation and brute-force label flips."""

from __future__ import annotations

import numpy as np
import pytest

import nnvalues
from nnvalues.errors import UsageError
from nnvalues.select.cell import open_cell
from nnvalues.select.chance import cell_chance_level, chance_level, pass_probabilities
from tests.conftest import make_records, write_jsonl


def test_pass_probabilities_by_hand():
    # d = 2 discordant pairs of 2: delta is -1, 0, +1 with probabilities 1/4, 1/2, 1/4.
    value, opposite = pass_probabilities(np.array([2, 0]), pairs=2, threshold=0.5)
    np.testing.assert_allclose(value, [0.25, 0.0])
    np.testing.assert_allclose(opposite, [0.25, 0.0])
    # d = 3 of 10 pairs, t = 0.1: delta = (2b - 3)/10 >= 0.1 for b >= 2: (3 + 1)/8.
    value, opposite = pass_probabilities(np.array([3]), pairs=10, threshold=0.1)
    assert value[0] == pytest.approx(0.5) and opposite[0] == pytest.approx(0.5)


def brute_force(b, c, pairs, threshold, trials, seed):
    """Flip every discordant pair of every neuron with a fair coin, apply the rule, count."""
    rng = np.random.default_rng(seed)
    d = (b + c).ravel()
    counts = np.empty(trials, dtype=np.int64)
    for t in range(trials):
        flipped = rng.binomial(d, 0.5)
        delta = (2 * flipped - d) / pairs
        counts[t] = np.sum(np.abs(delta) >= threshold - 1e-9)
    return counts


def test_chance_level_matches_a_brute_force_simulation():
    rng = np.random.default_rng(0)
    pairs = 12
    b = rng.integers(0, 5, size=(3, 40))
    c = rng.integers(0, 5, size=(3, 40))
    level = chance_level(b, c, pairs, threshold=0.25, draws=4000, seed=1)
    counts = brute_force(b, c, pairs, 0.25, trials=4000, seed=2)
    assert level.expected == pytest.approx(counts.mean(), abs=4 * counts.std() / np.sqrt(4000))
    low, high = np.quantile(counts, [0.025, 0.975])
    assert abs(level.low - low) <= 2 and abs(level.high - high) <= 2
    assert level.expected_value == pytest.approx(level.expected_opposite)  # a fair coin is symmetric
    with pytest.raises(UsageError, match="needs paired prompts"):
        chance_level(b, c, 0, 0.25)


def test_chance_level_of_a_measured_cube(tiny_model_dir, tmp_path):
    model = tiny_model_dir("llama")
    prompts = write_jsonl(tmp_path / "p.jsonl", make_records(paired=5))
    nnvalues.locate(str(model), prompts=prompts, store=tmp_path / "c.zarr", show_progress=False)
    cell = open_cell(tmp_path / "c.zarr", None, "openness_to_change")
    level = cell_chance_level(cell, 0.3)
    b, c = cell["positive_only"].values, cell["negative_only"].values
    counts = brute_force(b, c, 5, 0.3, trials=3000, seed=0)
    assert level.pairs == 5 and level.expected == pytest.approx(counts.mean(), rel=0.05)


def test_select_shows_the_chance_level_beside_the_observed_count(tiny_model_dir, tmp_path, capsys,
                                                                 monkeypatch):
    from tests.cli import run_cli

    model = tiny_model_dir("llama")
    prompts = write_jsonl(tmp_path / "p.jsonl", make_records(paired=5))
    nnvalues.locate(str(model), prompts=prompts, store=tmp_path / "c.zarr", show_progress=False)
    monkeypatch.setenv("COLUMNS", "250")
    shown = run_cli(capsys, monkeypatch, "select", "--store", str(tmp_path / "c.zarr"), "--threshold", "0.3")
    assert shown.code == 0, shown.err
    level = cell_chance_level(open_cell(tmp_path / "c.zarr", None, "openness_to_change"), 0.3)
    assert "by chance" in shown.out and level.describe() in shown.out
