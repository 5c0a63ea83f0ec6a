"""Judges: the score arithmetic, parsing messy answers, the cache, repeated runs, the local
judge, the Batch API file formats, and real OpenAI-compatible servers on 127.0.0.1 (llama.cpp
serving the embedded model, and a scripted one for rate limits and off-scale answers)."""

from __future__ import annotations

import json
import math
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest
import torch

from nnvalues.errors import ModelError, UsageError
from nnvalues.judge import (
    EndpointError,
    JudgeCache,
    Rating,
    Score,
    from_probabilities,
    from_samples,
    from_top_logprobs,
    judge_prompts,
    make_judge,
    parse_rating,
    parse_spec,
    quality_prompt,
    value_prompt,
)
from nnvalues.judge.batch_api import BATCH_URL, parse_output, request_lines
from nnvalues.judge.local import LocalJudge, rating_token_ids
from nnvalues.models.loading import load_model
from tests.openai_server import closed_port

QUESTION = "Your parents ask you to keep the family shop open instead of travelling. What would you do?"
KEEPS = "I would keep the shop, because family duty and tradition come first for me."
LEAVES = "I would go travelling: new places and my own choices matter more than routine."


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


# --- score arithmetic -------------------------------------------------------------------

def test_probability_table_gives_the_weighted_rating_and_its_mass():
    score = from_probabilities({1: 0.1, 2: 0.2, 3: 0.3, 4: 0.2, 5: 0.2})
    assert score.value == pytest.approx(3.2) and score.mass == pytest.approx(1.0)
    half = from_probabilities({4: 0.25, 5: 0.25, 7: 0.5})  # 7 is off the scale
    assert half.value == pytest.approx(4.5) and half.mass == pytest.approx(0.5)
    assert half.distribution == pytest.approx((0, 0, 0, 0.5, 0.5))
    empty = from_probabilities({})
    assert empty.value is None and empty.mass == 0 and empty.missing == 1


def test_top_logprobs_add_up_every_form_of_a_rating():
    entries = [("4", math.log(0.3)), (" 4", math.log(0.1)), ("5", math.log(0.2)), ("R", math.log(0.3)),
               ("45", math.log(0.05)), ("0", math.log(0.05))]
    score = from_top_logprobs(entries, answer="4")
    assert score.mass == pytest.approx(0.6)
    assert score.value == pytest.approx((4 * 0.4 + 5 * 0.2) / 0.6)
    assert score.distribution == pytest.approx((0, 0, 0, 0.4 / 0.6, 0.2 / 0.6))
    assert from_top_logprobs([("Rating", -0.1), ("7", -2.0)]).value is None


@pytest.mark.parametrize(("text", "expected"), [
    ("4", 4), (" 5\n", 5), ("**3**", 3), ("Rating: 2", 2), ("Score: 4/5", 4),
    ("I would rate it 4 out of 5.", 4), ("On a scale of 1-5, I'd give 3.", 3),
    ("Rating (1 to 5): 5 - it clearly expresses the value", 5), ("3.5", 3.5),
    ("four", 4), ("Rating:4\nThe answer mentions 2 values", 4),
    ("7", None), ("0", None), ("-1", None), ("10/10", None), ("", None),
    ("The response is gibberish.", None), (None, None),
])
def test_messy_judge_answers(text, expected):
    assert parse_rating(text) == expected


def test_samples_that_do_not_parse_are_missing_not_zero():
    score = from_samples(["4", "Rating: 5", "banana", "7"])
    assert score.value == pytest.approx(4.5)
    assert score.missing == 2 and score.mass == pytest.approx(0.5)
    assert score.samples == (4.0, 5.0, None, None)
    nothing = from_samples(["no idea", "9"])
    assert nothing.value is None and nothing.missing == 2


def test_runs_average_with_their_spread_and_count_missing_runs():
    rating = Rating((Score(3.0, 1.0), Score(4.0, 1.0), Score(None, 0.0, missing=1)))
    assert rating.mean == pytest.approx(3.5)
    assert rating.sd == pytest.approx(math.sqrt(0.5))
    assert rating.missing_runs == 1
    assert Rating((Score(2.0, 1.0),)).sd is None


