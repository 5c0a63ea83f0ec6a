"""Remote execution: nnsight's in-process simulation always, a real NDIF server on loopback
when it can start (in CI it must).

The server tests share one session-scoped stack (tests/ndif_server.py) and run in file
order; the one that stops the API restarts it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pytest

import nnvalues
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.data.records import load_records
from nnvalues.execution import Execution
from nnvalues.models.architecture import Layout
from nnvalues.prompts.render import Renderer
from nnvalues.remote import NdifError, RetryPolicy, resolve_settings
from nnvalues.remote.errors import job_failed, server_message
from nnvalues.stats.sessions import reduce_request
from nnvalues.stats.batching import batch_units, collate, make_units
from nnvalues.stats.tally import Tally
from tests.cli import assert_one_line_error
from tests.conftest import QUESTIONS, make_records, write_jsonl
from tests.ndif_server import ndif_server  # noqa: F401  (one server for the whole session)

DIMENSION = "openness_to_change"
COUNTS = ("active", "positive_only", "negative_only", "prompts", "tokens", "pairs")


@pytest.fixture
def cli(capsys, monkeypatch):
    from tests.cli import run_cli

    return lambda *args: run_cli(capsys, monkeypatch, *args)


@pytest.fixture
def no_ndif_config(monkeypatch):
    """No key or host from the environment or from nnsight's config file."""
    from nnsight import CONFIG

    for name in ("NDIF_API_KEY", "NDIF_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(CONFIG.API, "APIKEY", None)
    monkeypatch.setattr(CONFIG.API, "HOST", "https://api.ndif.us")


def read_cell(store: Path, model: str, dimension: str = DIMENSION):
    return CubeStore.open(store).open_cell(model_key(model), dimension)


def assert_same_cube(ours, reference) -> None:
    """Counts identical; activation sums equal up to float rounding (batching differs)."""
    for name in COUNTS:
        np.testing.assert_array_equal(ours[name].values, reference[name].values, err_msg=name)
    np.testing.assert_allclose(ours["activation_sum"].values, reference["activation_sum"].values,
                               rtol=1e-5, atol=1e-4)


def reference_locate(model_dir: Path, prompts: Path, store: Path, batch_size: int):
    nnvalues.locate(str(model_dir), prompts=prompts, store=store, batch_size=batch_size,
                    show_progress=False)
    return read_cell(store, model_dir.name)


# --- always on: no server ----------------------------------------------------------------


def test_simulated_remote_locate_matches_local(tiny_model_dir, prompts_file, tmp_path):
    model = tiny_model_dir("llama")
    reference = reference_locate(model, prompts_file, tmp_path / "local", batch_size=4)
    simulated = Execution("simulate", batches_per_request=2)
    nnvalues.locate(str(model), prompts=prompts_file, store=tmp_path / "sim", batch_size=4,
                    show_progress=False, execution=simulated)
    assert_same_cube(read_cell(tmp_path / "sim", model.name), reference)


def test_one_request_sums_its_batches(tiny_model_dir, prompts_file):
    """The session's server-side sum equals the per-batch summaries added here."""
    from nnvalues.stats.counting import reduce_batch

    loaded = nnvalues.load_model(str(tiny_model_dir("qwen2")))
    records = load_records(prompts_file)
    renderer = Renderer(loaded.tokenizer)
    units = make_units(records, [renderer.render(r) for r in records])
    batches = [collate(g, loaded.tokenizer.pad_token_id) for g in batch_units(units, 4)]
    assert len(batches) >= 3
    expected = sum(reduce_batch(loaded.envoy, loaded.architecture, b, "token").double()
                   for b in batches)
    total = reduce_request(loaded.envoy, loaded.architecture, batches, "token",
                           **Execution("simulate").trace_options(loaded))
    assert total.dtype == expected.dtype and total.shape == expected.shape
    np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-9)


