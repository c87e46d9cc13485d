#!/usr/bin/env bash
# bench's nvme+prefetch mode: the local copy, with --prefetch's parallel warm
# overlapping the server's start-up (issue 27): a row of the mode table, run
# with prefetch on the NVMe path, in the report's order right after nvme, and
# refused on a URL only where it would warm a remote path (here it does not).
. "$(dirname "$0")/lib.sh"
"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
expect_rc 0 "bench nvme and nvme+prefetch with refserve" "$COLDSTART" bench --nvme m --modes nvme+prefetch,nvme \
	--repeat 2 --server refserve --csv b.csv -q
check "four rows: two per mode" [ "$(tail -n +2 b.csv | wc -l)" = 4 ]
check "the nvme+prefetch rows warmed the files (prefetch=8 in the notes), the nvme rows did not" python3 -c '
import csv
rows=list(csv.DictReader(open("b.csv")))
pf=[r for r in rows if r["storage_mode"]=="nvme+prefetch"]
nv=[r for r in rows if r["storage_mode"]=="nvme"]
assert len(pf)==2 and len(nv)==2, rows
assert all("prefetch=8" in r["notes"] for r in pf), pf
assert not any("prefetch=" in r["notes"] for r in nv), nv
assert all("net=" not in r["notes"] for r in pf), pf
assert all(float(r["load_s"])>0 and r["model"]==nv[0]["model"] for r in pf), pf'
expect_rc 0 "the report of it" "$COLDSTART" report b.csv -q
md=$(cat b.md)
contains "the report has the mode" "$md" "nvme+prefetch"
check "nvme+prefetch comes right after nvme in the report's results" python3 -c '
import sys
md=open("b.md").read()
lines=md.splitlines()
i=next(k for k,l in enumerate(lines) if l.startswith("| nvme | 2 |"))
assert lines[i+1].startswith("| nvme+prefetch | 2 |"), lines[i:i+2]'
expect_rc 2 "an unknown mode still names the known ones" "$COLDSTART" bench --nvme m --modes nvme,disk -q
contains "... nvme+prefetch among them" "$err" "nvme, nvme+prefetch, net, staged, net+prefetch or runtime"
no_leftovers "no process left"
done_testing
