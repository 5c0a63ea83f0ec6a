"""Teacher-forced log-likelihoods: how probable given answers are after a prompt, in one
forward pass per prompt, with the prompt computed once however many answers share it.

The prompt minus its last token runs first and fills a shared key/value cache
(`SharedPrefixCache`); then every answer is one row of a second, right-padded batch that
starts with the prompt's last token. Every position of that batch predicts an answer
token, so its logits are exactly the ones needed: nothing is computed for the prompt's
positions beyond the one logit row the first pass cannot avoid. Log-probabilities are
`logit[target] - logsumexp(logits)`, so no [positions, vocab] log-softmax is kept.
An edit, when given, is applied to both passes (every position, as in generation).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from transformers import DynamicCache

from nnvalues.intervene.edits import Edit, hooked
from nnvalues.intervene.generation import pad_batch
from nnvalues.models.loading import LoadedModel
from nnvalues.stats.batching import MIN_SHARED_PREFIX, shared_prefix_length
from nnvalues.stats.counting import SharedPrefixCache


def _prefix_cache(model: Any, prefix: Sequence[int], device: Any) -> SharedPrefixCache:
    cache = SharedPrefixCache(config=model.config)
    ids = torch.as_tensor([list(prefix)], dtype=torch.long, device=device)
    model(input_ids=ids, attention_mask=torch.ones_like(ids), past_key_values=cache,
          use_cache=True, logits_to_keep=1)
    cache.frozen = True
    return cache


def answer_logprobs(loaded: LoadedModel, prompt: Sequence[int], answers: Sequence[Sequence[int]],
                    edit: Edit | None = None) -> list[np.ndarray]:
    """Per-token log-probabilities (float32 nats) of each answer given `prompt` (token ids)."""
    if not prompt:
        raise ValueError("the prompt must hold at least one token")
    model, device = loaded.hf_model, loaded.device
    out: list[np.ndarray] = [np.zeros(0, dtype=np.float32) for _ in answers]
    rows = [n for n, answer in enumerate(answers) if len(answer)]
    if not rows:
        return out
    width = max(len(answers[n]) for n in rows)
    pad = loaded.tokenizer.pad_token_id or 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    targets = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, n in enumerate(rows):
        answer = list(answers[n])
        ids[r, :len(answer)] = torch.as_tensor([prompt[-1], *answer[:-1]])
        targets[r, :len(answer)] = torch.as_tensor(answer)
        mask[r, :len(answer)] = 1
    start = len(prompt) - 1
    with torch.inference_mode(), hooked(loaded, edit):
        cache = _prefix_cache(model, prompt[:-1], device) if start else None
        full_mask = torch.cat([torch.ones((len(rows), start), dtype=torch.long), mask], dim=1)
        positions = (start + torch.arange(width)).expand(len(rows), -1)
        logits = model(input_ids=ids.to(device), attention_mask=full_mask.to(device),
                       position_ids=positions.to(device), past_key_values=cache,
                       use_cache=cache is not None).logits.float()
        chosen = logits.gather(-1, targets.to(device).unsqueeze(-1)).squeeze(-1)
        logprobs = (chosen - torch.logsumexp(logits, dim=-1)).cpu().numpy()
    for r, n in enumerate(rows):
        out[n] = logprobs[r, :len(answers[n])].astype(np.float32)
    return out


def batch_answer_logprobs(loaded: LoadedModel, prompts: Sequence[Sequence[int]],
                          answers: Sequence[Sequence[Sequence[int]]],
                          edit: Edit | None = None) -> list[list[np.ndarray]]:
    """`answer_logprobs` for several prompts at once, each token computed once.

    Three passes share one key/value cache: the opening all prompts share (system prompt and
    template) runs once; each prompt's own tokens but its last run once per prompt (left-
    padded, the cache repeated over the prompts); then the cache is repeated once per answer
    and every answer is a right-padded row that starts with its prompt's last token, so all
    its positions predict answer tokens and nothing else is unembedded.
    """
    out = [[np.zeros(0, dtype=np.float32) for _ in group] for group in answers]
    kept = [q for q, group in enumerate(answers) if any(len(a) for a in group)]
    if not kept:
        return out
    if any(len(prompts[q]) < 2 for q in kept):
        return [answer_logprobs(loaded, p, a, edit) for p, a in zip(prompts, answers)]
    model, device = loaded.hf_model, loaded.device
    heads = [list(prompts[q][:-1]) for q in kept]
    shared = shared_prefix_length(heads) if len(heads) > 1 else 0
    shared = shared if shared >= MIN_SHARED_PREFIX else 0
    own = pad_batch(loaded, [h[shared:] for h in heads])
    own_mask = own["attention_mask"]
    own_positions = shared + (own_mask.cumsum(-1) - 1).clamp(min=0)
    per_prompt = [len(answers[q]) for q in kept]
    rows = [(q, a) for q in kept for a in range(len(answers[q]))]
    lengths = [len(answers[q][a]) for q, a in rows]
    width = max(max(lengths), 1)
    pad = loaded.tokenizer.pad_token_id or 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    targets = torch.zeros((len(rows), width), dtype=torch.long)
    answer_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (q, a) in enumerate(rows):
        answer = list(answers[q][a])
        ids[r, :len(answer)] = torch.as_tensor([prompts[q][-1], *answer[:-1]][:len(answer)])
        targets[r, :len(answer)] = torch.as_tensor(answer)
        answer_mask[r, :len(answer)] = 1
    repeats = torch.as_tensor(per_prompt)
    starts = (shared + own_mask.sum(dim=1)).repeat_interleave(repeats)
    positions = starts.unsqueeze(1) + torch.arange(width).unsqueeze(0)
    with torch.inference_mode(), hooked(loaded, edit):
        cache = DynamicCache(config=model.config)
        if shared:
            opening = torch.as_tensor([heads[0][:shared]], dtype=torch.long, device=device)
            model(input_ids=opening, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache.batch_repeat_interleave(len(kept))
            own_mask = torch.cat([torch.ones((len(kept), shared), dtype=own_mask.dtype), own_mask], 1)
        model(input_ids=own["input_ids"], attention_mask=own_mask.to(device),
              position_ids=own_positions.to(device), past_key_values=cache, use_cache=True,
              logits_to_keep=1)
        _repeat_rows(cache, repeats.to(device))
        mask = torch.cat([own_mask.repeat_interleave(repeats, dim=0), answer_mask], dim=1)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       position_ids=positions.to(device), past_key_values=cache,
                       use_cache=True).logits.float()
        chosen = logits.gather(-1, targets.to(device).unsqueeze(-1)).squeeze(-1)
        logprobs = (chosen - torch.logsumexp(logits, dim=-1)).cpu().numpy()
    for r, (q, a) in enumerate(rows):
        out[q][a] = logprobs[r, :lengths[r]].astype(np.float32)
    return out


def _repeat_rows(cache: DynamicCache, repeats: torch.Tensor) -> None:
    """Repeat each row of the cache `repeats[row]` times (rows may have different counts)."""
    for layer in cache.layers:
        layer.keys = layer.keys.repeat_interleave(repeats, dim=0)
        layer.values = layer.values.repeat_interleave(repeats, dim=0)


def mean_logprob(logprobs: np.ndarray) -> float:
    """Mean per-token log-likelihood (NaN for an empty answer)."""
    return float(np.mean(logprobs)) if logprobs.size else float("nan")


def next_token_logprobs(loaded: LoadedModel, rows: Sequence[Sequence[int]],
                        edit: Edit | None = None) -> np.ndarray:
    """[rows, vocab] log-probabilities of the token after each row (token ids), in one
    left-padded batch whose common opening runs once (shared key/value cache)."""
    model, device = loaded.hf_model, loaded.device
    shared = shared_prefix_length(rows) if len(rows) > 1 else 0
    shared = shared if shared >= MIN_SHARED_PREFIX else 0
    inputs = pad_batch(loaded, [list(r)[shared:] for r in rows])
    mask = inputs["attention_mask"]
    positions = shared + (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode(), hooked(loaded, edit):
        cache = _prefix_cache(model, rows[0][:shared], device) if shared else None
        if shared:
            mask = torch.cat([torch.ones((len(rows), shared), dtype=mask.dtype, device=device), mask], 1)
        logits = model(input_ids=inputs["input_ids"], attention_mask=mask, position_ids=positions,
                       past_key_values=cache, use_cache=cache is not None, logits_to_keep=1).logits
        return torch.log_softmax(logits[:, -1, :].float(), dim=-1).cpu().numpy()
