"""Load a model by embedded name, Hugging Face repo id, local directory or GGUF file.

GGUF models are de-quantised once and cached as a dense safetensors copy in the user
cache, so the second load takes a fraction of a second instead of ten or more.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nnvalues.config import cache_dir, check_device, configure_torch, default_device
from nnvalues.errors import ModelError
from nnvalues.fingerprint import hash_directory, hash_file
from nnvalues.models.attention import use_decode_attention
from nnvalues.models.architecture import Architecture, resolve
from nnvalues.models.precision import resolve_dtype
from nnvalues.models.registry import EMBEDDED

log = logging.getLogger(__name__)
DENSE_CACHE_FORMAT = 1


@dataclass
class LoadedModel:
    """A causal LM, its tokenizer, and what identifies it in a store."""

    name: str
    """The label of the `model` coordinate in cubes."""
    source: str
    revision: str
    """Commit hash, or sha256 of the file or directory the weights came from."""
    hf_model: Any
    tokenizer: Any
    architecture: Architecture
    device: str
    dtype: str
    _envoy: Any = field(default=None, repr=False)

    @property
    def envoy(self) -> Any:
        """The nnsight wrapper, built on first use."""
        if self._envoy is None:
            from nnsight import TransformersModel

            self._envoy = TransformersModel(self.hf_model, tokenizer=self.tokenizer)
        return self._envoy

    def provenance(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "model_source": self.source,
            "model_revision": self.revision,
            "model_type": self.architecture.model_type,
            "n_layers": self.architecture.n_layers,
            "n_neurons": self.architecture.n_neurons,
            "dtype": self.dtype,
        }


def check_spec(spec: str) -> str:
    """`spec` if it can name a model (embedded, an existing path, a repo id), checked cheaply
    before anything is loaded; else a one-line error saying what a model can be."""
    path = Path(spec).expanduser()
    if spec in EMBEDDED or path.exists() or _looks_like_repo_id(spec):
        return spec
    if spec.startswith((".", "/", "~")) or "/" in spec or path.suffix == ".gguf":
        raise ModelError(f"no model at {spec}: the path does not exist (give a model "
                         "directory, a .gguf file, an embedded name or a repo id)")
    raise ModelError(f"unknown model {spec!r}: give an embedded model ({', '.join(EMBEDDED)}), "
                     "a GGUF file, a model directory or a Hugging Face repo id")


def load_model(spec: str, *, device: str | None = None, dtype: str = "auto") -> LoadedModel:
    """Load `spec`: an embedded name, a GGUF path, a model directory or a hub repo id."""
    device = check_device(device or default_device())
    configure_torch(device)
    torch_dtype = resolve_dtype(dtype, device)
    path = Path(spec).expanduser()
    if spec in EMBEDDED:
        gguf = EMBEDDED[spec].locate_gguf()
        model, tokenizer, revision = _load_gguf(gguf, spec, torch_dtype)
        name, source = spec, f"embedded:{EMBEDDED[spec].package}"
    elif path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file {spec} does not exist")
        model, tokenizer, revision = _load_gguf(path, path.stem, torch_dtype)
        name, source = path.stem, f"gguf:{path.name}"
    elif path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{spec} holds no config.json: give a Hugging Face model directory "
                             "(one written by save_pretrained) or a .gguf file")
        model, tokenizer = _from_pretrained(str(path), torch_dtype)
        name, source, revision = path.name, f"directory:{path.name}", hash_directory(path)
    else:
        check_spec(spec)
        model, tokenizer = _from_pretrained(spec, torch_dtype)
        name, source = spec, f"hub:{spec}"
        revision = getattr(model.config, "_commit_hash", None) or "unknown"
    architecture = resolve(model)
    model.to(device).eval()
    if device == "cpu":
        use_decode_attention(model)
    _prepare_tokenizer(tokenizer, model)
    dtype_name = str(torch_dtype).removeprefix("torch.")
    return LoadedModel(name, source, revision, model, tokenizer, architecture, device, dtype_name)


REMOTE_DTYPE = "server"
"""The dtype label of remotely run models: the server chooses it (NDIF: bfloat16)."""


def load_remote_model(spec: str) -> LoadedModel:
    """A model to run on NDIF: tokenizer, config and module tree, with meta weights only.

    `spec` is a Hugging Face repo id that NDIF hosts, or, for a self-hosted server that
    shares this filesystem, a model directory (used as the repo id). No weights are read or
    downloaded; a repo id costs a hub lookup (its canonical id and commit) and the download
    of its config and tokenizer files.
    """
    from nnsight.modeling import huggingface

    path = Path(spec).expanduser()
    if path.is_dir():
        repo = str(path.resolve())
        huggingface._ID_CACHE.setdefault(repo, repo)  # what the server will open
        name, source, revision = path.name, f"ndif:directory:{path.name}", hash_directory(path)
    elif spec in EMBEDDED or path.suffix == ".gguf":
        raise ModelError(
            f"{spec} runs locally only: NDIF serves Hugging Face repos, e.g. "
            "meta-llama/Llama-3.1-8B (or a model directory on a self-hosted server)"
        )
    elif _looks_like_repo_id(spec):
        repo, revision = _hub_identity(spec)
        huggingface._ID_CACHE[spec] = repo
        name, source = spec, f"ndif:hub:{repo}"
    else:
        raise ModelError(f"unknown model {spec!r}: give a Hugging Face repo id that NDIF hosts")
    envoy = _meta_envoy(repo, spec)
    model = envoy._module
    architecture = resolve(model)
    _prepare_tokenizer(envoy.tokenizer, model)
    return LoadedModel(name, source, revision, model, envoy.tokenizer, architecture, "cpu",
                       REMOTE_DTYPE, _envoy=envoy)


def _hub_identity(spec: str) -> tuple[str, str]:
    """The canonical repo id and commit of `spec` on the Hugging Face hub."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(spec)
    except Exception as exc:  # offline, unknown repo, gated without a token, ...
        raise ModelError(
            f"cannot look up {spec} on the Hugging Face hub: {_first_line(exc)}") from None
    return info.id, info.sha or "unknown"


