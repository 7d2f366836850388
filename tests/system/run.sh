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
#            every checksum verified after a remount; blkd SIGKILLed and
#            restarted during a write; a capacity change; clean teardown.
#   stage 2  the real shape: dom0 is the driver domain (xenstored, xl) and
#            runs two blkd (one read-only) with --domain before the guest
#            exists; an `xl create`d PV domU loads virtio_argo and the
#            stock virtio_blk: fio verify across a blkd SIGKILL, ext4 with
#            checksums, then `xl destroy` during I/O and a new domain of
#            the same name served again (journal replay, e2fsck -fn
#            clean, run 1's sums).
#   stage 3  dom0 serves itself again, and a hostile peer
#            (tests/system/va-hostile.c) attacks the transport: config
#            reads while blkd is frozen, garbage from blkd's port during
#            writes, DEVICE_INFO answers out of bounds, a response without
#            the status byte, a device whose ring is full and never read
#            (unbind and rmmod must end).
#   stage 4  the network: dom0 has bridge br0 (10.99.0.1/24) and runs
#            virtio-argo-netd --domain va-net with its TAP in br0 before
#            the guest exists; an `xl create`d domU (2 vCPUs) binds the
#            stock virtio_net to virtio_argo (10.99.0.2/24): MAC, two
#            queue pairs, carrier, no renegotiation while idle, ping both
#            ways, the TAP's state as the guest's carrier, 64 MiB over
#            TCP each way with a netd SIGKILL and restart in the middle
#            of each (sha256 equal, the guest announces itself to the
#            new netd, which restores the two queue pairs), clean
#            counters and unbind, netd's log clean.
#   stage 5  the stock virtio_console in an `xl create`d domU (one vCPU:
#            the transport answers the queues virtio_console spins on
#            inside notify), served by
#            virtio-argo-consoled started with --domain before the guest
#            exists (--socket, --extra-port data=socket:, --log): dom0
#            runs commands in a shell on the guest's virtio console and
#            checks their output; 16 MiB each way through the named port
#            /dev/virtio-ports/data, sha256 equal; consoled SIGKILLed
#            and started again, restoring the driver session's state (the
#            stock driver never sends DEVICE_READY again), and a further
#            command through the console; consoled's SIGTERM exit 0 and
#            its --log.
#   stage xs  XenStore discovery: dom0 serves an `xl create`d domU whose
#            transport loads with virtio_argo.devices=xenstore before any
#            key exists; config/virtio-argo-xs-devices writes them and
#            the disk appears; malformed values and the keys' removal are
#            logged and change nothing; then the disk moves to another
#            blkd, port and ring port while fio writes (blkd a frozen
#            and killed with requests in flight): the guest follows,
#            replays; then, blkd b killed, to another backend domain
#            (itself, nothing served there) and back to dom0 (blkd c):
#            every fio verify clean, no answer dropped.
#   stage 6  a driver domain that is not dom0: dom0 (the toolstack only)
#            creates va-driver (tests/system/driver/: /dev/argo, blkd,
#            netd, consoled; its disk a loop device given by xl; TAP in
#            br0 10.99.1.1/24) and then va-guest (1 vCPU) with its
#            devices there; each side finds the other through keys the
#            toolstack writes (config/virtio-argo-xs-guest, -xs-devices):
#            fio verify, ext4 and e2fsck, ping and 16 MiB over TCP each
#            way to the driver domain (sha256); then `xl destroy
#            va-driver` during the guest's raw and ext4 writes (the guest
#            lives on, its writes stall), va-driver created again (a new
#            domid), the guest's devices follow: the writes held
#            (hold_s=600) are replayed, none fails, all read back right;
#            fio verify, e2fsck, checksums, ping, and a command through
#            consoled's socket into the guest's shell on its virtio
#            console.
#   stage 7  FLASK, in a boot of its own: Xen built again with XSM/FLASK
#            (config/flask/xen-flask.config, cached beside the first
#            build), flask=enforcing with our policy (config/flask/,
#            built here with checkpolicy from Xen's policy sources and
#            loaded as a multiboot module); stage 6 again with the driver
#            domain labelled va_driver_t and the guest va_guest_t, and
#            meanwhile a third domain of Xen's domU_t gets exactly
#            -EACCES from registering a ring towards the driver domain
#            and from sending to consoled's port there; Xen's console
#            has the two AVC denials and no other, the daemons' logs
#            nothing of it.
#   After the boots every line of the serial logs (Xen, dom0, the domU's
#   console) that looks like trouble fails the run unless
#   tests/system/log-allowlist names it.
#
# Usage: tests/system/run.sh [--shell] [WORKDIR [BUILDDIR]]
#   WORKDIR   scratch directory: initramfs, serial logs (default build-xen)
#   BUILDDIR  meson build directory of the daemons (default WORKDIR/meson)
#   --shell   debug: after the stages, keep the machine up with a shell on
#             the console (interactive; no timeout)
#   VA_STAGES     stages to run (default 0,1,2,3,4,5,xs,6,7); 7 runs in a boot
#             of its own with the FLASK hypervisor
#   VA_PARTS      stage 3's parts, e.g. config+garbage (default all; see
#             tests/system/dom0/stage3.sh)
#   VA_CACHE_DIR  where the Xen source and build and the kernel image are
#             kept between runs, keyed on their versions
#             (default /var/cache/virtio-argo)
#   XEN=path  use this Xen binary (xen/xen, Argo built in) instead of building
#   XEN_FLASK=path  the same for stage 7 (Argo and XSM/FLASK built in)
# Needs (scripts/deps.sh system installs them): qemu-system-x86,
# busybox-static, linux-headers-6.1.0-N-amd64, gcc, dpkg-dev, e2fsprogs,
# kmod, fio, checkpolicy and m4 (stage 7), libxen-dev (the libraries of Xen's tools, which are
# downloaded and unpacked).  A deb-src entry for `apt-get source xen` is
# derived from the machine's own apt source when there is none.
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
stages=${VA_STAGES:-0,1,2,3,4,5,xs,6,7}
# Stage 7 boots the FLASK hypervisor; the others share the Argo boot.
argo_stages=$(echo ",$stages," | sed 's/,7,/,/g; s/^,//; s/,$//')
case ",$stages," in
*,7,*) flask=1 ;;
*) flask=0 ;;
esac
mkdir -p "$work" "$cache"
work=$(cd "$work" && pwd)
rm -f "$work/why.txt" "$work/suspect.txt"

