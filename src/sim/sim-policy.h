/* SPDX-License-Identifier: MIT */
/*
 * The simulator's access policy: its analogue of XSM/Flask.
 *
 * Without a policy file everything is allowed (development default).
 * A policy file denies whatever it does not allow.  One rule per line,
 * '#' starts a comment, fields separated by blanks; DOM is a domid
 * (0..32751) or '*':
 *
 *   allow-send DOM DOM          the two domains may send to each other
 *   allow-send DOM -> DOM       the first may send to the second
 *   attach DOM WHO              who may attach a client to the domain
 *   control WHO                 who may create/destroy/list domains
 *
 * WHO is `uid N`, `user NAME`, `gid N`, `group NAME` (the connecting
 * process's primary group) or `any`.  A domain may always send to itself;
 * root and the simulator's own user may always use control.
 * "send" covers sendv, notify queries and register (the partner must be
 * allowed to send to the ring's owner).
 */
#ifndef VA_SIM_POLICY_H
#define VA_SIM_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define VA_POLICY_MAX_RULES	4096u
#define VA_POLICY_ANY_DOM	0xffffffffu

struct va_policy;

/* NULL path: allow everything.  On a bad file logs "FILE:LINE: what" and
 * returns -EINVAL (-errno if it cannot be read). */
int va_policy_load(const char *path, struct va_policy **ret);
void va_policy_free(struct va_policy *p);

bool va_policy_may_send(const struct va_policy *p, uint16_t from, uint16_t to);
bool va_policy_may_attach(const struct va_policy *p, uint16_t domid, uid_t uid,
			  gid_t gid);
bool va_policy_may_control(const struct va_policy *p, uid_t uid, gid_t gid);

#endif /* VA_SIM_POLICY_H */
