#!/usr/bin/env bash
# contrib/kubernetes: every manifest valid against the Kubernetes schemas
# (offline: kubernetes-models from npm, in bench/servers' lock file), with
# no field the schemas lack, and every pod meeting Pod Security "restricted"
# but for the node cache's hostPath, allowed in three files only; broken
# ones refused; the serving Deployment's own `coldstart exec` command runs
# here, as written (the site's paths swapped for local ones, the server's
# arguments verbatim, to the strict vLLM stand-in), and writes the ready
# file its startup probe tests. No cluster runs them here.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
MODS=$REPO_ROOT/bench/servers/node_modules
[ -d "$MODS/kubernetes-models" ] || skip_all "kubernetes-models is not installed (make deps: needs Node.js >= 20 and npm)"
# The one exception, named: the files whose pods mount the node cache.
HOSTPATH_OK=(cache-daemonset.yaml serve-deployment.yaml serve-deployment-irsa.yaml)
V=("node" "$FIXTURES_SRC/k8s-validate.mjs" "$MODS")
for f in "${HOSTPATH_OK[@]}"; do V+=(--hostpath-ok "$f"); done
K=$REPO_ROOT/contrib/kubernetes
expect_rc 0 "every manifest is valid, has no unknown field, and meets Pod Security" "${V[@]}" "$K"/*.yaml
for kind in Namespace Secret ServiceAccount DaemonSet Deployment Job ConfigMap PersistentVolume PersistentVolumeClaim StorageClass; do
	contains "... including the $kind" "$out" " $kind "
done
hp=$(printf '%s\n' "$out" | grep -F 'but for the hostPath' | awk '{print $2}' | xargs -n1 basename | sort -u | tr '\n' ' ')
check "... restricted but for the hostPath exactly in ${HOSTPATH_OK[*]}" \
	[ "$hp" = "$(printf '%s\n' "${HOSTPATH_OK[@]}" | sort | tr '\n' ' ')" ]
for f in bench-job serve-local-pv; do
	contains "... $f.yaml fully restricted" "$out" "$f.yaml $(sed -n 's/^kind: \(Job\|Deployment\)$/\1/p' "$K/$f.yaml") "
	lacks "... $f.yaml without hostPath" "$(grep -F "$f.yaml" <<<"$out")" "hostPath"
done
# Each broken copy keeps its file's name (in a directory of its own), so
# that only the breakage, never the hostPath, is what gets it refused.
mkdir -p e1 e2 e3 e4
sed 's/replicas: 4/replicas: four/' "$K/serve-deployment.yaml" > e1/serve-deployment.yaml
expect_rc 1 "a wrong type is refused (replicas: four)" "${V[@]}" e1/serve-deployment.yaml
contains "... naming the field" "$out" "replicas"
sed '/image: registry.example.com\/coldstart/d; s/- name: stage/- name: stage\n          imagePullPolicy: Sometimes/' "$K/cache-daemonset.yaml" > e2/cache-daemonset.yaml
expect_rc 1 "an enum value it does not have is refused (imagePullPolicy: Sometimes)" "${V[@]}" e2/cache-daemonset.yaml
contains "... naming it" "$out" "imagePullPolicy must be equal to one of the allowed values"

# Fields the schema does not define: the API server would drop them (a
# misspelt probe is silently no probe), so the validator refuses them.
sed 's/startupProbe:/startupPorbe:/' "$K/serve-deployment.yaml" > e3/serve-deployment.yaml
expect_rc 1 "an unknown field is refused (startupPorbe)" "${V[@]}" e3/serve-deployment.yaml
contains "... naming it and its path" "$out" 'unknown field "startupPorbe" at spec.template.spec.containers[0].startupPorbe'
sed 's/^  labels:/  lables:/' "$K/namespace.yaml" > e4/namespace.yaml
expect_rc 1 "... at any depth (metadata.lables)" "${V[@]}" e4/namespace.yaml
contains "... naming it" "$out" 'unknown field "lables" at metadata.lables'

# Pod Security: the restricted profile's controls, and coldstart's own.
refused() { # description file sed-script expected-text [validator args...]
	local d=$1 f=$2 e=$3 want=$4; shift 4
	sed "$e" "$K/$f" > "$SCRATCH/$f"
	check "... the edit applies ($d)" sh -c '! cmp -s "$1" "$2"' - "$K/$f" "$SCRATCH/$f"
	expect_rc 1 "refused: $d" "${V[@]}" "$@" "$SCRATCH/$f"
	contains "... naming it" "$out" "$want"
}
refused "a pod without runAsNonRoot" bench-job.yaml '/runAsNonRoot: true/d' \
	"Pod Security restricted: running as non-root: spec.template.spec.containers[0].securityContext.runAsNonRoot"
refused "privilege escalation allowed" serve-local-pv.yaml 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/' \
	"Pod Security restricted: privilege escalation"
refused "capabilities not dropped" cache-daemonset.yaml '/drop: \["ALL"\]/d; /capabilities:/d' \
	"Pod Security restricted: capabilities: spec.template.spec.containers[0].securityContext.capabilities.drop must include ALL"
refused "no seccomp profile" serve-deployment.yaml '/seccompProfile:/,/type: RuntimeDefault/d' \
	"Pod Security restricted: seccomp"
refused "a hostPath outside the files allowed it" bench-job.yaml \
	'/^          emptyDir:$/{N;s|emptyDir:\n            sizeLimit: 100Gi|hostPath:\n            path: /mnt/nvme0/scratch|}' \
	"Pod Security baseline: hostPath volumes"
refused "a writable root file system" bench-job.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' \
	"coldstart's rule: read-only root file system"
refused "a container without a CPU limit" serve-deployment.yaml '/limits:/,/cpu:/{/cpu:/d}' \
	"coldstart's rule: CPU and memory requests and limits: spec.template.spec.containers[0].resources.limits.cpu"
refused "a GPU pod without the toleration" bench-job.yaml '/tolerations:/,/effect: NoSchedule/d' \
	"coldstart's rule: GPU nodes' taint tolerated"
refused "a GPU container without /dev/shm" serve-local-pv.yaml '/- name: dshm$/{N;/\/dev\/shm/d}' \
	"coldstart's rule: /dev/shm in memory"
# The namespace's own enforce level, as the admission controller applies it.
refused "the node cache's pod in the restricted namespace" serve-deployment.yaml 's/namespace: coldstart-node-cache/namespace: coldstart/' \
	'namespace coldstart enforces Pod Security "restricted", which refuses it: Pod Security baseline: hostPath volumes' \
	"$K/namespace.yaml"
refused "a namespace none declares" bench-job.yaml 's/namespace: coldstart$/namespace: coldstrat/' \
	"namespace coldstrat is not among the Namespaces given" "$K/namespace.yaml"

# References resolve among the manifests: every Secret key, ConfigMap, PVC
# and ServiceAccount a pod names is there, in its namespace; the ready
# file lies on an emptyDir, not the read-only root; the variants run the
# Deployment's own exec command line.
node -e '
const fs=require("fs"), path=require("path"); const Y=require(process.argv[1]+"/yaml"); const dir=process.argv[2];
const docs=fs.readdirSync(dir).filter(f=>f.endsWith(".yaml")).flatMap(f=>Y.parseAllDocuments(fs.readFileSync(path.join(dir,f),"utf8")).map(x=>({f,o:x.toJS()})));
const has=(kind,ns,name)=>docs.some(({o})=>o.kind===kind&&o.metadata.name===name&&(ns===undefined||o.metadata.namespace===ns));
const out=[]; const cmds={};
for (const {f,o} of docs) {
	const t=o.spec?.template; if (!t) continue;
	const ns=o.metadata.namespace, s=t.spec, where=`${f} ${o.kind} ${o.metadata.name}`;
	if (s.serviceAccountName && !has("ServiceAccount",ns,s.serviceAccountName)) out.push(`${where}: no ServiceAccount ${s.serviceAccountName}`);
	for (const v of s.volumes??[]) {
		if (v.configMap && !has("ConfigMap",ns,v.configMap.name)) out.push(`${where}: no ConfigMap ${v.configMap.name}`);
		if (v.persistentVolumeClaim && !has("PersistentVolumeClaim",ns,v.persistentVolumeClaim.claimName)) out.push(`${where}: no PVC ${v.persistentVolumeClaim.claimName}`);
	}
	for (const c of s.containers) {
		for (const e of c.env??[]) { const r=e.valueFrom?.secretKeyRef; if (!r) continue;
			const sec=docs.find(({o})=>o.kind==="Secret"&&o.metadata.name===r.name&&o.metadata.namespace===ns);
			if (!sec || !(r.key in (sec.o.stringData??sec.o.data??{}))) out.push(`${where}: no key ${r.key} in Secret ${r.name} of ${ns}`); }
		const i=(c.command??[]).indexOf("--ready-file"); if (i<0) continue;
		const rf=c.command[i+1], m=(c.volumeMounts??[]).find(m=>m.mountPath===path.dirname(rf)), v=m&&s.volumes.find(v=>v.name===m.name);
		if (!v?.emptyDir) out.push(`${where}: the ready file ${rf} is not on an emptyDir`);
		cmds[where]=JSON.stringify(c.command);
	}
}
for (const {o} of docs) if (o.kind==="PersistentVolumeClaim" && o.spec.volumeName && !has("PersistentVolume",undefined,o.spec.volumeName)) out.push(`PVC ${o.metadata.name}: no PV ${o.spec.volumeName}`);
const c=Object.values(cmds); if (c.length<3 || c.some(x=>x!==c[0])) out.push(`the serving Deployments run different exec lines: ${JSON.stringify(cmds)}`);
console.log(out.length ? out.join("\n") : "resolved");' "$MODS" "$K" > refs.out 2>&1
check "every Secret key, ConfigMap, PVC, PV and ServiceAccount named is defined; the ready file is on an emptyDir; the variants run the same exec line" \
	[ "$(cat refs.out)" = resolved ]
[ "$(cat refs.out)" = resolved ] || cat refs.out >&2

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
