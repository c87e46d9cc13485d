#!/usr/bin/env bash
# bench's summary: each comparison with its 95 % interval, as the report
# gives it; --until-confident: more whole rounds until the intervals are
# narrow or the cap is reached, and which of the two it was (summary,
# sidecar), as many rows in the CSV as rounds said. No timing is asserted:
# the words and the counts agree with each other.
. "$(dirname "$0")/lib.sh"
"$COLDSTART" mkmodel nvme/qwen --preset tiny -q >/dev/null
cp -r nvme net

expect_rc 0 "bench nvme, net, staged with refserve" "$COLDSTART" bench --nvme nvme/qwen --net net/qwen \
	--modes nvme,net,staged --stage-root st --server refserve --repeat 2 --csv a.csv
contains "net/nvme carries its interval" "$err" "$(printf 'net/nvme: ')"
net_line=$(printf '%s\n' "$err" | grep -A1 '^net/nvme: ' | tail -1)
contains "... the ratio's and the difference's, paired by round" "$net_line" "  95 % interval: "
contains "... paired by round (interleaved)" "$net_line" "(paired by round)"
st_line=$(printf '%s\n' "$err" | grep -A1 '^staged total' | tail -1)
contains "the staged total carries its interval" "$st_line" "  95 % interval: "
lacks "no --until-confident: no rounds line" "$err" "until confident:"
check "... nor a sidecar entry" python3 -c 'import json,sys; sys.exit("until_confident" in json.load(open("a.meta.json")))'

expect_rc 0 "grouped order" "$COLDSTART" bench --nvme nvme/qwen --net net/qwen --server refserve --repeat 2 \
	--order grouped --csv g.csv
contains "... not paired" "$err" "(modes resampled independently)"

# Until confident, at most 3 rounds (2 planned).
expect_rc 0 "--until-confident --max-repeat 3" "$COLDSTART" bench --nvme nvme/qwen --net net/qwen \
	--modes nvme,net,staged --stage-root st --server refserve --repeat 2 --until-confident --max-repeat 3 --csv u.csv
line=$(printf '%s\n' "$err" | grep '^until confident: ')
rounds=$(printf '%s\n' "$line" | sed -n 's/^until confident: \([0-9]*\) rounds\{0,1\} (2 planned): stopped .*/\1/p')
check "the summary says how many rounds ($line)" [ -n "$rounds" ]
case $line in
*"stopped by the cap of 3 rounds (--max-repeat)"*) why=cap ;;
*"stopped by width, every interval within 5 % of its median"*) why=width ;;
*) why=none ;;
esac
check "... and why: the cap or the width ($why)" [ "$why" != none ]
[ "$why" = cap ] && check "the cap: 3 rounds" [ "$rounds" = 3 ]
[ "$why" = width ] && check "the width: 2 or 3 rounds" [ "$rounds" -ge 2 -a "$rounds" -le 3 ]
check "the CSV holds 3 modes x $rounds rounds" [ "$(($(wc -l <u.csv) - 1))" = "$((3 * rounds))" ]
check "... interleaved round by round" [ "$(cut -d, -f2 u.csv | tail -n +2 | paste -sd' ')" = \
	"$(for _ in $(seq "$rounds"); do printf 'nvme net staged '; done | sed 's/ $//')" ]
contains "rows appended: as many" "$err" "$((3 * rounds)) rows appended to 'u.csv'"
check "the sidecar: rounds run, why it stopped, the width, the cap" python3 -c '
import json, sys
u = json.load(open("u.meta.json"))["until_confident"]
sys.exit(not (u["planned"] == 2 and u["run"] == int(sys.argv[1]) and u["stopped"] == sys.argv[2]
              and u["confidence_width_pct"] == 5 and u["max_repeat"] == 3))' "$rounds" "$why"
[ "$rounds" -gt 2 ] && contains "an extra round is announced" "$err" "bench: round 3: an interval is still wider than 5 % of its median"

# --order random: the rounds --until-confident adds are shuffled by the
# same rule (a seeded shuffle of the modes per round), never in --modes
# order. A server that waits 0.3 s on even run ids keeps the intervals
# wide, so the cap ends the runs; seed 7's rounds 3 and 4 are both
# "staged net nvme" (the known answer of bench_round_schedule, whose
# unit test computes it).
JIT="case {run_id} in *[02468]) sleep 0.3;; esac; exec $(printf %q "$COLDSTART") refserve {model} --port {port}"
expect_rc 0 "--until-confident --order random --seed 7" "$COLDSTART" bench --nvme nvme/qwen --net net/qwen \
	--modes nvme,net,staged --stage-root st --shell --server "$JIT" --repeat 2 --order random --seed 7 \
	--until-confident --max-repeat 4 --confidence-width 1 --csv r.csv
contains "... the cap ended it" "$err" "until confident: 4 rounds (2 planned): stopped by the cap of 4 rounds (--max-repeat)"
check "... 3 modes x 4 rounds" [ "$(($(wc -l <r.csv) - 1))" = 12 ]
first=$(cut -d, -f2 r.csv | sed -n 2,7p | sort | paste -sd' ')
check "the first 2 rounds: each mode twice ($first)" [ "$first" = "net net nvme nvme staged staged" ]
extra=$(cut -d, -f2 r.csv | sed -n 8,13p | paste -sd' ')
check "the added rounds in seed 7's shuffled order, not in --modes order ($extra)" \
	[ "$extra" = "staged net nvme staged net nvme" ]

# One mode: nothing to narrow, the planned rounds only.
expect_rc 0 "--until-confident with one mode" "$COLDSTART" bench --nvme nvme/qwen --modes nvme --server refserve \
	--repeat 2 --until-confident --csv one.csv
contains "... says there is nothing to narrow" "$err" "until confident: 2 rounds (2 planned): stopped: no comparison of net vs nvme or staged vs net to narrow"
check "... 2 rows" [ "$(($(wc -l <one.csv) - 1))" = 2 ]
check "... the sidecar says so" python3 -c '
import json, sys; sys.exit(json.load(open("one.meta.json"))["until_confident"]["stopped"] != "no comparison")'

# A cap below --repeat: never fewer rounds than --repeat.
expect_rc 0 "--max-repeat below --repeat" "$COLDSTART" bench --nvme nvme/qwen --net net/qwen --server refserve \
	--repeat 2 --until-confident --max-repeat 1 --csv low.csv -q
check "... the planned rounds still run" [ "$(($(wc -l <low.csv) - 1))" = 4 ]
expect_rc 2 "--confidence-width out of range" "$COLDSTART" bench --nvme nvme/qwen --server refserve \
	--until-confident --confidence-width 0
no_leftovers "no server left"
done_testing
