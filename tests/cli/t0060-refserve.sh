#!/usr/bin/env bash
# refserve (host mode on this machine), probe, and refserve as run's default.
. "$(dirname "$0")/lib.sh"
"$COLDSTART" mkmodel m --preset tiny --shard-size 10M -q >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() { # args...: start refserve in the background, wait for /health
	"$COLDSTART" refserve "$@" --port "$port" > srv.log 2>&1 &
	srv=$!
	for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && return 0; kill -0 $srv 2>/dev/null || return 1; sleep 0.05; done
	return 1
}
stop() { kill -"${1:-TERM}" $srv; wait $srv; }

check "refserve --verify starts (host mode)" start m --device host --verify --served-model-name tiny-llama
contains "verified every byte" "$(cat srv.log)" "every tensor identical to the files"
contains "vLLM-format load line" "$(cat srv.log)" "Loading weights took"
contains "vLLM-format model line" "$(cat srv.log)" "Model loading took"
contains "startup line" "$(cat srv.log)" "Application startup complete."
check "/health is 200" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]
check "/v1/models names the model" python3 -c '
import json,sys,urllib.request
d=json.load(urllib.request.urlopen("http://127.0.0.1:%s/v1/models" % sys.argv[1]))
assert d["object"]=="list" and d["data"][0]["id"]=="tiny-llama", d' "$port"
check "other paths are 404" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" = 404 ]
porthex=$(printf '%04X' "$port")
check "bound to 127.0.0.1 only" sh -c "grep -q ':$porthex 00000000:0000 0A' /proc/net/tcp && ! grep -E '^ *[0-9]+: 00000000:$porthex ' /proc/net/tcp | grep -q ."
stop TERM
check "SIGTERM: clean exit 0" [ "$?" = 0 ]
contains "says it shuts down" "$(cat srv.log)" "Shutting down"

"$COLDSTART" pages evict m -q >/dev/null
check "--dummy starts" start m --dummy
run "$COLDSTART" pages status m --json
json_ok "--dummy read nothing (model still cold)" "$out" 'd["resident_pct"]<1'
stop INT
check "SIGINT: clean exit 0" [ "$?" = 0 ]

# Corrupt checkpoints are refused before serving, naming file and tensor.
M="$FIXTURES_SRC/malformed"
expect_rc 1 "wrong span refused" "$COLDSTART" refserve "$M/wrong-span" --port "$port"
contains "names file and tensor" "$err" "wrong-span/model.safetensors': tensor 'a.weight'"
expect_rc 1 "truncated refused" "$COLDSTART" refserve "$M/truncated" --port "$port"
check "nothing served" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 000 ]
expect_rc 2 "--dummy with --verify" "$COLDSTART" refserve m --dummy --verify
expect_rc 1 "--device cuda without a GPU" env LD_LIBRARY_PATH=/nonexistent "$COLDSTART" refserve m --device cuda --port "$port"
contains "says why" "$err" "libcuda.so.1"

# probe on this machine: storage only.
expect_rc 0 "probe --cold --json" "$COLDSTART" probe m --cold --device host --json
json_ok "probe reports a storage rate and a floor" "$out" '
assert d["storage_to_host_gbps"]>0 and d["floor_s"]>0 and d["host_to_device_gbps"] is None, d'

# run with no --server and no vllm on the PATH uses refserve and records a row.
expect_rc 0 "run falls back to refserve" env PATH=/usr/bin:/bin "$COLDSTART" run --model m --csv r.csv
contains "says so once" "$err" "using coldstart's reference server (refserve)"
check "a row with server=refserve" grep -q 'server=refserve' r.csv
check "refserve's phases in the row" grep -q 'weights_s=.*model_load_s=.*t_startup=' r.csv
expect_rc 0 "--server refserve selects it explicitly" "$COLDSTART" run --model m --server refserve --csv r.csv -q
check "two rows" [ "$(wc -l < r.csv)" = 3 ]

# bench's runtime mode: the same server without weight I/O.
"$COLDSTART" pages evict m -q >/dev/null
expect_rc 0 "bench --modes nvme,runtime with refserve" "$COLDSTART" bench --nvme m --modes nvme,runtime --repeat 1 --server refserve --csv rt.csv -q
check "runtime rows say so" grep -q '^[0-9]*,runtime,.*weights=dummy' rt.csv
check "the runtime run started refserve with --dummy" grep -q 'Loading nothing (dummy)' coldstart-logs/runtime-*.log
expect_rc 2 "runtime mode with a custom server needs --runtime-server" "$COLDSTART" bench --nvme m --modes runtime --server "/bin/true {port}"
contains "says what it needs" "$err" "--runtime-server"
no_leftovers "no refserve left"
done_testing
