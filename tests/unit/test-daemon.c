/* SPDX-License-Identifier: MIT */
/*
 * The daemon skeleton (src/backend/daemon.c): the common options parsed
 * once for every program, the device's options through its descriptor,
 * the exit statuses (0 help/version, 2 bad usage with a message naming
 * the option), and the life cycle's clean-up when start-up fails.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon.h"

enum { OPT_COLOUR = VA_DAEMON_DEV_OPT, OPT_FLAG };

static const struct option test_options[] = {
	{ "colour", required_argument, NULL, OPT_COLOUR },
	{ "flag", no_argument, NULL, OPT_FLAG },
	{ NULL, 0, NULL, 0 },
};

struct test_cfg {
	const char *colour;
	int flags;
	int created, attached, detached, destroyed;
	bool refuse;			/* check() refuses */
};

static int test_parse_opt(void *cfg, int opt, const char *arg)
{
	struct test_cfg *c = cfg;

	switch (opt) {
	case OPT_COLOUR:
		if (strcmp(arg, "red") && strcmp(arg, "blue"))
			return va_daemon_bad_value("colour", arg, "red or blue");
		c->colour = arg;
		return 0;
	case OPT_FLAG:
		c->flags++;
		return 0;
	default:
		return -EINVAL;
	}
}

static int test_check(void *cfg, const struct va_daemon_opts *o)
{
	struct test_cfg *c = cfg;

	if (c->refuse) {
		fprintf(stderr, "test: refused by check\n");
		return -EINVAL;
	}
	return 0;
}

static void test_usage(FILE *f)
{
	fprintf(f, "  --colour C            red or blue\n");
}

static const struct va_dev_ops test_ops;

static int test_create(void *cfg, const struct va_daemon_opts *o,
		       void **priv, struct va_dev_info *info,
		       const struct va_dev_ops **ops)
{
	struct test_cfg *c = cfg;

	c->created++;
	info->device_id = 0x7f00;
	info->num_queues = 1;
	info->max_queue_size = 8;
	*ops = &test_ops;
	*priv = c;
	return 0;
}

static int test_attach(void *priv, struct va_dev *dev, struct va_loop *loop)
{
	((struct test_cfg *)priv)->attached++;
	return 0;
}

static void test_detach(void *priv)
{
	((struct test_cfg *)priv)->detached++;
}

static void test_destroy(void *priv)
{
	((struct test_cfg *)priv)->destroyed++;
}

static struct va_daemon_desc desc = {
	.prog = "test-daemon",
	.dev_name = "test",
	.synopsis = "--domid N [options]",
	.summary = "A test.",
	.default_port = 0x1234,
	.options = test_options,
	.usage = test_usage,
	.parse_opt = test_parse_opt,
	.check = test_check,
	.create = test_create,
	.attach = test_attach,
	.detach = test_detach,
	.destroy = test_destroy,
};

static struct test_cfg cfg;
static struct va_daemon_opts o;
static char out[16384];		/* what a parse printed (stdout and stderr) */

/* Parse a NULL-terminated argument list; what is printed lands in out. */
static int parse_v(const char *const *args)
{
	char *argv[32];
	int argc = 0, fd = memfd_create("out", 0), save1, save2, rc;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	argv[argc++] = (char *)"test-daemon";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	save1 = dup(1);
	save2 = dup(2);
	dup2(fd, 1);
	dup2(fd, 2);
	rc = va_daemon_parse(&desc, &cfg, argc, argv, &o);
	fflush(stdout);
	fflush(stderr);
	dup2(save1, 1);
	dup2(save2, 2);
	close(save1);
	close(save2);
	n = pread(fd, out, sizeof(out) - 1, 0);
	ck_assert_int_ge(n, 0);
	out[n] = 0;
	close(fd);
	return rc;
}

#define PARSE(...) parse_v((const char *const[]){ __VA_ARGS__, NULL })

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	desc.max_queues = 0;
	desc.default_queues = 0;
	desc.max_queue_size = 0;
	desc.default_queue_size = 0;
}

