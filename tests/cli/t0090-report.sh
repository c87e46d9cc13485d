#!/usr/bin/env bash
# report: numbers and interpretation from known rows, golden Markdown, real
# renderers (cmark-gfm, rsvg-convert), seed-style hand-written CSVs, bench's
# report and per-run timelines.
. "$(dirname "$0")/lib.sh"
R=$FIXTURES_SRC/report
F=${FIXTURES:?}/fakeserver
cp "$R/bench.csv" "$R/bench.meta.json" "$R/seed.csv" .

expect_rc 0 "report with --json" "$COLDSTART" report bench.csv --json -q
json_ok "without --model: the last row's model" "$out" '
assert d["model"]=="other-model" and d["modes"][0]["runs"]==1, d'
expect_rc 0 "report --model qwen2.5-7b" "$COLDSTART" report bench.csv --model qwen2.5-7b --json -q
json_ok "exact figures" "$out" '
m={x["mode"]:x for x in d["modes"]}
close=lambda a,b: abs(a-b)<1e-6
assert [x["mode"] for x in d["modes"]]==["nvme","net","staged","runtime"], d["modes"]
assert m["nvme"]["runs"]==3 and close(m["nvme"]["load_s"]["median"],11) and close(m["nvme"]["load_s"]["stddev"],1.0)
assert close(m["nvme"]["load_s"]["min"],10) and close(m["nvme"]["load_s"]["max"],12)
assert m["net"]["runs"]==3 and m["net"]["failed"]==1 and close(m["net"]["load_s"]["median"],42)
assert close(m["staged"]["copy_s"]["median"],60) and close(m["staged"]["load_s"]["median"],12)
assert close(m["staged"]["total_s"]["median"],72) and close(m["runtime"]["load_s"]["median"],5.5)
assert close(d["net_nvme_ratio"],42/11) and close(d["net_nvme_diff_s"],31)
assert close(d["staged_total_s"],72) and close(d["staged_minus_net_s"],30)
assert d["breakeven_cold_starts"]==2                   # ceil(60 / (42 - 12))
ph=m["net"]["phases"]; assert close(ph["before_weights_s"],4) and close(ph["weights_s"],36) and close(ph["after_weights_s"],2), ph'
expect_rc 0 "report --model qwen2.5-7b writes Markdown and SVG" "$COLDSTART" report bench.csv --model qwen2.5-7b
check "files next to the CSV" test -s bench.md -a -s bench.svg
contains "says where" "$err" "bench.md"
check "Markdown equals the golden file" diff -u "$R/bench.md.golden" bench.md
contains "interpretation: ratio and seconds" "$(cat bench.md)" "**3.82x**, +31.00 s per cold start"
contains "interpretation: staging costs" "$(cat bench.md)" "which costs 30.00 s against starting from the network path"
contains "interpretation: break-even" "$(cat bench.md)" "after **2 cold starts**"
contains "verdict: 31 s added is too slow for internal services (30 s), but its interval holds 30 s" "$(cat bench.md)" "| net | 42.00 | +31.00 (+30.00 to +32.00) | acceptable | too slow (within noise) | too slow |"
lacks "no mmap-loader advice for refserve" "$(cat bench.md)" "mmap loader"
# A real llama.cpp bench (15 runs of a 0.5B Q8_0 GGUF, netsim nfs-10g).
cp "$R/llama.csv" "$R/llama.meta.json" .
expect_rc 0 "report on llama.cpp runs" "$COLDSTART" report llama.csv
check "Markdown equals the golden file (llama.cpp)" diff -u "$R/llama.md.golden" llama.md
contains "says what mmap means on network storage" "$(cat llama.md)" "the weights are read by page faults when its first evaluation touches them"
contains "prefetch against local disk" "$(cat llama.md)" "took it to 3.711 s, 0.85x local disk"
contains "and what to do" "$(cat llama.md)" "recovers local-disk start-up times without a copy"
expect_rc 0 "--threshold moves the verdicts" "$COLDSTART" report bench.csv --model qwen2.5-7b --threshold internal=45,user=1m --md - -q
contains "now acceptable for internal and user-facing" "$out" "| net | 42.00 | +31.00 (+30.00 to +32.00) | acceptable | acceptable | acceptable |"
expect_rc 2 "bad --threshold" "$COLDSTART" report bench.csv --threshold nope=3

# Real renderers.
if command -v cmark-gfm >/dev/null; then
	html=$(cmark-gfm -e table bench.md)
	check "cmark-gfm renders the tables as tables" [ "$(grep -o '<table>' <<<"$html" | wc -l)" -ge 5 ]
	contains "and the chart as an image" "$html" '<img src="bench.svg"'