def test_generation_is_refused_in_the_simulation(tiny_model_dir):
    """nnsight's simulation cannot run a generation's nested invokes (the real server can)."""
    from nnvalues.errors import UsageError
    from nnvalues.intervene import GenerationSettings, generate

    loaded = nnvalues.load_model(str(tiny_model_dir("llama")))
    with pytest.raises(UsageError, match="cannot run in nnsight's in-process simulation"):
        generate(loaded, [[1, 2, 3]], None, GenerationSettings(max_new_tokens=2),
                 execution=Execution("simulate"))


def test_no_api_key_is_one_line(cli, no_ndif_config, tiny_model_dir, tmp_path):
    result = cli("locate", "--remote", "--model", tiny_model_dir("llama"),
                 "--store", tmp_path / "s")
    assert_one_line_error(result, "no NDIF API key for https://api.ndif.us")
    assert "NDIF_API_KEY" in result.err
    assert not (tmp_path / "s").exists()


def test_key_comes_from_the_environment_and_is_never_shown(no_ndif_config, monkeypatch):
    secret = "0000aaaa-1111-2222-3333-444455556666"
    monkeypatch.setenv("NDIF_API_KEY", secret)
    monkeypatch.setenv("NDIF_HOST", "http://127.0.0.1:8001/")
    settings = resolve_settings()
    assert settings.host == "http://127.0.0.1:8001" and settings.api_key == secret
    assert secret not in repr(settings) and secret not in settings.describe()
    assert resolve_settings("https://ndif.example.org").host == "https://ndif.example.org"
    with pytest.raises(NdifError, match="not a URL"):
        resolve_settings("127.0.0.1:8001")


def test_a_key_quoted_back_by_the_server_is_redacted():
    import httpx

    from nnvalues.remote.backend import PollingBackend

    secret = "not-a-uuid-key"
    backend = PollingBackend("model-key", host="https://api.ndif.us", api_key=secret, label="m")
    answer = httpx.Response(400, json={"detail": f"Invalid API key format: '{secret}'."})
    with pytest.raises(NdifError) as raised:
        backend._raise_for_status(answer)
    assert "Invalid API key format: '<API key>'" in str(raised.value)
    assert secret not in str(raised.value)


def test_embedded_models_are_refused_for_ndif(cli, no_ndif_config, tmp_path):
    result = cli("locate", "--ndif-host", "http://127.0.0.1:9", "--store", tmp_path / "s")
    assert_one_line_error(result, "smollm2-135m runs locally only")


def test_local_options_are_refused_for_ndif(cli, no_ndif_config, tiny_model_dir, tmp_path):
    result = cli("locate", "--ndif-host", "http://127.0.0.1:9", "--dtype", "bfloat16",
                 "--model", tiny_model_dir("llama"), "--store", tmp_path / "s")
    assert_one_line_error(result, "--device and --dtype apply to local runs")
    result = cli("locate", "--ndif-host", "http://127.0.0.1:9", "--batches-per-request", "0",
                 "--model", tiny_model_dir("llama"), "--store", tmp_path / "s")
    assert_one_line_error(result, "--batches-per-request must be at least 1")


def test_server_tracebacks_become_their_last_line():
    try:
        {}["layers"].no_such_module
    except KeyError as exc:
        text = "".join(traceback.format_exception(exc))
    assert text.count("\n") > 2
    assert server_message(text) == "KeyError: 'layers'"
    error = job_failed("Could not deploy this model. Repository Not Found for url: x.",
                       "https://api.ndif.us", "org/name")
    assert str(error).startswith("NDIF at https://api.ndif.us cannot serve org/name: "
                                 "Repository Not Found")


# --- against a real NDIF server on loopback ----------------------------------------------


def remote(server, **options) -> Execution:
    return Execution("remote", host=server.host, **options)