def test_prompts_name_the_dimension_and_end_on_the_rating():
    prompt = value_prompt("conservation", QUESTION, KEEPS)
    assert "Conservation" in prompt and "Tradition" in prompt and "preserving time-honoured customs" in prompt
    assert QUESTION in prompt and KEEPS in prompt and prompt.endswith("Rating:")
    assert value_prompt("self_enhancement", QUESTION, KEEPS) != prompt
    quality = quality_prompt(LEAVES)
    assert quality.startswith("Please act as an impartial judge") and quality.endswith("Score:")
    with pytest.raises(UsageError, match="unknown dimension"):
        value_prompt("kindness", QUESTION, KEEPS)


def test_judge_names():
    assert parse_spec("openai:gpt-4o") == ("openai", "gpt-4o")
    assert parse_spec("gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert parse_spec("local:smollm2-135m") == ("local", "smollm2-135m")
    with pytest.raises(UsageError, match="bad judge"):
        parse_spec("anthropic:claude")


# --- cache and repeated runs ------------------------------------------------------------

class ScriptedJudge:
    """A judge whose scores are fixed by the prompt's length; it can fail after n scores."""

    def __init__(self, fail_after: int | None = None, deterministic: bool = False):
        self.calls: list[tuple[str, int]] = []
        self.fail_after = fail_after
        self._deterministic = deterministic

    @property
    def identity(self) -> dict[str, Any]:
        return {"kind": "scripted"}

    @property
    def deterministic(self) -> bool:
        return self._deterministic

    def score(self, prompts, seed=0, on_score=None):
        out = []
        for i, prompt in enumerate(prompts):
            if self.fail_after is not None and len(self.calls) >= self.fail_after:
                raise EndpointError("judge went away")
            self.calls.append((prompt, seed))
            score = Score(1.0 + (len(prompt) + seed) % 5, 1.0)
            out.append(score)
            if on_score:
                on_score(i, score)
        return out


def test_cache_answers_a_rerun_without_asking_again(tmp_path):
    prompts = ["a", "bb", "ccc"]
    judge = ScriptedJudge()
    first = judge_prompts(judge, prompts, runs=2, cache=JudgeCache(tmp_path / "cache"))
    assert len(judge.calls) == 6 and {s for _, s in judge.calls} == {0, 1}
    again = ScriptedJudge()
    second = judge_prompts(again, prompts, runs=2, cache=JudgeCache(tmp_path / "cache"))
    assert again.calls == []
    assert [r.scores for r in second] == [r.scores for r in first]
    # A new prompt is the only thing asked for; shards on disk are plain JSON.
    judge_prompts(again, [*prompts, "dddd"], runs=2, cache=JudgeCache(tmp_path / "cache"))
    assert again.calls == [("dddd", 0), ("dddd", 1)]
    for shard in (tmp_path / "cache").glob("*.json"):
        assert isinstance(json.loads(shard.read_text()), dict)
    assert len(JudgeCache(tmp_path / "cache")) == 8


def test_cache_keys_separate_judges_prompts_and_runs():
    key = JudgeCache.key({"kind": "a"}, "p", 0)
    assert len({key, JudgeCache.key({"kind": "b"}, "p", 0), JudgeCache.key({"kind": "a"}, "q", 0),
                JudgeCache.key({"kind": "a"}, "p", 1)}) == 4


def test_a_failing_judge_keeps_what_it_finished(tmp_path):
    with pytest.raises(EndpointError):
        judge_prompts(ScriptedJudge(fail_after=2), ["a", "bb", "ccc", "dddd"],
                      cache=JudgeCache(tmp_path / "c", flush_every=1000, flush_seconds=1e9))
    resumed = ScriptedJudge()
    ratings = judge_prompts(resumed, ["a", "bb", "ccc", "dddd"], cache=JudgeCache(tmp_path / "c"))
    assert [p for p, _ in resumed.calls] == ["ccc", "dddd"]  # nothing asked twice
    assert all(r.mean is not None for r in ratings)


def test_repeating_a_deterministic_judge_is_refused():
    with pytest.raises(UsageError, match="same answer every time"):
        judge_prompts(ScriptedJudge(deterministic=True), ["a"], runs=3)
    with pytest.raises(UsageError, match="at least 1"):
        judge_prompts(ScriptedJudge(), ["a"], runs=0)


# --- the local judge --------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_judge(tiny_model_dir) -> LocalJudge:
    return LocalJudge(load_model(str(tiny_model_dir("llama"))), batch_size=3)


def reference_score(judge: LocalJudge, prompt: str) -> float:
    """The same score written out plainly: one unpadded forward pass, softmax, eq. 7."""
    ids = torch.tensor([judge.render(prompt)])
    with torch.inference_mode():
        probs = torch.softmax(judge.loaded.hf_model(input_ids=ids).logits[0, -1].float(), -1)
    tokenizer = judge.loaded.tokenizer
    mass = {r: sum(float(probs[tokenizer(f, add_special_tokens=False)["input_ids"][0]])
                   for f in (str(r), f" {r}") if len(tokenizer(f, add_special_tokens=False)["input_ids"]) == 1)
            for r in range(1, 6)}
    return sum(r * m for r, m in mass.items()) / sum(mass.values())


def test_local_judge_reads_the_next_token_distribution(tiny_judge):
    prompts = [value_prompt("conservation", QUESTION, KEEPS), value_prompt("conservation", QUESTION, LEAVES),
               value_prompt("self_enhancement", QUESTION + " Really?", KEEPS), quality_prompt(LEAVES),
               quality_prompt("x")]
    scores = tiny_judge.score(prompts)
    for prompt, score in zip(prompts, scores):
        assert 1 <= score.value <= 5 and 0 < score.mass <= 1
        assert sum(score.distribution) == pytest.approx(1.0)
        assert score.value == pytest.approx(reference_score(tiny_judge, prompt), abs=1e-4)
    tiny_judge.share_prefix = False
    try:
        plain = tiny_judge.score(prompts)
    finally:
        tiny_judge.share_prefix = True
    assert [s.value for s in plain] == pytest.approx([s.value for s in scores], abs=1e-5)
    assert tiny_judge.deterministic and tiny_judge.identity["revision"] == tiny_judge.loaded.revision


def test_a_tokenizer_without_single_token_ratings_is_refused():
    class Splitting:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [1, 2] if text.strip() == "3" else [ord(text.strip())]}

    with pytest.raises(ModelError, match="no single token for the rating 3"):
        rating_token_ids(Splitting())


