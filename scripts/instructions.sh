#!/usr/bin/env bash
# Instructions per request, counted by callgrind: scripts/instructions.sh BIN_DIR [REQUESTS]
#
# Starts BIN_DIR/halld (Config/simulated.toml, in a temporary folder) under
# `valgrind --tool=callgrind` with instrumentation off, then, for each kind of request,
# instruments, zeroes the counters, makes REQUESTS requests (default 200) on one connection kept
# open, and dumps: the instructions of the whole daemon (every thread) divided by the
# requests. A count does not move with the machine's load the way a time does, so a
# change is compared by it (before and after, same REQUESTS).
#
# Prints one line per kind: `<kind> <instructions per request>`, and keeps the dumps
# in OUT (default: a temporary folder, removed) for callgrind_annotate.
#
# The valgrind (VALGRIND=path) needs two things no Debian package has yet: 3.20 or
# later, as Debian 12's 3.19 cannot read the DWARF 5 debug information of Swift 6
# binaries; and scripts/valgrind-rt_sigsuspend.patch, as every valgrind up to 3.27
# writes into the signal mask a program hands to rt_sigsuspend, and libdispatch's,
# where the main thread of a Swift `async` main waits, is read-only: valgrind stops
# with "VALGRIND INTERNAL ERROR ... signal 11" as halld starts. To build one:
#   apt-get source valgrind (3.24 or later), patch -p1 < scripts/valgrind-rt_sigsuspend.patch,
#   ./configure --prefix=DIR --enable-only64bit && make && make install.
set -euo pipefail
bin=$1
requests=${2:-200}
valgrind=${VALGRIND:-valgrind}
tools=$(dirname "$(command -v "$valgrind")")
control=$tools/callgrind_control
annotate=$tools/callgrind_annotate
dir=$(mktemp -d /tmp/halld-instructions.XXXXXX)
out=${OUT:-$dir/dumps}
mkdir -p "$out"
sed -e "s#/run/halld/halld.sock#$dir/halld.sock#" -e "s#/var/lib/halld#$dir/state#" Config/simulated.toml >"$dir/halld.toml"
"$valgrind" --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.out.%p" \
    "$bin/halld" --config "$dir/halld.toml" --log-level critical >"$dir/halld.log" 2>&1 &
halld=$!
trap 'kill $halld 2>/dev/null; wait $halld 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 600); do [ -S "$dir/halld.sock" ] && break; sleep 0.1; done
[ -S "$dir/halld.sock" ] || { echo "halld did not start under valgrind:" >&2; cat "$dir/halld.log" >&2; exit 1; }

# measure KIND REQUESTS SUBSCRIBERS METHOD TARGET [BODY...]: the instructions per
# request. One connection kept open, as a kiosk program keeps it, each answer read
# whole (Content-Length) before the next request: 20 requests to warm (caches,
# first-use paths), then the counters are zeroed, REQUESTS requests made, and the
# counts dumped. With SUBSCRIBERS > 0, that many SSE subscribers
# (GET /v1/events?types=device.status) are connected before the counters are zeroed,
# and each request waits until every one of them has read its events.
measure() {
    "$control" --instr=on "$halld" >/dev/null 2>&1
    python3 - "$dir/halld.sock" "$control" "$halld" "$@" <<'EOF'
import select, socket, subprocess, sys, time
path, control, pid, kind, count, subscribers, method, target = sys.argv[1:9]
count, subscribers = int(count), int(subscribers)
bodies = sys.argv[9:] or [""]
marker = b"event: device.status"
subs = []
for _ in range(subscribers):
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    c.sendall(b"GET /v1/events?types=device.status HTTP/1.1\r\nHost: x\r\n\r\n")
    subs.append([c, b"", 0])
# Subscribed: each has its answer's head (the subscription is made before it is sent).
for sub in subs:
    sub[0].settimeout(120)
    while b"\r\n\r\n" not in sub[1]:
        chunk = sub[0].recv(65536)
        if not chunk: sys.exit("halld closed a subscriber's connection")
        sub[1] += chunk
    sub[0].settimeout(None)
def wait_for(n):
    deadline = time.monotonic() + 120
    while any(s[2] < n for s in subs):
        if time.monotonic() > deadline:
            sys.exit(f"{sum(s[2] < n for s in subs)} of {len(subs)} subscribers did not get event {n} within 120 s")
        ready, _, _ = select.select([s[0] for s in subs if s[2] < n], [], [], 1)
        for s in subs:
            if s[0] in ready:
                s[1] += s[0].recv(65536)
                s[2] += s[1].count(marker)
                s[1] = s[1][s[1].rfind(marker) + len(marker):] if marker in s[1] else s[1][-len(marker):]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
pending = b""
def request(i):
    global pending
    body = bodies[i % len(bodies)].encode()
    s.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    while b"\r\n\r\n" not in pending:
        chunk = s.recv(65536)
        if not chunk: sys.exit("halld closed the connection")
        pending += chunk
    head, _, pending = pending.partition(b"\r\n\r\n")
    if not head.split(b" ", 2)[1].startswith(b"2"): sys.exit(f"{method} {target}: {head.decode(errors='replace')}")
    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
    while len(pending) < length:
        pending += s.recv(65536)
    pending = pending[length:]
    # Every event the request made (it can make more than one) delivered to all.
    if subs:
        time.sleep(0.05)
        wait_for(max(x[2] for x in subs))
for i in range(20):
    request(i)
subprocess.run([control, "--zero", pid], check=True, capture_output=True)
for i in range(count):
    request(i)
subprocess.run([control, f"--dump={kind}", pid], check=True, capture_output=True)
EOF
    "$control" --instr=off "$halld" >/dev/null 2>&1
    local file total
    file=$(ls -t "$out"/callgrind.out.* | sed -n 1p)
    total=$("$annotate" "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
    echo "$1 $((total / $2))"
}

measure get-devices "$requests" 0 GET /v1/devices
measure get-hall "$requests" 0 GET /v1/hall
measure post-ticket "$requests" 0 POST /v1/tickets '{"service":"A"}'
# One device.status event to 100 subscribers: a fault injected into a simulated
# display, then cleared (the request, the event stored, and its 100 deliveries).
measure fanout-100 $((requests / 10)) 100 POST /v1/devices/display-1/faults '{"fault":"timeout"}' '{"fault":"clear"}'
