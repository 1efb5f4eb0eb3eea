#!/usr/bin/env bash
# The order halld's code is laid out in: scripts/order-file.sh BIN_DIR [OUT]
#
# Why: the kernel maps a program's code in blocks around each page it touches (64 KiB
# here), so the resident set holds every block in which anything ran, and in a program
# laid out module by module what runs at start-up and idle is spread over most of its
# 33 MB of code. `make install` and `make bench` link halld with each function in a
# section of its own (-function-sections, -ffunction-sections) and this file as lld's
# --symbol-ordering-file (Makefile: ORDER): the functions named here come first,
# together, in this order. Code the file does not name is laid out after them as before,
# and names the program no longer has are skipped, so a stale file costs memory, not
# correctness. Regenerate it after changes that add or rename much code, and compare
# `make bench`'s resident-memory row before and after.
#
# How: runs BIN_DIR/halld (Config/simulated.toml, in a temporary folder) under
# `valgrind --tool=callgrind` from its first instruction: start-up, a few seconds idle,
# then what a hall's day asks of it (health, devices, the hall, services, tickets issued,
# called, completed and listed, the figures, a print, a scan, a rating, events), and
# writes the functions of the program that ran, each once, in the order callgrind lists
# them, one mangled name a line, to OUT (default scripts/halld.order). Start-up and idle
# come first, so the code an idle halld keeps is the most tightly packed.
#
# VALGRIND (path): as scripts/instructions.sh says (3.20 or later, with
# scripts/valgrind-rt_sigsuspend.patch).
set -euo pipefail
bin=$1
out=${2:-scripts/halld.order}
valgrind=${VALGRIND:-valgrind}
dir=$(mktemp -d /tmp/halld-order.XXXXXX)
sed -e "s#/run/halld/halld.sock#$dir/halld.sock#" -e "s#/var/lib/halld#$dir/state#" Config/simulated.toml >"$dir/halld.toml"
"$valgrind" --tool=callgrind --demangle=no --callgrind-out-file="$dir/run.%p" \
    "$bin/halld" --config "$dir/halld.toml" --log-level critical >"$dir/halld.log" 2>&1 &
halld=$!
trap 'kill $halld 2>/dev/null; wait $halld 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 600); do [ -S "$dir/halld.sock" ] && break; sleep 0.1; done
[ -S "$dir/halld.sock" ] || { echo "halld did not start under valgrind:" >&2; cat "$dir/halld.log" >&2; exit 1; }
sleep 5
tools=$(dirname "$(command -v "$valgrind")")
# Start-up and idle in a dump of their own, so that they come first.
"$tools/callgrind_control" --dump=idle "$halld" >/dev/null 2>&1

api() { curl -sf -m 60 --unix-socket "$dir/halld.sock" -H 'Content-Type: application/json' "$@" >/dev/null || echo "(ignored) $*" >&2; }
timeout 30 curl -sN -m 30 --unix-socket "$dir/halld.sock" "http://x/v1/events" >/dev/null 2>&1 &
events=$!
for path in health info devices hall services tickets stats clerks ratings; do api "http://x/v1/$path"; done
api http://x/metrics
for _ in 1 2 3; do api -X POST -d '{"service":"A"}' http://x/v1/tickets; done
api -X PUT -d '{"state":"open"}' http://x/v1/windows/1/status
api -X POST -d '{}' http://x/v1/windows/1/call-next
api -X POST -d '{}' http://x/v1/windows/1/complete
api -X PUT -d '{"lines":["A001 1号窗口"]}' http://x/v1/displays/display-1/content
api -X POST -d '{"ticket":{"number":"A004"}}' http://x/v1/printers/ticket-printer/jobs
api -X POST -d '{"source":"adf","format":"jpeg","maxPages":2}' http://x/v1/scanners/scanner-1/jobs
api -X POST -d '{"level":"satisfied"}' http://x/v1/keypads/keypad-1/press
api "http://x/v1/tickets?state=waiting"
kill $events 2>/dev/null || true
wait $events 2>/dev/null || true
kill -TERM $halld
wait $halld || true
trap 'rm -rf "$dir"' EXIT

# Functions of the program only (what nm lists in it), each once, idle first. Last: names
# the program defines more than once when the Swift toolchain's static libraries define
# one of them (objectdestroyTm, $sSqwcp…). lld moves every function of such a name, and
# the toolchain's libraries are compiled without a section for each function, so each
# brings its whole library's code along (half a megabyte for _RegexParser): at the end
# that code follows what runs instead of splitting it. (Left out, the copies in halld's
# own modules, which do run, were scattered: 3 MB more resident.)
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")/lib/swift_static/linux
nm --defined-only "$toolchain"/*.a 2>/dev/null | awk 'NF >= 3 { print $NF }' | sort -u >"$dir/toolchain"
nm --defined-only "$bin/halld" | awk '{ print $NF }' | sort >"$dir/all"
uniq -d "$dir/all" | comm -12 - "$dir/toolchain" >"$dir/late"
# The dump made while idle is run.PID.1; the one made at exit, run.PID.
for f in $(ls "$dir"/run.* | awk -F. '{ print NF, $0 }' | sort -k1,1nr | cut -d' ' -f2); do
    grep -oE '^c?fn=\([0-9]+\) .*' "$f" | sed -E -e 's/^c?fn=\([0-9]+\) //' -e "s/'[0-9]+$//"
done | awk -v all="$dir/all" -v late="$dir/late" '
    BEGIN { while ((getline n < all) > 0) defined[n] = 1; while ((getline n < late) > 0) last[n] = 1 }
    ($0 in defined) && !seen[$0]++ { if ($0 in last) tail[++t] = $0; else print }
    END { for (i = 1; i <= t; i++) print tail[i] }' >"$out"
echo "$(wc -l <"$out") functions in $out"