@pytest.mark.embedded
def test_local_judge_on_the_embedded_model_agrees_with_its_server(openai_server):
    local = make_judge("local:smollm2-135m")
    assert all(len(ids) >= 1 for ids in local.rating_ids.values())
    remote = make_judge(f"openai:{openai_server.model}", base_url=openai_server.base_url,
                        api_key=openai_server.api_key, concurrency=1)
    prompts = [value_prompt("conservation", QUESTION, KEEPS), value_prompt("conservation", QUESTION, LEAVES)]
    for a, b in zip(local.score(prompts), remote.score(prompts)):
        assert 1 <= a.value <= 5 and 0 < a.mass <= 1
        assert a.value == pytest.approx(b.value, abs=0.15)  # dense float32 here, Q4_1 there


# --- a real OpenAI-compatible server (llama.cpp with the embedded GGUF) -----------------

@pytest.mark.embedded
def test_server_logprobs_flow_through_and_the_cache_saves_the_second_call(openai_server, tmp_path):  # noqa: F811
    judge = make_judge(f"openai:{openai_server.model}", base_url=openai_server.base_url,
                       api_key=openai_server.api_key, concurrency=2)
    prompts = [value_prompt("conservation", QUESTION, KEEPS), quality_prompt(LEAVES)]
    before = openai_server.work_done()
    ratings = judge_prompts(judge, prompts, cache=JudgeCache(tmp_path / "c"))
    assert openai_server.work_done() > before
    for rating in ratings:
        score = rating.scores[0]
        assert 1 <= score.value <= 5 and 0 < score.mass <= 1  # real probabilities, some on digits
        assert score.distribution is not None and len(score.distribution) == 5
    spent = openai_server.work_done()
    again = judge_prompts(judge, prompts, cache=JudgeCache(tmp_path / "c"))
    assert openai_server.work_done() == spent  # nothing sent twice
    assert [r.mean for r in again] == [r.mean for r in ratings]


