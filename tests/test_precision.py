"""`--dtype auto`: the processor's choice, its cached probe, and float32 reductions in bfloat16."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import nnvalues
from nnvalues.errors import ModelError, StoreError
from nnvalues.models import precision
from nnvalues.stats.batching import Batch
from nnvalues.stats.counting import reduce_layer
from tests.cli import assert_one_line_error, run_cli


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNVALUES_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NNVALUES_DTYPE", raising=False)
    return tmp_path / "cpu-dtype.json"


def test_probe_is_measured_once_per_machine_and_cached(own_cache):
    first = precision.probe_verdict()
    assert json.loads(own_cache.read_text()) == first
    assert first["float32_gflops"] > 0 and first["bfloat16_gflops"] > 0
    assert first["speedup"] == pytest.approx(first["bfloat16_gflops"] / first["float32_gflops"])
    assert first["bfloat16"] == (first["speedup"] >= precision.PROBE_MIN_SPEEDUP)
    assert precision.probe_verdict() == first  # timings differ run to run: this one is cached


def test_a_verdict_for_another_machine_is_measured_again(own_cache):
    other = {**precision.machine_identity(), "processor": "another processor"}
    own_cache.write_text(json.dumps({"machine": other, "speedup": 99.0, "bfloat16": True}))
    verdict = precision.probe_verdict()
    assert verdict["machine"] == precision.machine_identity() and verdict["speedup"] != 99.0


@pytest.mark.parametrize("fast", [True, False])
def test_auto_follows_the_flags_and_the_probe(own_cache, fast):
    identity = precision.machine_identity()
    own_cache.write_text(json.dumps({"machine": identity, "speedup": 3.0 if fast else 0.5,
                                     "bfloat16": fast}))
    native = identity["native_bf16_flags"] is not False
    expected = torch.bfloat16 if fast and native else torch.float32
    assert precision.resolve_dtype("auto", "cpu") == expected
    assert precision.resolve_dtype("auto", "cuda") == torch.bfloat16
    assert precision.resolve_dtype("float32", "cpu") == torch.float32


@pytest.mark.expected_skip  # skipped where there is no x86 /proc/cpuinfo
def test_flags_agree_with_proc_cpuinfo():
    flags = precision._cpuinfo_words("flags")
    if flags is None or precision.native_bf16_flags() is None:
        pytest.skip("no x86 /proc/cpuinfo here")
    assert precision.native_bf16_flags() == bool({"avx512_bf16", "amx_bf16"} & flags)


def test_the_environment_overrides_auto_and_bad_names_are_refused(own_cache, monkeypatch):
    monkeypatch.setenv("NNVALUES_DTYPE", "bfloat16")
    assert precision.resolve_dtype("auto", "cpu") == torch.bfloat16
    assert not own_cache.exists()  # an override needs no probe
    monkeypatch.setenv("NNVALUES_DTYPE", "bf16")
    with pytest.raises(ModelError, match="NNVALUES_DTYPE"):
        precision.resolve_dtype("auto", "cpu")
    with pytest.raises(ModelError, match="--dtype"):
        precision.resolve_dtype("int8", "cpu")


def test_cli_refuses_an_unknown_dtype_and_writes_nothing(tiny_model_dir, tmp_path, capsys,
                                                         monkeypatch, prompts_file):
    store, model = tmp_path / "s.zarr", tiny_model_dir("llama")
    capsys.readouterr()  # what building the tiny model printed
    result = run_cli(capsys, monkeypatch, "locate", "--model", model,
                     "--prompts", prompts_file, "--store", store, "--dtype", "int8")
    assert_one_line_error(result, "--dtype")
    assert not store.exists()


def test_bfloat16_runs_are_recorded_and_never_mixed_with_float32(tiny_model_dir, prompts_file,
                                                                 tmp_path, monkeypatch):
    model = str(tiny_model_dir("llama"))
    monkeypatch.setenv("NNVALUES_DTYPE", "bfloat16")
    loaded = nnvalues.load_model(model)
    assert loaded.dtype == "bfloat16" and next(loaded.hf_model.parameters()).dtype == torch.bfloat16
    store = tmp_path / "s.zarr"
    nnvalues.locate(loaded, prompts=prompts_file, store=store, batch_size=4, show_progress=False)
    assert str(nnvalues.open_cube(store)["dtype"].values[0]) == "bfloat16"
    with pytest.raises(StoreError, match="dtype"):
        nnvalues.locate(model, prompts=prompts_file, store=store, dtype="float32",
                        dimensions=["openness_to_change"], show_progress=False, restart=True)


def test_bfloat16_activations_are_summed_in_float32():
    torch.manual_seed(0)
    rows, tokens, neurons = 4, 300, 64
    activation = (torch.randn(rows, tokens, neurons) + 0.01).to(torch.bfloat16)
    mask = torch.ones(rows, tokens, dtype=torch.long)
    mask[0, :100] = 0  # padding is never counted
    polarity = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    pairs = torch.zeros(2, 2, rows)
    pairs[0, 0, 0] = pairs[1, 0, 1] = pairs[0, 1, 2] = pairs[1, 1, 3] = 1.0
    batch = Batch(torch.zeros(rows, tokens, dtype=torch.long), mask, mask.cumsum(1),
                  polarity, pairs, torch.zeros(1, 0, dtype=torch.long))
    summary = reduce_layer(activation, batch, "prompt")
    assert summary.dtype == torch.float32
    exact = (activation.double() * mask[..., None]).sum(dim=1).numpy()  # [rows, neurons]
    expected_total = polarity.double().numpy().T @ exact
    np.testing.assert_allclose(summary[2:4].numpy(), expected_total, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(summary[0:2].numpy(), polarity.numpy().T @ (exact > 0))
    # Summed in bfloat16 instead, the totals would be off by far more than that tolerance.
    in_bf16 = (activation * mask[..., None].to(torch.bfloat16)).sum(dim=1).double().numpy()
    assert np.abs(polarity.double().numpy().T @ in_bf16 - expected_total).max() > 1e-2


@pytest.mark.embedded
def test_the_dense_gguf_copy_is_float32_and_serves_both_dtypes():
    from safetensors import safe_open

    from nnvalues.config import cache_dir

    bf16 = nnvalues.load_model("smollm2-135m", dtype="bfloat16")
    fp32 = nnvalues.load_model("smollm2-135m", dtype="float32")
    assert (bf16.dtype, fp32.dtype) == ("bfloat16", "float32")
    assert bf16.revision == fp32.revision
    (dense,) = (cache_dir() / "dense").glob("smollm2-135m-*")
    with safe_open(str(next(dense.glob("*.safetensors"))), "pt") as weights:
        name = next(iter(weights.keys()))
        assert weights.get_tensor(name).dtype == torch.float32
    for (name, low), (_, high) in zip(bf16.hf_model.named_parameters(),
                                      fp32.hf_model.named_parameters()):
        assert low.dtype == torch.bfloat16, name
        assert torch.equal(low, high.to(torch.bfloat16)), name