def test_remote_locate_matches_local(ndif_server, tiny_model_dir, prompts_file, tmp_path,
                                     monkeypatch):
    secret = "0000aaaa-1111-2222-3333-444455556666"
    monkeypatch.setenv("NDIF_API_KEY", secret)  # sent (auth is off here), never stored
    model = tiny_model_dir("llama")
    reference = reference_locate(model, prompts_file, tmp_path / "local", batch_size=4)
    execution = remote(ndif_server, batches_per_request=2)
    before = ndif_server.requests_received()
    with ndif_server.enter():
        summaries = []
        nnvalues.locate(str(model), prompts=prompts_file, store=tmp_path / "remote",
                        batch_size=4, show_progress=False, execution=execution,
                        on_cell=summaries.append)
    ours = read_cell(tmp_path / "remote", model.name)
    assert_same_cube(ours, reference)
    assert ours.attrs["model_source"] == f"ndif:directory:{model.name}"
    assert ours.attrs["model_revision"] == reference.attrs["model_revision"]
    # 13 prompts in 4 batches of <= 4 rows, two batches per request: 2 requests.
    assert summaries[0].prompts == 13
    assert execution.meter.requests == 2 == ndif_server.requests_received() - before
    assert 0 < execution.meter.bytes_received < 20_000
    stored = [path for path in (tmp_path / "remote").rglob("*") if path.is_file()]
    assert stored and not any(secret.encode() in path.read_bytes() for path in stored)


