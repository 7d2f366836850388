#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 5 (inside dom0, the driver domain): the stock virtio_console of an
# xl-created PV domU, served by virtio-argo-consoled in dom0.  consoled
# starts with --domain before the domain exists: the console on a Unix
# socket (--socket), a named port "data" on another (--extra-port), a copy
# of the console's output in a file (--log).  A client of the data port
# connects before the domain exists too, so that the port is open on the
# host's side when the guest's driver adds it.  The domU
# (tests/system/domU/console.sh, va_run=console) loads virtio_argo and
# virtio_console and runs a shell on the virtio console's hvc.  Through
# the console socket dom0 has that shell
#  - evaluate $((6*7)) and uname -r (the output must show 42 and dom0's
#    kernel release, which the domU shares);
#  - read 16 MiB from /dev/virtio-ports/data, which dom0 sent before the
#    guest opened the port (consoled holds it until then), and print its
#    sha256: equal to that of the file dom0 sent;
#  - write a 16 MiB random file to the port and print its sha256: equal
#    to that of what dom0 received.
# Then dom0 SIGKILLs consoled and starts it again with the same options:
# the guest's transport renegotiates, but the stock virtio_console never
# sends DEVICE_READY (nor PORT_OPEN for its console) again, so only the
# state the new consoled restores from its state file (protocol.md 11.4)
# lets the shell hear dom0 again.  Through the new consoled's socket dom0
# has the shell
#  - evaluate $((6*7+1)) (the output must show 43);
#  - exit, upon which the domU checks its transport's counters, unloads
#    and powers off.
# Then consoled stops on SIGTERM with exit 0, its --log holds the shell's
# output from before and after the restart, and neither consoled's log
# shows a warning or error.
# Exit 0 when every step passed; the first failure ends it.
PORT=0x5641c000
NAME=va-cons
STAGE=stage5
MIB16=16777216
LOGS="/tmp/consoled.log /tmp/consoled2.log /tmp/con.out /tmp/con2.out /tmp/con-io.log /tmp/data-io.log /tmp/xl5*.log"
. /lib.sh
stage_cleanup() {
	for p in ${con_io:-} ${data_io:-} ${consoled:-}; do
		kill -KILL $p 2>/dev/null
	done
}
# sha FILE: its sha256.
sha() {
	sha256sum <"$1" | cut -d' ' -f1
}

toolstack_up
[ -d /sys/module/virtio_argo_core ] || insmod /modules/virtio_argo_core.ko ||
	die "insmod virtio_argo_core"

# start_consoled LOG: consoled (the same options each time); its pid in
# $consoled once both sockets are there.
start_consoled() {
	rm -f /tmp/con.sock /tmp/data.sock
	virtio-argo-consoled --transport xen --domain $NAME --port $PORT \
		--socket /tmp/con.sock --extra-port data=socket:/tmp/data.sock \
		--log /tmp/con.log --log-level info >"$1" 2>&1 &
	consoled=$!
	i=0
	until [ -S /tmp/con.sock ] && [ -S /tmp/data.sock ]; do
		kill -0 $consoled 2>/dev/null || die "consoled exited"
		i=$((i + 1))
		[ $i -lt 50 ] || die "consoled has no sockets within 10 s"
		sleep 0.2
	done
}

rm -f /tmp/con.log
start_consoled /tmp/consoled.log
step "consoled waiting for domain $NAME"

# The data port's far end in dom0, connected before the domain exists:
# it sends to.guest and receives the guest's 16 MiB into from.guest.
head -c $MIB16 /dev/urandom >/tmp/to.guest
console-io --connect /tmp/data.sock --send /tmp/to.guest --recv $MIB16 \
	--out /tmp/from.guest 2>/tmp/data-io.log &
data_io=$!
wait_for 10 'port data: client connected' /tmp/consoled.log

xl create /etc/xen/guest.cfg "name=\"$NAME\"" 'extra="console=hvc0 va_run=console"' \
	>/tmp/xl5-create.log 2>&1 || die "xl create"
