#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The real-Xen system test: Xen 4.17 with Argo, built from Debian's source
# package, and Debian's 6.1 kernel as dom0 under QEMU TCG, with an
# initramfs holding our modules, daemons and test steps (tests/system/dom0/).
#
#   stage 0  the argo core in dom0: /dev/argo (argo-selftest), the daemons'
#            xen back-end (argo-xen-selftest), the in-kernel API
#            (argo_core_test.ko), reload with group=; and in a second boot
#            without argo=1, the core's polite refusal (-ENODEV).
#   stage 1  dom0 serves itself: virtio-argo-blkd --transport xen on an
#            image, virtio_argo with that device, the stock virtio_blk
#            binds; mkfs.ext4, files with known checksums, e2fsck -fn,
#            every checksum verified after a remount; clean teardown.
#
# Usage: tests/system/run.sh [--shell] [WORKDIR [BUILDDIR]]
#   WORKDIR   scratch directory: initramfs, serial logs (default build-xen)
#   BUILDDIR  meson build directory of the daemons (default WORKDIR/meson)
#   --shell   debug: after the stages, keep the machine up with a shell on
#             the console (interactive; no timeout)
#   VA_STAGES     stages to run in the Argo boot (default 0,1)
#   VA_CACHE_DIR  where the Xen source and build and the kernel image are
#             kept between runs, keyed on their versions
#             (default /var/cache/virtio-argo)
#   XEN=path  use this Xen binary (xen/xen, Argo built in) instead of building
# Needs (scripts/deps.sh system installs them): qemu-system-x86,
# busybox-static, linux-headers-6.1.0-N-amd64, gcc, dpkg-dev, e2fsprogs,
# kmod.  A deb-src entry for `apt-get source xen` is derived from the
# machine's own apt source when there is none.
# Exit: 0 all PASS, 1 a failure (the serial log's tail is printed; the logs
# stay in WORKDIR).
set -eu

shell=0
if [ "${1:-}" = --shell ]; then
	shell=1
	shift
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$src/build-xen}
build=${2:-$work/meson}
cache=${VA_CACHE_DIR:-/var/cache/virtio-argo}
stages=${VA_STAGES:-0,1}
mkdir -p "$work" "$cache"
work=$(cd "$work" && pwd)

for t in qemu-system-x86_64 busybox gcc cpio dpkg-source depmod mke2fs ldd; do
	command -v "$t" >/dev/null || { echo "run.sh: $t missing (scripts/deps.sh system)" >&2; exit 1; }
done
kver=$(ls -1 /lib/modules | grep -- '^6\.1\..*-amd64$' | sort -V | tail -n 1)
[ -n "$kver" ] || { echo "run.sh: no linux-headers-6.1.*-amd64 (scripts/deps.sh system)" >&2; exit 1; }

# Kernel image and modules matching the headers, unpacked (never installed
# into /boot), with a modules.dep of their own.
kimg=$cache/kernel-$kver
if [ ! -f "$kimg/boot/vmlinuz-$kver" ]; then
	rm -rf "$kimg" && mkdir -p "$kimg.tmp"
	(cd "$kimg.tmp" && apt-get download -qq "linux-image-$kver" &&
	 dpkg -x linux-image-"$kver"_*.deb root)
	mv "$kimg.tmp/root" "$kimg" && rm -rf "$kimg.tmp"
fi
kmod=$kimg/lib/modules/$kver
[ -f "$kmod/modules.dep" ] || depmod -b "$kimg" "$kver"

