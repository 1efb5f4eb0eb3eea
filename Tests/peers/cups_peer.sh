#!/usr/bin/env bash
# A private cupsd for halld's printing tests: no root, everything under DIR.
#
#   cups_peer.sh configure DIR write DIR/cupsd.conf and DIR/cups-files.conf; then run
#                              cupsd -f -c DIR/cupsd.conf -s DIR/cups-files.conf
#   cups_peer.sh start DIR     configure and start cupsd in the background (listening on
#                              DIR/cups.sock), print "ready" when it answers; pid in DIR/cupsd.pid
#   cups_peer.sh stop DIR      stop it
#
# The tests use `configure` and start cupsd themselves: a daemon started from this
# script inherits the descriptors of whoever ran it.
#
# Clients find it with CUPS_SERVER=DIR/cups.sock. Queues are added by the tests
# with lpadmin (raw socket:// queues to a capture listener).
set -euo pipefail
cmd=$1
dir=$2
case "$cmd" in
configure|start)
    mkdir -p "$dir"/{spool,cache,state,log,tmp,ppd,ssl}
    user=$(id -un)
    group=$(id -gn)
    if [[ $(id -u) -eq 0 ]]; then
        # cupsd refuses User root: filters and backends run as lp (Debian's printing user).
        user=lp
        group=lp
        chown -R lp:lp "$dir"/{spool,cache,tmp}
    fi
    cat > "$dir/cupsd.conf" <<CONF
Listen $dir/cups.sock
Browsing No
WebInterface No
DefaultAuthType None
LogLevel info
MaxJobs 0
PreserveJobHistory Yes
JobRetryInterval 2
<Location />
  Order allow,deny
  Allow all
</Location>
<Location /admin>
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
    Allow all
  </Limit>
</Policy>
CONF
    cat > "$dir/cups-files.conf" <<CONF
User $user
Group $group
SystemGroup root
ServerRoot $dir
StateDir $dir/state
CacheDir $dir/cache
RequestRoot $dir/spool
TempDir $dir/tmp
ServerBin /usr/lib/cups
DataDir /usr/share/cups
AccessLog $dir/log/access_log
ErrorLog $dir/log/error_log
PageLog $dir/log/page_log
Printcap $dir/printcap
FileDevice Yes
CONF
    [[ "$cmd" == configure ]] && { echo configured; exit 0; }
    /usr/sbin/cupsd -f -c "$dir/cupsd.conf" -s "$dir/cups-files.conf" > "$dir/log/cupsd.out" 2>&1 &
    echo $! > "$dir/cupsd.pid"
    for _ in $(seq 1 200); do
        if CUPS_SERVER="$dir/cups.sock" lpstat -r 2>/dev/null | grep -q "is running"; then
            echo ready
            exit 0
        fi
        sleep 0.05
    done
    echo "cupsd did not start:" >&2
    cat "$dir/log/cupsd.out" "$dir/log/error_log" >&2 2>/dev/null || true
    exit 1
    ;;
stop)
    if [[ -f "$dir/cupsd.pid" ]]; then
        kill "$(cat "$dir/cupsd.pid")" 2>/dev/null || true
        rm -f "$dir/cupsd.pid"
    fi
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
