"""bfloat16 against float32 on a tiny model, with the agreement measures checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnvalues
from nnvalues.cube.agreement import compare_cells, jaccard, pool_cells, standard_rules, token_agreement
from nnvalues.intervene import build_edit
from nnvalues.intervene.generation import pad_batch
from nnvalues.intervene.questions import render_questions
from nnvalues.cube.view import pick_cell
from nnvalues.select import Threshold, select
from nnvalues.select.selection import Selection
from tests.conftest import QUESTIONS, make_records, write_jsonl


@pytest.fixture(scope="module")
def measured(tiny_model_dir, tmp_path_factory):
    """Cells of the tiny Llama: both dtypes on all prompts, float32 on two halves."""
    root = tmp_path_factory.mktemp("agreement")
    rows = make_records(paired=10)
    files = {"all": write_jsonl(root / "all.jsonl", rows),
             "A": write_jsonl(root / "A.jsonl", rows[:10]),
             "B": write_jsonl(root / "B.jsonl", rows[10:])}
    model = str(tiny_model_dir("llama"))
    cells = {}
    for dtype, part in (("float32", "all"), ("bfloat16", "all"), ("float32", "A"), ("float32", "B")):
        cube = nnvalues.locate(model, prompts=files[part], dtype=dtype, batch_size=6,
                               show_progress=False)
        cells[dtype, part] = pick_cell(cube)
    return model, cells


def test_pooled_halves_equal_one_measurement_of_all(measured):
    _, cells = measured
    pooled = pool_cells([cells["float32", "A"], cells["float32", "B"]])
    whole = cells["float32", "all"]
    for name in ("active", "positive_only", "negative_only", "units", "prompts", "tokens", "pairs"):
        np.testing.assert_array_equal(pooled[name].values, whole[name].values)
    np.testing.assert_allclose(pooled["activation_sum"], whole["activation_sum"], rtol=1e-4, atol=1e-3)


def test_bfloat16_agrees_with_float32_and_the_measures_match_a_hand_count(measured):
    _, cells = measured
    fp32, bf16 = cells["float32", "all"], cells["bfloat16", "all"]
    assert (str(fp32["dtype"].values), str(bf16["dtype"].values)) == ("float32", "bfloat16")
    rules = standard_rules(top_k=20)
    result = compare_cells(fp32, bf16, rules)
    same = fp32["active"].values == bf16["active"].values
    assert result["identical_active_counts"] == pytest.approx(same.mean())
    assert not same.all()  # the dtypes really differ somewhere
    assert result["identical_active_counts"] >= 0.9
    # Jaccard of the paper's rule, by hand from the two delta arrays.
    chosen = []
    for cell in (fp32, bf16):
        p = cell["active"] / cell["units"]
        d = (p.sel(polarity="positive") - p.sel(polarity="negative")).transpose("layer", "neuron").values
        chosen.append({(int(l), int(n), "value" if d[l, n] > 0 else "opposite")
                       for l, n in zip(*np.nonzero(np.abs(d) >= 0.03))})
    by_hand = len(chosen[0] & chosen[1]) / len(chosen[0] | chosen[1])
    paper = result["rules"]["paper threshold 0.03"]
    assert paper["jaccard"] == pytest.approx(by_hand)
    assert paper["sizes"] == [len(chosen[0]), len(chosen[1])]
    assert set(result["rules"]) == {"paper threshold 0.03", "fdr 0.05", "top-20"}
    # Other prompts of the same kind move delta more than the dtype does.
    noise = compare_cells(cells["float32", "A"], cells["float32", "B"], rules)
    assert noise["delta_correlation"] < result["delta_correlation"]
    assert noise["delta_max_abs_difference"] > result["delta_max_abs_difference"]


def test_jaccard_and_token_agreement_by_hand():
    a = Selection(np.array([0, 0, 1]), np.array([1, 2, 3]), np.array([0.1, -0.1, 0.2]),
                  np.array(["value", "opposite", "value"]))
    b = Selection(np.array([0, 1, 1]), np.array([1, 3, 4]), np.array([0.1, -0.2, 0.2]),
                  np.array(["value", "opposite", "value"]))
    assert jaccard(a, b) == pytest.approx(1 / 5)  # (1, 3) changed role: not the same member
    assert jaccard(a, a) == 1.0
    result = token_agreement([(1, 2, 3, 4), (5, 6)], [(1, 2, 9, 4), (5, 6)])
    assert result == {"identical_answers": 0.5, "agreeing_tokens": pytest.approx((2 / 4 + 1) / 2)}


def test_the_edit_changes_outputs_far_more_than_the_dtype(measured):
    model, cells = measured
    neurons = select(cells["float32", "all"], rule=Threshold())
    edit = build_edit(neurons, "positive", 2.0)
    logprobs = {}
    for dtype in ("float32", "bfloat16"):
        loaded = nnvalues.load_model(model, dtype=dtype)
        ids = [p.input_ids for p in render_questions(loaded.tokenizer, QUESTIONS[:3])[0]]
        inputs = pad_batch(loaded, ids)
        for name, run in (("plain", None), ("edited", edit)):
            with torch.inference_mode():
                if run is None:
                    logits = loaded.hf_model(**inputs).logits
                else:
                    with run.applied(loaded):
                        logits = loaded.hf_model(**inputs).logits
            logprobs[dtype, name] = torch.log_softmax(logits[:, -1].float(), dim=-1)
    dtype_change = (logprobs["float32", "edited"] - logprobs["bfloat16", "edited"]).abs().max()
    edit_change = (logprobs["float32", "edited"] - logprobs["float32", "plain"]).abs().max()
    assert dtype_change < 0.5 * edit_change