START_TEST(common_options)
{
	ck_assert_int_eq(PARSE("--domid", "7", "--port", "0x99",
			       "--driver-port", "100", "--ring-len", "65536",
			       "--transport", "sim", "--sim-socket", "/x",
			       "--log-level", "debug", "--syslog",
			       "--stop-timeout-ms", "250", "--self-domid", "3",
			       "--state-dir", "/var/lib/va"),
			 VA_DAEMON_CONTINUE);
	ck_assert_str_eq(out, "");
	ck_assert(o.have_guest);
	ck_assert_uint_eq(o.guest_domid, 7);
	ck_assert_uint_eq(o.port, 0x99);
	ck_assert_uint_eq(o.driver_port, 100);
	ck_assert_uint_eq(o.ring_len, 65536);
	ck_assert_int_eq(o.transport, VA_TRANSPORT_SIM);
	ck_assert_str_eq(o.sim_socket, "/x");
	ck_assert_int_eq(o.log_level, VA_LOG_DEBUG);
	ck_assert(o.use_syslog);
	ck_assert_uint_eq(o.stop_timeout_ms, 250);
	ck_assert_uint_eq(o.self_domid, 3);
	ck_assert_str_eq(o.state_dir, "/var/lib/va");
}
END_TEST

START_TEST(defaults)
{
	desc.max_queues = 4;
	desc.default_queues = 2;
	desc.max_queue_size = 512;
	desc.default_queue_size = 128;
	ck_assert_int_eq(PARSE("--domain", "guest"), VA_DAEMON_CONTINUE);
	ck_assert(!o.have_guest);
	ck_assert_str_eq(o.guest_name, "guest");
	ck_assert_uint_eq(o.port, 0x1234);
	ck_assert_uint_eq(o.driver_port, 0);
	ck_assert_uint_eq(o.ring_len, VA_RING_LEN_DEFAULT);
	ck_assert_uint_eq(o.queues, 2);
	ck_assert_uint_eq(o.queue_size, 128);
	ck_assert_int_eq(o.transport, VA_TRANSPORT_AUTO);
	ck_assert_uint_eq(o.stop_timeout_ms, VA_DAEMON_STOP_TIMEOUT_DEFAULT);
	ck_assert_ptr_null(cfg.colour);
	/* The state directory: the environment's, else /run/virtio-argo. */
	unsetenv(VA_DAEMON_STATE_DIR_ENV);
	ck_assert_int_eq(PARSE("--domid", "1"), VA_DAEMON_CONTINUE);
	ck_assert_str_eq(o.state_dir, "/run/virtio-argo");
	setenv(VA_DAEMON_STATE_DIR_ENV, "/tmp/va-state", 1);
	ck_assert_int_eq(PARSE("--domid", "1"), VA_DAEMON_CONTINUE);
	ck_assert_str_eq(o.state_dir, "/tmp/va-state");
	ck_assert_int_eq(PARSE("--domid", "1", "--state-dir", "/s"),
			 VA_DAEMON_CONTINUE);
	ck_assert_str_eq(o.state_dir, "/s");
	unsetenv(VA_DAEMON_STATE_DIR_ENV);
}
END_TEST

/* One name per option: the old alias --ring-size is gone everywhere. */
START_TEST(bad_common_values)
{
	static const char *const bad[][2] = {
		{ "--domid", "32752" }, { "--domid", "x" },
		{ "--port", "-1" }, { "--driver-port", "0" },
		{ "--ring-len", "100" }, { "--ring-len", "64" },
		{ "--transport", "tcp" }, { "--log-level", "loud" },
		{ "--stop-timeout-ms", "3600001" }, { "--domain", "" },
		{ "--state-dir", "relative" }, { "--state-dir", "" },
	};
	char want[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(PARSE(bad[i][0], bad[i][1]), 2);
		snprintf(want, sizeof(want),
			 "test-daemon: invalid value for %s: '%s'",
			 bad[i][0], bad[i][1]);
		ck_assert_msg(strstr(out, want), "%s %s: printed '%s'",
			      bad[i][0], bad[i][1], out);
		ck_assert_msg(strstr(out, "Try 'test-daemon --help'."),
			      "no hint: '%s'", out);
	}
	ck_assert_int_eq(PARSE("--domid", "1", "--ring-size", "65536"), 2);
	ck_assert_ptr_nonnull(strstr(out, "ring-size"));
}
END_TEST