else
	_t_report 0 "# SKIP cmark-gfm not installed"
fi
if command -v rsvg-convert >/dev/null; then
	check "rsvg-convert renders the chart" rsvg-convert -o bench.png bench.svg
	check "to a real PNG" [ "$(head -c 4 bench.png | tail -c 3)" = PNG ]
else
	_t_report 0 "# SKIP rsvg-convert not installed"
fi
check "the SVG is well-formed XML" python3 -c 'import sys,xml.dom.minidom as m; m.parse(sys.argv[1])' bench.svg

# A CSV written by hand with the seed's header, no notes keys.
expect_rc 0 "seed-style CSV still reports" "$COLDSTART" report seed.csv --json -q
json_ok "numbers from plain rows; copy_s from 'copy_s=30.0, load_s=22.0'" "$out" '
m={x["mode"]:x for x in d["modes"]}
assert abs(d["net_nvme_ratio"]-3.0)<1e-9 and abs(d["net_nvme_diff_s"]-41.0)<1e-9, d
assert abs(m["staged"]["total_s"]["median"]-52.0)<1e-9 and d["breakeven_cold_starts"]==1, d'
contains "no sidecar: says the environment was not recorded" "$(cat seed.md)" "Not recorded"

# Warm runs never enter cold statistics.
cat > warm.csv <<'EOF'
run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes
1,nvme,m,4096,20.0,,cold=yes
2,nvme,m,4096,2.0,,cold=no
3,nvme,m,4096,2.1,,cold=no
4,net,m,4096,61.0,,cold=yes
5,net,m,4096,60.0,,cold=yes
6,net,m,4096,62.0,,cold=yes
7,runtime,m,4096,3.0,,cold=no
EOF
expect_rc 0 "report on cold and warm rows" "$COLDSTART" report warm.csv --md - -q
contains "the ratio comes from the cold runs: 61 s vs 20 s" "$out" "takes 61.00 s (median) against 20.00 s from NVMe: **3.05x**"
lacks "not from the warm ones (29x)" "$out" "**29."
contains "warm runs are shown apart, labelled" "$out" "| nvme | 2 | 2.050 | 2.000 | 2.100 |"
contains "a mode with no cold run says so" "$out" "- **runtime:** no cold run"

# Staged rows written by hand, both conventions.
cat > staged.csv <<'EOF'
run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes
1,net,m,4096,80.0,,
2,staged,m,4096,52.1,,"copy_s=30.1, load_s=22.0"
3,staged,m,4096,,,"copy_s=30.1, load_s=22.0"
4,staged,m,4096,22.0,,"copy_s=30.1, load_s=22.0"
5,staged,m,4096,40.0,,"copy_s=30.1, load_s=22.0"
EOF
expect_rc 0 "report on hand-written staged rows" "$COLDSTART" report staged.csv --json -q
json_ok "column = copy + load is not counted twice; an empty column is not a failure" "$out" '
m={x["mode"]:x for x in d["modes"]}
st=m["staged"]
assert st["runs"]==3 and st["failed"]==0 and st["flagged"]==1, st
assert abs(st["load_s"]["median"]-22.0)<1e-9 and abs(st["total_s"]["median"]-52.1)<1e-9, st
r={x["run_id"]:x["read_as"] for x in d["staged_rows"]}
assert r=={2:"total",3:"notes",4:"load",5:"flagged"}, r'
run "$COLDSTART" report staged.csv --md - -q
contains "copy 30.10 s + start 22.00 s" "$out" "copy 30.10 s + start from the staged copy 22.00 s = 52.10 s"
contains "says how each row was read" "$out" "- run 2: \`load_s\` is copy + start"
contains "the disagreeing row is flagged, with the numbers" "$out" "run 5 (staged): its load\\_s column 40.0 matches neither"

