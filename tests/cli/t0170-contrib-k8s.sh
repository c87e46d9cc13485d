#!/usr/bin/env bash
# contrib/kubernetes: every manifest valid against the Kubernetes schemas
# (offline: kubernetes-models from npm, in bench/servers' lock file); a
# broken one refused; the serving Deployment's own `coldstart exec` command
# runs here, as written (the site's paths swapped for local ones, the
# server's arguments verbatim, to the strict vLLM stand-in), and writes the
# ready file its startup probe tests. No cluster runs them here.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
MODS=$REPO_ROOT/bench/servers/node_modules
[ -d "$MODS/kubernetes-models" ] || skip_all "kubernetes-models is not installed (make deps: needs Node.js >= 20 and npm)"
V=("node" "$FIXTURES_SRC/k8s-validate.mjs" "$MODS")
K=$REPO_ROOT/contrib/kubernetes
expect_rc 0 "every manifest is valid" "${V[@]}" "$K"/*.yaml
for kind in DaemonSet Deployment Job ConfigMap PersistentVolumeClaim; do
	contains "... including the $kind" "$out" " $kind "
done
sed 's/replicas: 4/replicas: four/' "$K/serve-deployment.yaml" > bad.yaml
expect_rc 1 "a wrong type is refused (replicas: four)" "${V[@]}" bad.yaml
contains "... naming the field" "$out" "replicas"
sed '/image: registry.example.com\/coldstart/d; s/- name: stage/- name: stage\n          imagePullPolicy: Sometimes/' "$K/cache-daemonset.yaml" > bad2.yaml
expect_rc 1 "an enum value it does not have is refused (imagePullPolicy: Sometimes)" "${V[@]}" bad2.yaml
contains "... naming it" "$out" "imagePullPolicy must be equal to one of the allowed values"

# The Deployment's container command, run as it is written: read from the
# manifest (never copied here, so a change there is what runs), with only
# the site's values swapped for local ones -- the s3:// source for a local
# directory of the same name, the node's cache, the port and the ready file
# (the probe is checked to test that same file). Every word after -- goes
# to the server verbatim: `vllm` is the strict stand-in that parses its
# command line as vLLM's CLI does, told exactly what it must get.
. "$REPO_ROOT/tests/cli/strict.sh"
node -e '
const fs=require("fs"); const Y=require(process.argv[1]+"/yaml");
const d=Y.parseAllDocuments(fs.readFileSync(process.argv[2],"utf8")).map(x=>x.toJS()).find(o=>o.kind==="Deployment");
const c=d.spec.template.spec.containers[0];
console.log(JSON.stringify({cmd:c.command, probe:c.startupProbe.exec.command}));' "$MODS" "$K/serve-deployment.yaml" > dep.json
src_name=$(python3 -c 'import json; c=json.load(open("dep.json"))["cmd"]; print(c[c.index("--stage")+1].rstrip("/").rsplit("/",1)[-1])')
"$COLDSTART" mkmodel "src/$src_name" --preset tiny -q >/dev/null
# A model whose context is as long as the Deployment asks for (Qwen2.5's 32k).
python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); c["max_position_embeddings"]=32768; json.dump(c,open(p,"w"),indent=2)' \
	"src/$src_name/config.json"
port=$(free_port)
mapfile -t argv < <(python3 -c '
import json,sys; c=json.load(open("dep.json"))["cmd"]; i=c.index("--")
site={"--stage": sys.argv[1], "--root": sys.argv[2], "--port": sys.argv[3], "--ready-file": sys.argv[4]}
out=[]; k=0
while k < i:
    a=c[k]
    if a in site: out+=[a, site[a]]; k+=2; continue
    out.append(a); k+=1
print("\n".join(out+c[i:]))' "$SCRATCH/src/$src_name" "$SCRATCH/cache" "$port" "$SCRATCH/ready")
check "the command starts coldstart exec, the server's command after --" [ "${argv[0]} ${argv[1]}" = "coldstart exec" ]
json_is "the probe tests the file exec writes" "$(cat dep.json)" 'd["cmd"][d["cmd"].index("--ready-file")+1] == d["probe"][-1] and d["probe"][:2]==["test","-f"]' True
# What the server must get: the words after --, {model} and {port} replaced, nothing else touched.
python3 -c '
import json,sys; c=json.load(open("dep.json"))["cmd"]; tail=c[c.index("--")+2:]
print("\n".join(a.replace("{model}", sys.argv[1]).replace("{port}", sys.argv[2]) for a in tail))' \
	"$SCRATCH/cache/$src_name" "$port" > dep.argv
mkdir -p bin && ln -sf "$COLDSTART" bin/coldstart && ln -sf "$F" bin/vllm
PATH=$SCRATCH/bin:$PATH CS_EXPECT_ARGV=$SCRATCH/dep.argv "${argv[@]}" >exec.out 2>exec.err &
epid=$!
wf() { for _ in $(seq 400); do [ -e "$SCRATCH/ready" ] && return 0; kill -0 $epid 2>/dev/null || return 1; sleep 0.05; done; return 1; }
check "the Deployment's exec command, verbatim: stages, vLLM's parser takes the server's arguments, the ready file appears" wf
wf || cat exec.out exec.err >&2
check "... the model staged into the cache" [ -f "$SCRATCH/cache/$src_name/config.json" ]
contains "... the server ran with the Deployment's context" "$(cat exec.err)" "context $(sed -n '/^--max-model-len$/{n;p}' dep.argv) tokens"
kill -TERM $epid
wait $epid
check "... and stops cleanly on the SIGTERM Kubernetes sends" [ $? = 0 ]
no_leftovers "no process left"
done_testing
