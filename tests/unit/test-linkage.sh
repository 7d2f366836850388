#!/bin/sh
# SPDX-License-Identifier: MIT
# Which programs link XenStore: only the daemons (blkd, testd) do, through
# library va-xenstore linked whole; the simulator, simctl and the
# user-space guest run without it (the guest's xen transport needs only
# /dev/argo).  Checks each binary's NEEDED list and whether it defines
# va_xenstore_ops (the xen back-end's hook, argo-priv.h).
# Also which programs carry libnl inside (static-nl): netd and the guest
# tool link libnl-3 and libnl-route-3 statically, so that only the objects
# they use are mapped (docs/performance.md); such a binary must have no
# libnl in NEEDED and must define nl_socket_alloc itself.
# Usage: test-linkage.sh with|without|static-nl BINARY... [with|... BINARY...]
set -u
for t in readelf nm; do
	command -v $t >/dev/null ||
		{ echo "test-linkage: $t missing (binutils)"; exit 77; }
done
want=
fail=0
for a in "$@"; do
	case $a in
	with|without|static-nl) want=$a; continue ;;
	esac
	needed=$(readelf -d "$a" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	[ -n "$needed" ] || { echo "FAIL $a: no NEEDED list read"; fail=1; continue; }
	if [ "$want" = static-nl ]; then
		if echo "$needed" | grep -q '^libnl-'; then
			echo "FAIL $a: libnl is a shared library here (NEEDED: $(echo $needed))"
			fail=1
		elif ! nm "$a" | grep -Eq ' [Tt] nl_socket_alloc$'; then
			echo "FAIL $a: no libnl inside (nl_socket_alloc not defined)"
			fail=1
		else
			echo "ok   $a: libnl linked in (NEEDED: $(echo $needed))"
		fi
		continue
	fi
	if echo "$needed" | grep -q '^libxenstore\.'; then has_lib=with; else has_lib=without; fi
	if nm "$a" | grep -Eq ' [DdRrVv] va_xenstore_ops$'; then has_ops=with; else has_ops=without; fi
	if [ "$has_lib" != "$want" ] || [ "$has_ops" != "$want" ]; then
		echo "FAIL $a: want $want XenStore; libxenstore: $has_lib, va_xenstore_ops: $has_ops"
		echo "  NEEDED: $(echo $needed)"
		fail=1
	else
		echo "ok   $a: $want XenStore (NEEDED: $(echo $needed))"
	fi
done
exit $fail
