#!/usr/bin/env bash
# Measures Debian's rspamd (the milter mode of its proxy worker, scanning
# in-process: self_scan) with levee's load generator, on the same corpus and
# the same DNSBL answers as configs/bench/run.sh gives levee:
#
#   bash configs/bench/rspamd/run.sh [CORPUS]   (default ../shared/corpus/dev.tar.gz)
#
# It builds levee (only for `levee bench`), writes the zen, dbl and dnswl
# zones from the corpus's envelope.jsonl exactly as configs/bench/run.sh does,
# and serves them with rbldnsd on 127.0.0.1:$DNS_PORT (5398). rbldnsd also
# serves an empty zone for every TLD (from rspamd's own public-suffix list)
# and for every other last label of a host name in the corpus's envelopes and
# headers, so that every other name gets NXDOMAIN at once: rspamd's resolver
# retries a REFUSED answer every second (5 s per lookup, up to 10 s per
# message), which a real resolver never makes it do.
# rspamd runs in the foreground as _rspamd with its config, database, run and
# log directories in a temp directory: Debian's /etc/rspamd config with
#   - options.dns.nameserver = 127.0.0.1:$DNS_PORT only (nothing else is asked;
#     fuzzy_check, whose servers are public hosts, is disabled);
#   - one worker: rspamd_proxy, milter = yes, self_scan upstream, count = 2
#     (both cores), on 127.0.0.1:$RSPAMD_PORT (11332); no normal worker, no
#     controller; no redis (modules that need it disable themselves).
# It waits until rspamd's hyperscan database is loaded, then runs
# `levee bench` at c=1 (after a warm-up of the whole corpus) and at c=8,
# N=3000 messages each, CPU of the rspamd main process and its children.
# C1=0 or C8=0 skip a run; KEEP=1 keeps the work directory (rspamd.log).
# Needs rspamd, rbldnsd, python3 and go; run as root (rspamd drops to
# _rspamd, rbldnsd to nobody). Nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../../.."
corpus=${1:-../shared/corpus/dev.tar.gz}
n=${N:-3000}
dns_port=${DNS_PORT:-5398}
rspamd_port=${RSPAMD_PORT:-11332}
for c in rspamd rbldnsd python3 go; do
  command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 1; }
done
getent passwd _rspamd >/dev/null || { echo "no _rspamd user (apt-get install rspamd)" >&2; exit 1; }
work=$(mktemp -d /tmp/rspamd-bench.XXXXXX)
pids=()
cleanup() {
  # kill only what this script started, by PID (rspamd's main process stops its workers)
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work (rspamd log in log/, zones in zones/)"; else rm -rf "$work"; fi
}
trap cleanup EXIT

go build -o "$work/levee" ./cmd/levee

mkdir -p "$work/zones" "$work/conf/local.d" "$work/db" "$work/run" "$work/log"

# the same zones as configs/bench/run.sh (zen, dbl, dnswl), plus empty zones
python3 configs/bench/zones.py "$corpus" "$work/zones" --empty-zones
chmod 755 "$work" "$work/zones" # rbldnsd reads the zones as nobody
empty=()
while read -r l; do empty+=("$l:generic:empty.txt"); done <"$work/zones/labels"
rbldnsd -n -u nobody -t 3600 -b "127.0.0.1/$dns_port" -w "$work/zones" \
  zen.spamhaus.org:ip4set:zen.txt dbl.spamhaus.org:dnset:dbl.txt list.dnswl.org:ip4set:dnswl.txt \
  "${empty[@]}" >"$work/rbldnsd.log" 2>&1 &
D=$!
pids+=($D)
sleep 1
kill -0 "$D" || { cat "$work/rbldnsd.log" >&2; exit 1; }