for t in qemu-system-x86_64 busybox gcc cpio dpkg-source depmod mke2fs ldd \
	$([ $flask = 0 ] || echo checkpolicy m4); do
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
if { [ -z "${XEN:-}" ] || { [ $flask = 1 ] && [ -z "${XEN_FLASK:-}" ]; }; } &&
   ! apt-cache showsrc xen 2>/dev/null | grep -q '^Version:'; then
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
if [ -z "${XEN:-}" ] || { [ $flask = 1 ] && [ -z "${XEN_FLASK:-}" ]; }; then
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
fi
if [ -z "${XEN:-}" ]; then
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
# Stage 7's hypervisor: the same source package with XSM/FLASK as well
# (config/flask/xen-flask.config), unpacked again from the cached .dsc
# into a directory of its own (the tree above holds the first build),
# keyed on the version and the fragment's checksum.
if [ $flask = 1 ] && [ -z "${XEN_FLASK:-}" ]; then
	frag=$src/config/flask/xen-flask.config
	fdir=$cache/xen-flask-$ver-$(sha256sum "$frag" | cut -c1-12)
	XEN_FLASK=$fdir/src/xen/xen
	if [ ! -f "$XEN_FLASK" ]; then
		echo "run.sh: building Xen $ver with Argo and FLASK (cached in $fdir)"
		rm -rf "$fdir" "$fdir.tmp" && mkdir -p "$fdir.tmp"
		(cd "$fdir.tmp" && dpkg-source -x "$xdir"/xen_*.dsc src >/dev/null)
		export XEN_TARGET_ARCH=x86_64
		make -C "$fdir.tmp/src/xen" defconfig >/dev/null
		grep -E '^(CONFIG_|# CONFIG_)' "$frag" >> "$fdir.tmp/src/xen/.config"
		make -C "$fdir.tmp/src/xen" olddefconfig >/dev/null
		for o in ARGO XSM XSM_FLASK XSM_FLASK_DEFAULT; do
			grep -q "^CONFIG_$o=y" "$fdir.tmp/src/xen/.config"
		done
		if grep -q '^CONFIG_XSM_FLASK_POLICY=y' "$fdir.tmp/src/xen/.config"; then
			echo "run.sh: the FLASK build would have a built-in policy" >&2
			exit 1
		fi
		nice -n 10 make -C "$fdir.tmp/src/xen" -j"$(nproc)" >/dev/null
		mv "$fdir.tmp" "$fdir"
	fi
