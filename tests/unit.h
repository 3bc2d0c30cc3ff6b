/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The harness of the unit tests (test_kern.c, test_real.c): a line per
 * case, "ok N - name" or "not ok N - name: why", and "N passed, N failed"
 * last, as tests/tap.sh writes them for the shell suites; an error
 * outside any expectation as a failed case; the object to test.
 */
#ifndef XDP_IPTUNNEL_TESTS_UNIT_H
#define XDP_IPTUNNEL_TESTS_UNIT_H

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

static unsigned int passed, failed;
static char why[256];		/* first failure of the current case */
static char diff[512];		/* lines to print after it, if any */

static inline void fail(const char *fmt, ...)
{
	va_list ap;

	if (why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
}

static inline void report(const char *name)
{
	unsigned int n = passed + failed + 1;

	if (why[0]) {
		failed++;
		printf("not ok %u - %s: %s\n%s", n, name, why, diff);
	} else {
		passed++;
		printf("ok %u - %s\n", n, name);
	}
	why[0] = '\0';
	diff[0] = '\0';
}

static inline void summary(void)
{
	printf("%u passed, %u failed\n", passed, failed);
}

/* An error outside any expectation: report it as a failed case, stop. */
static inline void die(const char *what)
{
	fail("%s", strerror(errno));
	report(what);
	summary();
	exit(1);
}

static inline int map_fd(struct bpf_object *obj, const char *name)
{
	int fd = bpf_object__find_map_fd_by_name(obj, name);

	if (fd < 0)
		die(name);
	return fd;
}

/* The object at path, loaded; *prog_fd, its program called name. */
static inline struct bpf_object *load(const char *path, const char *name,
				      int *prog_fd)
{
	struct bpf_program *prog;
	struct bpf_object *obj;
	char what[64];

	obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj))
		die(path);
	prog = bpf_object__find_program_by_name(obj, name);
	if (!prog) {
		snprintf(what, sizeof(what), "program %s", name);
		die(what);
	}
	*prog_fd = bpf_program__fd(prog);
	return obj;
}

/* The object to test: argv[1], else name in the directory above us. */
static inline void object_path(char *path, size_t size, int argc,
			       char **argv, const char *name)
{
	char self[PATH_MAX];
	ssize_t n;

	if (argc > 1) {
		snprintf(path, size, "%s", argv[1]);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		die("/proc/self/exe");
	self[n] = '\0';
	snprintf(path, size, "%s/../%s", dirname(self), name);
}

#endif /* XDP_IPTUNNEL_TESTS_UNIT_H */