@pytest.mark.embedded
def test_server_sampling_splits_n_where_the_server_refuses_it(openai_server):  # noqa: F811
    judge = make_judge(f"openai:{openai_server.model}", mode="sampling", samples=3, temperature=1.0,
                       base_url=openai_server.base_url, api_key=openai_server.api_key)
    (score,) = judge.score([value_prompt("conservation", QUESTION, KEEPS)], seed=1)
    assert judge._split_samples  # llama.cpp answered 400 to n = 3
    assert len(score.samples) == 3 and score.missing == sum(s is None for s in score.samples)
    assert score.value is None or 1 <= score.value <= 5


@pytest.mark.embedded
def test_a_wrong_key_is_one_line_without_the_key(openai_server):  # noqa: F811
    judge = make_judge("openai:m", base_url=openai_server.base_url, api_key="sk-wrong-key-123456")
    with pytest.raises(EndpointError) as info:
        judge.score(["Rate: 4"])
    message = str(info.value)
    assert "401" in message and "\n" not in message and "sk-wrong-key-123456" not in message


# --- endpoints that fail ----------------------------------------------------------------

def test_a_closed_port_is_one_clear_line(tmp_path):
    judge = make_judge("openai:gpt-4o", base_url=f"http://127.0.0.1:{closed_port()}/v1",
                       api_key="k", max_retries=0, timeout=5)
    cache = JudgeCache(tmp_path / "c")
    with pytest.raises(EndpointError, match="cannot reach the judge") as info:
        judge_prompts(judge, ["Rate: 4"], cache=cache)
    assert "\n" not in str(info.value)
    assert len(JudgeCache(tmp_path / "c")) == 0


def test_a_missing_key_for_openai_is_refused_before_anything_runs(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EndpointError, match="no API key for the judge: set OPENAI_API_KEY"):
        make_judge("openai:gpt-4o")


def completion(content: str, top: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": content}}
    if top is not None:
        choice["logprobs"] = {"content": [{"token": top[0][0], "logprob": top[0][1], "bytes": None,
                                           "top_logprobs": [{"token": t, "logprob": lp, "bytes": None}
                                                            for t, lp in top]}]}
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}


