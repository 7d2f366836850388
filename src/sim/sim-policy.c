/* SPDX-License-Identifier: MIT */
/*
 * The simulator's access policy (format and meaning: sim-policy.h).
 * Rules are kept in arrays in file order and searched linearly: a policy
 * has at most VA_POLICY_MAX_RULES rules and is consulted once per
 * operation.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sim-policy.h"
#include "virtio-argo/argo-ring.h"

enum who_kind { WHO_ANY, WHO_UID, WHO_GID };

struct who {
	enum who_kind kind;
	uint32_t id;
};

enum rule_kind { RULE_SEND, RULE_ATTACH, RULE_CONTROL };

struct rule {
	enum rule_kind kind;
	uint32_t a, b;			/* domids or VA_POLICY_ANY_DOM */
	bool both;			/* send: both directions */
	struct who who;
};

struct va_policy {
	bool allow_all;
	unsigned int n;
	struct rule rules[];
};

static int parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int parse_dom(const char *s, uint32_t *ret)
{
	if (!strcmp(s, "*")) {
		*ret = VA_POLICY_ANY_DOM;
		return 0;
	}
	return parse_u32(s, VA_ARGO_DOMID_MAX, ret);
}

/* Parses WHO from tok[0..n); returns tokens used or -EINVAL. */
static int parse_who(char **tok, int n, struct who *ret)
{
	struct passwd *pw;
	struct group *gr;

	if (n < 1)
		return -EINVAL;
	if (!strcmp(tok[0], "any")) {
		ret->kind = WHO_ANY;
		return 1;
	}
	if (n < 2)
		return -EINVAL;
	if (!strcmp(tok[0], "uid")) {
		ret->kind = WHO_UID;
		return parse_u32(tok[1], UINT32_MAX - 1, &ret->id) ? -EINVAL : 2;
	}
	if (!strcmp(tok[0], "gid")) {
		ret->kind = WHO_GID;
		return parse_u32(tok[1], UINT32_MAX - 1, &ret->id) ? -EINVAL : 2;
	}
	if (!strcmp(tok[0], "user")) {
		pw = getpwnam(tok[1]);
		if (!pw)
			return -ENOENT;
		ret->kind = WHO_UID;
		ret->id = pw->pw_uid;
		return 2;
	}
	if (!strcmp(tok[0], "group")) {
		gr = getgrnam(tok[1]);
		if (!gr)
			return -ENOENT;
		ret->kind = WHO_GID;
		ret->id = gr->gr_gid;
		return 2;
	}
	return -EINVAL;
}

#define MAX_TOK 8

static int parse_line(char *line, struct rule *r, const char **ret_why)
{
	char *tok[MAX_TOK], *save = NULL, *t;
	int n = 0, used;

	for (t = strtok_r(line, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == MAX_TOK) {
			*ret_why = "too many fields";
			return -EINVAL;
		}
		tok[n++] = t;
	}
	if (n == 0)
		return 0;
	if (!strcmp(tok[0], "allow-send")) {
		r->kind = RULE_SEND;
		r->both = true;
		if (n == 4 && !strcmp(tok[2], "->")) {
			r->both = false;
			tok[2] = tok[3];
			n = 3;
		}
		if (n != 3 || parse_dom(tok[1], &r->a) || parse_dom(tok[2], &r->b)) {
			*ret_why = "expected: allow-send DOM DOM | allow-send DOM -> DOM";
			return -EINVAL;
		}
		return 1;
	}
	if (!strcmp(tok[0], "attach")) {
		r->kind = RULE_ATTACH;
		if (n < 3 || parse_dom(tok[1], &r->a)) {
			*ret_why = "expected: attach DOM uid N|user NAME|gid N|group NAME|any";
			return -EINVAL;
		}
		used = parse_who(tok + 2, n - 2, &r->who);
		if (used == -ENOENT) {
			*ret_why = "unknown user or group";
			return -EINVAL;
		}
		if (used < 0 || used != n - 2) {
			*ret_why = "expected: attach DOM uid N|user NAME|gid N|group NAME|any";
			return -EINVAL;
		}
		return 1;
	}
	if (!strcmp(tok[0], "control")) {
		r->kind = RULE_CONTROL;
		used = parse_who(tok + 1, n - 1, &r->who);
		if (used == -ENOENT) {
			*ret_why = "unknown user or group";
			return -EINVAL;
		}
		if (used < 0 || used != n - 1) {
			*ret_why = "expected: control uid N|user NAME|gid N|group NAME|any";
			return -EINVAL;
		}
		return 1;
	}
	*ret_why = "unknown rule (allow-send, attach, control)";
	return -EINVAL;
}