# apt-get source needs a deb-src entry: derive one from the machine's own
# apt source (deb822 or one-line format), never naming a host here.
if [ -z "${XEN:-}" ] && ! apt-cache showsrc xen 2>/dev/null | grep -q '^Version:'; then
	srcfile=/etc/apt/sources.list.d/virtio-argo-deb-src
	if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
		sed -n '/^Types:/s/^Types:.*/Types: deb-src/;p' \
			/etc/apt/sources.list.d/*.sources > "$srcfile.sources"
	fi
	if [ -f /etc/apt/sources.list ]; then
		sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list > "$srcfile.list"
	fi
	apt-get update -qq
fi

# Xen with Argo (Debian's own package has none).
if [ -z "${XEN:-}" ]; then
	# The oldest listed version: newer security uploads may be listed
	# before their files can be had.
	ver=$(apt-cache showsrc xen | sed -n 's/^Version: //p' | sort -V | head -n 1)
	[ -n "$ver" ] || { echo "run.sh: no xen source package" >&2; exit 1; }
	xdir=$cache/xen-$ver
	xsrc=$(ls -1d "$xdir"/xen-4.17*/ 2>/dev/null | head -n 1 || true)
	if [ -z "$xsrc" ]; then
		rm -rf "$xdir" && mkdir -p "$xdir"
		(cd "$xdir" && apt-get source -qq "xen=$ver")
		xsrc=$(ls -1d "$xdir"/xen-4.17*/ | head -n 1)
	fi
	XEN=${xsrc}xen/xen
	if [ ! -f "$XEN" ]; then
		echo "run.sh: building Xen $ver with Argo (cached in $xdir)"
		export XEN_TARGET_ARCH=x86_64
		make -C "${xsrc}xen" defconfig >/dev/null
		printf 'CONFIG_EXPERT=y\nCONFIG_UNSUPPORTED=y\nCONFIG_ARGO=y\n' >> "${xsrc}xen/.config"
		make -C "${xsrc}xen" olddefconfig >/dev/null
		grep -q '^CONFIG_ARGO=y' "${xsrc}xen/.config"
		make -C "${xsrc}xen" -j"$(nproc)" >/dev/null
	fi
fi

# Our modules and programs.
KVER=$kver "$src/tests/kernel/build.sh" "$work/kernel" >/dev/null
[ -f "$build/build.ninja" ] || meson setup --buildtype=debugoptimized "$build" "$src" >/dev/null
meson compile -C "$build" >/dev/null

# The dom0 initramfs.
rd=$work/initrd
rm -rf "$rd"
mkdir -p "$rd/bin" "$rd/sbin" "$rd/dev" "$rd/proc" "$rd/sys" "$rd/etc" \
	"$rd/modules" "$rd/lib64"
cp "$(command -v busybox)" "$rd/bin/"
for c in $("$rd/bin/busybox" --list); do
	[ -e "$rd/bin/$c" ] || ln -s busybox "$rd/bin/$c"
done
# copy_bin FILE...: dynamically linked programs with their libraries.
copy_bin() {
	for f in "$@"; do
		# Replaces busybox's applet link of that name (never through it).
		rm -f "$rd/bin/$(basename "$f")"
		cp "$f" "$rd/bin/"
		for l in $(ldd "$f" | grep -o '/[^ ]*'); do
			mkdir -p "$rd$(dirname "$l")"
			cp -L "$l" "$rd$l"
		done
	done
}
copy_bin "$build/src/devices/blk/virtio-argo-blkd" "$(command -v mke2fs)" \
	"$(command -v e2fsck)"
rm -f "$rd/bin/mkfs.ext4" && ln -s mke2fs "$rd/bin/mkfs.ext4"
[ ! -f /etc/mke2fs.conf ] || cp /etc/mke2fs.conf "$rd/etc/"
gcc -static -O2 -I"$src/src/include" -o "$rd/bin/argo-selftest" "$src/tests/system/argo-selftest.c"
gcc -static -O2 -I"$src/src/include" -I"$src/src/backend" -I"$build" \
	-o "$rd/bin/argo-xen-selftest" "$src/tests/system/argo-xen-selftest.c" \
	"$build/src/backend/libvirtio-argo.a" -lxenstore -lxentoolcore -lpthread