def test_a_session_sends_many_prompts_in_one_request(ndif_server, tiny_model_dir, tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", make_records(paired=12))
    execution = remote(ndif_server, batches_per_request=100)
    before = ndif_server.requests_received()
    with ndif_server.enter():
        summaries = []
        nnvalues.locate(str(tiny_model_dir("gpt2")), prompts=prompts,
                        store=tmp_path / "s", batch_size=4, show_progress=False,
                        execution=execution, on_cell=summaries.append)
    assert summaries[0].prompts == 24
    assert ndif_server.requests_received() - before == 1 == execution.meter.requests


def test_bad_module_path_surfaces_the_server_error(ndif_server, tiny_model_dir, prompts_file):
    execution = remote(ndif_server)
    with ndif_server.enter():
        loaded = execution.load(str(tiny_model_dir("llama")))
        records = load_records(prompts_file)
        renderer = Renderer(loaded.tokenizer)
        units = make_units(records, [renderer.render(r) for r in records])
        batches = [collate(units[:2], loaded.tokenizer.pad_token_id)]
        wrong = dataclasses.replace(
            loaded.architecture,
            layout=Layout("model.layers", "mlp.no_such_module", "intermediate_size"))
        with pytest.raises(NdifError) as raised:
            reduce_request(loaded.envoy, wrong, batches, "prompt",
                           **execution.trace_options(loaded))
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("the NDIF job failed on the server: AttributeError")
    assert "no_such_module" in message


def test_a_model_the_server_cannot_load(cli, ndif_server, no_ndif_config, tiny_model_dir,
                                        prompts_file, tmp_path):
    """Config and tokenizer but no weights: the client builds it, the server cannot."""
    source = tiny_model_dir("qwen2")
    hollow = tmp_path / "hollow-qwen2"
    hollow.mkdir()
    for path in source.iterdir():
        if path.suffix != ".safetensors":
            (hollow / path.name).write_bytes(path.read_bytes())
    with ndif_server.enter():
        result = cli("locate", "--ndif-host", ndif_server.host, "--model", hollow,
                     "--prompts", prompts_file, "--store", tmp_path / "s", "--quiet")
    assert_one_line_error(result, f"NDIF at {ndif_server.host} cannot serve hollow-qwen2")


def test_a_killed_run_resumes(ndif_server, no_ndif_config, tiny_model_dir, tmp_path):
    model = tiny_model_dir("llama")
    prompts = write_jsonl(tmp_path / "p.jsonl", make_records(paired=12))
    store = tmp_path / "s"
    argv = [sys.executable, "-m", "nnvalues", "locate", "--ndif-host", ndif_server.host,
            "--model", str(model), "--prompts", str(prompts), "--store", str(store),
            "--batch-size", "2", "--batches-per-request", "1", "--quiet"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDIF_")}
    checkpoint = CubeStore(store).checkpoint_path(model_key(model.name), DIMENSION)
    run = subprocess.Popen(ndif_server.command(argv), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        run.send_signal(signal.SIGKILL)
    finally:
        output = run.communicate(timeout=30)[0].decode(errors="replace")
    assert run.returncode == -signal.SIGKILL, output
    done = Tally.load(checkpoint)[0].units_done
    assert 0 < done < 12  # killed half-way: some requests kept, some not sent
    with ndif_server.enter():
        summaries = []
        nnvalues.locate(str(model), prompts=prompts, store=store, batch_size=2,
                        show_progress=False, execution=remote(ndif_server),
                        on_cell=summaries.append)
    assert summaries[0].status == "resumed"
    reference = reference_locate(model, prompts, tmp_path / "local", batch_size=2)
    assert_same_cube(read_cell(store, model.name), reference)


def test_remote_intervene_matches_local_greedy_decoding(ndif_server, tiny_model_dir):
    from nnvalues.intervene import Edit, GenerationSettings, intervene
    from tests.test_intervene import hand_set

    model = tiny_model_dir("llama")
    local = nnvalues.load_model(str(model))
    neurons = hand_set(local)  # selected on the local model: same name and revision remotely
    settings = GenerationSettings(max_new_tokens=10, batch_size=2)
    edit = Edit.from_neurons(neurons, gamma=4.0)
    expected = intervene(local, QUESTIONS[:3], edit, settings=settings)
    execution = remote(ndif_server)
    with ndif_server.enter():
        got = intervene(str(model), QUESTIONS[:3], edit, settings=settings, execution=execution)
    assert [(a.unedited, a.edited, a.unedited_tokens, a.edited_tokens) for a in got.answers] \
        == [(a.unedited, a.edited, a.unedited_tokens, a.edited_tokens) for a in expected.answers]
    assert any(a.unedited != a.edited for a in got.answers)  # the edit did act
    assert execution.meter.requests == 4  # 2 batches, unedited and edited


def test_a_stopped_api_is_unreachable_within_the_deadline(ndif_server, tiny_model_dir,
                                                          prompts_file, tmp_path):
    deadline = 6.0
    execution = remote(ndif_server, policy=RetryPolicy(deadline=deadline, backoff=0.5))
    loaded = execution.load(str(tiny_model_dir("llama")))
    ndif_server.stop_api()
    try:
        with ndif_server.enter():
            started = time.monotonic()
            with pytest.raises(NdifError) as raised:
                nnvalues.locate(loaded, prompts=prompts_file, store=tmp_path / "s",
                                show_progress=False, execution=execution)
            waited = time.monotonic() - started
    finally:
        ndif_server.start_api()
    assert str(raised.value).startswith(
        f"cannot reach NDIF at {ndif_server.host} (connection refused) after ")
    assert waited < deadline + 5.0  # retries stop at the deadline, not after all of them
    assert execution.meter.requests == 0 and execution.meter.attempts >= 2
    assert not CubeStore(tmp_path / "s").checkpoint_path(model_key(loaded.name), DIMENSION).exists()


@pytest.mark.embedded
def test_remote_locate_on_the_embedded_model(ndif_server, tmp_path):
    """SmolLM2's dense copy in the cache serves as the "repo" the server loads."""
    local = nnvalues.load_model("smollm2-135m")
    dense = Path(local.hf_model.config._name_or_path)
    assert (dense / "nnvalues-dense.json").is_file()
    nnvalues.locate(local, dimensions=[DIMENSION], limit=1, store=tmp_path / "local",
                    show_progress=False)
    with ndif_server.enter():
        nnvalues.locate(str(dense), dimensions=[DIMENSION], limit=1, store=tmp_path / "remote",
                        show_progress=False, execution=remote(ndif_server))
    assert_same_cube(read_cell(tmp_path / "remote", dense.name),
                     read_cell(tmp_path / "local", "smollm2-135m"))
