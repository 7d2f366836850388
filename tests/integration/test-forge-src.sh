#!/bin/bash
# SPDX-License-Identifier: MIT
# A client of domain 1 that sends with domain 0 as the source is refused by
# the simulator with -EPERM (Xen stamps the source domain; so does the sim).
. "$(dirname "$0")/lib.sh"

va_need "$VA_POKE"
va_start_sim --domains 1
"$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 1 --backend-domid 0 \
	--port "$VA_PORT" forge-src || va_fail "forged source was not refused"
echo PASS
