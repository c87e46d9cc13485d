#!/usr/bin/env python3
"""The PyTorch anchor for refserve --tp: safetensors' own slicing reads each
rank's slice of every tensor (safe_open(...).get_slice) and moves it to the
rank's GPU, with the same split rules as coldstart's tp.h (column, kv, row,
vocab, replicated; written again here). Ranks are loaded one after another
in one process, each rank reading its own slices from the files (as each
vLLM worker reads the checkpoint for itself).

usage: tp_anchor.py MODEL_DIR N [GPU,GPU,...]     (default GPUs 0..N-1)
Prints one JSON line: seconds, file bytes, bytes placed on the GPUs.
"""
import json, os, sys, time

import torch
from safetensors import safe_open


def kind(name, ndim):
    p = name.split(".")
    if ndim not in (1, 2) or p[-1] not in ("weight", "bias"):
        return "replicated"
    layer, bias = p[-2], p[-1] == "bias"
    if layer in ("q_proj", "gate_proj", "up_proj"):
        return "column"
    if layer in ("k_proj", "v_proj"):
        return "kv"
    if layer in ("o_proj", "down_proj"):
        return "replicated" if bias or ndim != 2 else "row"
    if layer in ("embed_tokens", "lm_head"):
        return "vocab"
    return "replicated"


def main():
    model, n = sys.argv[1], int(sys.argv[2])
    gpus = [int(g) for g in sys.argv[3].split(",")] if len(sys.argv) > 3 else list(range(n))
    cfg = json.load(open(os.path.join(model, "config.json")))
    kv = cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    files = sorted(f for f in os.listdir(model) if f.endswith(".safetensors"))
    for g in set(gpus):
        torch.zeros(1, device=f"cuda:{g}")  # CUDA initialised outside the timing
    torch.cuda.synchronize()
    t0 = time.monotonic()
    placed = 0
    keep = []
    for r in range(n):
        dev = f"cuda:{gpus[r]}"
        for f in files:
            with safe_open(os.path.join(model, f), framework="pt", device="cpu") as sf:
                for name in sf.keys():
                    s = sf.get_slice(name)
                    shape = s.get_shape()
                    k = kind(name, len(shape))
                    if k == "replicated" or n == 1:
                        t = s[:]
                    elif k == "row":
                        w = shape[1] // n
                        t = s[:, r * w:(r + 1) * w]
                    else:
                        d0 = shape[0]
                        if k == "vocab":
                            part = -(-d0 // n)
                            a = min(r * part, d0)
                            b = min(a + part, d0)
                        elif k == "kv" and kv < n:
                            hd = d0 // kv
                            a = (r * kv // n) * hd
                            b = a + hd
                        else:
                            a, b = d0 // n * r, d0 // n * (r + 1)
                        t = s[a:b]
                    t = t.to(dev, non_blocking=False)
                    placed += t.numel() * t.element_size()
                    keep.append(t)
    torch.cuda.synchronize()
    secs = time.monotonic() - t0
    fbytes = sum(os.path.getsize(os.path.join(model, f)) for f in files)
    print(json.dumps({"tp": n, "gpus": gpus, "seconds": secs, "file_bytes": fbytes, "placed_bytes": placed}))


if __name__ == "__main__":
    main()
