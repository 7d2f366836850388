#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build Xen's FLASK policy with virtio-argo's module (virtio_argo.te):
#   config/flask/build-policy.sh XEN_SOURCE_TREE OUTDIR
# XEN_SOURCE_TREE is an unpacked Xen source package (the one the
# hypervisor was built from: the policy's classes and permissions come
# from its xen/xsm/flask/policy).  Xen's tools/flask/policy is copied into
# OUTDIR, our module added to its modules.conf, and the one rule of Xen's
# guest_features.te that lets every domain type use Argo with every other
# is taken out; Xen's own Makefile.common then runs m4 and Debian's
# checkpolicy.  Writes OUTDIR/xenpolicy-X.Y (X.Y: Xen's version) and
# prints its path.  Needs m4 and checkpolicy.
set -eu
[ $# = 2 ] || { echo "usage: $0 XEN_SOURCE_TREE OUTDIR" >&2; exit 2; }
src=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
for t in checkpolicy m4 make; do
	command -v $t >/dev/null || { echo "build-policy.sh: $t missing" >&2; exit 1; }
done

# Makefile.common finds the hypervisor's classes at
# ../../../xen/xsm/flask/policy: keep that layout in the copy.
tree=$out/policy-src
rm -rf "$tree"
mkdir -p "$tree/tools/flask" "$tree/xen/xsm/flask"
cp -r "$src/tools/flask/policy" "$tree/tools/flask/"
cp -r "$src/xen/xsm/flask/policy" "$tree/xen/xsm/flask/"
pol=$tree/tools/flask/policy

rule='allow domain_type domain_type:argo { send register_single_source };'
gf=$pol/modules/guest_features.te
[ "$(grep -cxF "$rule" "$gf")" = 1 ] ||
	{ echo "build-policy.sh: $gf has no single line '$rule'" >&2; exit 1; }
grep -vxF "$rule" "$gf" >"$gf.new" && mv "$gf.new" "$gf"
cp "$here/virtio_argo.te" "$pol/modules/"
echo 'virtio_argo = on' >>"$pol/modules/modules.conf"

ver=$(sed -n 's/^export XEN_VERSION *= *//p' "$src/xen/Makefile").$(sed -n 's/^export XEN_SUBVERSION *= *//p' "$src/xen/Makefile")
make -s -C "$pol" -f Makefile.common FLASK_BUILD_DIR="$out" XEN_FULLVERSION="$ver" >&2
echo "$out/xenpolicy-$ver"
