#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-argo-netd's control queue, hostile input and restart, between a
# guest and a driver namespace (net-lib.sh); one queue pair in use:
#  - the receive filter: frames from the driver side to a foreign unicast
#    address, to a multicast address the guest did not join, and to one
#    it joined (33:33:00:00:00:01) reach the guest or not as the control
#    queue says (the guest tool sends vag0's PROMISC, ALLMULTI and
#    multicast list on SIGHUP): all of them in the reset state
#    (promiscuous), only the joined one with promisc off, all with
#    promisc on, the multicast ones with allmulti; netd counts the rest;
#  - a malformed vnet header, an oversized frame and an unknown control
#    command from the guest (its SIGUSR2 hook): counted by netd as such,
#    refused on the control queue, and pings still pass;
#  - netd SIGKILLed during a 256 MiB TCP transfer and started again: the
#    transfer completes with the same sha256, the guest renegotiated and
#    acknowledged the new netd's ANNOUNCE; the guest, as Linux's
#    virtio_net, does not send its receive mode again, yet the new netd
#    filters as the old one did (promisc off: only the joined multicast
#    address passes), restored from the state file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net-lib.sh"

net_setup
netd_start netd --queues 2 --mtu 1500
guest_start guest --queues 1
pings "$gns" $D4
pings "$gns" $D6

