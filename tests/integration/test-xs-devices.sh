#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The toolstack's scripts config/virtio-argo-xs-devices and
# config/virtio-argo-xs-guest against stand-in xenstore-* tools that keep
# the store in a directory (no Xen needed).  xs-devices: names looked
# up, the four keys written by one xenstore-write (one transaction), the
# permissions set, bad input refused (exit 2) or unknown domains (exit 1)
# with nothing written, --remove, --domid.  xs-guest, with no xl on its
# PATH: the driver domain's key, its value and permissions (the key
# readable by the driver from its creation on), --remove, bad usage and
# unknown domains refused with nothing written.  Stages xs and 6 of the
# system test run the scripts against the real xenstored.
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

# The stand-ins, like xenstored: node P's value in $store/P/.v (none: the
# empty value of a node made as a parent), its permissions in .p (none:
# n0); a node created takes its parent's permissions (dom0 creates them
# all); rm of a missing node whose parent exists succeeds.  Calls logged.
cat >"$bin/xenstore-read" <<'T'
#!/bin/sh
[ -d "$XS_STORE$1" ] || { echo "couldn't read path $1" >&2; exit 1; }
[ ! -f "$XS_STORE$1/.v" ] || cat "$XS_STORE$1/.v"
echo
T
cat >"$bin/xenstore-list" <<'T'
#!/bin/sh
[ -d "$XS_STORE$1" ] || exit 1
ls "$XS_STORE$1"
T
cat >"$bin/xenstore-write" <<'T'
#!/bin/sh
echo "write $#" >>"$XS_LOG"
# mk P: P and its missing parents, each with its parent's permissions.
mk() {
	[ ! -d "$XS_STORE$1" ] || return 0
	[ "$(dirname "$1")" = / ] || mk "$(dirname "$1")"
	up=$(dirname "$1")
	mkdir "$XS_STORE$1"
	[ ! -f "$XS_STORE$up/.p" ] || cat "$XS_STORE$up/.p" >"$XS_STORE$1/.p"
	echo "new $1 $(cat "$XS_STORE$1/.p" 2>/dev/null || echo n0)" >>"$XS_LOG"
}
while [ $# -ge 2 ]; do
	mk "$1" && printf '%s' "$2" >"$XS_STORE$1/.v"
	shift 2
done
T
cat >"$bin/xenstore-chmod" <<'T'
#!/bin/sh
echo "chmod $*" >>"$XS_LOG"
r=
[ "$1" != -r ] || { r=-r; shift; }
[ -d "$XS_STORE$1" ] || { echo "could not set permissions on $1" >&2; exit 1; }
p=$1
shift
if [ "$r" ]; then
	for d in $(find "$XS_STORE$p" -type d); do echo "$*" >"$d/.p"; done
else
	echo "$*" >"$XS_STORE$p/.p"
fi
T
cat >"$bin/xenstore-rm" <<'T'
#!/bin/sh
echo "rm $*" >>"$XS_LOG"
[ -d "$XS_STORE$1" ] || [ -d "$XS_STORE$(dirname "$1")" ] ||
	{ echo "could not remove path $1" >&2; exit 1; }
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
# snapshot: the store's nodes, values and permissions.
snapshot() {
	{
		find "$store" | sort
		find "$store" -type f | sort | xargs cat
	} | md5sum
}
# refused STATUS WHAT COMMAND ARGS...: exits with STATUS, says WHAT,
# changes nothing.
refused() {
	want=$1 what=$2
	shift 2
	before=$(snapshot)
	rc=0
	"$@" >"$tmp/out" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "$* exited with $rc, not $want: $(cat "$tmp/out")"
	grep -q -- "$what" "$tmp/out" || fail "$*: no '$what' in: $(cat "$tmp/out")"
	[ "$(snapshot)" = "$before" ] || fail "$*: the store changed"
}

"$script" --help | grep -q '^Usage:' || fail "--help"
"$script" va-guest 0 va-driver 0x5641b000 >"$tmp/out" || fail "write by names"
[ "$(key 3 0 backend)" = 7 ] && [ "$(key 3 0 port)" = 0x5641b000 ] &&
	[ "$(key 3 0 local-port)" = 0x5641b000 ] &&
	[ "$(key 3 0 backend-name)" = va-driver ] || fail "keys by names: $(find "$store/local/domain/3")"
[ "$(grep -v '^new ' "$XS_LOG")" = "write 8
chmod -r /local/domain/3/virtio-argo n0 r3" ] || fail "not one write of 4 keys, then chmod: $(cat "$XS_LOG")"
[ "$(cat "$store/local/domain/3/virtio-argo/0/port/.p")" = "n0 r3" ] ||
	fail "permissions of the port key"
echo "ok: keys by names, one transaction, permissions"

"$script" 3 1 0 1234 0x99 >/dev/null || fail "write by domids"
[ "$(key 3 1 backend)" = 0 ] && [ "$(key 3 1 port)" = 1234 ] &&
	[ "$(key 3 1 local-port)" = 0x99 ] && [ "$(key 3 1 backend-name)" = Domain-0 ] ||
	fail "keys by domids"
echo "ok: keys by domids, a ring port of its own"

refused 1 "no domain named 'nobody'" "$script" nobody 0 va-driver 1
refused 1 "no domain named 'nobody'" "$script" va-guest 0 nobody 1
refused 1 "no domain with domid 99" "$script" va-guest 0 99 1
refused 1 "out of range" "$script" va-guest 0 32752 1
refused 1 "leading zero" "$script" va-guest 0 07 1
refused 2 "N must be 0..15" "$script" va-guest 16 va-driver 1
refused 2 "N must be 0..15" "$script" va-guest 01 va-driver 1
refused 2 "PORT must be" "$script" va-guest 0 va-driver junk
refused 2 "PORT must be" "$script" va-guest 0 va-driver 4294967296
refused 2 "PORT must be" "$script" va-guest 0 va-driver 0x123456789
refused 2 "PORT must be" "$script" va-guest 0 va-driver 010
refused 2 "LOCAL-PORT must be" "$script" va-guest 0 va-driver 1 0x
refused 2 "cannot be 0" "$script" va-guest 0 va-driver 0
refused 2 "expected GUEST" "$script" va-guest 0 va-driver
refused 2 "unknown option" "$script" --bogus
echo "ok: bad input refused, nothing written"

"$script" --remove va-guest 1 >/dev/null || fail "--remove one"
[ ! -e "$store/local/domain/3/virtio-argo/1" ] && [ "$(key 3 0 backend)" = 7 ] ||
	fail "--remove va-guest 1"
"$script" --remove va-guest >/dev/null || fail "--remove all"
[ ! -e "$store/local/domain/3/virtio-argo" ] || fail "--remove va-guest"
echo "ok: --remove"

# --domid: the lookup virtio-argo-xs-guest uses.
[ "$("$script" --domid va-driver)" = 7 ] || fail "--domid va-driver"
[ "$("$script" --domid Domain-0)" = 0 ] || fail "--domid Domain-0"
[ "$("$script" --domid 3)" = 3 ] || fail "--domid 3"
refused 1 "no domain named 'nobody'" "$script" --domid nobody
refused 1 "no domain with domid 99" "$script" --domid 99
refused 1 "out of range" "$script" --domid 40000
refused 2 "takes one NAME" "$script" --domid
refused 2 "takes one NAME" "$script" --domid va-guest va-driver
echo "ok: --domid by name and domid, unknown ones refused"

# virtio-argo-xs-guest, run with a PATH without xl: the stand-ins and
# the few commands the scripts and stand-ins use.
guest_script=$src/config/virtio-argo-xs-guest
sys=$tmp/sys
mkdir "$sys"
for c in sh dirname cat ls mkdir rm find; do
	ln -s "$(command -v "$c")" "$sys/$c"
done
! PATH="$bin:$sys" command -v xl >/dev/null || fail "xl on the restricted PATH"
# The scripts side by side, as in the system test's /bin.
cp "$script" "$guest_script" "$bin/"
xsg() {
	PATH="$bin:$sys" "$bin/virtio-argo-xs-guest" "$@"
}
gkey=/local/domain/7/virtio-argo/guest/va-guest
perms() {
	cat "$store$1/.p" 2>/dev/null || echo n0
}

PATH="$bin:$sys" "$bin/virtio-argo-xs-guest" --help | grep -q '^Usage:' || fail "xs-guest --help"
: >"$XS_LOG"
xsg va-driver va-guest >"$tmp/out" 2>&1 || fail "xs-guest va-driver va-guest: $(cat "$tmp/out")"
[ "$(xenstore-read $gkey)" = 3 ] || fail "key $gkey: $(cat "$tmp/out")"
for n in /local/domain/7/virtio-argo /local/domain/7/virtio-argo/guest $gkey; do
	[ "$(perms "$n")" = "n0 r7" ] || fail "permissions of $n: $(perms "$n")"
done
# Created with the permissions it keeps: never a key the driver cannot read.
grep -qx "new $gkey n0 r7" "$XS_LOG" ||
	fail "the key was created with other permissions: $(cat "$XS_LOG")"
echo "ok: xs-guest by names writes the key, n0 r7 from its creation on"

# Anew under a new domid, the driver given by domid; the key's
# permissions repaired if someone changed them.
xenstore-write /local/domain/9/name va-guest
rm -r "$store/local/domain/3"
xenstore-chmod $gkey n0
xsg 7 va-guest >/dev/null 2>&1 || fail "xs-guest 7 va-guest"
[ "$(xenstore-read $gkey)" = 9 ] && [ "$(perms $gkey)" = "n0 r7" ] ||
	fail "key rewritten: $(xenstore-read $gkey) $(perms $gkey)"
echo "ok: xs-guest rewrites the key for a new domid"

refused 2 "expected DRIVER GUEST" xsg
refused 2 "expected DRIVER GUEST" xsg va-driver
refused 2 "expected DRIVER GUEST" xsg va-driver va-guest extra
refused 2 "expected DRIVER GUEST" xsg --remove va-driver
refused 2 "unknown option" xsg --bogus va-driver va-guest
refused 2 "not a domid" xsg va-driver 9
refused 2 "no name XenStore takes" xsg va-driver ../0/name
refused 2 "no name XenStore takes" xsg va-driver ''
refused 1 "no domain named 'nobody'" xsg nobody va-guest
refused 1 "no domain named 'nobody'" xsg va-driver nobody
refused 1 "no domain with domid 99" xsg 99 va-guest
refused 1 "no domain named 'nobody'" xsg --remove nobody va-guest
# xs-devices: next to it, else on PATH, else an error.
mkdir "$tmp/alone" "$tmp/nodev"
cp "$guest_script" "$tmp/alone/"
for t in "$bin"/xenstore-*; do ln -s "$t" "$tmp/nodev/"; done
PATH="$bin:$sys" "$tmp/alone/virtio-argo-xs-guest" va-driver 3 2>&1 |
	grep -q "not a domid" || fail "xs-guest alone: usage checked first"
refused 1 "virtio-argo-xs-devices not found" env PATH="$tmp/nodev:$sys" \
	"$tmp/alone/virtio-argo-xs-guest" va-driver va-guest
xenstore-write /local/domain/11/name va-other
PATH="$bin:$sys" "$tmp/alone/virtio-argo-xs-guest" va-driver va-other >/dev/null 2>&1 ||
	fail "xs-guest with virtio-argo-xs-devices on PATH"
[ "$(xenstore-read /local/domain/7/virtio-argo/guest/va-other)" = 11 ] ||
	fail "xs-guest with virtio-argo-xs-devices on PATH: no key"
echo "ok: xs-guest finds virtio-argo-xs-devices on PATH, fails without it"
echo "ok: xs-guest: bad usage (exit 2) and unknown domains (exit 1), nothing written"

# --remove: the guest gone for good; then again, no key.
rm -r "$store/local/domain/9"
xsg --remove va-driver va-guest >"$tmp/out" 2>&1 || fail "xs-guest --remove: $(cat "$tmp/out")"
[ ! -e "$store$gkey" ] || fail "--remove left $gkey"
[ -d "$store/local/domain/7/virtio-argo/guest" ] || fail "--remove took the directory"
before=$(snapshot)
xsg --remove va-driver va-guest >"$tmp/out" 2>&1 || fail "xs-guest --remove without a key"
grep -q "nothing to remove" "$tmp/out" || fail "--remove without a key said: $(cat "$tmp/out")"
[ "$(snapshot)" = "$before" ] || fail "--remove without a key changed the store"
echo "ok: xs-guest --remove, also of a guest gone; without a key: exit 0, nothing to remove"
echo "PASS"
