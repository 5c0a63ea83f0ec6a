"""Judges of generated answers: G-Eval value alignment (1-5) for a dimension, and text quality.

    from nnvalues.judge import make_judge, judge_prompts, value_prompt
    judge = make_judge("local:smollm2-135m")            # or "openai:gpt-4o", mode="sampling"
    ratings = judge_prompts(judge, [value_prompt("conservation", question, answer)])
    ratings[0].mean
"""

from nnvalues.judge.base import Judge
from nnvalues.judge.cache import JudgeCache
from nnvalues.judge.prompts import CRITERIA, RATINGS, quality_prompt, value_prompt
from nnvalues.judge.runs import Rating, check_runs, judge_prompts
from nnvalues.judge.scoring import Score, from_probabilities, from_samples, from_top_logprobs, parse_rating
from nnvalues.judge.spec import make_judge, parse_spec
from nnvalues.openai_client import EndpointError

__all__ = [
    "CRITERIA", "EndpointError", "Judge", "JudgeCache", "RATINGS", "Rating", "Score", "check_runs",
    "from_probabilities", "from_samples", "from_top_logprobs", "judge_prompts", "make_judge",
    "parse_rating", "parse_spec", "quality_prompt", "value_prompt",
]
