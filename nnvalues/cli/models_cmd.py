"""`nnvalues models`: what can be loaded here."""

from __future__ import annotations

from nnvalues.cli.output import console, table
from nnvalues.models.architecture import LAYOUTS
from nnvalues.models.registry import DEFAULT_MODEL, EMBEDDED, is_installed


def models() -> None:
    """List the embedded models and the architectures whose neurons nnvalues can find."""
    rows = []
    for model in EMBEDDED.values():
        installed = "yes" if is_installed(model) else f"no: {model.install}"
        name = f"{model.name} (default)" if model.name == DEFAULT_MODEL else model.name
        rows.append((name, model.description, installed))
    console.print(table("Embedded models", ("name", "model", "installed"), rows))
    console.print(
        "Also accepted by --model: a Hugging Face repo id, a local model directory or a "
        f".gguf file, of these architectures: {', '.join(sorted(LAYOUTS))}."
    )
