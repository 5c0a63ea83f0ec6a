"""How a judge is named on the command line ("openai:gpt-4o", "local:smollm2-135m")."""

from __future__ import annotations

from typing import Any

from nnvalues.errors import UsageError
from nnvalues.judge.base import Judge
from nnvalues.judge.local import LocalJudge
from nnvalues.judge.openai_judge import MODES, OpenAIJudge

JUDGE_KINDS = ("openai", "local")


def parse_spec(spec: str) -> tuple[str, str]:
    """ "openai:gpt-4o" -> ("openai", "gpt-4o"); "local:smollm2-135m" -> ("local", ...).

    A bare name means an OpenAI-compatible endpoint, as most judges are served that way.
    """
    kind, sep, name = spec.partition(":")
    if not sep:
        kind, name = "openai", spec
    if kind not in JUDGE_KINDS or not name.strip():
        raise UsageError(f"bad judge {spec!r}: use openai:<model> (OpenAI or any compatible "
                         "server) or local:<model> (a local Hugging Face model)")
    return kind, name.strip()


def make_judge(spec: str, **options: Any) -> Judge:
    """A judge from its command-line name; `options` go to the judge's constructor.

    Options that do not apply to the chosen kind are dropped, so one set of command-line
    options serves both kinds.
    """
    kind, name = parse_spec(spec)
    if options.get("mode", MODES[0]) not in MODES:  # refused for local judges too
        raise UsageError(f"unknown judge mode {options['mode']!r}; choose from {', '.join(MODES)}")
    if kind == "local":
        wanted = ("template_mode", "batch_size", "device", "dtype")
        return LocalJudge.from_spec(name, **{k: v for k, v in options.items() if k in wanted})
    wanted = ("mode", "base_url", "api_key", "samples", "temperature", "max_tokens",
              "top_logprobs", "concurrency", "timeout", "max_retries", "use_batch",
              "batch_dir", "poll_interval")
    return OpenAIJudge(model=name, **{k: v for k, v in options.items() if k in wanted and v is not None})
