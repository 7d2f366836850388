/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemons and tools: one API with syslog levels, to stderr
 * (default) or syslog.  The library logs only at debug level except for
 * what an operator must see (a device broken by its peer, a ring lost).
 * Anything a peer can trigger goes through a rate limiter.
 */
#ifndef VA_BACKEND_LOG_H
#define VA_BACKEND_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

enum va_log_level {
	VA_LOG_ERR = LOG_ERR,
	VA_LOG_WARN = LOG_WARNING,
	VA_LOG_NOTICE = LOG_NOTICE,
	VA_LOG_INFO = LOG_INFO,
	VA_LOG_DEBUG = LOG_DEBUG,
};

/* ident: program name; use_syslog: openlog() instead of stderr. */
void va_log_init(const char *ident, enum va_log_level level, bool use_syslog);
void va_log_set_level(enum va_log_level level);
enum va_log_level va_log_get_level(void);
/* "error", "warning", "notice", "info", "debug" -> 0, or -EINVAL. */
int va_log_parse_level(const char *s, enum va_log_level *ret);

void va_log(enum va_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Logs fmt followed by ": strerror(-err)"; returns err (negative errno). */
int va_log_errno(enum va_log_level level, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Start-up failures only: log and exit(1). */
void va_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define va_err(...)	va_log(VA_LOG_ERR, __VA_ARGS__)
#define va_warn(...)	va_log(VA_LOG_WARN, __VA_ARGS__)
#define va_notice(...)	va_log(VA_LOG_NOTICE, __VA_ARGS__)
#define va_info(...)	va_log(VA_LOG_INFO, __VA_ARGS__)
#define va_debug(...)						\
	do {							\
		if (va_log_get_level() >= VA_LOG_DEBUG)		\
			va_log(VA_LOG_DEBUG, __VA_ARGS__);	\
	} while (0)

/*
 * Rate limit: at most `burst` messages per `interval_ms`; the first message
 * after a suppressed run says how many were suppressed.
 */
struct va_ratelimit {
	uint32_t interval_ms;
	uint32_t burst;
	uint64_t begin_ms;
	uint32_t printed;
	uint32_t missed;
};
#define VA_RATELIMIT_INIT(ms, n) { .interval_ms = (ms), .burst = (n) }
bool va_ratelimit_ok(struct va_ratelimit *rl);
#define va_log_ratelimited(rl, level, ...)				\
	do {								\
		if (va_ratelimit_ok(rl))				\
			va_log(level, __VA_ARGS__);			\
	} while (0)

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t va_now_ms(void);

#endif /* VA_BACKEND_LOG_H */
