"""The gradient baselines (atp, cgvst, qrnca) inside nnsight sessions: nnsight's in-process
simulation of NDIF gives the local scores on tiny models of every architecture, and a real
NDIF server on loopback gives them too, with only the per-neuron sums coming back.

The local scores are themselves checked against plain autograd in test_baselines_scores.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnvalues.baselines import TargetRule, score
from nnvalues.baselines.store import ScoreStore
from nnvalues.errors import UsageError
from nnvalues.execution import Execution
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import make_records, write_jsonl
from tests.ndif_server import ndif_server  # noqa: F401  (one server for the whole session)

DIMENSION = "openness_to_change"
TRACED = {"atp": {}, "cgvst": {"significant_tokens": 3}, "qrnca": {"steps": 3}}
TARGETS = TargetRule("greedy", 3)


@pytest.fixture
def paired_file(tmp_path):
    return write_jsonl(tmp_path / "pairs.jsonl", make_records(paired=5))


def run(model, prompts, store, method, **options):
    return score(str(model), method=method, prompts=prompts, store=store, batch_size=4,
                 targets=TARGETS, show_progress=False, **TRACED[method], **options)


def cell(store, model, method):
    return ScoreStore.open(store).open_scores(model.name, method, DIMENSION)


def assert_same_scores(ours, reference) -> None:
    np.testing.assert_array_equal(ours["prompts"].values, reference["prompts"].values)
    np.testing.assert_array_equal(ours["targets"].values, reference["targets"].values)
    assert int(ours["pairs"]) == int(reference["pairs"])
    expected = reference["score"].values
    scale = float(np.abs(expected).max())
    assert scale > 0
    np.testing.assert_allclose(ours["score"].values, expected, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize("kind", ["llama", "qwen2", "gemma3", "gpt2"])
@pytest.mark.parametrize("method", sorted(TRACED))
def test_simulated_scores_match_local(kind, method, tiny_model_dir, paired_file, tmp_path):
    """10 prompts in 3 batches of <= 4 rows, 2 batches per session: the sums of a session
    and the counts of a request's rows (QRNCA's clusters) match the batch-by-batch run."""
    model = tiny_model_dir(kind)
    run(model, paired_file, tmp_path / "local", method)
    (summary,) = run(model, paired_file, tmp_path / "simulated", method,
                     execution=Execution("simulate", batches_per_request=2))
    assert summary.status == "measured" and summary.prompts == 10
    assert_same_scores(cell(tmp_path / "simulated", model, method),
                       cell(tmp_path / "local", model, method))


def test_lpip_is_refused_off_the_local_model(tiny_model_dir, paired_file, tmp_path):
    store = tmp_path / "s"
    with pytest.raises(UsageError, match="lpip runs on a local model only"):
        score(str(tiny_model_dir("llama")), method="lpip", prompts=paired_file, store=store,
              show_progress=False, execution="simulate")
    assert not store.exists()


def test_lpip_with_an_ndif_host_is_one_line(capsys, monkeypatch, tiny_model_dir, paired_file,
                                            tmp_path):
    monkeypatch.setenv("NDIF_API_KEY", "0000aaaa-1111-2222-3333-444455556666")
    store = tmp_path / "s"
    result = run_cli(capsys, monkeypatch, "baselines", "score", "--method", "lpip",
                     "--ndif-host", "http://127.0.0.1:9", "--model", tiny_model_dir("llama"),
                     "--prompts", paired_file, "--store", store, "--quiet")
    assert_one_line_error(result, "lpip runs on a local model only")
    assert not store.exists()


# --- a real NDIF server on loopback --------------------------------------------------------


def test_remote_gradient_baselines_match_local(ndif_server, tiny_model_dir, paired_file,
                                               tmp_path):
    """Targets generated on the server, then each method's scores in sessions of two
    batches: the same cells as the local run, with only small sums sent back."""
    model = tiny_model_dir("llama")
    for method in sorted(TRACED):
        run(model, paired_file, tmp_path / "local", method)
        execution = Execution("remote", host=ndif_server.host, batches_per_request=2)
        before = ndif_server.requests_received()
        with ndif_server.enter():
            (summary,) = run(model, paired_file, tmp_path / "remote", method, execution=execution)
        assert summary.prompts == 10
        ours = cell(tmp_path / "remote", model, method)
        assert ours.attrs["model_source"] == f"ndif:directory:{model.name}"
        assert_same_scores(ours, cell(tmp_path / "local", model, method))
        # 3 batches in 2 sessions, each after one generation request for its targets.
        assert execution.meter.requests == 4 == ndif_server.requests_received() - before
        # The tiny llama's per-request sums are 2 layers x 2 x 96 float64 (3 KB, QRNCA's
        # counts as much again): no token's activations or gradients came back.
        assert execution.meter.bytes_received < 40_000, method


def test_remote_scoring_from_the_command_line(ndif_server, tiny_model_dir, paired_file, tmp_path,
                                              capsys, monkeypatch):
    model = tiny_model_dir("gpt2")
    store = tmp_path / "s"
    with ndif_server.enter():
        result = run_cli(capsys, monkeypatch, "baselines", "score", "--method", "atp",
                         "--ndif-host", ndif_server.host, "--model", model,
                         "--prompts", paired_file, "--store", store, "--target-tokens", "3",
                         "--batch-size", "4", "--quiet")
    assert result.code == 0, result.err
    assert f"NDIF at {ndif_server.host}" in result.out
    run(model, paired_file, tmp_path / "local", "atp")
    assert_same_scores(cell(store, model, "atp"), cell(tmp_path / "local", model, "atp"))
