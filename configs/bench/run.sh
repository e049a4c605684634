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

python3 - "$corpus" "$work" <<'EOF'
import json, os, sys, tarfile
corpus, work = sys.argv[1], sys.argv[2]
if os.path.isdir(corpus):
    lines = open(os.path.join(corpus, "envelope.jsonl"), "rb").read().splitlines()
else:
    with tarfile.open(corpus) as t:
        m = next(m for m in t.getmembers() if m.name.endswith("envelope.jsonl"))
        lines = t.extractfile(m).read().splitlines()
env = [json.loads(l) for l in lines if l.strip()]
open(os.path.join(work, "count"), "w").write("%d\n" % len(env))
spam = [e for e in env if e.get("class") == "spam"]
ham = [e for e in env if e.get("class") == "ham"]
# $SOA gives NXDOMAIN answers a one-hour negative TTL (RFC 2308), so the
# cache keeps them for the whole run
soa = "$SOA 3600 bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 3600\n"
def ips(es, step):
    return sorted({e["client_ip"] for e in es[::step] if e.get("client_ip") and ":" not in e["client_ip"]})
with open(os.path.join(work, "zen.txt"), "w") as f:
    f.write(soa + ":127.0.0.2:Listed by the levee bench\n127.0.0.2\n")
    for i, ip in enumerate(ips(spam, 3)):
        f.write("%s :127.0.0.%d:\n" % (ip, (2, 4, 11)[i % 3]))
with open(os.path.join(work, "dnswl.txt"), "w") as f:
    f.write(soa + ":127.0.10.2:dnswl\n127.0.0.2\n")
    for ip in ips(ham, 50):
        f.write(ip + "\n")
with open(os.path.join(work, "dbl.txt"), "w") as f:
    f.write(soa + ":127.0.1.2:Listed by the levee bench\ntest\ndbltest.com\n")
    doms = sorted({e["mail_from"].rpartition("@")[2].lower() for e in spam[::4] if "@" in e.get("mail_from", "")})
    f.write("".join(d + "\n" for d in doms if d))
EOF

chmod 755 "$work" # rbldnsd reads the zones as nobody
rbldnsd -n -u nobody -t 3600 -b "127.0.0.1/$dns_port" -w "$work" \
  zen.spamhaus.org:ip4set:zen.txt dbl.spamhaus.org:dnset:dbl.txt list.dnswl.org:ip4set:dnswl.txt \
  >"$work/rbldnsd.log" 2>&1 &
pids+=($!)

cat >"$work/levee.yaml" <<EOF
# the default config; only the resolver is the local rbldnsd
listen: inet:127.0.0.1:$levee_port
dns:
  servers: ["127.0.0.1:$dns_port"]
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
