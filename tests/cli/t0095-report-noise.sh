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

# The Results table's "vs nvme": each ratio with its interval, "within
# noise" where it holds 1.0x (overlap), not where it does not (far).
row() { grep -E "^\| $1 \| [0-9]+ \|" "$2"; }
contains "Results, overlapping: net vs nvme within noise" "$(row net overlap.md)" "| 0.96x ("
contains "... said in the cell" "$(row net overlap.md)" ", within noise) | cold runs |"
contains "Results, far apart: net's ratio and its interval" "$(row net far.md)" "| 3.97x ("
lacks "... not within noise" "$(row net far.md)" "within noise"
contains "... what the column is, and the pairing" "$(cat far.md)" "vs nvme: each mode's median \`load_s\` over nvme's, with the 95 % bootstrap interval of the ratio (modes resampled independently: net, staged)"
contains "... paired where the rounds interleave" "$(cat overlap.md)" "(paired by round: net, staged)"
json_ok "--json: each mode's load_vs_nvme, the column's numbers" "$out" '
m={x["mode"]:x for x in d["modes"]}; c=m["net"]["load_vs_nvme"]
lo,hi=c["ratio_ci"]; assert 1<lo<=c["ratio"]<=hi and not c["within_noise"], c
assert "load_vs_nvme" not in m["nvme"] and m["staged"]["load_vs_nvme"]["ratio"]<1.1
assert d["outliers_change"]=={"runs_left_out":[16],"changes":[]}, d["outliers_change"]'
lacks "far: the outlier changes no conclusion, so no figures without it" "$(cat far.md)" "The outliers change a conclusion"

# An outlier that changes a conclusion: net's run 10 (2.0 s) pulls enough
# resamples' median down that net vs nvme is within noise with it, and a
# finding without it. Said in the Interpretation, with the run and its link.
# One row per mode per round, interleaved: "NVME NET" each; net's rows
# link a timeline.
nvme_net() {
	echo "$H"
	local id=0 round
	for round in "$@"; do
		set -- $round
		echo "$((++id)),nvme,m,4096,$1,,cold=yes"
		echo "$((++id)),net,m,4096,$2,,cold=yes; timeline=logs/run-$id.svg"
	done
}
nvme_net "10.0 10.5" "10.1 10.6" "10.2 10.5" "10.1 10.6" "10.0 2.0" >outl.csv
expect_rc 0 "report with an outlier that matters" "$COLDSTART" report outl.csv -q
md=$(cat outl.md)
contains "the outlier is flagged" "$md" "run 10 (net, \`load_s\` 2.000 s, outside"
contains "with it: within noise" "$(grep 'Network vs NVMe' outl.md)" "Within noise"
contains "the conclusion it changes, named with the run and its timeline" "$md" "- **The outliers change a conclusion:** without run 10 (net, [timeline](logs/run-10.svg)): net vs nvme is a finding: 1.04x, +0.450 s (95 % interval: 1.03x to 1.06x, +0.350 to +0.600 s; modes resampled independently)"
contains "... and with it, within noise" "$md" "where, with it, it is within noise: 1.04x, +0.400 s (95 % interval: "
contains "... the other figures keep it" "$md" "Every other figure includes it"
expect_rc 0 "--json with an outlier that matters" "$COLDSTART" report outl.csv --json -q
json_ok "outliers_change: the run left out, the conclusion, both comparisons" "$out" '
o=d["outliers_change"]; assert o["runs_left_out"]==[10], o
ch=[x for x in o["changes"] if x["conclusion"]=="net vs nvme"]; assert len(ch)==1, o
x=ch[0]; assert x["with"]=="within noise" and x["without"]=="a finding", x
assert x["with_cmp"]["within_noise"] and not x["without_cmp"]["within_noise"], x
assert x["with_cmp"]["runs"]==[5,5] and x["without_cmp"]["runs"]==[4,5] and not x["without_cmp"]["paired"], x
assert d["comparisons"]["net_vs_nvme"]["within_noise"] is True  # the figures keep the outlier'

# An outlier that unsettles a verdict: net adds 4.5 s (user-facing: 5 s),
# its 40 s run puts the threshold inside the interval.
nvme_net "10.0 14.5" "10.1 14.6" "10.0 14.4" "10.1 14.5" "10.0 40" >verd.csv
expect_rc 0 "report with an outlier that unsettles a verdict" "$COLDSTART" report verd.csv -q
md=$(cat verd.md)
contains "the verdict with it: within noise" "$(grep '^| net | 14.50' verd.md)" "| acceptable (within noise) |"
contains "said, with and without it" "$md" "without run 10 (net, [timeline](logs/run-10.svg)): the verdict for net (user-facing endpoints) is acceptable: 1.45x, +4.500 s (95 % interval: "
contains "... and with it" "$md" "where, with it, it is acceptable (within noise): "
lacks "net vs nvme is a finding either way: not listed" "$(grep 'outliers change' verd.md)" "net vs nvme is"

# Cache states: the ready median's interval, the saving's interval over
# cold caches, and "within noise" when cold and warm caches overlap.
{
	echo "$H"
	id=0
	for p in "50 49" "52 53" "51 50" "49 52"; do
		set -- $p
		echo "$((++id)),nvme,m,4096,$1,,cold=yes; caches=cold"
		echo "$((++id)),nvme,m,4096,$2,,cold=yes; caches=warm"
	done
} >cc.csv
expect_rc 0 "report on overlapping cache states" "$COLDSTART" report cc.csv -q
md=$(cat cc.md)
contains "the table: ready with its interval" "$md" "| nvme | cold | 4 | 50.50 ("
contains "... the header says so" "$md" "| ready (95 % interval) |"
contains "the saving's interval" "$md" "the saving's 95 % interval "
contains "... within noise, said" "$md" "so these runs do not tell cold and warm caches apart"
expect_rc 0 "--json on cache states" "$COLDSTART" report cc.csv --json -q
json_ok "ready_s_ci, and saves_vs_cold within noise" "$out" '
g={x["caches"]:x for x in d["caches"]}
lo,hi=g["cold"]["ready_s_ci"]; assert 49<=lo<=50.5<=hi<=52, (lo,hi)
assert "saves_vs_cold" not in g["cold"]
s=g["warm"]["saves_vs_cold"]; assert s["within_noise"] and s["paired"] and s["runs"]==[4,4], s
assert abs(s["diff_s"]-(50.5-51))<1e-9, s'

# The same CSV gives the same report: a fixed seed.
cp far.md far.first.md
expect_rc 0 "report again" "$COLDSTART" report far.csv -q
check "deterministic: the same Markdown twice" cmp far.first.md far.md
done_testing
