// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel --trace [FILTER]: one line per packet the program decided
 * on, with why. The program writes a record to the ring buffer trace_ring
 * only while trace_ctl says a trace runs; this side sets trace_ctl with
 * the filter, pushes its expiry forward every second, prints the records
 * and clears trace_ctl when stopped. A tracer that dies without clearing
 * it costs the program nothing once the expiry has passed.
 *
 * Read it top-down: filter -> start -> records -> stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdp_iptunnel_trace.h"

#define TRACE_NAME		"xdp_iptunnel"
#define TRACE_RATE		1000	/* records per second, by default */
#define TRACE_RATE_MAX		1000000
#define TRACE_LEASE_NS		3000000000ULL	/* expiry ahead of now */
#define TRACE_RENEW_NS		1000000000ULL	/* how often it moves */
#define NSEC			1000000000ULL

/* ---- filter ----------------------------------------------------------- */

static int bad_filter(const char *word, const char *value, const char *why)
{
	fprintf(stderr, "%s: --trace '%s%s%s': %s\n", TRACE_NAME, word,
		value ? " " : "", value ? value : "", why);
	return -1;
}

static int filter_addr(const char *word, const char *value, __be32 *addr,
		       __u8 *family)
{
	if (!value)
		return bad_filter(word, NULL, "needs an IPv4 or IPv6 address");
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, value, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, value, addr) == 1)
		*family = AF_INET6;
	else
		return bad_filter(word, value, "not an IPv4 or IPv6 address");
	return 0;
}

static int filter_number(const char *word, const char *value,
			 unsigned long max, unsigned long *n)
{
	char *end, why[64];

	snprintf(why, sizeof(why), "not a number 1-%lu", max);
	if (!value)
		return bad_filter(word, NULL, why);
	errno = 0;
	*n = strtoul(value, &end, 10);
	if (errno || *end || end == value || value[0] == '-' || *n < 1 ||
	    *n > max)
		return bad_filter(word, value, why);
	return 0;
}

/*
 * In the spirit of tcpdump's simplest forms, words joined by an optional
 * "and": vip ADDR, client ADDR, port N, passed, dropped, sent (any of the
 * three verdicts given), limit N (records per second).
 */
int trace_parse_filter(int argc, char **argv, struct trace_options *t)
{
	struct trace_ctl *f = &t->filter;
	unsigned long n;
	const char *value;
	int i;

	memset(t, 0, sizeof(*t));
	t->rate = TRACE_RATE;
	for (i = 0; i < argc; i++) {
		value = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "and") && i > 0 && value) {
			continue;
		} else if (!strcmp(argv[i], "vip")) {
			if (filter_addr(argv[i], value, f->vip, &f->vip_family))
				return -1;
			i++;
		} else if (!strcmp(argv[i], "client")) {
			if (filter_addr(argv[i], value, f->client,
					&f->client_family))
				return -1;
			i++;
		} else if (!strcmp(argv[i], "port")) {
			if (filter_number(argv[i], value, 65535, &n))
				return -1;
			f->port = n;
			i++;
		} else if (!strcmp(argv[i], "limit")) {
			if (filter_number(argv[i], value, TRACE_RATE_MAX, &n))
				return -1;
			t->rate = n;
			i++;
		} else if (!strcmp(argv[i], "passed")) {
			f->verdicts |= 1U << XDP_PASS;
		} else if (!strcmp(argv[i], "dropped")) {
			f->verdicts |= 1U << XDP_DROP | 1U << XDP_ABORTED;
		} else if (!strcmp(argv[i], "sent")) {
			f->verdicts |= 1U << XDP_TX;
		} else {
			return bad_filter(argv[i], NULL,
					  "not a filter: vip ADDR, client ADDR, port N, passed, dropped, sent, limit N, joined by 'and'");
		}
	}
	return 0;
}

/* ---- start ------------------------------------------------------------ */

struct tracer {
	int ctl_fd, buckets_fd, ring_fd;
	struct trace_ctl ctl;
	int nr_cpus;
	struct trace_bucket *percpu;
	bool json;
	__u64 traced;
	__u64 limited, lost;	/* as last reported */
	long long wall_offset_ns;	/* CLOCK_REALTIME - CLOCK_MONOTONIC */
	unsigned int ifindex;
	char ifname[IF_NAMESIZE];
};

static __u64 clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

static int open_pin(const char *pin_dir, const char *ifname, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	if (errno == EPERM || errno == EACCES)
		fprintf(stderr,
			"%s: not permitted to trace the director: run as root (CAP_BPF and CAP_NET_ADMIN)\n",
			TRACE_NAME);
	else
		fprintf(stderr,
			"%s: -i '%s': no director with a trace runs there (%s: %s)\n",
			TRACE_NAME, ifname, path, strerror(errno));
	return -1;
}