def _meta_envoy(repo: str, spec: str) -> Any:
    from nnsight import TransformersModel

    try:
        return TransformersModel(repo, task="text-generation")
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot build {spec} for remote execution: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _looks_like_repo_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~"))


def _from_pretrained(source: str, dtype: torch.dtype, **kwargs: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shown = str(Path(source) / kwargs["gguf_file"]) if "gguf_file" in kwargs else source
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # what a foreign file raises
        raise ModelError(f"cannot load model {shown!r}: {_first_line(exc)}") from None
    return model, tokenizer


def _load_gguf(gguf: Path, name: str, dtype: torch.dtype) -> tuple[Any, Any, str]:
    """Load a GGUF through its cached dense copy, creating the copy on first use."""
    revision = hash_file(gguf)
    dense = cache_dir() / "dense" / f"{name}-{revision[:16]}-v{DENSE_CACHE_FORMAT}"
    if not (dense / "nnvalues-dense.json").is_file():
        log.info("de-quantising %s once; later loads use %s", gguf.name, dense)
        model, tokenizer = _from_pretrained(str(gguf.parent), torch.float32, gguf_file=gguf.name)
        _save_dense(model, tokenizer, dense, revision)
    model, tokenizer = _from_pretrained(str(dense), dtype)
    return model, tokenizer, revision


def _save_dense(model: Any, tokenizer: Any, target: Path, revision: str) -> None:
    # save_pretrained refuses a model that still says it is quantised.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staged = target.with_name(f".{target.name}.staging")
    shutil.rmtree(staged, ignore_errors=True)
    model.save_pretrained(staged)
    tokenizer.save_pretrained(staged)
    marker = {"source_sha256": revision, "format": DENSE_CACHE_FORMAT}
    (staged / "nnvalues-dense.json").write_text(json.dumps(marker))
    from nnvalues.storage import replace_directory

    replace_directory(staged, target)


def _prepare_tokenizer(tokenizer: Any, model: Any) -> None:
    """Left padding, so that the last position is the next token for every row."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.generation_config, "pad_token_id", None) is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