@contextmanager
def scripted_server(reply: Callable[[int, dict], tuple[int, dict]]) -> Iterator[tuple[str, list]]:
    """A real HTTP server on 127.0.0.1 answering request n with reply(n, body)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(body)
            status, payload = reply(len(received), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_rate_limit_keeps_finished_judgements_and_says_so(tmp_path):
    limited = {"error": {"message": "Rate limit reached for gpt-4o", "type": "requests"}}

    def reply(n: int, body: dict) -> tuple[int, dict]:
        return (200, completion("4", [("4", -0.1), ("5", -2.5)])) if n <= 2 else (429, limited)

    with scripted_server(reply) as (url, received):
        judge = make_judge("openai:gpt-4o", base_url=url, api_key="k", concurrency=1, max_retries=1)
        with pytest.raises(EndpointError, match="rate-limited the judge \\(429\\)") as info:
            judge_prompts(judge, ["p1", "p2", "p3", "p4"], cache=JudgeCache(tmp_path / "c"))
        assert "\n" not in str(info.value)
        assert received[0]["logprobs"] is True and received[0]["max_tokens"] == 1
        assert received[0]["top_logprobs"] == 20 and received[0]["temperature"] == 0
    assert len(JudgeCache(tmp_path / "c")) == 2  # the two answered ones are kept


def test_off_scale_answers_are_missing_never_zero():
    def reply(n: int, body: dict) -> tuple[int, dict]:
        if body.get("logprobs"):
            return 200, completion("7", [("7", -0.2), ("0", -1.5), ("R", -3.0)])
        return 200, completion(["7", "-1", "3", "zero"][(n - 1) % 4])

    with scripted_server(reply) as (url, received):
        logprobs = make_judge("openai:m", base_url=url, api_key="k", concurrency=1)
        (score,) = logprobs.score(["p"])
        assert score.value is None and score.mass == 0 and score.missing == 1
        sampling = make_judge("openai:m", base_url=url, api_key="k", mode="sampling", samples=4,
                              concurrency=1)
        (sampled,) = sampling.score(["p"])
        # The scripted server ignores n and answers once; every answer counts, off-scale as missing.
        assert sampled.samples == (None,) and sampled.value is None
        ratings = judge_prompts(sampling, ["q1", "q2", "q3"])
        assert sum(r.missing_runs for r in ratings) >= 1
        assert all(r.mean is None or 1 <= r.mean <= 5 for r in ratings)


def test_an_endpoint_without_logprobs_says_which_mode_to_use():
    with scripted_server(lambda n, body: (200, completion("4"))) as (url, _):
        judge = make_judge("openai:m", base_url=url, api_key="k")
        with pytest.raises(EndpointError, match="returned no logprobs.*--judge-mode sampling"):
            judge.score(["p"])


# --- the Batch API's files --------------------------------------------------------------

def test_batch_request_file_carries_the_direct_request_bodies(monkeypatch):
    judge = make_judge("openai:gpt-4o", api_key="k")
    bodies = [("prompt-0-run-0", judge.request_body("first", 0)), ("prompt-1-run-0", judge.request_body("second", 0))]
    lines = request_lines(bodies).splitlines()
    assert len(lines) == 2
    row = json.loads(lines[1])
    assert row == {"custom_id": "prompt-1-run-0", "method": "POST", "url": BATCH_URL, "body": bodies[1][1]}
    assert row["body"]["messages"] == [{"role": "user", "content": "second"}]
    assert row["body"]["logprobs"] is True and row["body"]["max_tokens"] == 1
    sampling = make_judge("openai:gpt-4o", api_key="k", mode="sampling", samples=20)
    assert sampling.request_body("x", 3)["n"] == 20 and sampling.request_body("x", 3)["seed"] == 3


def test_batch_output_file_is_read_back_into_scores():
    good = completion("5", [("5", math.log(0.6)), ("4", math.log(0.2)), ("I", math.log(0.2))])
    output = "\n".join(json.dumps(row) for row in [
        {"id": "b1", "custom_id": "prompt-0-run-0", "error": None,
         "response": {"status_code": 200, "request_id": "r", "body": good}},
        {"id": "b2", "custom_id": "prompt-1-run-0", "error": None,
         "response": {"status_code": 400, "request_id": "r",
                      "body": {"error": {"message": "bad request", "type": "invalid"}}}},
        {"id": "b3", "custom_id": "prompt-2-run-0", "response": None,
         "error": {"code": "batch_expired", "message": "This request could not be executed"}},
    ]) + "\n"
    bodies, errors = parse_output(output)
    assert set(bodies) == {"prompt-0-run-0"}
    assert errors == {"prompt-1-run-0": "400: bad request",
                      "prompt-2-run-0": "no status: This request could not be executed"}
    judge = make_judge("openai:gpt-4o", api_key="k")
    score = judge.score_response(bodies["prompt-0-run-0"])
    assert score.value == pytest.approx((5 * 0.6 + 4 * 0.2) / 0.8) and score.mass == pytest.approx(0.8)
    with pytest.raises(EndpointError, match="line 1 of the batch output"):
        parse_output("not json\n")