START_TEST(device_options)
{
	ck_assert_int_eq(PARSE("--colour", "red", "--domid", "1", "--flag",
			       "--flag"), VA_DAEMON_CONTINUE);
	ck_assert_str_eq(cfg.colour, "red");
	ck_assert_int_eq(cfg.flags, 2);
	ck_assert_int_eq(PARSE("--domid", "1", "--colour", "green"), 2);
	ck_assert_ptr_nonnull(strstr(out,
		"invalid value for --colour: 'green': red or blue"));
}
END_TEST

/* --queues exists only for devices that take it, within their maximum. */
START_TEST(queue_options)
{
	ck_assert_int_eq(PARSE("--domid", "1", "--queues", "2"), 2);
	desc.max_queues = 4;
	desc.default_queues = 1;
	desc.max_queue_size = 256;
	desc.default_queue_size = 256;
	ck_assert_int_eq(PARSE("--domid", "1", "--queues", "4",
			       "--queue-size", "100"), VA_DAEMON_CONTINUE);
	ck_assert_uint_eq(o.queues, 4);
	ck_assert_uint_eq(o.queue_size, 100);
	ck_assert_int_eq(PARSE("--domid", "1", "--queues", "5"), 2);
	ck_assert_int_eq(PARSE("--domid", "1", "--queues", "0"), 2);
	ck_assert_int_eq(PARSE("--domid", "1", "--queue-size", "257"), 2);
}
END_TEST

START_TEST(usage_errors)
{
	ck_assert_int_eq(PARSE("--port", "5"), 2);
	ck_assert_ptr_nonnull(strstr(out, "--domid or --domain is required"));
	ck_assert_int_eq(PARSE("--domid", "1", "--domain", "g"), 2);
	ck_assert_ptr_nonnull(strstr(out, "exclude each other"));
	ck_assert_int_eq(PARSE("--domid", "1", "stray"), 2);
	ck_assert_ptr_nonnull(strstr(out, "unexpected argument 'stray'"));
	ck_assert_int_eq(PARSE("--domid", "1", "--nonsense"), 2);
	cfg.refuse = true;
	ck_assert_int_eq(PARSE("--domid", "1"), 2);
	ck_assert_ptr_nonnull(strstr(out, "refused by check"));
}
END_TEST

START_TEST(help_version)
{
	ck_assert_int_eq(PARSE("--help"), 0);
	ck_assert_ptr_nonnull(strstr(out, "Usage: test-daemon --domid N"));
	ck_assert_ptr_nonnull(strstr(out, "--colour C"));
	ck_assert_ptr_nonnull(strstr(out, "--ring-len BYTES"));
	ck_assert_ptr_nonnull(strstr(out, "--state-dir DIR"));
	ck_assert_ptr_nonnull(strstr(out, "(default 0x1234)"));
	ck_assert_ptr_null(strstr(out, "--queues"));
	ck_assert_int_eq(PARSE("--version"), 0);
	ck_assert_ptr_nonnull(strstr(out, "test-daemon "));
	/* --help wins over the missing --domid, as users expect. */
	ck_assert_int_eq(PARSE("--help", "--port", "1"), 0);
}
END_TEST

/* Argo cannot be opened: the device made by create is destroyed, never
 * attached, and the status is 1. */
START_TEST(open_failure_cleans_up)
{
	char *argv[] = {
		(char *)"test-daemon", (char *)"--domid", (char *)"1",
		(char *)"--transport", (char *)"sim", (char *)"--sim-socket",
		(char *)"/nonexistent/sim.sock", (char *)"--log-level",
		(char *)"error", NULL,
	};

	ck_assert_int_eq(va_daemon_main(&desc, &cfg, 9, argv), 1);
	ck_assert_int_eq(cfg.created, 1);
	ck_assert_int_eq(cfg.attached, 0);
	ck_assert_int_eq(cfg.detached, 0);
	ck_assert_int_eq(cfg.destroyed, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("options");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, common_options);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, bad_common_values);
	tcase_add_test(tc, device_options);
	tcase_add_test(tc, queue_options);
	tcase_add_test(tc, usage_errors);
	tcase_add_test(tc, help_version);
	tcase_add_test(tc, open_failure_cleans_up);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
