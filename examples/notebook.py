"""The Python API in a notebook's worth of lines, on the embedded model (about a minute).

    python examples/notebook.py
"""

import torch

import nnvalues as nv

model = nv.load_model("smollm2-135m")
cube = nv.locate(model, dimensions=["conservation"], limit=6)          # in memory, nothing written
print(cube.nnv.per_layer(rule=nv.Threshold(0.1)).sum("layer").to_series().to_dict())

neurons = nv.select(cube, dimension="conservation", rule=nv.TopK(100))
edit = nv.Edit.from_neurons(neurons, direction="positive", gamma=4.0)

messages = [{"role": "user", "content": "Your town wants to tear down its old market hall. "
                                        "What do you think?"}]
inputs = model.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                             return_dict=True, return_tensors="pt")
with torch.inference_mode():
    with model.envoy.trace(inputs):                                    # your own nnsight trace
        plain = model.envoy.lm_head.output[0, -1].log_softmax(-1).save()
    with model.envoy.trace(inputs):
        edit.apply(model)                                              # the edit, in your trace
        edited = model.envoy.lm_head.output[0, -1].log_softmax(-1).save()

shift = (plain.exp() * (plain - edited)).sum()                         # KL(plain || edited), nats
print(f"{len(neurons)} neurons edited; next-token KL {float(shift):.4f} nats")
for name, logp in (("plain", plain), ("edited", edited)):
    top = logp.topk(5)
    words = [model.tokenizer.decode([int(i)]) for i in top.indices]
    print(f"{name:>6}: " + ", ".join(f"{w!r} {p:.2f}" for w, p in zip(words, top.values.exp())))
