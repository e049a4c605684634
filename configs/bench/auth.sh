#!/usr/bin/env bash
# Measures the CPU that sender authentication (SPF, DKIM, DMARC,
# Authentication-Results) adds per message, as rules/auth/README.md reports it:
#
#   bash configs/bench/auth.sh [CORPUS]     (default ../shared/corpus/dev.tar.gz)
#
# Two `levee serve` on the default config, one with `auth: {enabled: false}`,
# both with greylisting off (it would answer doubtful clients at RCPT before
# their message is judged; configs/bench/state.sh measures the store), each
# with its own state file in the work directory (two levees cannot share the
# default one: bbolt locks it), both with dns.servers = the DNSBL zones of
# zones.py (rbldnsd) and the sender-authentication zones of authzones.py
# (nsd: SPF for every sender domain and HELO name, DMARC for every From
# domain, the bench's own DKIM keys at every selector the corpus's
# signatures name, NXDOMAIN with a 1 h negative TTL for the rest). Each is
# warmed up with the whole corpus (every answer is then cached), then
# `levee bench -c 8` runs RUNS times (default 3) against each, alternately;
# levee's CPU per message is 1 / (msgs per CPU-second). Needs rbldnsd, nsd
# and python3 (apt-get install rbldnsd nsd). N messages per run (default:
# the whole corpus); WARMUP messages sent first (default: the whole corpus;
# fewer leaves answers uncached: for a check that the script runs, not for
# figures); KEEP=1 keeps the work dir; PROFILE=FILE writes a CPU profile of
# the levee with auth on.
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=${1:-../shared/corpus/dev.tar.gz}
runs=${RUNS:-3}
dns_port=${DNS_PORT:-5398}
nsd_port=${NSD_PORT:-5397}
on_port=${LEVEE_PORT:-8993}
off_port=${LEVEE_OFF_PORT:-8994}
work=$(mktemp -d /tmp/levee-authbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

go build -o "$work/levee" ./cmd/levee
python3 configs/bench/zones.py "$corpus" "$work"
record() { # the key record of a `levee dkim keygen` zone line
  "$work/levee" dkim keygen --domain bench.invalid --selector b --type "$1" --out "$work/$1.key" |
    tail -n 1 | python3 -c 'import sys; print("".join(sys.stdin.read().split("\"")[1::2]))'
}
python3 configs/bench/authzones.py "$corpus" "$work" "$(record rsa)" "$(record ed25519)"

chmod 755 "$work"
rbldnsd -n -u nobody -t 3600 -b "127.0.0.1/$dns_port" -w "$work" \
  zen.spamhaus.org:ip4set:zen.txt dbl.spamhaus.org:dnset:dbl.txt list.dnswl.org:ip4set:dnswl.txt \
  >"$work/rbldnsd.log" 2>&1 &
pids+=($!)
cat >"$work/nsd.conf" <<NSD
server:
	ip-address: 127.0.0.1
	port: $nsd_port
	zonesdir: "$work/zones"
	pidfile: "$work/nsd.pid"
	database: ""
	xfrdfile: "$work/xfrd.state"
	zonelistfile: "$work/zone.list"
	logfile: "$work/nsd.log"
	username: ""
	chroot: ""
	server-count: 1
	hide-version: yes
remote-control:
	control-enable: no
NSD
cat "$work/nsd-zones.conf" >>"$work/nsd.conf"
nsd -d -c "$work/nsd.conf" >"$work/nsd.out" 2>&1 &
pids+=($!)

for v in on off; do
  port=$on_port; [ $v = off ] && port=$off_port
  {
    echo "listen: inet:127.0.0.1:$port"
    echo "dns:"
    echo "  servers: [\"127.0.0.1:$dns_port\", \"127.0.0.1:$nsd_port\"]"
    printf 'greylist:\n  enabled: false\n'
    printf 'state:\n  path: %s\n' "$work/state-$v.db"
    [ $v = off ] && printf 'auth:\n  enabled: false\n'
  } >"$work/levee-$v.yaml"
  "$work/levee" config check "$work/levee-$v.yaml" >/dev/null
  prof=""; [ $v = on ] && [ -n "${PROFILE:-}" ] && prof="--cpuprofile $PROFILE"
  "$work/levee" serve --config "$work/levee-$v.yaml" $prof 2>"$work/levee-$v.log" &
  pids+=($!)
  eval "pid_$v=$!"
done
sleep 2
kill -0 "$pid_on" "$pid_off" # both still serving (see levee-on.log, levee-off.log)
n=${N:-$(cat "$work/count")}
echo "== levee $(git describe --always --dirty 2>/dev/null || echo '?') on $(nproc) cores, corpus $corpus, $n messages per run, c=8"
for v in on off; do
  port=$on_port; pid=$pid_on; [ $v = off ] && port=$off_port pid=$pid_off
  "$work/levee" bench --addr "inet:127.0.0.1:$port" --cpu-pid "$pid" -n "${WARMUP:-$(cat "$work/count")}" -c 8 "$corpus" >/dev/null # warm-up
done
for r in $(seq "$runs"); do
  for v in on off; do
    port=$on_port; pid=$pid_on; [ $v = off ] && port=$off_port pid=$pid_off
    echo "-- run $r, auth $v"
    "$work/levee" bench --addr "inet:127.0.0.1:$port" --cpu-pid "$pid" -n "$n" -c 8 "$corpus" | grep -v "^loaded"
  done
done
echo "-- auth results of the last run (levee log, auth on)"
grep -o 'hits=[^ ]*' "$work/levee-on.log" | tr ',' '\n' | grep -E '^(hits=)?(SPF|DKIM|DMARC)_' | sed 's/^hits=//' | sort | uniq -c | sort -rn | head -20
