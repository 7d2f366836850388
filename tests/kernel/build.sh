#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the kernel modules out of tree, against Debian 12's 6.1 headers,
# with W=1, and fail on any compiler or modpost warning.  The sources are
# copied to a build directory so that the source tree stays clean.
#
# Usage: tests/kernel/build.sh [--arch amd64|arm64|armhf] [BUILDDIR]
#   --arch    amd64 (default): the installed linux-headers-6.1.*-amd64.
#             arm64, armhf: a cross-build with aarch64-linux-gnu-gcc-12 or
#             arm-linux-gnueabihf-gcc-12 (scripts/deps.sh system) against
#             Debian's linux-headers-<abi>-arm64 / -armmp of the same ABI
#             as the installed amd64 headers.  Those packages are
#             downloaded once and unpacked (never installed) into
#             VA_CACHE_DIR; the shared half (linux-headers-<abi>-common)
#             and the build tools (linux-kbuild-6.1: fixdep, modpost) are
#             the machine's own, which run on the build machine.
#   BUILDDIR  default build-kernel, or build-kernel-ARCH for a cross-build
#   KVER: the amd64 headers' version (default: the newest 6.1 *-amd64)
#   VA_CACHE_DIR: where the foreign headers are kept, keyed on ABI and
#             flavour (default /var/cache/virtio-argo)
# Exit: 0 clean build, 1 a failure or a warning.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
arch=amd64
if [ "${1:-}" = --arch ]; then
	arch=${2:?build.sh: --arch needs amd64, arm64 or armhf}
	shift 2
fi
case "$arch" in
amd64) cross='' flavour='' ;;
arm64) cross=aarch64-linux-gnu- flavour=arm64 ;;
armhf) cross=arm-linux-gnueabihf- flavour=armmp ;;
*) echo "build.sh: unknown --arch '$arch' (amd64, arm64, armhf)" >&2; exit 1 ;;
esac
if [ "$arch" = amd64 ]; then
	out=${1:-$top/build-kernel}
else
	out=${1:-$top/build-kernel-$arch}
fi
kver=${KVER:-$(ls -1 /lib/modules | grep -- '^6\.1\..*-amd64$' | sort -V | tail -n 1)}
if [ -z "$kver" ] || [ ! -d "/lib/modules/$kver/build" ]; then
	echo "build.sh: no linux-headers-6.1.*-amd64 installed" >&2
	exit 1
fi
kdir=/lib/modules/$kver/build

# fetch_headers ABI FLAVOUR ARCH: print the unpacked foreign headers' path,
# downloading them first if the cache has none.  apt works on a private
# package list of the machine's Debian sources restricted to ARCH, so the
# machine's own apt state (architectures, lists) is left alone.
fetch_headers() {
	abi=$1 flv=$2 a=$3
	cache=${VA_CACHE_DIR:-/var/cache/virtio-argo}
	dest=$cache/linux-headers-$abi-$flv
	if [ ! -f "$dest/usr/src/linux-headers-$abi-$flv/Module.symvers" ]; then
		apt=$cache/apt-foreign
		mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/archives/partial"
		# deb822 stanzas signed by Debian's archive key, one arch each.
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] && awk -v RS= -v ORS='\n\n' \
				'/(^|\n)Types:[^\n]*deb([ \n]|$)/ && /debian-archive-keyring/ {
					print $0 "\nArchitectures: armhf arm64" }' "$f"
		done > "$apt/parts/debian.sources"
		if [ ! -s "$apt/parts/debian.sources" ]; then
			echo "build.sh: no Debian deb822 source in /etc/apt/sources.list.d" >&2
			return 1
		fi
		: > "$apt/sources.list"
		set -- -q -o Dir::Etc::SourceList="$apt/sources.list" \
			-o Dir::Etc::SourceParts="$apt/parts" \
			-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt" \
			-o Dir::Cache::archives="$apt/archives" \
			-o APT::Architectures::=amd64 -o APT::Architectures::=armhf \
			-o APT::Architectures::=arm64 -o Acquire::Languages=none \
			-o APT::Sandbox::User=root
		pkg=linux-headers-$abi-$flv:$a
		if ! apt-cache "$@" show "$pkg" >/dev/null 2>&1; then
			apt-get "$@" update >&2 || return 1
		fi
		rm -rf "$dest" "$dest.tmp" && mkdir -p "$dest.tmp"
		(cd "$dest.tmp" && apt-get "$@" download "$pkg" >&2 &&
		 dpkg -x ./linux-headers-*.deb root) || return 1
		mv "$dest.tmp/root" "$dest" && rm -rf "$dest.tmp"
	fi
	# scripts/ and tools/ link to ../../lib/linux-kbuild-6.1: the machine's.
	mkdir -p "$dest/usr/lib"
	ln -sfn /usr/lib/linux-kbuild-6.1 "$dest/usr/lib/linux-kbuild-6.1"
	echo "$dest/usr/src/linux-headers-$abi-$flv"
}

if [ -n "$cross" ]; then
	abi=${kver%-amd64}
	if ! command -v "${cross}gcc-12" >/dev/null; then
		echo "build.sh: ${cross}gcc-12 missing (scripts/deps.sh system)" >&2
		exit 1
	fi
	if [ ! -f "/usr/src/linux-headers-$abi-common/Makefile" ] ||
	   [ ! -x /usr/lib/linux-kbuild-6.1/scripts/mod/modpost ]; then
		echo "build.sh: linux-headers-$abi-common or linux-kbuild-6.1 missing" >&2
		exit 1
	fi
	kdir=$(fetch_headers "$abi" "$flavour" "$arch") || {
		echo "build.sh: could not get linux-headers-$abi-$flavour:$arch" >&2
		exit 1
	}
	kver=$abi-$flavour
fi

rm -rf "$out"
mkdir -p "$out/src"
cp -r "$top/src/frontend-linux" "$top/src/include" "$out/src/"
mkdir -p "$out/tests"
cp -r "$top/tests/kernel" "$out/tests/"
log=$out/build.log
if ! { make -C "$out/src/frontend-linux" KDIR="$kdir" CROSS_COMPILE="$cross" W=1 &&
       make -C "$out/tests/kernel" KDIR="$kdir" CROSS_COMPILE="$cross" W=1; } >"$log" 2>&1; then
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
echo "build.sh: modules built for $kver ($arch) with W=1, no warnings"
