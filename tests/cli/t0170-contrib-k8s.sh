#!/usr/bin/env bash
# contrib/kubernetes: every manifest valid against the Kubernetes schemas
# (offline: kubernetes-models from npm, in bench/servers' lock file); a
# broken one refused; the serving Deployment's own `coldstart exec` command
# runs here (its model and server swapped for local stand-ins) and writes
# the ready file its startup probe tests. No cluster runs them here.
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

# The Deployment's container command, run as it is written.
node -e '
const fs=require("fs"); const Y=require(process.argv[1]+"/yaml");
const d=Y.parseAllDocuments(fs.readFileSync(process.argv[2],"utf8")).map(x=>x.toJS()).find(o=>o.kind==="Deployment");
const c=d.spec.template.spec.containers[0];
console.log(JSON.stringify({cmd:c.command, probe:c.startupProbe.exec.command}));' "$MODS" "$K/serve-deployment.yaml" > dep.json
"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
port=$(free_port)
mapfile -t argv < <(python3 -c '
import json,sys; d=json.load(open("dep.json")); c=d["cmd"]; i=c.index("--")
out=[]; k=0
pre=c[:i]
while k < len(pre):
    a=pre[k]
    if a=="--stage": out+=[a,"m"]; k+=2; continue
    if a=="--root": out+=[a,sys.argv[1]]; k+=2; continue
    if a=="--port": out+=[a,sys.argv[2]]; k+=2; continue
    if a=="--ready-file": out+=[a,sys.argv[3]]; k+=2; continue
    out.append(a); k+=1
# the server: the fake one, given what the manifest gives vllm
out+=["--",sys.argv[4],"--port","{port}","--model","{model}"]
print("\n".join(out))' "$SCRATCH/cache" "$port" "$SCRATCH/ready" "${FIXTURES:?}/fakeserver")
check "the probe tests the file exec writes" [ "$(python3 -c 'import json; d=json.load(open("dep.json")); c=d["cmd"]; print(c[c.index("--ready-file")+1] == d["probe"][-1] and d["probe"][:2]==["test","-f"])')" = True ]
"$COLDSTART" "${argv[@]:1}" >exec.out 2>exec.err &
epid=$!
wf() { for _ in $(seq 300); do [ -e "$SCRATCH/ready" ] && return 0; sleep 0.05; done; return 1; }
check "the Deployment's exec command stages, starts the server and writes the ready file" wf
check "... the model staged into the cache" [ -f "$SCRATCH/cache/m/config.json" ]
kill -TERM $epid
wait $epid
check "... and stops cleanly on the SIGTERM Kubernetes sends" [ $? = 0 ]
no_leftovers "no process left"
done_testing