id=$(xl domid $NAME 2>/dev/null)
[ -n "$id" ] || die "xl domid $NAME: no domain after xl create"
step "xl create: $NAME is dom$id"
wait_for 120 'DOMUconsole: shell on hvc[0-9]'
grep -q "domain $NAME is dom$id" /tmp/consoled.log || die "consoled did not follow $NAME"
step "$(grep -o 'shell on hvc[0-9]*.*' "$CONSOLE" | tr -d '\r')"

# The commands, all at once: the guest's tty holds what the shell has not
# read yet.  Each output line to match differs from the command's echo.
cat >/tmp/cmds <<'CMDS'
echo VA-CONSOLE-$((6*7)); echo KVER=$(uname -r)
head -c 16777216 </dev/virtio-ports/data >/tmp/in; echo "IN $(sha256sum </tmp/in)"
head -c 16777216 /dev/urandom >/tmp/out; echo "OUT $(sha256sum </tmp/out)"; cat /tmp/out >/dev/virtio-ports/data; echo SENT-$?
CMDS
console-io --connect /tmp/con.sock --send /tmp/cmds --out /tmp/con.out \
	2>/tmp/con-io.log &
con_io=$!
wait_for 60 '^VA-CONSOLE-42$' /tmp/con.out
wait_for 10 "^KVER=$(uname -r)\$" /tmp/con.out
step "through the console: \$((6*7)) is 42, uname -r is $(uname -r)"

wait_for 300 '^IN [0-9a-f]{64}' /tmp/con.out
want=$(sha /tmp/to.guest)
got=$(tr -d '\r' </tmp/con.out | sed -n 's/^IN \([0-9a-f]*\).*/\1/p')
[ "$got" = "$want" ] || die "dom0 sent $want, the guest read $got"
step "16 MiB dom0 -> /dev/virtio-ports/data, sent before the guest opened it: sha256 equal"

wait_for 300 '^SENT-' /tmp/con.out
wait_for 10 '^SENT-0$' /tmp/con.out
wait $data_io || die "the data port's client: $(cat /tmp/data-io.log)"
data_io=
want=$(tr -d '\r' </tmp/con.out | sed -n 's/^OUT \([0-9a-f]*\).*/\1/p')
got=$(sha /tmp/from.guest)
[ -n "$want" ] && [ "$got" = "$want" ] ||
	die "the guest wrote '$want', dom0 received $got"
step "16 MiB /dev/virtio-ports/data -> dom0: sha256 equal"

# consoled killed and started again; the shell waits for its next line.
kill -USR1 $consoled
wait_for 10 'control: in' /tmp/consoled.log
grep -E 'port [01] |control:' /tmp/consoled.log
kill -KILL $consoled
wait $consoled 2>/dev/null
wait $con_io 2>/dev/null
con_io=
start_consoled /tmp/consoled2.log
wait_for 60 'restored: 2 port\(s\), ready 0x3' /tmp/consoled2.log
step "consoled SIGKILLed and started again: $(grep -o 'restored: .*' /tmp/consoled2.log)"
printf '%s\n' 'echo VA-AFTER-$((6*7+1))' exit >/tmp/cmds2
console-io --connect /tmp/con.sock --send /tmp/cmds2 --out /tmp/con2.out \
	2>/tmp/con-io2.log &
con_io=$!
wait_for 60 '^VA-AFTER-43$' /tmp/con2.out
step "through the console after the restart: \$((6*7+1)) is 43"

# exit: the shell ends, the domU checks and unloads its transport.
wait_for 60 'DOMUconsole: PASS'
wait_gone 30
step "the guest's shell exited, the domU unloaded cleanly and powered off"

kill -TERM $con_io
wait $con_io
con_io=
kill -TERM $consoled
wait $consoled
rc=$?
consoled=
[ $rc = 0 ] || die "consoled exited with $rc after SIGTERM"
grep -E 'port [01] |control:' /tmp/consoled2.log
tr -d '\r' </tmp/con.log | grep -q '^VA-CONSOLE-42$' ||
	die "consoled's --log lacks the shell's output"
tr -d '\r' </tmp/con.log | grep -q '^VA-AFTER-43$' ||
	die "consoled's --log lacks the shell's output after the restart"
grep -i 'error\|warning\|protocol violation' /tmp/consoled.log /tmp/consoled2.log &&
	die "consoled logged trouble"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
show_console
step "teardown clean: consoled exited 0, its --log holds the console's output"
exit 0
