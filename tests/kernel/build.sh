#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the kernel modules out of tree, against Debian 12's 6.1 headers,
# with W=1, and fail on any compiler or modpost warning.  The sources are
# copied to a build directory so that the source tree stays clean.
#
# Usage: tests/kernel/build.sh [BUILDDIR]   (default build-kernel)
#   KVER: the headers' version (default: the newest 6.1 *-amd64 installed)
# Exit: 0 clean build, 1 a failure or a warning.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build-kernel}
kver=${KVER:-$(ls -1 /lib/modules | grep -- '^6\.1\..*-amd64$' | sort -V | tail -n 1)}
if [ -z "$kver" ] || [ ! -d "/lib/modules/$kver/build" ]; then
	echo "build.sh: no linux-headers-6.1.*-amd64 installed" >&2
	exit 1
fi

rm -rf "$out"
mkdir -p "$out/src"
cp -r "$top/src/frontend-linux" "$top/src/include" "$out/src/"
mkdir -p "$out/tests"
cp -r "$top/tests/kernel" "$out/tests/"
log=$out/build.log
if ! { make -C "$out/src/frontend-linux" KVER="$kver" W=1 &&
       make -C "$out/tests/kernel" KVER="$kver" W=1; } >"$log" 2>&1; then
	cat "$log"
	echo "build.sh: kernel module build failed (log: $log)"
	exit 1
fi
# Compiler warnings say "warning:", modpost's "WARNING: modpost:".
if grep -in 'warning:' "$log"; then
	echo "build.sh: warnings in the kernel module build (log: $log)"
	exit 1
fi
ls "$out"/src/frontend-linux/*.ko "$out"/tests/kernel/*.ko
echo "build.sh: modules built for $kver with W=1, no warnings"
