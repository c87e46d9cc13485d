#!/usr/bin/env bash
# The fleet report: one CSV per node (four here, three with a bench
# sidecar, one named by its node= notes), as a directory or as a list;
# golden Markdown; the across-node percentiles, the slowest node and the
# outlier, the environment fields that differ; refusals.
. "$(dirname "$0")/lib.sh"
G=$FIXTURES_SRC/fleet
mkdir -p nodes runs
cp "$G"/*.csv "$G"/*.meta.json nodes/
expect_rc 0 "report DIR: the fleet report" "$COLDSTART" report nodes
contains "says so" "$err" "fleet of 4 nodes"
check "fleet_report.md and .svg in DIR" [ -s nodes/fleet_report.md ] && [ -s nodes/fleet_report.svg ]
check "Markdown equals the golden file" diff -u "$G/fleet_report.md.golden" nodes/fleet_report.md
md=$(cat nodes/fleet_report.md)
contains "net across 4 nodes: p50 41.0 with its interval, max 97.5 on gpu-node-3" "$md" "| net | 4 | 41.0 (40.0 to 97.5) | 97.5 | 97.5 | 97.5 | gpu-node-3 |"
contains "per node: p50 and p99 with their intervals" "$md" "| gpu-node-3 | net | 3 | 97.5 (95.0 to 99.0) | 99.0 (95.0 to 99.0) |"
contains "... the method said" "$md" "95 % bootstrap interval of each (2000 seeded resamples"
contains "the outlier named" "$md" "Outliers (above 1.5x p50): gpu-node-3 97.5 s"
contains "nvme: no outlier" "$md" "1.09x the p50 of 10.0 s. No outlier above 1.5x p50."
contains "the node without a sidecar is named by its notes" "$md" "| gpu-node-4 | n4.csv |"
contains "the kernel differs, and says on which node" "$md" "| kernel | 6.8.0-45-generic | 6.8.0-45-generic | 6.5.0-1022-generic | - |"
lacks "fields equal where recorded are not listed as differences" "$md" "| OS |"
contains "the NFS server differs" "$md" "| net device | fs1:/models | fs1:/models | fs2:/models | - |"
contains "what is the same is said once" "$md" "The same on every node that recorded it: OS, CPU, cores, RAM, GPU, GPU driver"
contains "the node without a sidecar is said" "$md" "1 node without a sidecar"
check "the chart: one label per node" [ "$(grep -c '>gpu-node-[1-4]</text>' nodes/fleet_report.svg)" = 4 ]
check "the chart is valid XML" python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' nodes/fleet_report.svg

expect_rc 0 "a list of CSVs, outputs named" "$COLDSTART" report nodes/gpu-node-1.csv nodes/gpu-node-2.csv nodes/gpu-node-3.csv \
	--md three.md --svg three.svg -q
contains "three nodes" "$(cat three.md)" "3 nodes"
contains "three nodes: net p50 42.0 (nearest rank of 40, 42, 97.5), its interval from the nodes' figures" "$(cat three.md)" "| net | 3 | 42.0 (40.0 to 97.5) | 97.5 |"
expect_rc 2 "--json is for one CSV" "$COLDSTART" report nodes --json
expect_rc 2 "an output that is an input" "$COLDSTART" report nodes/gpu-node-1.csv nodes/gpu-node-2.csv --md nodes/gpu-node-1.csv
check "... left intact" cmp "$G/gpu-node-1.csv" nodes/gpu-node-1.csv
# Rows name their node themselves: $COLDSTART_NODE here (else $NODE_NAME,
# $SLURMD_NODENAME, the hostname).
"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
for n in edge-a edge-b; do
	COLDSTART_NODE=$n "$COLDSTART" run --model m --mode nvme --server "${FIXTURES:?}/fakeserver --port {port} --model {model}" \
		--csv "runs/$n-x.csv" -q >/dev/null
done
check "each row says its node" grep -q "node=edge-a" runs/edge-a-x.csv
expect_rc 0 "a fleet report of rows without sidecars" "$COLDSTART" report runs -q
contains "named by the rows' node= notes" "$(cat runs/fleet_report.md)" "| edge-b | edge-b-x.csv |"
# A node's rows with numbers that are not numbers: its one valid run still
# makes its figure; the others are listed, in no figure.
mkdir nan
cp "$G/gpu-node-1.csv" "$G/gpu-node-1.meta.json" nan/
printf '%s\n' 'run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes' \
	'1,nvme,qwen2.5-7b,4096,nan,15020,cold=yes; node=odd' \
	'2,nvme,qwen2.5-7b,4096,12.0,15020,cold=yes; node=odd' \
	'3,nvme,qwen2.5-7b,4096,inf,15020,cold=yes; node=odd' \
	'4,net,qwen2.5-7b,4096,0x40,15020,cold=yes; node=odd' \
	'5,net,qwen2.5-7b,4096,44.0,15020,cold=yes; copy_s=nan; node=odd' > nan/odd.csv
expect_rc 0 "a fleet report with a node's NaN, inf and hex rows" "$COLDSTART" report nan -q
md=$(cat nan/fleet_report.md)
contains "the node's one valid nvme run is its figure" "$md" "| odd | odd.csv | 12.0 (1) |"
contains "net: no valid run, no figure" "$md" "| odd | odd.csv | 12.0 (1) | - |"
contains "one run: its p50 and p99 have no interval" "$md" "| odd | nvme | 1 | 12.0 (no interval) | 12.0 (no interval) |"
contains "the unreadable rows are counted" "$md" "4 rows unreadable and left out of every figure"
contains "... and listed by node, file and record" "$md" "- odd, odd.csv record 5: load\\_s '0x40' is not a finite decimal number."
contains "nvme across the two nodes: 10.0 and 12.0, p50 by nearest rank, interval by nearest rank too" "$md" "| nvme | 2 | 10.0 (10.0 to 12.0) | 12.0 | 12.0 | 12.0 | odd |"
contains "one node of a mode: no interval" "$md" "| net | 1 | 40.0 (n/a, 1 node) | 40.0 |"
lacks "no inf or nan among the figures" "$md" "inf |"
mkdir empty
expect_rc 1 "an empty directory" "$COLDSTART" report empty
contains "says so" "$err" "no *.csv in 'empty'"
done_testing
