#!/usr/bin/env bash
# levee's whole test suite: installs the Debian packages the tests start,
# then go vet, go test -race over everything, and each fuzz target briefly.
# Run as root (CI) or with sudo rights for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v rbldnsd >/dev/null || need+=(rbldnsd)
command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] || need+=(postfix)
command -v python3 >/dev/null || need+=(python3)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
# sender authentication (rules/auth, filter, cmd/levee e2e): an authoritative
# DNS server for the test zone, and dkimpy as the independent DKIM signer and
# verifier (it runs on Debian's /usr/bin/python3, whatever python3 the PATH has)
[ -x /usr/sbin/nsd ] || need+=(nsd)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import dkim, dns.message, nacl' 2>/dev/null || need+=(python3 python3-dkim python3-dnspython python3-nacl)
# SpamAssassin rule files (rules/sa): the stock rules under
# /usr/share/spamassassin, and SpamAssassin itself, the reference the
# agreement test and perlre's differential tests run (perl comes with it)
[ -f /usr/share/spamassassin/72_active.cf ] && perl -MMail::SpamAssassin -e1 2>/dev/null || need+=(spamassassin)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  # postfix asks debconf questions: answer "No configuration".
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
for s in .ci/setup-*.sh; do [ -e "$s" ] && bash "$s"; done

export CI="${CI:-true}"
export PATH="$PATH:/usr/sbin:/sbin"
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go test -race"
summary=$(mktemp)
go test -race -count=1 -timeout 20m -json ./... | python3 .ci/gotest-summary.py | tee "$summary"
echo "== fuzz (each target ${FUZZTIME:=5s})"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $fz"
    if ! go test -run='^$' -fuzz="^${fz}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/levee-fuzz.log 2>&1; then
      # Go's fuzzer can end a run with "context deadline exceeded" when the
      # time is up mid-input (no failing input is written then): run again.
      if grep -q 'context deadline exceeded' /tmp/levee-fuzz.log && ! grep -q 'Failing input written' /tmp/levee-fuzz.log; then
        echo "   (fuzzer stopped at its deadline without a failing input; running it again)"
        go test -run='^$' -fuzz="^${fz}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/levee-fuzz.log 2>&1 || {
          if grep -q 'context deadline exceeded' /tmp/levee-fuzz.log && ! grep -q 'Failing input written' /tmp/levee-fuzz.log; then
            echo "   (again stopped at its deadline, no failing input: not a failure)"
          else cat /tmp/levee-fuzz.log; exit 1; fi; }
      else
        cat /tmp/levee-fuzz.log; exit 1
      fi
    fi
  done
done
echo "== all tests and fuzz targets passed"
tail -n 1 "$summary"