/* Counters of the rate limit and of the ring buffer, all CPUs. */
static int read_buckets(struct tracer *tr, __u64 *limited, __u64 *lost)
{
	__u32 zero = 0;
	int cpu;

	*limited = 0;
	*lost = 0;
	if (bpf_map_lookup_elem(tr->buckets_fd, &zero, tr->percpu))
		return -errno;
	for (cpu = 0; cpu < tr->nr_cpus; cpu++) {
		*limited += tr->percpu[cpu].limited;
		*lost += tr->percpu[cpu].lost;
	}
	return 0;
}

/*
 * The rate is shared out between the CPUs: each may send rate / CPUs
 * records per second, and a burst of a tenth of a second of them.
 */
static int start_trace(struct tracer *tr, const struct trace_options *t,
		       const char *ifname)
{
	__u64 per_cpu = (t->rate + tr->nr_cpus - 1) / tr->nr_cpus;
	struct trace_ctl now_ctl;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(tr->ctl_fd, &zero, &now_ctl))
		return -errno;
	if (now_ctl.expires_ns > clock_ns(CLOCK_MONOTONIC)) {
		fprintf(stderr,
			"%s: -i '%s': a trace runs there (or ended without clearing, under 3 s ago)\n",
			TRACE_NAME, ifname);
		return -EBUSY;
	}
	memset(tr->percpu, 0, tr->nr_cpus * sizeof(*tr->percpu));
	if (bpf_map_update_elem(tr->buckets_fd, &zero, tr->percpu, BPF_ANY))
		return -errno;
	tr->ctl = t->filter;
	tr->ctl.ns_per_record = NSEC / per_cpu;
	tr->ctl.burst_ns = tr->ctl.ns_per_record * (per_cpu / 10);
	tr->ctl.expires_ns = clock_ns(CLOCK_MONOTONIC) + TRACE_LEASE_NS;
	if (bpf_map_update_elem(tr->ctl_fd, &zero, &tr->ctl, BPF_ANY))
		return -errno;
	return 0;
}

/* -ENOENT once the director has gone: its pins go with it */
static int renew_trace(struct tracer *tr, const char *pin_dir)
{
	char path[PATH_MAX];
	__u32 zero = 0;

	snprintf(path, sizeof(path), "%s/trace_ctl", pin_dir);
	if (access(path, F_OK))
		return -ENOENT;

	tr->ctl.expires_ns = clock_ns(CLOCK_MONOTONIC) + TRACE_LEASE_NS;
	return bpf_map_update_elem(tr->ctl_fd, &zero, &tr->ctl, BPF_ANY);
}

/* ---- records ---------------------------------------------------------- */

static const char *const verdict_names[] = {
	[XDP_ABORTED] = "aborted", [XDP_DROP] = "dropped",
	[XDP_PASS] = "passed", [XDP_TX] = "sent", [XDP_REDIRECT] = "redirected",
};

/* per reason: its name, its words, and the event it counts */
static const struct {
	const char *name, *text, *event;
} reasons[WHY_MAX] = {
	[WHY_TUNNELLED] = { "tunnelled", "tunnelled to a real" },
	[WHY_NOT_IP] = { "not_ip", "not IPv4 or IPv6" },
	[WHY_MALFORMED] = { "malformed", "header short or inconsistent" },
	[WHY_EXT_HDR] = { "ext_hdr", "IPv6 extension headers too many",
			  "ext_hdr" },
	[WHY_NOT_VIP] = { "not_vip", "not a VIP" },
	[WHY_NO_PORT] = { "no_port", "port outside the VIP's ranges" },
	[WHY_FRAGMENT] = { "fragment", "fragment, no range takes every port",
			   "fragment" },
	[WHY_NO_REAL] = { "no_real", "no usable real", "no_real" },
	[WHY_TOO_BIG] = { "too_big", "too big once tunnelled", "too_big" },
	[WHY_NO_HEADROOM] = { "no_headroom", "no room for the outer header",
			      "adjust_head" },
	[WHY_NO_CONFIG] = { "no_config", "no interface settings" },
	[WHY_HINTED] = { "hinted", "tunnelled, naming the previous real",
			 "hinted" },
	[WHY_ICMP_FORWARDED] = { "icmp_forwarded",
				 "ICMP error tunnelled to its flow's real" },
	[WHY_ICMP_MTU_LOW] = { "icmp_mtu_low",
			       "too big with an MTU below the minimum",
			       "icmp_mtu_low" },
};

static const char *name_of(const char *const *names, size_t nr, __u32 i)
{
	return i < nr && names[i] ? names[i] : "unknown";
}

