#!/usr/bin/env bash
# report: which differences are real. A hand-written CSV whose modes overlap
# (within noise: said, no break-even) and one whose modes are far apart (a
# finding whose interval excludes 1.0x); --json carries the intervals; an
# outlier is named, never dropped. Runs interleaved round by round, as
# bench's default order writes them.
. "$(dirname "$0")/lib.sh"
R=$FIXTURES_SRC/report
H=run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes

# One row per mode per round, interleaved: "NVME NET STAGED COPY" each.
rounds() {
	echo "$H"
	local id=0 round
	for round in "$@"; do
		set -- $round
		echo "$((++id)),nvme,m,4096,$1,,cold=yes"
		echo "$((++id)),net,m,4096,$2,,cold=yes; net=netsim:nfs-10g; timeline=logs/run-$((id)).svg"
		echo "$((++id)),staged,m,4096,$3,,cold=yes; copy_s=$4; load_s=$3; total_s=$(python3 -c "print(round($3+$4,3))")"
	done
}

rounds "10 12 11 5" "14 11 13 5.2" "11 14 12 4.9" "13 10 12 5.1" >overlap.csv
cp "$R/bench.meta.json" overlap.meta.json

expect_rc 0 "report on overlapping modes" "$COLDSTART" report overlap.csv -q
md=$(cat overlap.md)
contains "net vs nvme: within noise, said in words" "$md" "so these runs do not tell the network path and NVMe apart"
lacks "net vs nvme: the ratio is not claimed (not bold)" "$md" "**0.96x**"
contains "the ratio's interval is printed" "$md" "(95 % interval: "
contains "the runs it would take" "$md" "rounds per mode would resolve a difference of this size at this spread (4 now)"
contains "break-even not computed, and why" "$md" "- **Break-even:** not computed — a start from the staged copy saves -0.500 s over the network path"
lacks "no break-even figure" "$md" "has paid for itself"
contains "verdict row: within noise" "$md" "| staged, copy reused | 12.00 | +0.000 ("
contains "verdict row says within noise" "$(grep '^| staged, copy reused' overlap.md)" ", within noise |"
expect_rc 0 "--json on overlapping modes" "$COLDSTART" report overlap.csv --json -q
json_ok "intervals, noise, no break-even in the JSON" "$out" '
c=d["comparisons"]["net_vs_nvme"]
assert d["net_nvme_within_noise"] is True and c["within_noise"] is True and c["paired"] is True, c
lo,hi=d["net_nvme_ratio_ci"]; assert lo<=1<=hi, (lo,hi)
assert d["net_nvme_diff_s_ci"]==c["diff_s_ci"] and c["runs"]==[4,4], c
assert isinstance(c["runs_needed"],int) and c["runs_needed"]>4, c
assert "breakeven_cold_starts" not in d and d["breakeven_within_noise"] is True, d
assert d["comparisons"]["net_vs_staged_start"]["within_noise"] is True
assert close(d["net_nvme_ratio"],11.5/12) if (close:=lambda a,b: abs(a-b)<1e-6) else 0'

{
	rounds "10.0 40 10.5 20.0" "11.0 42 11.0 21.0" "10.5 41 10.8 20.5" "10.2 43 10.6 20.2" "10.4 41.5 10.7 20.4"
	# an outlier of nvme, in a sixth round of its own
	echo "16,nvme,m,4096,19.0,,cold=yes; timeline=logs/run-16.svg"
} >far.csv
cp "$R/bench.meta.json" far.meta.json
expect_rc 0 "report on far-apart modes" "$COLDSTART" report far.csv -q
md=$(cat far.md)
contains "a finding: bold ratio with its interval" "$md" "**3.97x**, +31.05 s per cold start (95 % interval: "
lacks "nothing within noise between net and nvme" "$(grep 'Network vs NVMe' far.md)" "Within noise"
contains "break-even computed, with an interval" "$md" "has paid for itself after **1 cold start** (copy time / seconds saved per start: 20.40 / 30.80; 95 % interval: 1 to 1 cold starts)"
contains "the outlier named with its run id and timeline" "$md" "run 16 (nvme, \`load_s\` 19.00 s, outside"
contains "... and its link" "$md" "[timeline](logs/run-16.svg)"
contains "... never dropped" "$md" "| nvme | 6 | 10.45 |"
expect_rc 0 "--json on far-apart modes" "$COLDSTART" report far.csv --json -q
json_ok "the interval excludes 1.0x; unpaired (6 nvme runs, 5 net)" "$out" '
c=d["comparisons"]["net_vs_nvme"]
lo,hi=d["net_nvme_ratio_ci"]; assert 1<lo<=d["net_nvme_ratio"]<=hi, (lo,hi)
assert c["within_noise"] is False and c["paired"] is False and c["runs_needed"] is None and c["runs"]==[5,6], c
assert d["breakeven_cold_starts"]==1 and d["breakeven_ci"]==[1,1] and d["breakeven_within_noise"] is False, d
s=d["comparisons"]["staged_total_vs_net"]; assert s["diff_s_ci"][1]<0 and not s["within_noise"], s
o=d["outliers"]; assert [(x["run_id"],x["mode"],x["figure"]) for x in o]==[(16,"nvme","load_s")], o
assert o[0]["timeline"]=="logs/run-16.svg" and o[0]["value_s"]==19.0, o
m={x["mode"]:x for x in d["modes"]}; assert m["nvme"]["runs"]==6
a=m["staged"]["reused_added_vs_nvme"]; assert a["diff_s_ci"][0]<=0<=a["diff_s_ci"][1] and a["within_noise"], a'

# The same CSV gives the same report: a fixed seed.
cp far.md far.first.md
expect_rc 0 "report again" "$COLDSTART" report far.csv -q
check "deterministic: the same Markdown twice" cmp far.first.md far.md
done_testing