# rspamd: Debian's /etc/rspamd config ($CONFDIR), a top-level file of our own
# (options, logging, one proxy worker) and local.d overrides in $work/conf
cat >"$work/conf/rspamd.conf" <<EOF
.include "\$CONFDIR/common.conf"
options {
    pidfile = "\$RUNDIR/rspamd.pid";
    .include "\$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "\$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
    type = "file";
    filename = "\$LOGDIR/rspamd.log";
    .include "\$CONFDIR/logging.inc"
}
# the only worker: milter on loopback, scanning in-process (no normal worker,
# no controller); 2 processes for the 2 cores
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:$rspamd_port";
    milter = yes;
    upstream "local" {
        default = yes;
        self_scan = yes;
    }
    count = ${RSPAMD_WORKERS:-2};
    timeout = 120s;
    spam_header = "X-Spam";
    reject_message = "Spam message rejected";
    discard_on_reject = false;
    quarantine_on_reject = false;
}
EOF
cat >"$work/conf/local.d/options.inc" <<EOF
# the local rbldnsd only; never /etc/resolv.conf
dns {
    nameserver = ["127.0.0.1:$dns_port"];
}
EOF
# its servers are public hosts (fuzzy1.rspamd.com): never resolved or asked
echo 'enabled = false;' >"$work/conf/local.d/fuzzy_check.conf"
chown -R _rspamd:_rspamd "$work/db" "$work/run" "$work/log"
vars=(--var="LOCAL_CONFDIR=$work/conf" --var="DBDIR=$work/db" --var="RUNDIR=$work/run" --var="LOGDIR=$work/log")
rspamadm "${vars[@]}" configtest -c "$work/conf/rspamd.conf" >/dev/null
rspamd -f -u _rspamd -g _rspamd -c "$work/conf/rspamd.conf" "${vars[@]}" >"$work/rspamd.out" 2>&1 &
R=$!
pids+=($R)
# wait for the proxy workers and the hyperscan database (compiled on a first
# start: tens of seconds)
for i in $(seq 600); do
  grep -q 'hyperscan database of .* has been loaded' "$work/log/rspamd.log" 2>/dev/null && break
  kill -0 "$R" || { cat "$work/rspamd.out" >&2; exit 1; }
  sleep 0.5
done
grep -q 'hyperscan database of .* has been loaded' "$work/log/rspamd.log" || { echo "rspamd not ready" >&2; exit 1; }
sleep 1
ps -o pid=,ppid=,user=,args= --ppid "$R" | sed 's/^/  child: /'

echo "== $(rspamd --version) (Debian $(dpkg-query -W -f='${Version}' rspamd 2>/dev/null || echo '?')) in milter mode, $(nproc) cores, corpus $corpus, $n messages per run; levee bench $(git describe --always --dirty 2>/dev/null || echo '?')"
disabled=$(sed -nE 's/.*(lua|internal) module ([a-z_0-9]+) is disabled.*/\2/p; s/.*disabling unconfigured lua module ([a-z_0-9]+).*/\1/p; s/.* ([a-z_0-9]+)\.lua:[0-9]+: .*disabling module.*/\1/p' "$work/log/rspamd.log" | sort -u | tr '\n' ' ')
echo "modules disabled: $disabled"
if [ "${C1:-1}" = 1 ]; then
  # the warm-up sends the whole corpus once (as for levee)
  "$work/levee" bench --addr "inet:127.0.0.1:$rspamd_port" --cpu-pid "$R" --warmup "$(cat "$work/zones/count")" -n "$n" -c 1 "$corpus" 2>&1 | grep -v '^loaded '
fi
if [ "${C8:-1}" = 1 ]; then
  "$work/levee" bench --addr "inet:127.0.0.1:$rspamd_port" --cpu-pid "$R" -n "$n" -c 8 "$corpus" 2>&1 | grep -v '^loaded '
fi
slow=$(grep -cE 'time: [0-9]{4,}\.[0-9]+ms' "$work/log/rspamd.log" || true)
refused=$(grep -c 'query refused' "$work/log/rspamd.log" || true)
echo "rspamd log: $(grep -c rspamd_task_write_log "$work/log/rspamd.log" || true) scans, $slow took >= 1 s, $refused 'query refused' lines"
