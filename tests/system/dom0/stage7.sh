#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 7 (inside dom0, in a boot of its own): Xen with XSM/FLASK,
# enforcing our policy (config/flask/: Argo only between va_driver_t and
# va_guest_t).  dom0 creates three small PV domUs (tests/system/domU/
# flask.cfg, their init tests/system/domU/flask.sh), each with a seclabel:
#   va-fdrv    va_driver_t  echoes every message of its guest (serve)
#   va-fguest  va_guest_t   two rounds of 16 messages to the driver, each
#                           echoed back (ping)
#   va-fother  domU_t       Xen's own guest type, no Argo in our policy:
#                           registering a ring with the driver domain as
#                           partner and sending to it must both fail with
#                           exactly -EACCES (deny)
# The order: the driver serves, the guest's first round, the other
# domain's attempts, the guest's second round (the driver kept serving).
# Then Xen's console (xl dmesg) must hold the AVC denial of each attempt
# (scontext domU_t, tcontext va_driver_t, tclass argo) and Argo's "XSM
# REJECTED" line for the send, and no other denial; the driver must have
# echoed exactly the guest's 32 messages and nothing from elsewhere
# (va-flask-peer serve fails on a message from another source).
# run.sh checks the whole serial log for denials once more.
# Exit 0 when every step passed; the first failure ends it.
NAME=va-fdrv
STAGE=stage7
LOGS="/tmp/xl7-*.log"
. /lib.sh
CON_D=/var/log/xen/console/guest-va-fdrv.log
CON_G=/var/log/xen/console/guest-va-fguest.log
CON_O=/var/log/xen/console/guest-va-fother.log
# Any of the three domains' FAILED markers ends a wait at once.
FAILED='FLASK-[a-z]*: FAILED'
FAILED_IN="$CON_D $CON_G $CON_O"
stage_cleanup() {
	for n in va-fguest va-fother; do
		echo "---- $n console ----"
		cat /var/log/xen/console/guest-$n.log 2>/dev/null
		xl destroy $n 2>/dev/null
	done
}
# create NAME PART LABEL: xl create with that name, va_flask=PART and
# seclabel system_u:system_r:LABEL; the domid in $id.
create() {
	xl create /etc/xen/flask.cfg "name=\"$1\"" "extra=\"console=hvc0 va_flask=$2\"" \
		"seclabel=\"system_u:system_r:$3\"" >/tmp/xl7-$1.log 2>&1 ||
		die "xl create $1 ($3)"
	id=$(domid_of $1)
	[ -n "$id" ] || die "xl domid $1: no domain after xl create"
	label=$(xl list -Z $1 | awk 'NR == 2 { print $NF }')
	[ "$label" = "system_u:system_r:$3" ] ||
		die "$1 is labelled '$label', not system_u:system_r:$3"
	step "$1 is dom$id, labelled $label"
}

t0=$(cut -d. -f1 /proc/uptime)
toolstack_up
# (xl getenforce exits with the mode: 1 when enforcing.)
mode=$(xl getenforce 2>&1)
[ "$mode" = Enforcing ] || die "FLASK is '$mode', not Enforcing"
step "FLASK enforcing"
# Ours is the only policy this Xen has (no built-in one): these types
# exist only in it.
xl list -Z 0 | grep -q 'system_u:system_r:dom0_t' || die "dom0 is not dom0_t"

create va-fdrv driver va_driver_t
drv=$id
create va-fguest guest va_guest_t
gst=$id
create va-fother other domU_t
oth=$id

xenstore-write /local/domain/$drv/data/va-peer $gst || die "xenstore-write"
wait_text 60 "serving dom$gst" $CON_D
step "the driver domain (dom$drv) serves dom$gst"
xenstore-write /local/domain/$gst/data/va-peer $drv || die "xenstore-write"
wait_text 60 "round 1: 16 echoes from dom$drv" $CON_G
step "the guest (dom$gst): round 1, 16 messages echoed by the driver domain"

xenstore-write /local/domain/$oth/data/va-peer $drv || die "xenstore-write"
wait_text 60 'FLASK-other: PASS' $CON_O
grep -q "register towards dom$drv: -EACCES" $CON_O &&
	grep -q "sendv to dom$drv: -EACCES" $CON_O ||
	die "dom$oth's refusals not both -EACCES"
step "dom$oth (domU_t): register towards dom$drv and sendv to it: -EACCES"

xenstore-write /local/domain/$gst/data/va-round 2 || die "xenstore-write"
wait_text 60 "round 2: 16 echoes from dom$drv" $CON_G
wait_text 60 'FLASK-guest: PASS' $CON_G
wait_text 60 'FLASK-driver: PASS' $CON_D
grep -q "PASS: echoed 32 messages, all from dom$gst" $CON_D ||
	die "the driver domain did not echo exactly the guest's 32 messages"
grep -qw "dom$oth" $CON_D && die "the driver domain's log mentions dom$oth"
step "the driver domain kept serving: 32 messages echoed, all from dom$gst, nothing from dom$oth"

# Xen's console: the two denials, the send's rejection, nothing else.
xl dmesg >/tmp/xl7-dmesg.log 2>&1 || die "xl dmesg"
ctx="scontext=system_u:system_r:domU_t tcontext=system_u:system_r:va_driver_t tclass=argo"
for p in register_single_source send; do
	grep -q "avc:  denied  { $p } for source=d$oth target=d$drv $ctx" /tmp/xl7-dmesg.log ||
		die "no AVC denial of $p from d$oth to d$drv in xl dmesg"
done
grep -q "d${oth}v0 argo: XSM REJECTED $oth -> $drv" /tmp/xl7-dmesg.log ||
	die "no 'argo: XSM REJECTED $oth -> $drv' in xl dmesg"
if grep 'avc: ' /tmp/xl7-dmesg.log |
   grep -v "avc:  denied  { \(register_single_source\|send\) } for source=d$oth target=d$drv $ctx"; then
	die "other AVC messages in xl dmesg (above)"
fi
step "xl dmesg: the AVC denials of register_single_source and send, d$oth -> d$drv, and no other"

for n in va-fdrv va-fguest va-fother; do
	NAME=$n wait_gone 30
	echo "---- $n console ----"
	cat /var/log/xen/console/guest-$n.log
done
step "done in $(($(cut -d. -f1 /proc/uptime) - t0)) s"
exit 0
