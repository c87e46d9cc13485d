#!/usr/bin/env python3
"""A minimal inference-server stand-in: transformers + http.server.

usage: hf_serve.py --model DIR --port N [--host 127.0.0.1] [--dummy]
                   [--report-nvidia-smi] [--compile [--compile-mode MODE]]

Loads the checkpoint onto the GPU with AutoModelForCausalLM.from_pretrained
(device_map="cuda", dtype from config), logs the vLLM-format lines that
coldstart's phase parser reads, then answers GET /health (200) and
GET /v1/models on HOST:PORT (default 127.0.0.1) until SIGTERM/SIGINT.
--dummy builds the model from config.json with random weights (no weight
I/O: the runtime-only baseline). --report-nvidia-smi prints nvidia-smi's
per-process memory for this process just before listening, to compare with
what coldstart records at ready. --compile wraps the model's forward in
torch.compile (inductor) and runs one warm-up forward before answering
/health, so that a start pays for Dynamo tracing and inductor/Triton
compilation; their caches live where TORCHINDUCTOR_CACHE_DIR and
TRITON_CACHE_DIR say (coldstart --caches sets them). It logs vLLM's
"torch.compile takes X s in total" line and the FX graph cache's hits and
misses, which tell a cold cache from a warm one.
"""
import argparse, json, os, signal, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

T0 = time.monotonic()


def log(msg):
    print(time.strftime("INFO %m-%d %H:%M:%S [hf_serve.py:1] ") + msg, flush=True)


def compile_and_warm_up(model, mode):
    import torch
    from torch._dynamo.utils import counters

    for var in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        log(f"cache {var}={os.environ.get(var, '(unset: the default)')}")
    t = time.monotonic()
    model.forward = torch.compile(model.forward, mode=mode, dynamic=False)
    ids = torch.randint(0, model.config.vocab_size, (1, 16), device="cuda")
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    torch.cuda.synchronize()
    took = time.monotonic() - t
    ind = counters["inductor"]
    log(f"fx graph cache: hits={ind.get('fxgraph_cache_hit', 0)} misses={ind.get('fxgraph_cache_miss', 0)}")
    log(f"torch.compile takes {took:.2f} s in total")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--dummy", action="store_true")
    ap.add_argument("--report-nvidia-smi", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--compile-mode", default="default")
    a = ap.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    log(f"Starting to load model {a.model}...")
    t = time.monotonic()
    if a.dummy:
        cfg = AutoConfig.from_pretrained(a.model)
        with torch.device("cuda"):
            model = AutoModelForCausalLM.from_config(cfg, torch_dtype=getattr(cfg, "torch_dtype", None) or torch.bfloat16)
    else:
        model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype="auto", device_map="cuda")
    torch.cuda.synchronize()
    took = time.monotonic() - t
    gib = torch.cuda.memory_allocated() / 2**30
    log(f"Loading weights took {took:.2f} seconds")
    log(f"Model loading took {gib:.4f} GiB memory and {took:.6f} seconds")
    name = os.path.basename(os.path.normpath(a.model))
    if a.compile:
        compile_and_warm_up(model, a.compile_mode)

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                body, code = b"", 200
            elif self.path == "/v1/models":
                body, code = json.dumps({"object": "list", "data": [{"id": name, "object": "model"}]}).encode(), 200
            else:
                body, code = b"not found\n", 404
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    if a.report_nvidia_smi:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True).stdout
        mine = [l for l in out.splitlines() if l.split(",")[0].strip() == str(os.getpid())]
        dev = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True).stdout.strip()
        print(f"NVIDIA_SMI_AT_READY pid={os.getpid()} process_used_mib={mine[0].split(',')[1].strip() if mine else 'not-listed'}"
              f" device_used_mib={dev} torch_reserved_mib={torch.cuda.memory_reserved() >> 20}", flush=True)
    srv = ThreadingHTTPServer((a.host, a.port), H)
    stop = lambda *_: threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("INFO:     Application startup complete.", flush=True)
    srv.serve_forever()
    srv.server_close()
    print("INFO:     Shutting down", flush=True)


if __name__ == "__main__":
    sys.exit(main())
