#!/usr/bin/env bash
# Machine-readable output: inspect --json has the same keys with the same
# meaning for safetensors and GGUF, and with --json every command's failure
# is one JSON object on stdout ({"error": {...}}), the message also on stderr.
. "$(dirname "$0")/lib.sh"
M="$FIXTURES_SRC/malformed"

# ---- inspect --json: one set of keys for both formats ----
expect_rc 0 "a safetensors model (tiny, 1 layer)" "$COLDSTART" mkmodel st --preset tiny --layers 1 -q
expect_rc 0 "the same as GGUF" "$COLDSTART" mkmodel g.gguf --preset tiny --layers 1 --format gguf -q
expect_rc 0 "inspect --json --tensors: safetensors" "$COLDSTART" inspect st --json --tensors
ST=$out
expect_rc 0 "inspect --json --tensors: GGUF" "$COLDSTART" inspect g.gguf --json --tensors
GG=$out
COMMON="format path file architecture layers hidden_size vocab_size context_length dtype dtypes tensors parameters
tensor_bytes file_bytes shards files tensor_list"
for f in ST GG; do
	json_ok "$f: every common key" "${!f}" "
missing=[k for k in '''$COMMON'''.split() if k not in d]
assert not missing, missing"
	json_ok "$f: the totals agree with the lists" "${!f}" "
t=d['tensor_list']
assert d['tensors']==len(t)==sum(s['tensors'] for s in d['shards']), d['tensors']
assert d['tensor_bytes']==sum(x['bytes'] for x in t)==sum(v['bytes'] for v in d['dtypes'].values())
assert d['parameters']==sum(v['parameters'] for v in d['dtypes'].values())==sum(s['parameters'] for s in d['shards'])
assert d['file_bytes']==sum(s['file_bytes'] for s in d['shards'])
assert d['dtype']==max(d['dtypes'], key=lambda k: d['dtypes'][k]['bytes'])
assert all(set(x)>={'name','dtype','shape','shard','offset','bytes'} for x in t), t[0]"
done
json_ok "format and path name what was inspected" "$ST" "assert d['format']=='safetensors' and d['path']=='st' and d['file'] is None, d"
json_ok "... for GGUF too, file the one llama.cpp opens" "$GG" "assert d['format']=='gguf' and d['path']=='g.gguf' and d['file']=='g.gguf', d"
# The same model in both formats: the same meaning, the same numbers.
both=$(printf '{"st": %s, "gg": %s}' "$ST" "$GG")
json_ok "same parameters, layers, hidden size, vocabulary" "$both" "
s,g=d['st'],d['gg']
for k in ('parameters','layers','hidden_size','vocab_size'):
    assert s[k]==g[k] and s[k] is not None, (k, s[k], g[k])"
json_ok "shape means the same in both: the embedding is [vocab, hidden], outermost first" "$both" "
for f in ('st','gg'):
    e=[x for x in d[f]['tensor_list'] if x['name'] in ('model.embed_tokens.weight','token_embd.weight')]
    assert len(e)==1 and e[0]['shape']==[d[f]['vocab_size'], d[f]['hidden_size']], (f, e)
e=[x for x in d['gg']['tensor_list'] if x['name']=='token_embd.weight'][0]
assert e['ne']==e['shape'][::-1], e"
expect_rc 0 "the index fixture" "$COLDSTART" inspect "$M/good-sharded" --json
json_ok "safetensors' own keys kept (indexed, model_type, torch_dtype)" "$out" "
assert d['indexed'] is True and 'model_type' in d and 'torch_dtype' in d and 'dir' not in d, d"

# ---- --json failures: a JSON object on stdout, every command ----
# json_error DESC RC CMD...: CMD fails with RC, stdout is exactly one JSON
# object {"error": {"message", "command", "exit_status": RC}} whose message
# is the one on stderr.
json_error() {
	local desc=$1 want=$2
	shift 2
	expect_rc "$want" "$desc" "$@"
	export JSON_ERR_STDERR=$err
	json_ok "... {\"error\": ...} on stdout, the message also on stderr" "$out" "
import os
e, s=d['error'], os.environ['JSON_ERR_STDERR']
assert set(d)=={'error'} and e['exit_status']==$want and e['command']=='$2', d
assert e['message'] and ('coldstart: $2: '+e['message']) in s, (e, s)"
}
json_error "inspect, a missing model" 1 "$COLDSTART" inspect "$SCRATCH/none" --json
json_ok "... naming its path" "$out" "assert d['error']['path']=='$SCRATCH/none', d"
json_error "inspect, a malformed model" 1 "$COLDSTART" inspect "$M/truncated" --json
json_error "inspect, a usage error (no MODEL)" 2 "$COLDSTART" inspect --json
json_error "inspect, an unknown option before --json" 2 "$COLDSTART" inspect --bogus --json
json_error "stage" 1 "$COLDSTART" stage "$SCRATCH/none" --root "$SCRATCH/root" --json
json_error "cache ls" 1 "$COLDSTART" cache ls --root "$SCRATCH/none" --json
json_error "cache, an unknown action" 2 "$COLDSTART" cache --json bogus
json_error "mkmodel --dry-run" 2 "$COLDSTART" mkmodel x --dry-run --json
json_error "netsim" 2 "$COLDSTART" netsim --stats --json
json_error "pages" 1 "$COLDSTART" pages status "$SCRATCH/none" --json
json_error "probe" 1 "$COLDSTART" probe "$SCRATCH/none" --json
json_error "report" 1 "$COLDSTART" report "$SCRATCH/none.csv" --json
json_error "run, a usage error" 2 "$COLDSTART" run --json
json_error "bench" 1 "$COLDSTART" bench --nvme "$SCRATCH/none" --net "$SCRATCH/none" --json -n 1
expect_rc 1 "without --json a failure prints nothing on stdout" "$COLDSTART" inspect "$SCRATCH/none"
check "... nothing" [ -z "$out" ]
expect_rc 1 "--json after -- is an operand, not the option" "$COLDSTART" inspect -- --json
check "... nothing on stdout" [ -z "$out" ]
expect_rc 0 "a success with --json: its result only" "$COLDSTART" inspect st --json
json_ok "... no error object" "$out" "assert 'error' not in d and d['format']=='safetensors', d"
done_testing
