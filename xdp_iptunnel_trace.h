/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xdp_iptunnel --trace [FILTER]: the program's decision on each packet,
 * read from the pinned maps of a running director (xdp_iptunnel_trace.c).
 */
#ifndef _XDP_IPTUNNEL_TRACE_H
#define _XDP_IPTUNNEL_TRACE_H

#include <signal.h>
#include <stdbool.h>
#include "xdp_iptunnel_common.h"

struct trace_options {
	struct trace_ctl filter;	/* as the program reads it */
	unsigned int rate;		/* records per second, all CPUs */
};

/* FILTER's words: 0, or -1 after one line on stderr */
int trace_parse_filter(int argc, char **argv, struct trace_options *t);

/*
 * Trace the director pinned in pin_dir until a signal of stop or for
 * duration seconds (0: no limit). Returns 0, or -1 after one line on
 * stderr.
 */
int trace_run(const char *pin_dir, const char *ifname,
	      const struct trace_options *t, bool json, unsigned int duration,
	      const sigset_t *stop);

#endif /* _XDP_IPTUNNEL_TRACE_H */
