#!/usr/bin/env bash
# The E2E suite: the real app under its own Xvfb, driven by tauri-driver + WebKitWebDriver.
# Everything runs in its own process group, killed at the end (the app can outlive its
# WebDriver session; see FACTS.md). The app's data goes to a fresh temporary dir.
set -uo pipefail
app=$(realpath "${1:?usage: e2e.sh path/to/parallax-app}")
display=:$((90 + RANDOM % 100))
port=$((4500 + RANDOM % 400))
data=$(mktemp -d)
log=$(mktemp)
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
cleanup() {
	kill "$driver" 2>/dev/null; pkill -9 -x parallax-app 2>/dev/null; kill "$xvfb" 2>/dev/null
	wait 2>/dev/null; rm -rf "$data" "$log"
}
trap cleanup EXIT
sleep 1
DISPLAY=$display PARALLAX_DATA_DIR=$data WEBKIT_DISABLE_COMPOSITING_MODE=1 \
	tauri-driver --port "$port" >"$log" 2>&1 &
driver=$!
for _ in $(seq 1 50); do curl -s "http://127.0.0.1:$port/status" >/dev/null && break; sleep 0.2; done
node tests/e2e/run.mjs "$app" "http://127.0.0.1:$port"
rc=$?
if [ $rc -ne 0 ]; then echo "--- tauri-driver log ---"; tail -40 "$log"; fi
exit $rc
