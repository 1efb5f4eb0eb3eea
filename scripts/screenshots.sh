#!/usr/bin/env bash
# The bridge's pages as pictures: scripts/screenshots.sh BIN_DIR OUT_DIR
# Starts halld (Config/simulated.toml, the bridge on a free loopback port) in a
# temporary folder, makes a few calls, and has headless Chromium draw /board,
# /window/1 and the technician console into OUT_DIR/board.png, window.png and console.png.
set -euo pipefail
bin=$1
out=$2
dir=$(mktemp -d /tmp/halld-screenshots.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s#/run/halld/halld.sock#$dir/halld.sock#" -e "s#/var/lib/halld#$dir/state#" Config/simulated.toml >"$dir/halld.toml"
printf '\n[bridge]\nlisten = "127.0.0.1:%s"\n' "$port" >>"$dir/halld.toml"
"$bin/halld" --config "$dir/halld.toml" --log-level warning >"$dir/halld.log" 2>&1 &
halld=$!
trap 'kill $halld 2>/dev/null; wait $halld 2>/dev/null; rm -rf "$dir"' EXIT
ctl() { "$bin/hallctl" --socket "$dir/halld.sock" "$@"; }
for _ in $(seq 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done
token=$(ctl bridge token create --name screenshots --role display --origin http://127.0.0.1 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
for s in A A B A B A; do ctl ticket issue $s >/dev/null; done
ctl window 1 open >/dev/null
ctl window 1 clerk 李娜 --title 科员 --unit 社保所 >/dev/null
ctl window 2 open >/dev/null
ctl window 2 clerk 王强 --title 副主任科员 --unit 医保中心 >/dev/null
ctl window 1 call-next >/dev/null
ctl window 2 call-next >/dev/null
ctl window 1 complete >/dev/null
ctl window 1 call-next >/dev/null
mkdir -p "$out"
shot() {
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=3000 --window-size=1920,1080 \
        --screenshot="$out/$1" "http://127.0.0.1:$port$2?token=$token" 2>/dev/null
}
shot board.png /board
shot window.png /window/1
console=$(ctl console --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])')
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=5000 --window-size=1600,900 \
    --screenshot="$out/console.png" "$console" 2>/dev/null
echo "wrote $out/board.png, $out/window.png and $out/console.png"
