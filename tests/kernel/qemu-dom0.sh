#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Real Xen, stage 0: boot Xen 4.17 (built from Debian's source package with
# Argo) and Debian's 6.1 kernel as dom0 under QEMU TCG, and run the argo
# core tests inside dom0: tests/system/argo-selftest.c (/dev/argo ioctls),
# tests/system/argo-xen-selftest.c (src/backend's xen back-end) and
# tests/kernel/argo-core-test.c (the in-kernel API), plus module reload with
# group= and, in a second boot without argo=1, the polite refusal.
#
# Usage: tests/kernel/qemu-dom0.sh [WORKDIR [BUILDDIR]]
#   WORKDIR   scratch directory: initramfs, console logs (default build-xen)
#   BUILDDIR  meson build directory for libvirtio-argo (default build-xen/meson)
#   VA_CACHE_DIR  where the Xen source and build and the kernel image are
#             kept between runs, keyed on their versions
#             (default /var/cache/virtio-argo)
#   XEN=path  use this Xen binary (xen/xen, Argo built in) instead of building
# Needs (scripts/deps.sh system installs them): qemu-system-x86,
# busybox-static, linux-headers-6.1.0-N-amd64, gcc, dpkg-dev.  A deb-src
# entry for `apt-get source xen` is derived from the machine's own apt
# source when there is none.
# Exit: 0 all PASS, 1 a failure.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$src/build-xen}
build=${2:-$work/meson}
cache=${VA_CACHE_DIR:-/var/cache/virtio-argo}
mkdir -p "$work" "$cache"
work=$(cd "$work" && pwd)

for t in qemu-system-x86_64 busybox gcc cpio dpkg-source; do
	command -v "$t" >/dev/null || { echo "qemu-dom0.sh: $t missing (scripts/deps.sh system)" >&2; exit 1; }
done
kver=$(ls -1 /lib/modules | grep -- '^6\.1\..*-amd64$' | sort -V | tail -n 1)
[ -n "$kver" ] || { echo "qemu-dom0.sh: no linux-headers-6.1.*-amd64 (scripts/deps.sh system)" >&2; exit 1; }

# Kernel image matching the headers, unpacked (never installed into /boot).
kimg=$cache/kernel-$kver
if [ ! -f "$kimg/boot/vmlinuz-$kver" ]; then
	rm -rf "$kimg" && mkdir -p "$kimg.tmp"
	(cd "$kimg.tmp" && apt-get download -qq "linux-image-$kver" &&
	 dpkg -x linux-image-"$kver"_*.deb root)
	mv "$kimg.tmp/root" "$kimg" && rm -rf "$kimg.tmp"
fi

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
	[ -n "$ver" ] || { echo "qemu-dom0.sh: no xen source package" >&2; exit 1; }
	xdir=$cache/xen-$ver
	xsrc=$(ls -1d "$xdir"/xen-4.17*/ 2>/dev/null | head -n 1 || true)
	if [ -z "$xsrc" ]; then
		rm -rf "$xdir" && mkdir -p "$xdir"
		(cd "$xdir" && apt-get source -qq "xen=$ver")
		xsrc=$(ls -1d "$xdir"/xen-4.17*/ | head -n 1)
	fi
	XEN=${xsrc}xen/xen
	if [ ! -f "$XEN" ]; then
		echo "qemu-dom0.sh: building Xen $ver with Argo (cached in $xdir)"
		export XEN_TARGET_ARCH=x86_64
		make -C "${xsrc}xen" defconfig >/dev/null
		printf 'CONFIG_EXPERT=y\nCONFIG_UNSUPPORTED=y\nCONFIG_ARGO=y\n' >> "${xsrc}xen/.config"
		make -C "${xsrc}xen" olddefconfig >/dev/null
		grep -q '^CONFIG_ARGO=y' "${xsrc}xen/.config"
		make -C "${xsrc}xen" -j"$(nproc)" >/dev/null
	fi
fi

