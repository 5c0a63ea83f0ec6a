"""Reference answers of the judge-free metrics, generated once by the unedited model.

For every evaluation question, two answers: one with a value description of the dimension
in the paper's "value description + question" template (the prompt `locate` measures),
one with a reversed description. Descriptions are drawn per question with the run's seed,
as `locate` draws them; decoding is greedy with a fixed token budget. They are kept as
JSON in the results store (`<results>/references/<model key>/<set>--<dimension>.json`),
with a fingerprint of everything that made them, and reused by every cell and rerun.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from nnvalues.data.records import PromptRecord
from nnvalues.data.valueinsight import load_dataset
from nnvalues.errors import UsageError
from nnvalues.evaluate.questions import Item, fingerprint
from nnvalues.fingerprint import hash_json
from nnvalues.intervene.generation import GenerationSettings, generate
from nnvalues.models.loading import LoadedModel
from nnvalues.prompts.render import Renderer
from nnvalues.prompts.templates import DEFAULT_TEMPLATE, TEMPLATES
from nnvalues.storage import atomic_write_text
from nnvalues.taxonomy import POLARITIES

FOLDER = "references"
DEFAULT_REFERENCE_TOKENS = 64


@dataclass(frozen=True)
class Reference:
    """The value answer and the reversed answer to one question (token ids and text)."""

    question: str
    value_ids: tuple[int, ...]
    reversed_ids: tuple[int, ...]
    value_text: str
    reversed_text: str
    descriptions: tuple[str, str]
    """Ids of the value and the reversed description."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Reference":
        return cls(data["question"], tuple(data["value_ids"]), tuple(data["reversed_ids"]),
                   data["value_text"], data["reversed_text"], tuple(data["descriptions"]))


def reference_records(items: Sequence[Item], dimension: str, seed: int) -> list[PromptRecord]:
    """Positive then negative record per question; the draw is `locate`'s (seed, question id)."""
    data = load_dataset()
    pools = {p: sorted(data.descriptions_for(dimension, p), key=lambda d: d.id) for p in POLARITIES}
    if not all(pools.values()):
        raise UsageError(f"the data set has no value descriptions for {dimension}")
    records = []
    for item in items:
        draw = random.Random(f"{seed}:{item.id}")
        for polarity in POLARITIES:
            description = pools[polarity][draw.randrange(len(pools[polarity]))]
            records.append(PromptRecord(f"{item.id}:{polarity}", dimension, polarity, description.text,
                                        item.text, pair=item.id, extra={"description_id": description.id}))
    return records


def generate_references(loaded: LoadedModel, items: Sequence[Item], dimension: str, seed: int,
                        tokens: int = DEFAULT_REFERENCE_TOKENS, template_mode: str = "auto",
                        batch_size: int = 16,
                        on_batch: Callable[[int], None] | None = None) -> list[Reference]:
    """Greedy answers of the unedited model, `tokens` at most, two per question."""
    records = reference_records(items, dimension, seed)
    renderer = Renderer(loaded.tokenizer, template_mode, DEFAULT_TEMPLATE)  # type: ignore[arg-type]
    prompts = [renderer.render(r).input_ids for r in records]
    settings = GenerationSettings(max_new_tokens=tokens, batch_size=batch_size)
    answers = generate(loaded, prompts, None, settings, on_batch=on_batch)
    return [Reference(item.id, answers[2 * n].token_ids, answers[2 * n + 1].token_ids,
                      answers[2 * n].text, answers[2 * n + 1].text,
                      (records[2 * n].extra["description_id"], records[2 * n + 1].extra["description_id"]))
            for n, item in enumerate(items)]


def references_fingerprint(loaded: LoadedModel, items: Sequence[Item], dimension: str, seed: int,
                           tokens: int, template_mode: str) -> str:
    return hash_json({"model": loaded.revision, "dtype": str(loaded.dtype), "questions": fingerprint(list(items)),
                      "dimension": dimension, "seed": seed, "tokens": tokens,
                      "template": TEMPLATES[DEFAULT_TEMPLATE], "template_mode": template_mode,
                      "data": load_dataset().fingerprint})


def references_path(results: Path, key: str, set_name: str, dimension: str) -> Path:
    return Path(results) / FOLDER / key / f"{set_name}--{dimension}.json"


def cached_references(results: Path, key: str, set_name: str, dimension: str, loaded: LoadedModel,
                      items: Sequence[Item], seed: int, tokens: int, template_mode: str,
                      on_batch: Callable[[int], None] | None = None) -> list[Reference]:
    """The references kept in the results store, generated and kept now if missing."""
    path = references_path(results, key, set_name, dimension)
    wanted = references_fingerprint(loaded, items, dimension, seed, tokens, template_mode)
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        held = None
    if held is not None and held.get("fingerprint") == wanted:
        return [Reference.from_json(r) for r in held["references"]]
    made = generate_references(loaded, items, dimension, seed, tokens, template_mode,
                               on_batch=on_batch)
    atomic_write_text(path, json.dumps({"fingerprint": wanted, "dimension": dimension, "set": set_name,
                                        "tokens": tokens, "seed": seed,
                                        "references": [r.to_json() for r in made]}, ensure_ascii=False))
    return made