fi
# Its policy: Xen's example policy from the hypervisor's own source tree
# (XEN_FLASK is that tree's xen/xen) with our module (config/flask/).
if [ $flask = 1 ]; then
	policy=$("$src/config/flask/build-policy.sh" "$(dirname "$(dirname "$XEN_FLASK")")" \
		"$work/flask")
fi

# Our modules and programs.
KVER=$kver "$src/tests/kernel/build.sh" "$work/kernel" >/dev/null
[ -f "$build/build.ninja" ] || meson setup --buildtype=debugoptimized "$build" "$src" >/dev/null
meson compile -C "$build" >/dev/null

# Xen's tools for stage 2 (xl, xenstored, xenconsoled, xenstore-*): Debian's
# xen-utils-4.17 and xenstore-utils unpacked (never installed), cached per
# version.  Their libraries come from the machine (libxen-dev pulls them).
xuver=$(apt-cache policy xen-utils-4.17 | sed -n 's/^ *Candidate: //p')
[ -n "$xuver" ] && [ "$xuver" != "(none)" ] ||
	{ echo "run.sh: no xen-utils-4.17 package" >&2; exit 1; }
xutils=$cache/xen-utils-$xuver
if [ ! -x "$xutils/usr/lib/xen-4.17/bin/xl" ]; then
	rm -rf "$xutils" "$xutils.tmp" && mkdir -p "$xutils.tmp"
	(cd "$xutils.tmp" && apt-get download -qq xen-utils-4.17 xenstore-utils 2>/dev/null &&
	 for d in ./*.deb; do dpkg -x "$d" root; done)
	mv "$xutils.tmp/root" "$xutils" && rm -rf "$xutils.tmp"
fi

# new_rd DIR: an initramfs tree with busybox and its applet links.
new_rd() {
	rm -rf "$1"
	mkdir -p "$1/bin" "$1/sbin" "$1/dev" "$1/proc" "$1/sys" "$1/etc" \
		"$1/modules" "$1/lib64"
	cp "$(command -v busybox)" "$1/bin/"
	for c in $("$1/bin/busybox" --list); do
		[ -e "$1/bin/$c" ] || ln -s busybox "$1/bin/$c"
	done
}
# add_bin DIR FILE [PATH]: a dynamically linked program (at PATH, default
# /bin/NAME) with its libraries.  Replaces busybox's applet link of that
# name, never writing through it.
add_bin() {
	dest=${3:-/bin/$(basename "$2")}
	mkdir -p "$1$(dirname "$dest")"
	rm -f "$1$dest"
	cp "$2" "$1$dest"
	for l in $(ldd "$2" | grep -o '/[^ ]*'); do
		mkdir -p "$1$(dirname "$l")"
		[ -e "$1$l" ] || cp -L "$l" "$1$l"
	done
}
# add_modules DIR LIST NAME...: Debian's modules with their dependencies,
# dependencies first (modules.dep lists a module's nearest first), their
# file names appended to DIR/modules/LIST.
add_modules() {
	d=$1 list=$d/modules/$2
	shift 2
	touch "$list"
	for m in "$@"; do
		line=$(grep -E "(^|/)$m\.ko:" "$kmod/modules.dep") ||
			{ echo "run.sh: module $m not in $kver" >&2; exit 1; }
		for p in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
			b=$(basename "$p")
			grep -qx "$b" "$list" && continue
			cp "$kmod/$p" "$d/modules/"
			echo "$b" >> "$list"
		done
	done
}
# pack DIR FILE: the cpio archive.
pack() {
	(cd "$1" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$2"
}
# add_e2fs DIR: mkfs.ext4, e2fsck, debugfs.
add_e2fs() {
	add_bin "$1" "$(command -v mke2fs)"
	add_bin "$1" "$(command -v e2fsck)"
	add_bin "$1" "$(command -v debugfs)"
	rm -f "$1/bin/mkfs.ext4" && ln -s mke2fs "$1/bin/mkfs.ext4"
	[ ! -f /etc/mke2fs.conf ] || cp /etc/mke2fs.conf "$1/etc/"
}
ours=$work/kernel/src/frontend-linux

# The domU initramfs (stage 2): the stock drivers, our transport, fio,
# e2fsprogs and the guest's test steps (tests/system/domU/).
urd=$work/initrd-domu
new_rd "$urd"
add_e2fs "$urd"
add_bin "$urd" "$(command -v fio)"
cp "$ours/virtio_argo_core.ko" "$ours/virtio_argo.ko" "$urd/modules/"
add_modules "$urd" order virtio virtio_ring virtio_blk crc32c_generic ext4
# Stage 4: the stock virtio_net.
add_modules "$urd" order.net virtio_net
cp "$src/tests/system/domU/init" "$src/tests/system/domU/net.sh" \
	"$src/tests/system/domU/xs.sh" "$src/tests/system/domU/dd.sh" "$urd/"
chmod +x "$urd/init"
# Stage 5's guest: the stock virtio_console and its script.
add_modules "$urd" order.console virtio_console
cp "$src/tests/system/domU/console.sh" "$urd/"

# Stage 6's driver domain (tests/system/driver/): the argo core, the
# three daemons, xenstore-read and -write (XenStore is dom0's, reached
# through /dev/xen/xenbus), blkfront for its disks, ext4 for the state
# disk, tun and bridge.
drd=$work/initrd-driver
new_rd "$drd"
for d in blk/virtio-argo-blkd net/virtio-argo-netd console/virtio-argo-consoled; do
	add_bin "$drd" "$build/src/devices/$d"
done
add_bin "$drd" "$build/tests/integration/console-io"
for b in read write; do
	add_bin "$drd" "$xutils/usr/bin/xenstore-$b"
done
cp "$ours/virtio_argo_core.ko" "$drd/modules/"
add_modules "$drd" order xen-blkfront tun bridge crc32c_generic ext4
cp "$src/tests/system/driver/init" "$drd/"
chmod +x "$drd/init"

# The dom0 initramfs: stages 0 and 1, and for stage 2 Xen's tools, the
# domU's kernel, initramfs and xl config.
rd=$work/initrd
new_rd "$rd"
add_bin "$rd" "$build/src/devices/blk/virtio-argo-blkd"
# Stage 4's network device, its TAP and bridge.
add_bin "$rd" "$build/src/devices/net/virtio-argo-netd"
add_modules "$rd" order.net tun bridge
# failfs (tests/integration/failfs.c): stage 2 holds a write in blkd.
add_bin "$rd" "$build/tests/integration/failfs"
add_e2fs "$rd"
for b in xl xenstored xenconsoled xen-init-dom0 libxl-save-helper; do
	add_bin "$rd" "$xutils/usr/lib/xen-4.17/bin/$b" "/usr/lib/xen-4.17/bin/$b"
	ln -sf "/usr/lib/xen-4.17/bin/$b" "$rd/bin/$b"
done
for b in read write ls list exists chmod rm; do
	add_bin "$rd" "$xutils/usr/bin/xenstore-$b"
done
# Stages xs and 6: the toolstack's scripts that write a guest's device
# keys and a driver domain's guest key (config/).  Stage 6: the loop
# devices its driver domain's disks are, and the hotplug script that
# hands them to xen-blkback.
cp "$src/config/virtio-argo-xs-guest" "$src/config/virtio-argo-xs-devices" "$rd/bin/"
add_modules "$rd" order.dd loop xen-blkback
mkdir -p "$rd/etc/xen/scripts"
cp "$src/tests/system/dom0/va-block" "$rd/etc/xen/scripts/"
# xl's threads dlopen it (pthread_cancel).
mkdir -p "$rd/lib/x86_64-linux-gnu"
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$rd/lib/x86_64-linux-gnu/"
gcc -static -O2 -I"$src/src/include" -o "$rd/bin/argo-selftest" "$src/tests/system/argo-selftest.c"
gcc -static -O2 -I"$src/src/include" -I"$src/src/backend" -I"$build" \
	-o "$rd/bin/argo-xen-selftest" "$src/tests/system/argo-xen-selftest.c" \
	-Wl,--whole-archive "$build/src/backend/libva-xenstore.a" -Wl,--no-whole-archive \
	"$build/src/backend/libvirtio-argo.a" -lxenstore -lxentoolcore -lpthread
gcc -static -O2 -I"$src/src/include" -o "$rd/bin/va-hostile" "$src/tests/system/va-hostile.c"
# Stage 5: consoled, and console-io (the far end of its sockets).
add_bin "$rd" "$build/src/devices/console/virtio-argo-consoled"
gcc -static -O2 -o "$rd/bin/console-io" "$src/tests/integration/console-io.c"
cp "$ours/virtio_argo_core.ko" "$ours/virtio_argo.ko" \
	"$work/kernel/tests/kernel/argo_core_test.ko" "$rd/modules/"
add_modules "$rd" order virtio virtio_ring virtio_blk crc32c_generic ext4 fuse
add_modules "$rd" order.xen xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc
mkdir -p "$rd/boot" "$rd/etc/xen"
cp "$kimg/boot/vmlinuz-$kver" "$rd/boot/vmlinuz"
pack "$urd" "$rd/boot/initrd-domu.cpio.gz"
pack "$drd" "$rd/boot/initrd-driver.cpio.gz"
cp "$src/tests/system/domU/guest.cfg" "$src/tests/system/driver/driver.cfg" \
	"$rd/etc/xen/"
# Stage 7's domUs: a small initramfs of their own (busybox, the argo core,
# privcmd, va-flask-peer, xenstore-read).
if [ $flask = 1 ]; then
	frd=$work/initrd-flask
	new_rd "$frd"
	cp "$ours/virtio_argo_core.ko" "$frd/modules/"
	add_modules "$frd" order xen-privcmd
	add_bin "$frd" "$xutils/usr/bin/xenstore-read"
	gcc -static -O2 -I"$src/src/include" -o "$frd/bin/va-flask-peer" \
		"$src/tests/system/va-flask-peer.c"
	cp "$src/tests/system/domU/flask.sh" "$frd/init"
	chmod +x "$frd/init"
	pack "$frd" "$rd/boot/initrd-flask.cpio.gz"
	cp "$src/tests/system/domU/flask.cfg" "$rd/etc/xen/"
fi
cp "$src"/tests/system/dom0/init "$src"/tests/system/dom0/stage*.sh \
	"$src"/tests/system/dom0/lib.sh "$rd/"
chmod +x "$rd/init"
pack "$rd" "$work/initrd.cpio.gz"

# boot XEN_OPTIONS DOM0_OPTIONS LOG [HYPERVISOR [MODULE]]: one boot of Xen
# (default $XEN) + dom0, MODULE (the FLASK policy) a multiboot module
# after the initramfs; QEMU always stops (the init powers off; timeout is
# the backstop).
boot() {
	kargs="console=hvc0 earlyprintk=xen $2"
	[ "$shell" = 0 ] || kargs="$kargs va_shell=1"
	out=$3
	set -- qemu-system-x86_64 -accel tcg -cpu qemu64,+svm -m 2048 -smp 2 \
		-nographic -no-reboot -serial mon:stdio -net none -kernel "${4:-$XEN}" \
		-append "console=com1 com1=115200 $1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all noreboot" \
		-initrd "$kimg/boot/vmlinuz-$kver $kargs,$work/initrd.cpio.gz${5:+,$5}"
	if [ "$shell" = 1 ]; then
		"$@" 2>&1 | tee "$out"
		return
	fi
	# A backstop for a hung boot, not a time limit: the Argo boot's seven
	# stages take about 17-20 minutes under TCG on a quiet two-core
	# machine, and twice that when another QEMU shares it.
	timeout 2700 "$@" </dev/null >"$out" 2>&1 || true
	grep -a 'ATEST: \|STAGE\|virtio_argo\|virtio-argo\|WARNING\|BUG\|Call Trace' "$out" || true
}

log=
failed=0
expect() {
	grep -aq "$1" "$log" && return 0
	echo "run.sh: missing: $1" | tee -a "$work/why.txt"
	failed=1
}
# Every line that looks like trouble (the domU's console is in the log
# too), less those tests/system/log-allowlist names.
no_warnings() {
	grep -v -e '^#' -e '^$' "$src/tests/system/log-allowlist" >"$work/allow.re"
	if grep -a -i -E 'bug|warn|oops|call trace|panic|error|fatal|assert' "$log" |
	   grep -a -v -E -f "$work/allow.re" >"$work/suspect.txt"; then
		echo "run.sh: lines in $log that a clean run does not print:"
		cat "$work/suspect.txt"
		failed=1
	fi
}
# On failure, the serial log's tail and then, last (all that a reader of
# the output's end may see), why: the FAILED markers of the stages and
# domains and what expect() missed.
verdict() {
	if [ "$failed" = 1 ]; then
		echo "---- tail of $log ----"
		tail -n 60 "$log"
		echo "---- why ----"
		grep -a 'FAILED' "$log" | tr -d '\r' | awk '!seen[$0]++' | head -n 8
		cat "$work/why.txt" 2>/dev/null
		if [ -s "$work/suspect.txt" ]; then
			echo "run.sh: $(wc -l <"$work/suspect.txt") log lines a clean run does not print, first:"
			head -n 3 "$work/suspect.txt"
		fi
		echo "run.sh: FAIL (logs in $work)"
		exit 1
	fi
}

# With Argo: the stages.
if [ -n "$argo_stages" ]; then
	log=$work/console-argo.log
	# (QEMU's multiboot list is comma-separated: the stages go as 0+1.)
	boot argo=1 "va_stages=$(echo "$argo_stages" | tr , +)${VA_PARTS:+ va_parts=$VA_PARTS}" "$log"
	[ "$shell" = 0 ] || exit 0
	for s in $(echo "$argo_stages" | tr , ' '); do
		expect "STAGE$s: PASS"
	done
	expect 'ATEST: END'
	no_warnings
	verdict
fi

# Stage 7: the FLASK hypervisor, enforcing our policy (no built-in one:
# enforcing without a policy would panic).  Besides the stage's own
# checks (xl dmesg), the serial log must show the policy loaded, the two
# AVC denials of the disallowed domain (domU_t) towards the driver domain
# (va_driver_t), and no other AVC message from the whole boot.
if [ $flask = 1 ]; then
	log=$work/console-flask.log
	boot "argo=1 flask=enforcing" "va_stages=7" "$log" "$XEN_FLASK" "$policy"
	[ "$shell" = 0 ] || exit 0
	expect 'Policy len 0x'
	expect 'Flask:  Starting in enforcing mode'
	expect 'STAGE7: PASS'
	expect 'ATEST: END'
	ctx='scontext=system_u:system_r:domU_t tcontext=system_u:system_r:va_driver_t tclass=argo'
	den="avc:  denied  { \\(register_single_source\\|send\\) } for source=d[0-9]* target=d[0-9]* $ctx"
	for p in register_single_source send; do
		expect "avc:  denied  { $p } for source=d[0-9]* target=d[0-9]* $ctx"
	done
	if grep -a 'avc: ' "$log" | grep -av "$den"; then
		echo "run.sh: AVC messages in $log besides the two expected denials (above)"
		failed=1
	fi
	no_warnings
	verdict
fi

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