static const char *protocol_name(__u8 protocol, char *buf, size_t size)
{
	switch (protocol) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmp6";
	}
	snprintf(buf, size, "proto %u", protocol);
	return buf;
}

static const char *ifname_of(struct tracer *tr, __u32 ifindex)
{
	if (ifindex != tr->ifindex) {
		tr->ifindex = ifindex;
		if (!if_indextoname(ifindex, tr->ifname))
			snprintf(tr->ifname, sizeof(tr->ifname), "if%u",
				 ifindex);
	}
	return tr->ifname;
}

static void print_text(struct tracer *tr, const struct trace_record *r,
		       const char *ifname)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], proto[16];
	__u64 wall = r->time_ns + tr->wall_offset_ns;
	time_t secs = wall / NSEC;
	struct tm tm;

	gmtime_r(&secs, &tm);
	printf("%02d:%02d:%02d.%06llu %s ", tm.tm_hour, tm.tm_min, tm.tm_sec,
	       (unsigned long long)(wall % NSEC / 1000), ifname);
	if (r->family) {
		inet_ntop(r->family, r->saddr, src, sizeof(src));
		inet_ntop(r->family, r->daddr, dst, sizeof(dst));
		printf("%s ", protocol_name(r->protocol, proto, sizeof(proto)));
		if (r->sport || r->dport)
			printf("%s.%u > %s.%u", src, r->sport, dst, r->dport);
		else
			printf("%s > %s", src, dst);
	} else {
		printf("-");
	}
	printf(" len %u: %s: %s", r->len,
	       name_of(verdict_names, XDP_REDIRECT + 1, r->verdict),
	       r->reason < WHY_MAX ? reasons[r->reason].text : "unknown");
	if (r->flags & TRACE_F_VIP)
		printf("; vip %s %s %u-%u id %u", dst,
		       protocol_name(r->protocol, proto, sizeof(proto)),
		       r->port_min, r->port_max, r->vip_id);
	if (r->flags & TRACE_F_REAL)
		printf("; real %u", r->real_id);
	if (r->flags & TRACE_F_SLOT)
		printf(" slot %u", r->slot);
	if (r->outer_family) {
		inet_ntop(r->outer_family, r->outer_saddr, src, sizeof(src));
		inet_ntop(r->outer_family, r->outer_daddr, dst, sizeof(dst));
		printf("; outer ipv%d %s > %s",
		       r->outer_family == AF_INET ? 4 : 6, src, dst);
	}
	if (r->reason < WHY_MAX && reasons[r->reason].event)
		printf("; event %s", reasons[r->reason].event);
	printf("\n");
}

static void print_json(struct tracer *tr, const struct trace_record *r,
		       const char *ifname)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	__u64 wall = r->time_ns + tr->wall_offset_ns;

	printf("{\"time\":%llu.%06llu,\"iface\":\"%s\",\"ifindex\":%u,\"len\":%u",
	       (unsigned long long)(wall / NSEC),
	       (unsigned long long)(wall % NSEC / 1000), ifname, r->ifindex,
	       r->len);
	if (r->family) {
		inet_ntop(r->family, r->saddr, src, sizeof(src));
		inet_ntop(r->family, r->daddr, dst, sizeof(dst));
		printf(",\"family\":%d,\"src\":\"%s\",\"dst\":\"%s\"",
		       r->family == AF_INET ? 4 : 6, src, dst);
		printf(",\"protocol\":%u,\"sport\":%u,\"dport\":%u",
		       r->protocol, r->sport, r->dport);
	}
	printf(",\"verdict\":\"%s\",\"reason\":\"%s\"",
	       name_of(verdict_names, XDP_REDIRECT + 1, r->verdict),
	       r->reason < WHY_MAX ? reasons[r->reason].name : "unknown");
	if (r->flags & TRACE_F_VIP)
		printf(",\"vip\":{\"id\":%u,\"ports\":[%u,%u]}", r->vip_id,
		       r->port_min, r->port_max);
	if (r->flags & TRACE_F_REAL)
		printf(",\"real\":%u", r->real_id);
	if (r->flags & TRACE_F_SLOT)
		printf(",\"slot\":%u", r->slot);
	if (r->outer_family) {
		inet_ntop(r->outer_family, r->outer_saddr, src, sizeof(src));
		inet_ntop(r->outer_family, r->outer_daddr, dst, sizeof(dst));
		printf(",\"outer\":{\"family\":%d,\"src\":\"%s\",\"dst\":\"%s\"}",
		       r->outer_family == AF_INET ? 4 : 6, src, dst);
	}
	if (r->reason < WHY_MAX && reasons[r->reason].event)
		printf(",\"event\":\"%s\"", reasons[r->reason].event);
	printf("}\n");
}