int va_policy_load(const char *path, struct va_policy **ret)
{
	struct va_policy *p;
	char line[1024], *hash;
	unsigned int lineno = 0;
	const char *why;
	FILE *f;
	int err = 0, k;

	p = calloc(1, sizeof(*p) + VA_POLICY_MAX_RULES * sizeof(struct rule));
	if (!p)
		return -ENOMEM;
	if (!path) {
		p->allow_all = true;
		*ret = p;
		return 0;
	}
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		va_err("policy %s: %s", path, strerror(-err));
		free(p);
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			va_err("policy %s:%u: line too long", path, lineno);
			err = -EINVAL;
			break;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (p->n == VA_POLICY_MAX_RULES) {
			va_err("policy %s:%u: more than %u rules", path, lineno,
			       VA_POLICY_MAX_RULES);
			err = -EINVAL;
			break;
		}
		why = "";
		k = parse_line(line, &p->rules[p->n], &why);
		if (k < 0) {
			va_err("policy %s:%u: %s", path, lineno, why);
			err = -EINVAL;
			break;
		}
		p->n += (unsigned int)k;
	}
	if (!err && ferror(f)) {
		va_err("policy %s: read error", path);
		err = -EIO;
	}
	fclose(f);
	if (err) {
		free(p);
		return err;
	}
	*ret = p;
	return 0;
}

void va_policy_free(struct va_policy *p)
{
	free(p);
}

static bool dom_match(uint32_t rule, uint16_t d)
{
	return rule == VA_POLICY_ANY_DOM || rule == d;
}

static bool who_match(const struct who *w, uid_t uid, gid_t gid)
{
	switch (w->kind) {
	case WHO_ANY:
		return true;
	case WHO_UID:
		return w->id == (uint32_t)uid;
	case WHO_GID:
		return w->id == (uint32_t)gid;
	}
	return false;
}

bool va_policy_may_send(const struct va_policy *p, uint16_t from, uint16_t to)
{
	const struct rule *r;
	unsigned int i;

	if (p->allow_all || from == to)
		return true;
	for (i = 0; i < p->n; i++) {
		r = &p->rules[i];
		if (r->kind != RULE_SEND)
			continue;
		if (dom_match(r->a, from) && dom_match(r->b, to))
			return true;
		if (r->both && dom_match(r->a, to) && dom_match(r->b, from))
			return true;
	}
	return false;
}

bool va_policy_may_attach(const struct va_policy *p, uint16_t domid, uid_t uid,
			  gid_t gid)
{
	const struct rule *r;
	unsigned int i;

	if (p->allow_all)
		return true;
	for (i = 0; i < p->n; i++) {
		r = &p->rules[i];
		if (r->kind == RULE_ATTACH && dom_match(r->a, domid) &&
		    who_match(&r->who, uid, gid))
			return true;
	}
	return false;
}

bool va_policy_may_control(const struct va_policy *p, uid_t uid, gid_t gid)
{
	const struct rule *r;
	unsigned int i;

	if (p->allow_all || uid == 0 || uid == geteuid())
		return true;
	for (i = 0; i < p->n; i++) {
		r = &p->rules[i];
		if (r->kind == RULE_CONTROL && who_match(&r->who, uid, gid))
			return true;
	}
	return false;
}
