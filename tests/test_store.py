"""The cube store: round trip, several models, resume, refusal to mix, crash safety."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import nnvalues
from nnvalues.cube.store import CubeStore
from nnvalues.errors import StoreError, UsageError
from tests.conftest import make_records, write_jsonl


class Interrupt(Exception):
    pass


def run(model_dir, prompts, store, **options):
    """locate into `store`; the per-cell summaries it reported."""
    summaries = []
    nnvalues.locate(str(model_dir), prompts=prompts, store=store, show_progress=False,
                    on_cell=summaries.append, **options)
    return summaries


def test_round_trip_keeps_counts_and_provenance(tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    (summary,) = run(tiny_model_dir("llama"), prompts_file, store, batch_size=4, seed=3)
    assert summary.status == "measured" and summary.prompts == 13 and summary.pairs == 5
    cube = nnvalues.open_cube(store)
    assert cube["active"].dims == ("model", "dimension", "layer", "neuron", "polarity")
    assert cube.sizes == {"model": 1, "dimension": 1, "layer": 2, "neuron": 96, "polarity": 2}
    assert cube["active"].dtype == np.int32
    cell = cube.isel(model=0, dimension=0)
    for name in ("model_revision", "counting", "template_mode", "data_fingerprint",
                 "package_version", "seed", "created", "template_sha256"):
        assert str(cell[name].values), name
    assert str(cell["counting"].values) == "prompt"
    assert str(cell["template_mode"].values) == "chat"
    assert str(cell["seed"].values) == "3"
    # A plain xarray reader sees the same cell.
    raw = xr.open_zarr(store / cube["model"].values[0] / "openness_to_change", consolidated=False)
    np.testing.assert_array_equal(raw["active"].values, cell["active"].values)
    # The identical command finds the cell and does not measure again.
    (again,) = run(tiny_model_dir("llama"), prompts_file, store, batch_size=4, seed=3)
    assert again.status == "already stored"


def test_several_models_open_as_one_cube(tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    run(tiny_model_dir("llama"), prompts_file, store)
    run(tiny_model_dir("gpt2"), prompts_file, store)
    other = write_jsonl(tmp_path / "c.jsonl", make_records("conservation", paired=3))
    run(tiny_model_dir("llama"), other, store)
    cube = nnvalues.open_cube(store)
    assert cube.sizes["model"] == 2 and cube.sizes["layer"] == 3 and cube.sizes["neuron"] == 96
    assert set(cube["dimension"].values) == {"openness_to_change", "conservation"}
    gpt2 = [m for m in cube["model"].values if "gpt2" in m][0]
    alone = nnvalues.open_cube(store, models=[gpt2])
    padded = cube.sel(model=gpt2, dimension="openness_to_change")["active"]
    exact = alone.sel(model=gpt2, dimension="openness_to_change")["active"]
    trimmed = padded.dropna("neuron", how="all").dropna("layer", how="all")
    np.testing.assert_array_equal(trimmed.values, exact.values)
    assert int(cube.sel(model=gpt2, dimension="conservation")["prompts"].isnull().all())


def test_interrupted_run_resumes_to_the_same_cube(tiny_model_dir, prompts_file, tmp_path):
    model = tiny_model_dir("qwen2")
    run(model, prompts_file, tmp_path / "full.zarr", batch_size=2)
    calls = []

    def stop_after_two(dimension: str, done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise Interrupt

    store = tmp_path / "cut.zarr"
    with pytest.raises(Interrupt):
        run(model, prompts_file, store, batch_size=2, on_batch=stop_after_two)
    assert CubeStore.open(store).checkpoint_path(CubeStore.open(store).models()[0],
                                                 "openness_to_change").exists()
    with pytest.raises(StoreError):  # no finished cell yet
        nnvalues.open_cube(store)
    # Float sums depend on how prompts are batched: another batch size is refused.
    with pytest.raises(StoreError, match="used batch size 2"):
        run(model, prompts_file, store, batch_size=3)
    (summary,) = run(model, prompts_file, store, batch_size=2)
    assert summary.status == "resumed"
    full, resumed = nnvalues.open_cube(tmp_path / "full.zarr"), nnvalues.open_cube(store)
    for name in ("active", "positive_only", "negative_only", "units", "prompts", "tokens", "pairs",
                 "activation_sum"):
        np.testing.assert_array_equal(full[name].values, resumed[name].values)
    assert str(resumed["batch_size"].values.item()) == "2"
    assert not any((store / ".checkpoints").rglob("*.npz"))


def test_refuses_to_mix_settings_or_data(tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    model = tiny_model_dir("llama")
    run(model, prompts_file, store)
    before = nnvalues.open_cube(store)
    with pytest.raises(StoreError, match="counting"):
        run(model, prompts_file, store, counting="token")
    with pytest.raises(StoreError, match="other prompts"):
        run(model, prompts_file, store, limit=2)
    with pytest.raises(StoreError, match="template_mode"):
        run(model, prompts_file, store, template_mode="raw")
    after = nnvalues.open_cube(store)
    xr.testing.assert_identical(before, after)


def test_unfinished_run_with_other_data_is_not_overwritten(tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    model = tiny_model_dir("llama")

    def stop(dimension: str, done: int) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        run(model, prompts_file, store, batch_size=2, on_batch=stop)
    with pytest.raises(StoreError, match="unfinished"):
        run(model, prompts_file, store, batch_size=2, limit=2)
    (summary,) = run(model, prompts_file, store, limit=2, restart=True)
    assert summary.status == "measured" and summary.pairs == 2


def test_a_crash_while_writing_leaves_the_old_state(tiny_model_dir, prompts_file, tmp_path,
                                                    monkeypatch):
    store = tmp_path / "s.zarr"
    model = tiny_model_dir("llama")
    other = write_jsonl(tmp_path / "c.jsonl", make_records("conservation", paired=3))
    run(model, prompts_file, store)
    before = nnvalues.open_cube(store)

    def broken_to_zarr(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_zarr", broken_to_zarr)
    with pytest.raises(OSError):
        run(model, other, store)
    monkeypatch.undo()
    xr.testing.assert_identical(before, nnvalues.open_cube(store))
    (summary,) = run(model, other, store)  # the checkpoint survived: nothing is measured twice
    assert summary.status == "resumed"


def test_not_a_store(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="not an nnvalues store"):
        nnvalues.open_cube(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        nnvalues.open_cube(tmp_path / "missing")


def test_zero_prompts_of_one_polarity(tiny_model_dir, tmp_path):
    rows = [r for r in make_records(paired=0, unpaired=3) if r["polarity"] == "positive"]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(UsageError, match="N > 0"):
        run(tiny_model_dir("llama"), path, tmp_path / "s.zarr")