static int print_record(void *ctx, void *data, size_t size)
{
	const struct trace_record *r = data;
	struct tracer *tr = ctx;
	const char *ifname;

	if (size < sizeof(*r))
		return 0;
	ifname = ifname_of(tr, r->ifindex);
	if (tr->json)
		print_json(tr, r, ifname);
	else
		print_text(tr, r, ifname);
	tr->traced++;
	return 0;
}

/* What did not reach this side: said when it grows, and at the end. */
static void report_missed(struct tracer *tr, bool last)
{
	__u64 limited, lost;

	if (read_buckets(tr, &limited, &lost))
		return;
	if (!last && limited == tr->limited && lost == tr->lost)
		return;
	tr->limited = limited;
	tr->lost = lost;
	if (tr->json)
		printf("{\"%s\":{\"traced\":%llu,\"limited\":%llu,\"lost\":%llu}}\n",
		       last ? "trace_end" : "trace_missed",
		       (unsigned long long)tr->traced,
		       (unsigned long long)limited, (unsigned long long)lost);
	else
		fprintf(stdout,
			"%s: %s %llu packets traced, %llu not traced (rate limit), %llu lost (ring buffer full)\n",
			TRACE_NAME, last ? "trace stopped:" : "so far",
			(unsigned long long)tr->traced,
			(unsigned long long)limited, (unsigned long long)lost);
}

/* ---- stop ------------------------------------------------------------- */

static bool stop_now(const sigset_t *stop)
{
	struct timespec zero = {};

	return sigtimedwait(stop, NULL, &zero) > 0;
}

int trace_run(const char *pin_dir, const char *ifname,
	      const struct trace_options *t, bool json, unsigned int duration,
	      const sigset_t *stop)
{
	struct tracer tr = { .ctl_fd = -1, .buckets_fd = -1, .ring_fd = -1,
			     .json = json };
	__u64 start, renewed, now;
	struct ring_buffer *rb = NULL;
	struct trace_ctl off = {};
	__u32 zero = 0;
	int ret = -1, err;

	tr.nr_cpus = libbpf_num_possible_cpus();
	if (tr.nr_cpus > 0)
		tr.percpu = calloc(tr.nr_cpus, sizeof(*tr.percpu));
	if (!tr.percpu) {
		fprintf(stderr, "%s: cannot count the CPUs: %s\n", TRACE_NAME,
			strerror(tr.nr_cpus < 0 ? -tr.nr_cpus : ENOMEM));
		goto out;
	}
	tr.ctl_fd = open_pin(pin_dir, ifname, "trace_ctl");
	if (tr.ctl_fd < 0)
		goto out;
	tr.buckets_fd = open_pin(pin_dir, ifname, "trace_buckets");
	tr.ring_fd = open_pin(pin_dir, ifname, "trace_ring");
	if (tr.buckets_fd < 0 || tr.ring_fd < 0)
		goto out;
	rb = ring_buffer__new(tr.ring_fd, print_record, &tr, NULL);
	if (!rb) {
		fprintf(stderr, "%s: -i '%s': cannot read the trace ring: %s\n",
			TRACE_NAME, ifname, strerror(errno));
		goto out;
	}
	err = start_trace(&tr, t, ifname);
	if (err) {
		if (err != -EBUSY)
			fprintf(stderr, "%s: -i '%s': cannot start a trace: %s\n",
				TRACE_NAME, ifname, strerror(-err));
		goto out;
	}
	tr.wall_offset_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	fprintf(stderr, "%s: tracing %s, at most %u packets a second\n",
		TRACE_NAME, ifname, t->rate);
	start = clock_ns(CLOCK_MONOTONIC);
	renewed = start;
	ret = 0;
	while (!stop_now(stop)) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "%s: -i '%s': reading the trace: %s\n",
				TRACE_NAME, ifname, strerror(-err));
			ret = -1;
			break;
		}
		now = clock_ns(CLOCK_MONOTONIC);
		if (duration && now - start >= duration * NSEC)
			break;
		if (now - renewed >= TRACE_RENEW_NS) {
			if (renew_trace(&tr, pin_dir)) {
				fprintf(stderr,
					"%s: -i '%s': the director has stopped\n",
					TRACE_NAME, ifname);
				break;
			}
			renewed = now;
			report_missed(&tr, false);
		}
	}
	bpf_map_update_elem(tr.ctl_fd, &zero, &off, BPF_ANY);
	ring_buffer__consume(rb);
	report_missed(&tr, true);
out:
	ring_buffer__free(rb);
	if (tr.ring_fd >= 0)
		close(tr.ring_fd);
	if (tr.buckets_fd >= 0)
		close(tr.buckets_fd);
	if (tr.ctl_fd >= 0)
		close(tr.ctl_fd);
	free(tr.percpu);
	return ret;
}
