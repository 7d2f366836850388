#!/bin/bash
# SPDX-License-Identifier: MIT
# The simulator's policy (its XSM): a client may attach only to domains the
# policy lets its user attach to, and a guest may talk only to the backend
# domains the policy allows.  The allowed guest still works.
. "$(dirname "$0")/lib.sh"

va_need "$VA_GUEST" "$VA_TESTD"
uid=$(id -u)
cat >"$VA_TMP/policy" <<EOP
# backend dom0 serves guest dom1 only
allow-send 0 1
attach 0 uid $uid
attach 1 uid $uid
attach 3 uid $uid
EOP
va_start_sim --policy "$VA_TMP/policy" --domains 1,2,3
va_start_testd testd

va_guest --self-domid 1 test-echo --count 500 --size 256 --qd 8 --verify \
	>"$VA_TMP/ok.out" 2>&1 || { cat "$VA_TMP/ok.out"; va_fail "allowed guest failed"; }
cat "$VA_TMP/ok.out"

# Domain 2: attaching is not allowed for us.
va_guest --self-domid 2 info >"$VA_TMP/attach.out" 2>&1
rc=$?
cat "$VA_TMP/attach.out"
[ $rc = 1 ] || va_fail "attach to a forbidden domain: rc $rc, expected 1"
grep -q 'cannot attach' "$VA_TMP/attach.out" || va_fail "attach was not the refusal"

# Domain 3: may attach, may not talk to dom0.
va_guest --self-domid 3 --timeout 2 info >"$VA_TMP/send.out" 2>&1
rc=$?
cat "$VA_TMP/send.out"
[ $rc = 1 ] || va_fail "talking to a forbidden backend: rc $rc, expected 1"
grep -q 'Operation not permitted\|Permission denied' "$VA_TMP/send.out" ||
	va_fail "the refusal was not a permission error"

va_alive "$VA_TESTD_PID" || va_fail "testd died"
echo PASS
