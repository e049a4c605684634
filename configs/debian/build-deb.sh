#!/usr/bin/env bash
# Build levee's Debian package from this repository with nothing but go and
# dpkg-deb:
#
#   bash configs/debian/build-deb.sh [OUTDIR]      (default: ./dist)
#
# Contents: /usr/bin/levee (static, CGO_ENABLED=0), /etc/levee/levee.yaml
# (conffile: a copy of configs/levee.yaml), /lib/systemd/system/levee.service,
# the MTA snippets under /usr/share/doc/levee/examples. postinst makes the
# system user levee and adds postfix to the group levee.
# LEVEE_VERSION overrides the version (default: from git). GOARCH picks the
# architecture; GOFLAGS=-trimpath for a reproducible release build (left
# out by default so the build shares the test suite's cache). Prints the
# path of the .deb.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$repo/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$repo"

version=${LEVEE_VERSION:-}
if [ -z "$version" ]; then
  if tag=$(git describe --tags --abbrev=0 2>/dev/null); then
    version=${tag#v}
    extra=$(git rev-list --count "$tag"..HEAD)
    [ "$extra" != 0 ] && version="$version+git$extra.$(git rev-parse --short HEAD)"
  else
    version="0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$(git rev-parse --short HEAD 2>/dev/null || echo local)"
  fi
fi
goarch=$(go env GOARCH)
case "$goarch" in
  386) arch=i386 ;; arm) arch=armhf ;; *) arch=$goarch ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/etc/levee" "$stage/lib/systemd/system" \
  "$stage/usr/share/doc/levee/examples/postfix" "$stage/usr/share/doc/levee/examples/sendmail"
CGO_ENABLED=0 go build -ldflags "-s -w -X main.version=$version" -o "$stage/usr/bin/levee" ./cmd/levee
chmod 0755 "$stage/usr/bin/levee"
install -m 0644 configs/levee.yaml "$stage/etc/levee/levee.yaml"
install -m 0644 configs/systemd/levee.service "$stage/lib/systemd/system/levee.service"
install -m 0644 README.md "$stage/usr/share/doc/levee/README.md"
install -m 0644 configs/postfix/main.cf configs/postfix/master.cf "$stage/usr/share/doc/levee/examples/postfix/"
install -m 0644 configs/sendmail/levee.mc "$stage/usr/share/doc/levee/examples/sendmail/"
for s in postinst prerm postrm; do install -m 0755 "configs/debian/$s" "$stage/DEBIAN/$s"; done
echo /etc/levee/levee.yaml > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" configs/debian/control.in > "$stage/DEBIAN/control"

deb="$out/levee_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