FOREIGN=02:00:00:00:99:99 UNJOINED=01:00:5e:7f:00:99 JOINED=33:33:00:00:00:01
n_ex=0
# exchange F U J: send 20, 20, 5 frames to the three addresses from the
# driver side and check how many of each the guest sees.
exchange() {
	n_ex=$((n_ex + 1))
	rm -f "$VA_TMP/sniff.ready"
	va_bg "sniff-$n_ex" ip netns exec "$gns" python3 "$NET_XFER" sniff vag0 \
		0x88b5 "$VA_TMP/sniff.ready"
	local spid=$VA_PID log=$VA_TMP/sniff-$n_ex.log
	va_wait 10 test -e "$VA_TMP/sniff.ready" || va_fail "sniffer not ready"
	D python3 "$NET_XFER" frames vad0 0x88b5 $FOREIGN=20 $UNJOINED=20 \
		$JOINED=5 $NET_MAC || va_fail "cannot send frames"
	va_wait_exit "$spid" 30
	[ "$VA_RC" = 0 ] || va_fail "sniffer failed"
	local got="$(grep -c . "$log")"
	echo "exchange $n_ex: $(tr '\n' ' ' <"$log")"
	[ "$(sed -n "s/^$FOREIGN //p" "$log")" = "$1" ] || va_fail "exchange $n_ex: foreign unicast: expected $1"
	[ "$(sed -n "s/^$UNJOINED //p" "$log")" = "$2" ] || va_fail "exchange $n_ex: unjoined multicast: expected $2"
	[ "$(sed -n "s/^$JOINED //p" "$log")" = "$3" ] || va_fail "exchange $n_ex: joined multicast: expected $3"
}
# rx_mode PROMISC ALLMULTI: set vag0's flags, SIGHUP the guest tool, wait
# for netd to log the MAC table that follows them.
n_mode=0
rx_mode() {
	G ip link set vag0 promisc "$1" allmulticast "$2" || va_fail "ip link set vag0"
	n_mode=$((n_mode + 1))
	kill -HUP "$GUEST_PID"
	va_wait 10 va_lines "$NETD_LOG" 'receive mode 1/0: ' "$n_mode" ||
		va_fail "no MAC table at netd after SIGHUP"
	grep 'receive mode 1/0: ' "$NETD_LOG" | tail -n 1 |
		grep -q "promisc $([ "$1" = on ] && echo 1 || echo 0) allmulti $([ "$2" = on ] && echo 1 || echo 0) uc 0 mc [1-9]" ||
		va_fail "netd's filter is not promisc $1 allmulti $2 with a multicast list"
}

# ---- filters ----
exchange 20 20 5
rx_mode off off
exchange "" "" 5
rx_mode on off
exchange 20 20 5
rx_mode off on
exchange "" 20 5
rx_mode off off
pings "$gns" $D4
pings "$gns" $D6
stats "$NETD_PID" "$NETD_LOG"
[ "$(counter "$NETD_LOG" "net: pair 0" rx_filtered)" -ge 60 ] ||
	va_fail "netd did not count the filtered frames"
echo "filters: promisc, allmulti and the multicast table applied by netd"

# ---- hostile input from the guest ----
kill -USR2 "$GUEST_PID"
va_grep "$GUEST_LOG" 'injected a bad header' || va_fail "no injection"
va_wait 30 sh -c "kill -USR1 $NETD_PID; sleep 0.2; grep 'net: total:' $NETD_LOG | tail -n 1 | grep -q 'ctrl_err 1 '" ||
	va_fail "netd did not refuse the bad control command"
stats "$NETD_PID" "$NETD_LOG"
[ "$(counter "$NETD_LOG" "net: pair 0" tx_bad_hdr)" = 1 ] || va_fail "bad header not counted"
[ "$(counter "$NETD_LOG" "net: pair 0" tx_oversize)" = 1 ] || va_fail "oversized frame not counted"
stats "$GUEST_PID" "$GUEST_LOG" 'net vag0: total:'
[ "$(counter "$GUEST_LOG" 'net vag0: total' ctrl_errors)" = 1 ] ||
	va_fail "the guest did not see its bad command refused"
pings "$gns" $D4
pings "$dns" $G4
echo "hostile: dropped, counted, traffic continues"

# ---- netd SIGKILLed and restarted during a transfer ----
head -c 256M /dev/urandom >"$VA_TMP/data" || va_fail "no room for the data file"
port=$((20000 + RANDOM % 20000))
va_bg recv-restart ip netns exec "$dns" python3 "$NET_XFER" recv $D4 $port \
	"$VA_TMP/restart.out" "$VA_TMP/restart.ready"
rpid=$VA_PID
va_wait 10 test -e "$VA_TMP/restart.ready" || va_fail "receiver not ready"
va_bg send-restart ip netns exec "$gns" python3 "$NET_XFER" send $D4 $port \
	"$VA_TMP/data" $((32 << 20)) "$VA_TMP/restart.mark"
spid=$VA_PID
va_wait 60 test -e "$VA_TMP/restart.mark" || va_fail "transfer did not start"
va_kill9 "$NETD_PID"
got=$(stat -c %s "$VA_TMP/restart.out")
echo "netd killed after $got bytes received"
[ "$got" -lt $((256 << 20)) ] || va_fail "the transfer ended before netd was killed"
netd_start netd2 --queues 2 --mtu 1500
va_wait_exit "$spid" 300
[ "$VA_RC" = 0 ] || va_fail "the sender failed across the restart"
va_wait_exit "$rpid" 60
[ "$VA_RC" = 0 ] || va_fail "the receiver failed across the restart"
[ "$(sha256sum <"$VA_TMP/data")" = "$(sha256sum <"$VA_TMP/restart.out")" ] ||
	va_fail "restart: sha256 differs"
rm -f "$VA_TMP/data" "$VA_TMP/restart.out"
va_grep "$NETD_LOG" 'announce acknowledged' || va_fail "the new netd's ANNOUNCE was not acknowledged"
stats "$GUEST_PID" "$GUEST_LOG" 'net vag0: total:'
[ "$(counter "$GUEST_LOG" 'net vag0: total' renegotiations)" -ge 1 ] ||
	va_fail "the guest did not renegotiate"
[ "$(counter "$GUEST_LOG" 'net vag0: total' announces)" -ge 2 ] ||
	va_fail "the guest did not see the second ANNOUNCE"
[ "$(counter "$GUEST_LOG" 'net vag0: total' violations)" = 0 ] || va_fail "violations"
pings "$gns" $D4
va_grep "$NETD_LOG" 'net: restored: 1 queue pair(s), promisc 0 allmulti 0 uc 0 mc [1-9]' ||
	va_fail "netd2 did not restore the receive filter"
exchange "" "" 5
echo "restart: the TCP transfer survived, the guest announced itself, the filter is kept"
va_stop "$GUEST_PID"
echo PASS
