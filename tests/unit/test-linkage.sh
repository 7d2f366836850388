#!/bin/sh
# SPDX-License-Identifier: MIT
# Which programs link XenStore: only the daemons (blkd, testd) do, through
# library va-xenstore linked whole; the simulator, simctl and the
# user-space guest run without it (the guest's xen transport needs only
# /dev/argo).  Checks each binary's NEEDED list and whether it defines
# va_xenstore_ops (the xen back-end's hook, argo-priv.h).
# Usage: test-linkage.sh with|without BINARY... [-- with|without BINARY...]
set -u
for t in readelf nm; do
	command -v $t >/dev/null ||
		{ echo "test-linkage: $t missing (binutils)"; exit 77; }
done
want=
fail=0
for a in "$@"; do
	case $a in
	with|without) want=$a; continue ;;
	esac
	needed=$(readelf -d "$a" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	[ -n "$needed" ] || { echo "FAIL $a: no NEEDED list read"; fail=1; continue; }
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
