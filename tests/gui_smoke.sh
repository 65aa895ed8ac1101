#!/usr/bin/env bash
# Launches the real desktop app under its own Xvfb and checks that its window opens and the app
# stays up. Everything runs in its own process group, killed at the end, so nothing outlives it.
set -uo pipefail
app=${1:?usage: gui_smoke.sh path/to/parallax-app}
display=:$((90 + RANDOM % 100))
log=$(mktemp)
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
cleanup() { kill "$app_pid" 2>/dev/null; kill "$xvfb" 2>/dev/null; wait 2>/dev/null; rm -f "$log"; }
trap cleanup EXIT
sleep 1
DISPLAY=$display WEBKIT_DISABLE_COMPOSITING_MODE=1 "$app" >"$log" 2>&1 &
app_pid=$!
found=""
for _ in $(seq 1 60); do
	if ! kill -0 "$app_pid" 2>/dev/null; then
		echo "FAIL: the app exited early:"; cat "$log"; echo "0 passed, 1 failed"; exit 1
	fi
	if DISPLAY=$display xwininfo -root -tree 2>/dev/null | grep -q '"Parallax"'; then found=1; break; fi
	sleep 0.5
done
if [ -z "$found" ]; then
	echo "FAIL: no window titled Parallax appeared within 30 s"; cat "$log"; echo "0 passed, 1 failed"; exit 1
fi
echo "ok: the Parallax window opened under Xvfb ($display)"
echo "1 passed, 0 failed"
