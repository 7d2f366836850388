#!/bin/sh
# SPDX-License-Identifier: MIT
# The integration scripts' waits poll a live condition.  va_wait TIMEOUT
# CMD... runs CMD again and again, but CMD's arguments were expanded once,
# by the caller: `va_wait 10 test "$(grep -c x log)" -ge 1` polls the
# count read before the wait began, so it passes only if the event had
# already happened, and otherwise waits out its timeout and fails.  A
# condition must read inside CMD: a function (lib.sh's va_lines) or
# eval '...' in single quotes.  Fails on each va_wait call (in the *.sh
# files of the directories given) whose arguments, outside single quotes,
# hold a command substitution: $(...) (not $((...)) arithmetic) or `...`,
# up to the first || or && (what runs after the wait is not polled).
# Usage: test-wait-conditions.sh DIR...
set -u
[ $# -gt 0 ] || { echo "usage: $0 DIR..."; exit 2; }
calls=0
bad=0
for d in "$@"; do
	for f in "$d"/*.sh; do
		[ -r "$f" ] || { echo "FAIL: no readable *.sh in $d"; bad=1; continue; }
		out=$(awk -v f="$f" '
			/(^|[^_[:alnum:]])va_wait[ \t]/ {
				calls++
				s = $0
				gsub(/\047[^\047]*\047/, "", s)
				# what follows the condition (|| va_fail "...") runs
				# once anyway
				sub(/[ \t](\|\||&&)[ \t].*/, "", s)
				if (s ~ /\$\([^(]|\$\($|`/) {
					print "FAIL: " f ":" NR ": " $0
					bad++
				}
			}
			END { print "calls " calls + 0 " bad " bad + 0 }' "$f")
		echo "$out" | grep '^FAIL: '
		c=$(echo "$out" | sed -n 's/^calls \([0-9]*\) bad \([0-9]*\)$/\1 \2/p')
		calls=$((calls + ${c% *}))
		[ "${c#* }" = 0 ] || bad=1
	done
done
[ "$calls" -gt 0 ] || { echo "FAIL: no va_wait call found in $*"; exit 1; }
if [ "$bad" != 0 ]; then
	echo "(a condition in \"\$(...)\" is read once, before the wait: see $0)"
	exit 1
fi
echo "ok: $calls va_wait calls poll live conditions"
