"""The closed sets of names the API accepts, as `Literal` types, and one check for them.

Type checkers see the choices in signatures; at run time `check_choice` turns anything else
into one line that names the parameter and the valid values.
"""

from __future__ import annotations

from typing import Any, Iterable, Literal, get_args

from nnvalues.errors import UsageError

Direction = Literal["positive", "negative"]
"""positive: push toward the value; negative: push away from it."""
CountingRule = Literal["prompt", "token"]
"""prompt: prompts whose summed activation is > 0 (paper); token: active tokens."""
Test = Literal["mid-p", "exact", "paired-t"]
"""mid-p / exact: McNemar on paired prompts (tests p(+) != p(-)); paired-t: a paired t test of
the per-token mean activation difference over pairs (tests the `mean` statistic)."""
TemplateMode = Literal["auto", "chat", "raw"]
Span = Literal["prompt", "answer", "all"]
"""Which tokens `locate` counts: the prompt's (paper), the model's greedy answer's, or both."""
EditRule = Literal["multiply", "add"]
Statistic = Literal["probability", "mean"]
"""What delta compares: the probability of being active, or the mean activation per token."""
ExecutionMode = Literal["local", "simulate", "remote"]


def options(choices: Any) -> tuple[str, ...]:
    """The names of a Literal type, or of any iterable of names (dict keys included)."""
    names = get_args(choices)
    return tuple(names) if names else tuple(choices)


def check_choice(value: Any, choices: Any, what: str) -> Any:
    """`value` if it is one of `choices` (a Literal type or names), else a one-line error."""
    valid = options(choices)
    if value not in valid:
        raise UsageError(f"unknown {what} {value!r}; choose from {', '.join(valid)}")
    return value


def check_all(values: Iterable[Any], choices: Any, what: str) -> list[Any]:
    return [check_choice(v, choices, what) for v in values]