# Numbers that are not finite decimals (nan, inf, hex 0x10, 1e999, an id
# past 64 bits): the row is unreadable, counted and listed, in no statistic.
cp "$R/nonfinite.csv" .
expect_rc 0 "report on rows with NaN, inf and hex" "$COLDSTART" report nonfinite.csv --json -q
json_ok "every mode in the JSON, the statistics from the valid rows only" "$out" '
m={x["mode"]:x for x in d["modes"]}
assert sorted(m)==["net","nvme","staged"], sorted(m)
assert m["nvme"]["runs"]==1 and m["nvme"]["load_s"]["median"]==10.0 and m["nvme"]["load_s"]["max"]==10.0, m["nvme"]
assert m["nvme"]["unreadable"]==5 and m["net"]["unreadable"]==2 and m["staged"]["unreadable"]==2, m
assert m["net"]["runs"]==1 and m["net"]["load_s"]["median"]==40.0, m["net"]
assert m["staged"]["runs"]==1 and m["staged"]["copy_s"]["median"]==30.0, m["staged"]
assert d["net_nvme_ratio"]==4.0, d
u={x["record"]:x for x in d["unreadable_rows"]}
assert len(u)==9 and u[5]["why"]=="load_s \x270x10\x27 is not a finite decimal number", u
assert u[12]["run_id"] is None and "99999999999999999999" in u[12]["why"], u[12]'
check "the JSON is strict: no NaN or Infinity for Python to take" python3 -c '
import json,sys
json.loads(sys.argv[1], parse_constant=lambda c: sys.exit("bare "+c))' "$out"
md=$(cat nonfinite.md)
contains "the report counts them" "$md" "(and 9 unreadable, left out)"
contains "and lists each, with the value" "$md" "- record 5 (run 4, nvme): load\\_s '0x10' is not a finite decimal number."
contains "the note too" "$md" "- record 10 (run 9, staged): the notes' copy\\_s 'nan' is not a finite decimal number."
contains "nvme's figures are its one valid run" "$md" "| nvme | 1 (+5 unreadable) | 10.00 | 10.00 | 10.00 |"
lacks "0x10 is never 16" "$md" "16.00"
"$COLDSTART" mkmodel cm --preset tiny -q >/dev/null
for v in nan inf 0x10 " 5"; do
	expect_rc 2 "run --copy-s '$v' refused: it would go into a row" "$COLDSTART" run --model cm --copy-s "$v" \
		--server "$F --port {port} --model {model}" --csv cs.csv -q
done
check "no row written" [ ! -s cs.csv ]

# What goes into Markdown is escaped.
printf 'run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes\n1,a|b,<img src=x onerror=alert(1)>,1,1.0,,cold=yes\n' > esc.csv
expect_rc 0 "report with odd names" "$COLDSTART" report esc.csv -q
contains "a '|' in a mode stays in its cell" "$(cat esc.md)" "| a\\|b | 1 |"
lacks "no raw HTML from the CSV" "$(cat esc.md)" "<img src=x"
if command -v cmark-gfm >/dev/null; then
	html=$(cmark-gfm -e table esc.md)
	lacks "rendered: no injected element" "$html" "<img src=x"
	contains "rendered: the mode is one cell" "$html" "<td>a|b</td>"
fi

# Refusals.
expect_rc 1 "--model of a model the CSV does not have" "$COLDSTART" report bench.csv --model nosuch -q
contains "says so, and which it has" "$err" "has no rows of model 'nosuch' (it has 'qwen2.5-7b', 'other-model')"
echo "a,b,c" > wrong.csv
expect_rc 1 "wrong header refused" "$COLDSTART" report wrong.csv
contains "names the header" "$err" "does not start with the header run_id,storage_mode"
expect_rc 1 "missing CSV" "$COLDSTART" report nosuch.csv
contains "names it" "$err" "cannot open 'nosuch.csv'"
printf 'run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes\n1,nvme,m,1,"unterminated\n' > bad.csv
expect_rc 1 "broken quoting refused" "$COLDSTART" report bad.csv

# bench writes the report, the sidecar and a timeline per run.
"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
expect_rc 0 "bench" "$COLDSTART" bench --nvme m --net m --modes nvme,net --repeat 1 --csv out/b.csv \
	--server "$F --port {port} --model {model} --delay 300ms" -q
check "bench wrote .md and .svg next to the CSV" test -s out/b.md -a -s out/b.svg
json_ok "and the sidecar with host and paths" "$(cat out/b.meta.json)" '
assert d["host"]["cores"]>=1 and d["host"]["ram_bytes"]>0 and d["paths"][0]["mode"]=="nvme", d
assert d["paths"][0]["fstype"] and d["paths"][0]["mount"] and d["command_line"].startswith("coldstart bench"), d'
contains "report shows the environment" "$(cat out/b.md)" "| mode | path | mount | file system |"
tl=$(grep -o 'coldstart-logs/[^)]*timeline.svg' out/b.md | head -1)
check "each run links its timeline" [ -s "out/${tl:-none}" ]
check "timeline samples every ~100 ms until ready" python3 -c '
import csv,sys
rows=list(csv.DictReader(open(sys.argv[1])))
assert len(rows)>=3 and float(rows[-1]["t_s"])>=0.3, rows
assert all(float(r["rss_bytes"])>0 for r in rows[1:]), rows' "out/${tl%.svg}.csv"
if command -v rsvg-convert >/dev/null; then
	check "rsvg-convert renders the timeline" rsvg-convert -o tl.png "out/$tl"
fi
done_testing
