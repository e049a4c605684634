#!/usr/bin/env bash
# Real Sendmail for levee's e2e tests (cmd/levee/e2e_sendmail_test.go).
# Debian's sendmail-bin conflicts with postfix as a package, so its files
# are unpacked (dpkg -x, nothing installed or started) into a private root:
# ${LEVEE_SENDMAIL_ROOT:-/opt/levee-sendmail}. Idempotent: does nothing when
# the root is complete.
set -euo pipefail
root="${LEVEE_SENDMAIL_ROOT:-/opt/levee-sendmail}"
if [ -x "$root/usr/libexec/sendmail/sendmail" ] && [ ! -g "$root/usr/libexec/sendmail/sendmail" ] && [ -x "$root/usr/bin/m4" ] \
   && ls "$root"/usr/lib/*-linux-gnu/libwrap.so.0 >/dev/null 2>&1 && [ -f "$root/usr/share/sendmail/cf/m4/cf.m4" ]; then
  exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"   # apt-get download runs as _apt where it can
cd "$tmp"
if ! apt-get download sendmail-bin sendmail-base sendmail-cf m4 libwrap0 >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  apt-get download sendmail-bin sendmail-base sendmail-cf m4 libwrap0 >/dev/null
fi
$SUDO mkdir -p "$root"
for d in ./*.deb; do $SUDO dpkg -x "$d" "$root"; done
# The packaged binary is setgid mail: the loader would then ignore the
# LD_LIBRARY_PATH that finds the private libwrap.so.0. This copy is never on
# PATH and is run by the tests only.
$SUDO chmod g-s "$root/usr/libexec/sendmail/sendmail"
echo "sendmail unpacked in $root"
