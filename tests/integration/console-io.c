/* SPDX-License-Identifier: MIT */
/*
 * console-io: the far end of a console port for the tests, on a Unix
 * socket (--connect PATH) or a terminal (--tty PATH, put in raw mode).
 *
 *   console-io (--connect PATH | --tty PATH) [--send FILE] [--recv N]
 *              [--out FILE] [--hold FILE] [--linger] [--winsize RxC]
 *
 * Sends FILE while receiving N bytes into --out (both at once, so neither
 * side's flow control deadlocks), then exits 0, or with --linger waits for
 * SIGTERM (keeping the connection).  --recv 0 with --out: reads until the
 * other end closes.  --hold FILE: nothing is read until FILE exists (a
 * stalled reader; polled every 20 ms).  --winsize RxC: set the terminal's
 * window size first (and exit, if there is nothing to send or receive).
 * Prints "sent N received N" to stderr at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "console-io: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int open_conn(const char *sock, const char *tty)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct termios t;
	int fd;

	if (tty) {
		fd = open(tty, O_RDWR | O_NOCTTY);
		if (fd < 0 || tcgetattr(fd, &t) < 0)
			die(tty);
		cfmakeraw(&t);
		if (tcsetattr(fd, TCSANOW, &t) < 0)
			die("tcsetattr");
		return fd;
	}
	if (strlen(sock) >= sizeof(sa.sun_path))
		die("socket path too long");
	memcpy(sa.sun_path, sock, strlen(sock));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(sock);
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "tty", required_argument, NULL, 't' },
		{ "send", required_argument, NULL, 's' },
		{ "recv", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "hold", required_argument, NULL, 'h' },
		{ "linger", no_argument, NULL, 'l' },
		{ "winsize", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *tty = NULL, *send = NULL, *out = NULL,
		   *hold = NULL, *winsize = NULL;
	unsigned long long want = 0, got = 0, sent = 0;
	int c, fd, in_fd = -1, out_fd = -1;
	bool linger = false, send_done, recv_done, eof = false;
	static char sbuf[65536], rbuf[65536];
	size_t slen = 0, soff = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': sock = optarg; break;
		case 't': tty = optarg; break;
		case 's': send = optarg; break;
		case 'r': want = strtoull(optarg, NULL, 0); break;
		case 'o': out = optarg; break;
		case 'h': hold = optarg; break;
		case 'l': linger = true; break;
		case 'w': winsize = optarg; break;
		default: return 2;
		}
	}
	if (!sock == !tty)
		return 2;
	fd = open_conn(sock, tty);
	if (winsize) {
		struct winsize ws = { 0 };
		unsigned int r, co;

		if (sscanf(winsize, "%ux%u", &r, &co) != 2)
			return 2;
		ws.ws_row = (unsigned short)r;
		ws.ws_col = (unsigned short)co;
		if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
			die("TIOCSWINSZ");
		if (!send && !out)
			return 0;
	}
	if (send && (in_fd = open(send, O_RDONLY)) < 0)
		die(send);
	if (out && (out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		die(out);
	signal(SIGPIPE, SIG_IGN);
	send_done = in_fd < 0;
	recv_done = out_fd < 0;
	while (!send_done || !recv_done) {
		struct pollfd pfd = { .fd = fd };
		bool holding = hold && access(hold, F_OK) != 0;
		ssize_t n;

		if (!send_done && soff == slen) {
			n = read(in_fd, sbuf, sizeof(sbuf));
			if (n < 0)
				die("reading --send");
			if (n == 0) {
				send_done = true;
				continue;
			}
			slen = (size_t)n;
			soff = 0;
		}
		if (!send_done)
			pfd.events |= POLLOUT;
		if (!recv_done && !holding)
			pfd.events |= POLLIN;
		if (poll(&pfd, 1, holding ? 20 : -1) < 0 && errno != EINTR)
			die("poll");
		if (pfd.revents & POLLOUT) {
			n = write(fd, sbuf + soff, slen - soff);
			if (n < 0)
				die("write");
			soff += (size_t)n;
			sent += (unsigned long long)n;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR) && !recv_done &&
		    !holding) {
			size_t max = sizeof(rbuf);

			if (want && want - got < max)
				max = (size_t)(want - got);
			n = read(fd, rbuf, max);
			if (n <= 0) {
				eof = true;
				recv_done = true;
				if (want)
					fprintf(stderr, "console-io: end of "
						"stream after %llu bytes\n", got);
				continue;
			}
			if (write(out_fd, rbuf, (size_t)n) != n)
				die("writing --out");
			got += (unsigned long long)n;
			if (want && got == want)
				recv_done = true;
		}
	}
	fprintf(stderr, "console-io: sent %llu received %llu\n", sent, got);
	if (want && got != want)
		return 1;
	if (linger && !eof)
		pause();
	return 0;
}