# Modules, test programs, initramfs.
KVER=$kver "$src/tests/kernel/build.sh" "$work/kernel" >/dev/null
[ -f "$build/build.ninja" ] || meson setup "$build" "$src" >/dev/null
meson compile -C "$build" >/dev/null
rd=$work/initrd
rm -rf "$rd"
mkdir -p "$rd/bin" "$rd/dev" "$rd/proc" "$rd/sys"
cp "$(command -v busybox)" "$rd/bin/"
for c in sh mount insmod rmmod poweroff ls stat; do ln -sf busybox "$rd/bin/$c"; done
cp "$work/kernel/src/frontend-linux/virtio_argo_core.ko" \
	"$work/kernel/tests/kernel/argo_core_test.ko" "$rd/"
gcc -static -O2 -I"$src/src/include" -o "$rd/argo-selftest" "$src/tests/system/argo-selftest.c"
gcc -static -O2 -I"$src/src/include" -I"$src/src/backend" -I"$build" \
	-o "$rd/argo-xen-selftest" "$src/tests/system/argo-xen-selftest.c" \
	"$build/src/backend/libvirtio-argo.a" -lpthread
cat > "$rd/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
r() { "$@"; echo "ATEST: $* rc=$?"; }
r insmod /virtio_argo_core.ko
r stat -c %a /dev/argo
r /argo-selftest
r /argo-xen-selftest
insmod /argo_core_test.ko
r rmmod virtio_argo_core
r insmod /virtio_argo_core.ko group=1000
r stat -c %a /dev/argo
r /argo-selftest
r rmmod virtio_argo_core
echo "ATEST: END"
poweroff -f
EOF
chmod +x "$rd/init"
(cd "$rd" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.cpio.gz"

# boot ARGO_OPTION LOG: one boot of Xen + dom0; QEMU always stops (the
# init powers off; timeout is the backstop).
boot() {
	timeout 300 qemu-system-x86_64 -accel tcg -cpu qemu64,+svm -m 2048 -smp 2 \
		-nographic -no-reboot -serial mon:stdio -net none -kernel "$XEN" \
		-append "console=com1 com1=115200 $1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all noreboot" \
		-initrd "$kimg/boot/vmlinuz-$kver console=hvc0 earlyprintk=xen,$work/initrd.cpio.gz" \
		</dev/null >"$2" 2>&1 || true
	grep -a 'ATEST: \|PASS\|FAIL\|virtio_argo_core:\|WARNING\|BUG\|Call Trace' "$2" || true
}

log=
expect() {
	grep -aq "$1" "$log" && return 0
	tail -n 40 "$log"
	echo "qemu-dom0.sh: missing: $1 (log $log)"
	exit 1
}
no_warnings() {
	if grep -aq 'WARNING:\|BUG:\|Call Trace\|Oops' "$log"; then
		echo "qemu-dom0.sh: kernel warnings in $log"
		exit 1
	fi
}

# With Argo: everything works.
log=$work/console-argo.log
boot argo=1 "$log"
expect 'ATEST: insmod /virtio_argo_core.ko rc=0'
expect 'ATEST: stat -c %a /dev/argo rc=0'
expect 'ARGO-SELFTEST PASS'
expect 'ATEST: /argo-selftest rc=0'
expect 'ATEST: /argo-xen-selftest rc=0'
expect 'argo_core_test: PASS'
expect 'ATEST: rmmod virtio_argo_core rc=0'
expect 'ATEST: insmod /virtio_argo_core.ko group=1000 rc=0'
expect 'ATEST: END'
no_warnings

# Without Argo (Xen's default): the core refuses politely with -ENODEV.
log=$work/console-noargo.log
boot "" "$log"
expect 'virtio_argo_core: Xen has no usable Argo'
expect 'ATEST: insmod /virtio_argo_core.ko rc=19'	# -ENODEV
expect 'ATEST: END'
no_warnings
echo "qemu-dom0.sh: PASS (logs in $work)"
