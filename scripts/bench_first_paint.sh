#!/usr/bin/env bash
# Launch → first paint of the desktop app, measured N times (default 5) under Xvfb: the app
# logs "first paint N ms after launch" when the UI's first frame after mount is drawn (timed
# from the start of main). Prints each figure and the median. Usage: bench_first_paint.sh APP [N]
set -uo pipefail
app=$(realpath "${1:?usage: bench_first_paint.sh path/to/parallax-app [runs]}")
runs=${2:-5}
display=:$((200 + RANDOM % 100))
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; pkill -9 -x parallax-app 2>/dev/null' EXIT
sleep 1
figures=()
for i in $(seq 1 "$runs"); do
	data=$(mktemp -d)
	log=$(mktemp)
	start=$(date +%s%N)
	DISPLAY=$display PARALLAX_DATA_DIR=$data WEBKIT_DISABLE_COMPOSITING_MODE=1 "$app" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 1 300); do grep -q "first paint" "$log" && break; sleep 0.1; done
	wall=$((($(date +%s%N) - start) / 1000000))
	ms=$(grep -o 'first paint [0-9]* ms' "$log" | grep -o '[0-9]*')
	kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	rm -rf "$data" "$log"
	if [ -z "$ms" ]; then echo "run $i: no first paint within 30 s"; exit 1; fi
	echo "run $i: first paint ${ms} ms after main (seen by this script after ${wall} ms, polling every 100 ms)"
	figures+=("$ms")
done
median=$(printf '%s\n' "${figures[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
echo "launch → first paint: median ${median} ms over $runs runs"
