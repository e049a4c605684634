#!/usr/bin/env bash
# Measures levee against the milter protocol's own cost on this machine, as
# the README's Performance section reports it:
#
#   bash configs/bench/run.sh [CORPUS]     (default ../shared/corpus/dev.tar.gz)
#
# It builds levee, writes DNSBL zones for zen, dbl and dnswl from the
# corpus's envelope.jsonl (some spam client IPs and sender domains listed,
# some ham client IPs allow-listed, everything else NXDOMAIN), serves them
# with rbldnsd on loopback, starts `levee serve` with the default config
# (only dns.servers changed, to that rbldnsd), then runs `levee bench`:
#   1. c=1 and c=8, each beside the in-process baseline (--compare);
#   2. c=8 against the baseline run as its own process (--serve-baseline);
#   3. --hold 200: RSS with 200 sessions in the middle of a 10 MiB message.
# Needs rbldnsd (apt-get install rbldnsd) and python3. Nothing leaves
# 127.0.0.1. N messages per run (default: the whole corpus); C1=0, C8=0, HOLD=0 skip
# runs; BENCH_FLAGS adds levee bench flags to the c=1 run (e.g. --slowest 30);
# KEEP=1 keeps the work directory (levee.log, zones); PROFILE=FILE
# writes a CPU profile of levee serve (go tool pprof FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=${1:-../shared/corpus/dev.tar.gz}
n=${N:-}
dns_port=${DNS_PORT:-5399}
levee_port=${LEVEE_PORT:-8995}
base_port=${BASELINE_PORT:-8999}
work=$(mktemp -d /tmp/levee-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work (levee.log, zones)"; else rm -rf "$work"; fi
}
trap cleanup EXIT

go build -o "$work/levee" ./cmd/levee

python3 configs/bench/zones.py "$corpus" "$work"

chmod 755 "$work" # rbldnsd reads the zones as nobody
rbldnsd -n -u nobody -t 3600 -b "127.0.0.1/$dns_port" -w "$work" \
  zen.spamhaus.org:ip4set:zen.txt dbl.spamhaus.org:dnset:dbl.txt list.dnswl.org:ip4set:dnswl.txt \
  >"$work/rbldnsd.log" 2>&1 &
pids+=($!)

cat >"$work/levee.yaml" <<EOF
# the default config; only the resolver is the local rbldnsd, and
# greylisting is off: it would answer doubtful clients at RCPT before their
# message is judged, and these figures measure judging (configs/bench/state.sh
# measures the store's cost). The store file stays in the work directory.
listen: inet:127.0.0.1:$levee_port
dns:
  servers: ["127.0.0.1:$dns_port"]
greylist:
  enabled: false
state:
  path: $work/state.db
EOF
"$work/levee" config check "$work/levee.yaml" >/dev/null
n=${n:-$(cat "$work/count")} # default: the whole corpus in each run
env ${LEVEE_ENV:-} "$work/levee" serve --config "$work/levee.yaml" ${PROFILE:+--cpuprofile "$PROFILE"} 2>"$work/levee.log" &
P=$!
pids+=($P)
sleep 1
kill -0 "$P"

echo "== levee $(git describe --always --dirty 2>/dev/null || echo '?') on $(nproc) cores, corpus $corpus, $n messages per run"
if [ "${C1:-1}" = 1 ]; then
  # the warm-up sends the whole corpus once: every DNS answer is then cached
  "$work/levee" bench --addr "inet:127.0.0.1:$levee_port" --cpu-pid "$P" --compare --warmup "$(cat "$work/count")" -n "$n" -c 1 ${BENCH_FLAGS:-} "$corpus"
fi
if [ "${C8:-1}" = 1 ]; then
  "$work/levee" bench --addr "inet:127.0.0.1:$levee_port" --cpu-pid "$P" --compare -n "$n" -c 8 "$corpus"
  "$work/levee" bench --serve-baseline "inet:127.0.0.1:$base_port" 2>/dev/null &
  B=$!
  pids+=($B)
  sleep 1
  echo "== the baseline as its own process, then levee, c=8"
  "$work/levee" bench --addr "inet:127.0.0.1:$base_port" --cpu-pid "$B" -n "$n" -c 8 "$corpus" | tail -n +2
  "$work/levee" bench --addr "inet:127.0.0.1:$levee_port" --cpu-pid "$P" -n "$n" -c 8 "$corpus" | tail -n +3
fi
if [ "${HOLD:-1}" = 1 ]; then
  echo "== RSS with 200 sessions, each in the middle of a 10 MiB message"
  "$work/levee" bench --hold 200 --addr "inet:127.0.0.1:$levee_port" --cpu-pid "$P"
fi