cp "$work/kernel/src/frontend-linux/virtio_argo_core.ko" \
	"$work/kernel/src/frontend-linux/virtio_argo.ko" \
	"$work/kernel/tests/kernel/argo_core_test.ko" "$rd/modules/"
# Debian's modules the stages load, dependencies first (modules.dep lists a
# module's dependencies nearest first), in /modules/order.
: > "$rd/modules/order"
for m in virtio virtio_ring virtio_blk crc32c_generic ext4; do
	line=$(grep -E "(^|/)$m\.ko:" "$kmod/modules.dep") ||
		{ echo "run.sh: module $m not in $kver" >&2; exit 1; }
	for p in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
		b=$(basename "$p")
		grep -qx "$b" "$rd/modules/order" && continue
		cp "$kmod/$p" "$rd/modules/"
		echo "$b" >> "$rd/modules/order"
	done
done
cp "$src"/tests/system/dom0/init "$src"/tests/system/dom0/stage*.sh "$rd/"
chmod +x "$rd/init"
(cd "$rd" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.cpio.gz"

# boot XEN_OPTIONS DOM0_OPTIONS LOG: one boot of Xen + dom0; QEMU always
# stops (the init powers off; timeout is the backstop).
boot() {
	if [ "$shell" = 1 ]; then
		qemu-system-x86_64 -accel tcg -cpu qemu64,+svm -m 2048 -smp 2 \
			-nographic -no-reboot -serial mon:stdio -net none -kernel "$XEN" \
			-append "console=com1 com1=115200 $1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all noreboot" \
			-initrd "$kimg/boot/vmlinuz-$kver console=hvc0 earlyprintk=xen $2 va_shell=1,$work/initrd.cpio.gz" \
			2>&1 | tee "$3"
		return
	fi
	timeout 600 qemu-system-x86_64 -accel tcg -cpu qemu64,+svm -m 2048 -smp 2 \
		-nographic -no-reboot -serial mon:stdio -net none -kernel "$XEN" \
		-append "console=com1 com1=115200 $1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all noreboot" \
		-initrd "$kimg/boot/vmlinuz-$kver console=hvc0 earlyprintk=xen $2,$work/initrd.cpio.gz" \
		</dev/null >"$3" 2>&1 || true
	grep -a 'ATEST: \|STAGE\|virtio_argo\|virtio-argo\|WARNING\|BUG\|Call Trace' "$3" || true
}

log=
failed=0
expect() {
	grep -aq "$1" "$log" && return 0
	echo "run.sh: missing: $1"
	failed=1
}
no_warnings() {
	if grep -aq 'WARNING:\|BUG:\|Call Trace\|Oops\|Kernel panic\|FATAL TRAP\|Panic on CPU' "$log"; then
		echo "run.sh: kernel or Xen warnings in $log"
		failed=1
	fi
}
verdict() {
	if [ "$failed" = 1 ]; then
		echo "---- tail of $log ----"
		tail -n 60 "$log"
		echo "run.sh: FAIL (logs in $work)"
		exit 1
	fi
}

# With Argo: the stages.
log=$work/console-argo.log
# (QEMU's multiboot list is comma-separated: the stages go as 0+1.)
boot argo=1 "va_stages=$(echo "$stages" | tr , +)" "$log"
[ "$shell" = 0 ] || exit 0
for s in $(echo "$stages" | tr , ' '); do
	expect "STAGE$s: PASS"
done
expect 'ATEST: END'
no_warnings
verdict

# Without Argo (Xen's default): the core refuses politely with -ENODEV.
case ",$stages," in
*,0,*)
	log=$work/console-noargo.log
	boot "" "va_stages=noargo" "$log"
	expect 'virtio_argo_core: Xen has no usable Argo'
	expect 'STAGEnoargo: PASS'
	expect 'ATEST: END'
	no_warnings
	verdict
	;;
esac
echo "run.sh: PASS, stages $stages (logs in $work)"
