#!/usr/bin/env python3
"""Time one load of a checkpoint onto the GPU, excluding Python start-up.

usage: hf_load_time.py DIR safetensors|transformers
safetensors: safetensors.torch.load_file(shard, device="cuda") for every shard;
transformers: AutoModelForCausalLM.from_pretrained(DIR, device_map="cuda").
Prints "seconds=S bytes=B".
"""
import os, sys, time

import torch

d, how = sys.argv[1], sys.argv[2]
torch.cuda.init()
torch.empty(1, device="cuda")  # create the context outside the timing
t = time.monotonic()
if how == "safetensors":
    from safetensors.torch import load_file
    keep, n = [], 0
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            sd = load_file(os.path.join(d, f), device="cuda")
            n += sum(v.numel() * v.element_size() for v in sd.values())
            keep.append(sd)
else:
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(d, device_map="cuda", torch_dtype="auto")
    n = sum(p.numel() * p.element_size() for p in m.parameters())
torch.cuda.synchronize()
print("seconds=%.3f bytes=%d" % (time.monotonic() - t, n), flush=True)
