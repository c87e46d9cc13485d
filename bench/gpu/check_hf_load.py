#!/usr/bin/env python3
"""Load coldstart mkmodel checkpoints with the real Hugging Face stack.

usage: check_hf_load.py DIR [DIR...]
For each DIR: every tensor through safetensors.safe_open (finite, non-zero,
shapes as the index says), then transformers.AutoModelForCausalLM
.from_pretrained(DIR) with output_loading_info, which must report no
missing, unexpected or mismatched keys; then one forward pass on the GPU.
Exits 1 on the first failure.
"""
import json, os, sys, time

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM


def check(d):
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    idx = os.path.join(d, "model.safetensors.index.json")
    wm = json.load(open(idx))["weight_map"] if os.path.exists(idx) else None
    n = params = 0
    for f in files:
        with safe_open(os.path.join(d, f), framework="pt", device="cpu") as st:
            for k in st.keys():
                t = st.get_tensor(k)
                assert torch.isfinite(t.float()).all(), f"{f}:{k} not finite"
                assert (t != 0).all(), f"{f}:{k} has zeros"
                if wm is not None:
                    assert wm[k] == f, f"{k} in {f}, index says {wm[k]}"
                n += 1
                params += t.numel()
    print(f"{d}: safe_open read {n} tensors, {params:,} params from {len(files)} file(s)")
    t0 = time.time()
    model, info = AutoModelForCausalLM.from_pretrained(d, output_loading_info=True, torch_dtype="auto")
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"loading info not clean: {bad}"
    got = sum(p.numel() for p in model.parameters())
    print(f"{d}: from_pretrained {type(model).__name__} ok in {time.time() - t0:.2f}s, "
          f"{got:,} params, loading info {info}")
    assert got == params, f"model has {got} params, files {params}"
    if torch.cuda.is_available():
        model = model.to("cuda")
        out = model(torch.tensor([[1, 2, 3, 4]], device="cuda"))
        assert torch.isfinite(out.logits.float()).all(), "forward pass not finite"
        print(f"{d}: forward pass on {torch.cuda.get_device_name()} ok, logits {tuple(out.logits.shape)}")


if __name__ == "__main__":
    for d in sys.argv[1:]:
        check(d)
    print("ALL OK")
