#!/bin/bash
# SPDX-License-Identifier: MIT
# The guest distrusts the device: a fake device (argo-poke evil-device)
# precedes correct answers with bad records (unknown id, wrong queue,
# oversize written, length mismatch, wrong source port, unasked control
# reply).  A few are dropped and counted and every request still completes
# correctly; many mark the device broken and the run fails.  A device that
# seems to restart in the middle of the guest's first negotiation (stale
# SET_VQUEUE replies) gets the negotiation retried, with nothing leaked
# (LeakSanitizer in the sanitizer build checks the queues' slot arrays).
# A DEVICE_INFO with a ring length below VA_RING_LEN_MIN is refused.
. "$(dirname "$0")/lib.sh"

va_need "$VA_GUEST" "$VA_POKE"
va_start_sim --domains 1

va_bg evil1 "$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 0 \
	--backend-domid 1 --port "$VA_PORT" --bad 12 evil-device
evil=$VA_PID
va_grep "$VA_TMP/evil1.log" 'serving' || va_fail "evil device did not start"

va_guest test-echo --count 40 --size 64 --qd 1 --verify >"$VA_TMP/few.out" 2>&1
rc=$?
cat "$VA_TMP/few.out"
[ $rc = 0 ] || va_fail "bad records below the limit broke the run"
grep -q 'PASS: 40/40 ok, 0 errors, 0 mismatches' "$VA_TMP/few.out" || va_fail "no PASS line"
grep -q 'violations 10, stray 2,' "$VA_TMP/few.out" ||
	va_fail "expected 10 violations and 2 stray records"

va_kill9 "$evil"
va_bg evil2 "$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 0 \
	--backend-domid 1 --port "$VA_PORT" --bad 1000 evil-device
evil=$VA_PID
va_grep "$VA_TMP/evil2.log" 'serving' || va_fail "evil device did not start"

va_guest test-echo --count 40 --size 64 --qd 1 --verify >"$VA_TMP/many.out" 2>&1
rc=$?
cat "$VA_TMP/many.out"
[ $rc = 1 ] || va_fail "a persistently misbehaving device did not fail the run (rc $rc)"
grep -q 'broken' "$VA_TMP/many.out" || va_fail "the device was not marked broken"

va_kill9 "$evil"
va_bg evil3 "$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 0 \
	--backend-domid 1 --port "$VA_PORT" --stale 3 evil-device
evil=$VA_PID
va_grep "$VA_TMP/evil3.log" 'serving' || va_fail "evil device did not start"

va_guest test-echo --count 20 --size 64 --qd 1 --verify >"$VA_TMP/stale.out" 2>&1
rc=$?
cat "$VA_TMP/stale.out"
[ $rc = 0 ] || va_fail "a first negotiation retried after stale replies failed (rc $rc)"
grep -q 'PASS: 20/20 ok, 0 errors, 0 mismatches' "$VA_TMP/stale.out" || va_fail "no PASS line"

# A DEVICE_INFO announcing a ring Xen would register (4016 bytes: a
# multiple of 16) but below the protocol's VA_RING_LEN_MIN is refused
# (protocol.md 10, virtio-argo/wire.h), not negotiated with.
va_kill9 "$evil"
va_bg evil4 "$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 0 \
	--backend-domid 1 --port "$VA_PORT" --info-ring-len 4016 evil-device
va_grep "$VA_TMP/evil4.log" 'serving' || va_fail "evil device did not start"
va_guest info >"$VA_TMP/ring.out" 2>&1
rc=$?
cat "$VA_TMP/ring.out"
[ $rc != 0 ] || va_fail "a DEVICE_INFO with a 4016-byte ring was accepted"
! grep -q '^ring_len .*device 4016' "$VA_TMP/ring.out" ||
	va_fail "the guest went on with a 4016-byte device ring"
grep -q 'device_ring_len not a valid ring length' "$VA_TMP/ring.out" ||
	va_fail "the refusal does not name device_ring_len"
echo PASS
