#!/bin/sh
# SPDX-License-Identifier: MIT
#
# config/virtio-argo-xs-devices against stand-in xenstore-* tools that
# keep the store in a directory (no Xen needed): names looked up, the
# four keys written by one xenstore-write (one transaction), the
# permissions set, bad input refused (exit 2) or unknown domains
# (exit 1) with nothing written, --remove.  Stage xs of the system test
# runs the script against the real xenstored.
set -eu

src=${VA_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
script=$src/config/virtio-argo-xs-devices
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
store=$tmp/store
bin=$tmp/bin
mkdir -p "$store" "$bin"
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The stand-ins: node P's value in $store/P/.v; calls logged.
cat >"$bin/xenstore-read" <<'T'
#!/bin/sh
[ -f "$XS_STORE$1/.v" ] || { echo "couldn't read path $1" >&2; exit 1; }
cat "$XS_STORE$1/.v"; echo
T
cat >"$bin/xenstore-list" <<'T'
#!/bin/sh
[ -d "$XS_STORE$1" ] || exit 1
ls "$XS_STORE$1"
T
cat >"$bin/xenstore-write" <<'T'
#!/bin/sh
echo "write $#" >>"$XS_LOG"
while [ $# -ge 2 ]; do
	mkdir -p "$XS_STORE$1" && printf '%s' "$2" >"$XS_STORE$1/.v"
	shift 2
done
T
cat >"$bin/xenstore-chmod" <<'T'
#!/bin/sh
echo "chmod $*" >>"$XS_LOG"
T
cat >"$bin/xenstore-rm" <<'T'
#!/bin/sh
rm -rf "$XS_STORE$1"
T
chmod +x "$bin"/*
export XS_STORE=$store XS_LOG=$tmp/log PATH="$bin:$PATH"
: >"$XS_LOG"
xenstore-write /local/domain/0/name Domain-0 /local/domain/3/name va-guest \
	/local/domain/7/name va-driver
: >"$XS_LOG"

# key DOMID N KEY: the value written.
key() {
	xenstore-read "/local/domain/$1/virtio-argo/$2/$3"
}
# refused STATUS WHAT ARGS...: exits with STATUS, says WHAT, writes nothing.
refused() {
	want=$1 what=$2
	shift 2
	before=$(find "$store" | sort | md5sum)
	rc=0
	"$script" "$@" >"$tmp/out" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "$* exited with $rc, not $want: $(cat "$tmp/out")"
	grep -q -- "$what" "$tmp/out" || fail "$*: no '$what' in: $(cat "$tmp/out")"
	[ "$(find "$store" | sort | md5sum)" = "$before" ] || fail "$*: the store changed"
}

"$script" --help | grep -q '^Usage:' || fail "--help"
"$script" va-guest 0 va-driver 0x5641b000 >"$tmp/out" || fail "write by names"
[ "$(key 3 0 backend)" = 7 ] && [ "$(key 3 0 port)" = 0x5641b000 ] &&
	[ "$(key 3 0 local-port)" = 0x5641b000 ] &&
	[ "$(key 3 0 backend-name)" = va-driver ] || fail "keys by names: $(find "$store/local/domain/3")"
[ "$(cat "$XS_LOG")" = "write 8
chmod -r /local/domain/3/virtio-argo n0 r3" ] || fail "not one write of 4 keys, then chmod: $(cat "$XS_LOG")"
echo "ok: keys by names, one transaction, permissions"

"$script" 3 1 0 1234 0x99 >/dev/null || fail "write by domids"
[ "$(key 3 1 backend)" = 0 ] && [ "$(key 3 1 port)" = 1234 ] &&
	[ "$(key 3 1 local-port)" = 0x99 ] && [ "$(key 3 1 backend-name)" = Domain-0 ] ||
	fail "keys by domids"
echo "ok: keys by domids, a ring port of its own"

refused 1 "no domain named 'nobody'" nobody 0 va-driver 1
refused 1 "no domain named 'nobody'" va-guest 0 nobody 1
refused 1 "no domain with domid 99" va-guest 0 99 1
refused 1 "out of range" va-guest 0 32752 1
refused 1 "leading zero" va-guest 0 07 1
refused 2 "N must be 0..15" va-guest 16 va-driver 1
refused 2 "N must be 0..15" va-guest 01 va-driver 1
refused 2 "PORT must be" va-guest 0 va-driver junk
refused 2 "PORT must be" va-guest 0 va-driver 4294967296
refused 2 "PORT must be" va-guest 0 va-driver 0x123456789
refused 2 "PORT must be" va-guest 0 va-driver 010
refused 2 "LOCAL-PORT must be" va-guest 0 va-driver 1 0x
refused 2 "cannot be 0" va-guest 0 va-driver 0
refused 2 "expected GUEST" va-guest 0 va-driver
refused 2 "unknown option" --bogus
echo "ok: bad input refused, nothing written"

"$script" --remove va-guest 1 >/dev/null || fail "--remove one"
[ ! -e "$store/local/domain/3/virtio-argo/1" ] && [ "$(key 3 0 backend)" = 7 ] ||
	fail "--remove va-guest 1"
"$script" --remove va-guest >/dev/null || fail "--remove all"
[ ! -e "$store/local/domain/3/virtio-argo" ] || fail "--remove va-guest"
echo "ok: --remove"
echo "PASS"
