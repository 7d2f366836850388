/* SPDX-License-Identifier: MIT */
/* virtio-argo-consoled's control message rules (console-ctrl.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <linux/virtio_console.h>

#include "console-ctrl.h"

static size_t msg(uint8_t *buf, uint32_t id, uint16_t event, uint16_t value)
{
	struct cons_ctrl m = { id, event, value };

	return cons_ctrl_build(buf, CONS_CTRL_MAX, &m, NULL, 0);
}

START_TEST(build_parse_le)
{
	uint8_t buf[CONS_CTRL_MAX];
	struct cons_ctrl m;

	ck_assert_uint_eq(msg(buf, 0x01020304, 6, 1), 8);
	/* little-endian on the wire: id, event, value */
	ck_assert_uint_eq(buf[0], 0x04);
	ck_assert_uint_eq(buf[3], 0x01);
	ck_assert_uint_eq(buf[4], 6);
	ck_assert_uint_eq(buf[6], 1);
	ck_assert_int_eq(cons_ctrl_parse(buf, 8, &m), 0);
	ck_assert_uint_eq(m.id, 0x01020304);
	ck_assert_uint_eq(m.event, 6);
	ck_assert_uint_eq(m.value, 1);
	ck_assert_int_eq(cons_ctrl_parse(buf, 7, &m), -EINVAL);
}
END_TEST

START_TEST(build_name_and_resize)
{
	uint8_t buf[CONS_CTRL_MAX], body[4];
	struct cons_ctrl m = { 1, VIRTIO_CONSOLE_PORT_NAME, 1 };
	uint16_t rows, cols;

	ck_assert_uint_eq(cons_ctrl_build(buf, sizeof(buf), &m, "agent", 5), 13);
	ck_assert_mem_eq(buf + 8, "agent", 5);
	/* too small a buffer: nothing */
	ck_assert_uint_eq(cons_ctrl_build(buf, 12, &m, "agent", 5), 0);
	ck_assert_uint_eq(cons_ctrl_build(buf, 7, &m, NULL, 0), 0);
	cons_ctrl_resize_body(body, 50, 132);
	m.event = VIRTIO_CONSOLE_RESIZE;
	ck_assert_uint_eq(cons_ctrl_build(buf, sizeof(buf), &m, body, 4), 12);
	ck_assert_int_eq(cons_ctrl_resize_parse(buf, 12, &rows, &cols), 0);
	ck_assert_uint_eq(rows, 50);
	ck_assert_uint_eq(cols, 132);
	/* rows first, as Linux's driver reads it */
	ck_assert_uint_eq(buf[8], 50);
	ck_assert_uint_eq(buf[10], 132);
	ck_assert_int_eq(cons_ctrl_resize_parse(buf, 11, &rows, &cols), -EINVAL);
}
END_TEST

START_TEST(check_rules)
{
	uint8_t buf[CONS_CTRL_MAX];
	struct cons_ctrl m;
	const char *why = NULL;

	/* DEVICE_READY: any id (Linux sends VIRTIO_CONSOLE_BAD_ID) */
	msg(buf, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ck_assert_int_eq(cons_ctrl_check(buf, 8, 2, 0, &m, &why), 0);
	/* PORT_READY / PORT_OPEN: an added port only */
	msg(buf, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	ck_assert_int_eq(cons_ctrl_check(buf, 8, 2, 0x1, &m, &why), -EINVAL);
	ck_assert_str_eq(why, "port never added");
	ck_assert_int_eq(cons_ctrl_check(buf, 8, 2, 0x3, &m, &why), 0);
	msg(buf, 2, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert_int_eq(cons_ctrl_check(buf, 8, 2, 0x7, &m, &why), -EINVAL);
	ck_assert_str_eq(why, "no such port");
	msg(buf, 64, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert_int_eq(cons_ctrl_check(buf, 8, 100, ~0ull, &m, &why), -EINVAL);
	/* the device's own events and unknown ones */
	msg(buf, 0, VIRTIO_CONSOLE_PORT_ADD, 1);
	ck_assert_int_eq(cons_ctrl_check(buf, 8, 2, 0x3, &m, &why), -EINVAL);
	ck_assert_str_eq(why, "an event only the device sends");
	msg(buf, 0, VIRTIO_CONSOLE_RESIZE, 0);
	ck_assert_int_eq(cons_ctrl_check(buf, 8, 2, 0x3, &m, &why), -EINVAL);
	msg(buf, 0, 42, 0);
	ck_assert_int_eq(cons_ctrl_check(buf, 8, 2, 0x3, &m, &why), -EINVAL);
	ck_assert_str_eq(why, "unknown event");
	ck_assert_int_eq(cons_ctrl_check(buf, 4, 2, 0x3, &m, &why), -EINVAL);
	ck_assert_str_eq(why, "shorter than a control header");
	ck_assert_str_eq(cons_ctrl_event_name(VIRTIO_CONSOLE_PORT_NAME), "PORT_NAME");
	ck_assert_str_eq(cons_ctrl_event_name(42), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("console-ctrl");
	TCase *tc = tcase_create("ctrl");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, build_parse_le);
	tcase_add_test(tc, build_name_and_resize);
	tcase_add_test(tc, check_rules);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
