#!/usr/bin/env bash
# The cost of the state store per message, as the README's greylisting
# section reports it:
#
#   bash configs/bench/state.sh [CORPUS]    (default ../shared/corpus/dev.tar.gz)
#
# For each of: no store (greylisting and rate limits off), bbolt, Redis, it
# starts `levee serve` (DNS lists off, so only the store differs) with
# greylisting on for every client (when: always, delay 1s), sends the corpus
# twice (every triplet recorded, then, after the delay, passed) and measures
# the third pass with `levee bench -c 8 --cpu-pid`: every triplet known.
# With Redis it also counts the script calls (INFO commandstats) of the
# measured pass against the recipients sent, and runs a fourth pass whose
# CPU is levee's and redis-server's together. Needs redis-server. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=${1:-../shared/corpus/dev.tar.gz}
port=${LEVEE_PORT:-8996}
rport=${REDIS_PORT:-6399}
c=${C:-8}
work=$(mktemp -d /tmp/levee-state-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/levee" ./cmd/levee
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
R=$!
pids+=($R)
sleep 0.5
rcpts=$(python3 - "$corpus" <<'EOF'
import json, sys, tarfile, os
p = sys.argv[1]
if os.path.isdir(p):
    lines = open(os.path.join(p, "envelope.jsonl")).read().splitlines()
else:
    t = tarfile.open(p)
    m = [x for x in t.getmembers() if x.name.endswith("envelope.jsonl")][0]
    lines = t.extractfile(m).read().decode().splitlines()
n = 0
for l in lines:
    if l.strip():
        r = json.loads(l).get("rcpt_to") or "x"
        n += len(r) if isinstance(r, list) else 1
print(n)
EOF
)

run() { # name, state yaml
  local name=$1 body=$2
  cat >"$work/levee.yaml" <<EOF
listen: inet:127.0.0.1:$port
dnsbl:
  lists: []
$body
EOF
  "$work/levee" serve --config "$work/levee.yaml" 2>"$work/$name.log" &
  local P=$!
  pids+=($P)
  sleep 1
  "$work/levee" bench --addr "inet:127.0.0.1:$port" -c "$c" "$corpus" >/dev/null || true # triplets recorded (451s)
  sleep 1.2                                                                               # past the delay
  "$work/levee" bench --addr "inet:127.0.0.1:$port" -c "$c" "$corpus" >/dev/null || true # triplets passed
  local before
  before=$(redis-cli -p "$rport" info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
  echo "== $name: third pass, every triplet known"
  "$work/levee" bench --addr "inet:127.0.0.1:$port" -c "$c" --cpu-pid "$P" "$corpus" | tail -n +2
  if [ "$name" = redis ]; then
    local after
    after=$(redis-cli -p "$rport" info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
    echo "redis script calls in the measured pass: $((after - ${before:-0})) for $rcpts recipients"
    echo "== redis: a fourth pass, CPU of levee and redis-server together"
    "$work/levee" bench --addr "inet:127.0.0.1:$port" -c "$c" --cpu-pid "$P,$R" "$corpus" | tail -n +2
  fi
  kill "$P"
  wait "$P" 2>/dev/null || true
}

greylist="greylist:
  enabled: true
  when: always
  delay: 1s"
run none "greylist:
  enabled: false
ratelimit:
  user: {messages: 0, recipients: 0}"
run bolt "$greylist
state:
  path: $work/state.db"
ls -l "$work/state.db" | awk '{print "bbolt file after the runs:", $5, "bytes"}'
run redis "$greylist
state:
  type: redis
  redis:
    address: 127.0.0.1:$rport"
redis-cli -p "$rport" info memory | grep '^used_memory:' | sed 's/^/redis /'
