# SPDX-License-Identifier: MIT
# Shared by the stages in which dom0 is the driver domain of an xl-created
# domU (stage2.sh, stage4.sh, stage5.sh); sourced, after setting
#   STAGE    the stage's name in the markers ("stage2")
#   NAME     the domU's name; its console log is $CONSOLE
#   LOGS     the logs whose tails die() prints (a glob)
# The domU prints "DOMU<run>: ..." markers on its console, which
# xenconsoled writes to $CONSOLE.
CONSOLE=/var/log/xen/console/guest-$NAME.log
# Stages share domU names: what an earlier stage's domain wrote (its
# FAILED marker too, which ends every wait below at once) must not count
# here.  That stage printed its console already (die, or its teardown).
[ ! -e "$CONSOLE" ] || : >"$CONSOLE"

step() { echo "ATEST: $STAGE: $*"; }
die() {
	echo "ATEST: $STAGE: FAILED: $*"
	for f in $LOGS; do
		[ -f "$f" ] || continue
		echo "---- $f (tail) ----"
		tail -n 20 "$f"
	done
	show_console
	xl destroy "$NAME" 2>/dev/null
	# What the stage started must not outlive it: a daemon left with
	# /dev/argo open would make the next stage's rmmod fail.
	command -v stage_cleanup >/dev/null 2>&1 && stage_cleanup
	exit 1
}
show_console() {
	echo "---- domU console ($CONSOLE) ----"
	cat "$CONSOLE" 2>/dev/null
	echo "---- end of the domU console ----"
}
# wait_for SECONDS PATTERN [FILE]: until FILE (default the domU console)
# has a line matching the extended regular expression PATTERN (carriage
# returns ignored: a tty's output has them); a FAILED marker from the domU
# ends the wait at once.
wait_for() {
	wait_grep -E "$@"
}
# wait_text SECONDS TEXT [FILE]: the same for a line holding TEXT as it is.
wait_text() {
	wait_grep -F "$@"
}
# wait_grep -E|-F SECONDS PATTERN [FILE]; a stage with other domUs sets
# FAILED (their failure marker, a basic regular expression) and FAILED_IN
# (their console logs) before waiting.
wait_grep() {
	mode=$1
	shift
	i=0
	while ! tr -d '\r' <"${3:-$CONSOLE}" 2>/dev/null | grep -q $mode -e "$2"; do
		grep -q "${FAILED:-DOMU[0-9a-z]*: FAILED}" ${FAILED_IN:-"$CONSOLE"} \
			2>/dev/null && die "a domU failed"
		i=$((i + 1))
		[ $i -lt $(($1 * 5)) ] || die "no '$2' within $1 s"
		sleep 0.2
	done
}
# start_bg NAME LOG COMMAND...: a daemon in the background, its output
# in LOG; pid in $pid.
start_bg() {
	n=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 &
	pid=$!
	sleep 0.2
	kill -0 $pid 2>/dev/null || die "$n did not start"
}
# kill_hard PID...: end daemons whatever their state (frozen ones too).
kill_hard() {
	for p in "$@"; do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
}
# stop_clean NAME PID: SIGTERM, and the daemon must exit with 0.
stop_clean() {
	kill -TERM "$2"
	wait "$2"
	rc=$?
	[ $rc = 0 ] || die "$1 exited with $rc after SIGTERM"
}
# domid_of NAME
domid_of() {
	xl domid "$1" 2>/dev/null
}
# wait_file SECONDS FILE
wait_file() {
	i=0
	until [ -e "$2" ]; do
		i=$((i + 1))
		[ $i -lt $(($1 * 5)) ] || die "no $2 within $1 s"
		sleep 0.2
	done
}
# wait_gone SECONDS [DOMAIN]: until the domU (default $NAME) has powered off.
wait_gone() {
	i=0
	while xl list "${2:-$NAME}" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt $(($1 * 5)) ] || die "${2:-$NAME} did not power off"
		sleep 0.2
	done
}
# toolstack_up: Xen's back-end modules, xenfs, xenstored, xen-init-dom0
# and xenconsoled; a second call in the same boot (stage 2 then 4) finds
# them running and does nothing.
toolstack_up() {
	if [ -f /var/run/xenstored.pid ] &&
	   kill -0 "$(cat /var/run/xenstored.pid)" 2>/dev/null; then
		step "xenstored, xenconsoled already up"
		return
	fi
	for m in $(cat /modules/order.xen); do
		[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
			insmod "/modules/$m" || die "insmod $m"
	done
	mkdir -p /proc/xen /dev/pts /var/run/xen /var/run/xenstored /var/lib/xen \
		/var/lib/xenstored /var/log/xen/console /var/lock /etc/xen
	mount -t xenfs xenfs /proc/xen || die "mount xenfs"
	mount -t devpts devpts /dev/pts || die "mount devpts"
	: >/etc/xen/xl.conf
	xenstored --pid-file /var/run/xenstored.pid >/tmp/xenstored.log 2>&1 ||
		die "xenstored"
	xen-init-dom0 >/tmp/xen-init-dom0.log 2>&1 || die "xen-init-dom0"
	xenconsoled --log=guest --log-dir=/var/log/xen/console \
		>/tmp/xenconsoled.log 2>&1 || die "xenconsoled"
	step "xenstored, xenconsoled up; dom0 is $(xenstore-read /local/domain/0/name)"
}
