#!/usr/bin/env bash
# report: the overlap floor. A hand-written CSV and sidecar (a 1 GB model,
# the nvme path timed at 1 GB/s, the network path at 100 MB/s, netsim's
# filestore-basic; runtime 2 s): each mode's floor, its ratio, the term
# that dominates and what is left on the table, in the Markdown and
# --json; then GPU runs with no runtime mode and no host->GPU rate, said.
. "$(dirname "$0")/lib.sh"
# A mode's row of the floor's table.
floor_row() { sed -n '/^### Overlap floor/,/^##* [A-Z]/p' "$1" | grep -F "| $2 |"; }
H=run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes

{
	echo "$H"
	id=0
	for r in "4.0 12.0 9.0 2.0" "4.2 12.4 9.2 2.2" "4.1 12.2 9.1 2.1"; do
		set -- $r
		echo "$((++id)),nvme,m,4096,$1,,cold=yes"
		echo "$((++id)),net,m,4096,$2,,cold=yes; net=netsim:filestore-basic"
		echo "$((++id)),net+prefetch,m,4096,$3,,cold=yes; net=netsim:filestore-basic; prefetch=8; prefetch_bytes=1000000000; prefetch_s=10.5"
		echo "$((++id)),runtime,m,4096,$4,,cold=yes; weights=dummy"
	done
} >floor.csv
cat >floor.meta.json <<'JSON'
{"model_identity": {"paths": [{"mode": "nvme", "bytes": 1000000000, "files": []}]},
 "read_rates": [{"path": "nvme", "bytes": 1000000000, "seconds": 1.0, "bytes_per_s": 1000000000, "jobs": 8, "cold": true},
		{"path": "net", "bytes": 1000000000, "seconds": 10.0, "bytes_per_s": 100000000, "jobs": 8, "cold": true}],
 "netsim_stats": {"profile": "filestore-basic", "bw_bytes_per_s": 104857600, "delivered_bytes_per_s": 98000000}}
JSON

expect_rc 0 "report with a floor" "$COLDSTART" report floor.csv -q
md=$(cat floor.md)
contains "the seeds' question, answered in the Interpretation" "$md" "- **Storage pull or runtime warm-up?** The server's own start-up without weights takes 2.100 s (\`runtime\` mode)"
contains "nvme: the runtime dominates" "$md" "From NVMe the pull takes 1.000 s (at 953.7 MiB/s): the **runtime warm-up** dominates, and the two cost their sum, 3.100 s, unless they overlap"
contains "net: the storage pull dominates" "$md" "from the network path the pull takes 10.00 s (at 95.4 MiB/s): the **storage pull** dominates, and the two cost their sum, 12.10 s, unless they overlap"
contains "prefetch's share of the floor" "$md" "prefetch gets net+prefetch to **0.91x of the floor** (9.100 s against its floor of 10.00 s"
contains "below the floor is explained" "$md" "below its floor, so the terms measured apart"
contains "net's ratio and what is left" "$md" "net is at 1.22x of the floor (12.20 s against its floor of 10.00 s, 95 % interval"
contains "the table" "$md" "### Overlap floor"
contains "net's row" "$(floor_row floor.md net)" "| net | 12.20 | 10.00 | 2.100 | 0.000 | 10.00 | 12.10 | 1.22x"
contains "net's row: dominated by and left on the table" "$(floor_row floor.md net)" "| storage pull | +2.200 |"
contains "where the rates come from" "$md" "network path 95.4 MiB/s (bench's timed cold read of the path)"
contains "the simulated profile and what it delivered" "$md" "netsim \`filestore-basic\`, a link of 100.0 MiB/s, delivered 93.5 MiB/s while serving the bench"
contains "no GPU: the host->GPU term is 0, said" "$md" "Host→GPU: no GPU in these runs, the term is 0 s."
expect_rc 0 "--json" "$COLDSTART" report floor.csv --json -q
json_ok "the floor in the JSON" "$out" '
f=d["floor"]; m={x["mode"]: x for x in f["modes"]}
assert f["bytes"] == 1e9 and abs(f["runtime_s"] - 2.1) < 1e-9 and f["h2d_counted"] is False, f
assert abs(m["net"]["floor_s"] - 10) < 1e-9 and m["net"]["dominant"] == "storage", m["net"]
assert abs(m["nvme"]["floor_s"] - 2.1) < 1e-9 and m["nvme"]["dominant"] == "runtime", m["nvme"]
assert abs(m["net"]["left_s"] - 2.2) < 1e-9 and m["net"]["ratio_ci"][0] <= m["net"]["ratio"] <= m["net"]["ratio_ci"][1]
assert "runtime" not in m and f["netsim"]["profile"] == "filestore-basic", f
'

# GPU runs, no runtime mode, no host->GPU rate, no sidecar: the rates
# come from the runs, and the report says what the floor leaves out.
{
	echo "$H"
	echo "1,nvme,m,4096,9.0,15000,cold=yes"
	echo "2,net+prefetch,m,4096,13.0,15000,cold=yes; prefetch_bytes=15000000000; prefetch_s=12.5"
	echo "3,nvme,m,4096,9.2,15000,cold=yes"
	echo "4,net+prefetch,m,4096,13.4,15000,cold=yes; prefetch_bytes=15000000000; prefetch_s=12.5"
} >gpu.csv
expect_rc 0 "report on GPU runs without a runtime mode" "$COLDSTART" report gpu.csv -q
md=$(cat gpu.md)
contains "no runtime mode: said" "$md" "No \`runtime\` mode: the runtime term counts 0 s."
contains "GPU without a host->GPU rate: said" "$md" "the runs used a GPU but no host→GPU rate was recorded"
contains "nvme without a rate: no floor, and why" "$(floor_row gpu.md nvme)" "no floor: no read rate measured for its path"
contains "net+prefetch from its own prefetch rate" "$(floor_row gpu.md net+prefetch)" "| net+prefetch | 13.20 | 12.50 | 0.000 | 0.000 | 12.50 | 12.50 | 1.06x"
done_testing
