#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Install the Debian 12 packages virtio-argo needs to build and test.
# Only what is missing is installed; `apt-get update` runs only then.
#   scripts/deps.sh [build|test|system]...   (default: build)
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc libc6-dev linux-libc-dev liburing-dev libaio-dev
	libnl-3-dev libnl-route-3-dev libxen-dev check libfuse3-dev)
# gcc-12-multilib: the -m32 unit test (gcc-multilib itself conflicts with
# the Arm cross compilers of the system set).
test_pkgs=(fuse3 fio e2fsprogs util-linux iproute2 iputils-ping ethtool python3 procps kmod
	gcc-12-multilib)
system_pkgs=(qemu-system-x86 busybox-static bison flex bc cpio kmod libelf-dev
	build-essential python3 dpkg-dev linux-headers-amd64 linux-source-6.1
	e2fsprogs fio libxen-dev gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf
	checkpolicy m4)

want=()
for set in "${@:-build}"; do
	case "$set" in
	build) want+=("${build_pkgs[@]}") ;;
	test) want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
	system) want+=("${system_pkgs[@]}") ;;
	*) echo "deps.sh: unknown set '$set' (build, test, system)" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
