/* SPDX-License-Identifier: MIT */
/*
 * Logging (see log.h): stderr lines "ident: message" or syslog, a level
 * filter, and a token-bucket-free rate limiter (fixed windows).
 *
 * Process-wide state is deliberately tiny (ident, level, sink) and only
 * written at start-up or by va_log_set_level; the daemons are
 * single-threaded in the loop, and worker threads only read it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "virtio-argo";
static enum va_log_level log_level = VA_LOG_NOTICE;
static bool log_syslog;

void va_log_init(const char *ident, enum va_log_level level, bool use_syslog)
{
	if (ident) {
		const char *slash = strrchr(ident, '/');

		log_ident = slash ? slash + 1 : ident;
	}
	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void va_log_set_level(enum va_log_level level)
{
	log_level = level;
}

enum va_log_level va_log_get_level(void)
{
	return log_level;
}

static const struct {
	const char *name;
	enum va_log_level level;
} level_names[] = {
	{ "error", VA_LOG_ERR },
	{ "err", VA_LOG_ERR },
	{ "warning", VA_LOG_WARN },
	{ "warn", VA_LOG_WARN },
	{ "notice", VA_LOG_NOTICE },
	{ "info", VA_LOG_INFO },
	{ "debug", VA_LOG_DEBUG },
};

int va_log_parse_level(const char *s, enum va_log_level *ret)
{
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i].name)) {
			*ret = level_names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *level_prefix(enum va_log_level level)
{
	switch (level) {
	case VA_LOG_ERR:	return "error: ";
	case VA_LOG_WARN:	return "warning: ";
	case VA_LOG_NOTICE:	return "";
	case VA_LOG_INFO:	return "";
	case VA_LOG_DEBUG:	return "debug: ";
	}
	return "";
}

static void log_vemit(enum va_log_level level, const char *suffix,
		      const char *fmt, va_list ap)
{
	char buf[1024];
	int n;

	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return;
	if (log_syslog) {
		syslog((int)level, "%s%s", buf, suffix ? suffix : "");
		return;
	}
	/* One fprintf per line so that lines of concurrent writers (worker
	 * threads, several daemons on one terminal) do not interleave. */
	fprintf(stderr, "%s: %s%s%s\n", log_ident, level_prefix(level), buf,
		suffix ? suffix : "");
}

void va_log(enum va_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vemit(level, NULL, fmt, ap);
	va_end(ap);
}

int va_log_errno(enum va_log_level level, int err, const char *fmt, ...)
{
	char suffix[128];
	va_list ap;

	if (level > log_level)
		return err;
	snprintf(suffix, sizeof(suffix), ": %s", strerror(err < 0 ? -err : err));
	va_start(ap, fmt);
	log_vemit(level, suffix, fmt, ap);
	va_end(ap);
	return err;
}

void va_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(VA_LOG_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

uint64_t va_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool va_ratelimit_ok(struct va_ratelimit *rl)
{
	uint64_t now = va_now_ms();

	if (!rl->interval_ms)
		return true;
	if (!rl->begin_ms || now - rl->begin_ms >= rl->interval_ms) {
		if (rl->missed)
			va_log(VA_LOG_WARN, "%u messages suppressed",
			       rl->missed);
		rl->begin_ms = now ? now : 1;
		rl->printed = 0;
		rl->missed = 0;
	}
	if (rl->printed < rl->burst) {
		rl->printed++;
		return true;
	}
	rl->missed++;
	return false;
}
