#!/bin/bash
# SPDX-License-Identifier: MIT
# A guest that negotiates, sends READs of 1 MiB and never reads its ring
# (audit finding 1).  The device must keep each request's place in its
# queue until the answer is sent, and stop reading its own ring while the
# answers wait, so blkd's memory stays bounded by about a queue of answers
# plus a ring's worth of replies, however many requests the guest sends.
# Then the daemon serves the next guest as if nothing had happened.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

va_start_sim
img=$VA_TMP/disk.img
truncate -s 64M "$img"
va_start_blkd blkd "$img"
before=$(rss_kib "$VA_BLKD_PID")

# 256 READs of 1 MiB with queue size 16: before the bound, blkd held every
# answer (256 MiB and more); now at most 16 answers and the replies of
# what it read before it stopped reading.
va_bg poke "$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 1 \
	--backend-domid 0 --port "$VA_BLK_PORT" --queue-size 16 --count 256 \
	--hold 30 stalled-reader
poke=$VA_PID
va_grep "$VA_TMP/poke.log" 'holding' 60 || va_fail "the stalled reader did not get to flood"
cat "$VA_TMP/poke.log"
grep -q 'blk: dom1: .* not reading until they drain' "$VA_TMP/blkd.log" ||
	va_fail "blkd did not stop reading its ring"
# The guest's own sends waited: blkd's ring stayed full.
grep -q 'status requests: the device stopped reading' "$VA_TMP/poke.log" ||
	va_fail "blkd went on reading a guest that does not read"
after=$(rss_kib "$VA_BLKD_PID")
grow=$(( (after - before) / 1024 ))
echo "blkd RSS: ${before} KiB before, ${after} KiB with the stalled guest (+${grow} MiB)"
# 16 answers of 1 MiB, a 4 MiB ring of replies, allocator slack.
[ "$grow" -le 48 ] || va_fail "blkd grew by $grow MiB for a guest that does not read"
va_alive "$VA_BLKD_PID" || va_fail "blkd died"

# The stalled guest goes away: its answers are dropped with its ring, and
# the next driver is served.
kill -TERM "$poke"
va_wait_exit "$poke" 40
va_blk bench --rw randread --iodepth 8 --runtime 0.5 >"$VA_TMP/bench.json" ||
	va_fail "the next guest was not served: $(cat "$VA_TMP/bench.json")"
grep -q '"errors": 0' "$VA_TMP/bench.json" || va_fail "errors after the stalled guest"
va_stop "$VA_BLKD_PID"
grep -q 'throttled [1-9]' "$VA_TMP/blkd.log" || va_fail "blkd's statistics do not show the pause"
echo PASS
