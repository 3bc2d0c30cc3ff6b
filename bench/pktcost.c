// SPDX-License-Identifier: GPL-2.0
/*
 * pktcost: nanoseconds per packet of xdp_iptunnel against the kernel's
 * samples/bpf/xdp_tx_iptunnel, measured with BPF_PROG_TEST_RUN.
 *
 * Each call runs a program once (repeat = 1: a repeat count re-runs the
 * program on its own output) and the kernel's own duration is taken.
 * Two loads of one object differ by up to a quarter per packet (hash
 * seeds, memory placement), so every round loads every program afresh,
 * alternates them call by call over several flows, and keeps each
 * program's median; the result is the median over rounds. A second load
 * of the upstream program, measured the same way, gives the resolution.
 *
 *	pktcost [-r ROUNDS] [-n CALLS] OURS.o UPSTREAM.o FLOOR.o
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "../xdp_iptunnel_common.h"

#define FLOWS		8
#define FILLER_VIPS	10000
#define MAX_SAMPLES	4096

enum prog { OURS, OURS_10K, UPSTREAM, UPSTREAM2, FLOOR, NR_PROGS };

static const char *const prog_names[NR_PROGS] = {
	"ours", "ours+10k VIPs", "upstream", "upstream again", "floor",
};

struct bench_case {
	const char *name;
	const char *dst;	/* IPv6 when it holds a ':' */
	__u16 dport;
	int arp;
	int upstream;		/* the upstream program handles it */
};

/*
 * VIPs: 192.0.2.1 and 2001:db8::1 (one real), .2 / ::2 mixed, .3 16
 * reals, .4 1000 reals, .5 ports 1-65535
 */
static const struct bench_case cases[] = {
	{ "IPv4 hit (4in4)", "192.0.2.1", 80, 0, 1 },
	{ "IPv6 hit (6in6)", "2001:db8::1", 80, 0, 1 },
	{ "miss: not a VIP", "192.0.2.99", 80, 0, 1 },
	{ "miss: port outside", "192.0.2.1", 81, 0, 1 },
	{ "non-IP (ARP)", NULL, 0, 1, 1 },
	{ "4in6", "192.0.2.2", 80, 0, 0 },
	{ "6in4", "2001:db8::2", 80, 0, 0 },
	{ "16 reals, Maglev", "192.0.2.3", 80, 0, 0 },
	{ "1000 reals, Maglev", "192.0.2.4", 80, 0, 0 },
	{ "range 1-65535", "192.0.2.5", 443, 0, 0 },
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define NR_CASES	ARRAY_SIZE(cases)

/* upstream samples/bpf/xdp_tx_iptunnel_common.h */
struct upstream_vip {
	union {
		__u32 v6[4];
		__u32 v4;
	} daddr;
	__u16 dport;
	__u16 family;
	__u8 protocol;
};

struct upstream_tnl {
	union {
		__u32 v6[4];
		__u32 v4;
	} saddr;
	union {
		__u32 v6[4];
		__u32 v4;
	} daddr;
	__u16 family;
	__u8 dmac[6];
};

struct loaded {
	struct bpf_object *obj;
	int prog_fd;
};

static void die(const char *what)
{
	fprintf(stderr, "pktcost: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int map_fd(struct bpf_object *obj, const char *name)
{
	int fd = bpf_object__find_map_fd_by_name(obj, name);

	if (fd < 0)
		die(name);
	return fd;
}

static struct loaded load(const char *path, const char *prog_name)
{
	struct bpf_program *prog;
	struct loaded l;

	l.obj = bpf_object__open_file(path, NULL);
	if (libbpf_get_error(l.obj) || bpf_object__load(l.obj))
		die(path);
	prog = bpf_object__find_program_by_name(l.obj, prog_name);
	if (!prog)
		die(prog_name);
	l.prog_fd = bpf_program__fd(prog);
	return l;
}

static void addr(const char *s, __be32 *out)
{
	memset(out, 0, 16);
	if (inet_pton(strchr(s, ':') ? AF_INET6 : AF_INET, s, out) != 1)
		die(s);
}

static void put_real(int fd, __u32 id, const char *src, const char *dst)
{
	struct real r = {
		.family = strchr(dst, ':') ? AF_INET6 : AF_INET,
		.dmac = { 2, 0, 0, 0, 0, 0x11 },
	};

	addr(src, r.saddr);
	addr(dst, r.daddr);
	if (bpf_map_update_elem(fd, &id, &r, BPF_ANY))
		die("reals");
}

static void put_vip(int fd, const char *vip, __u16 min, __u16 max,
		    __u32 vip_id, __u32 real_id, __u32 flags)
{
	struct vip_value val = { .nr_ranges = 1 };
	struct vip_key key = { .protocol = IPPROTO_TCP };

	addr(vip, key.addr);
	key.family = strchr(vip, ':') ? AF_INET6 : AF_INET;
	val.range[0].port_min = min;
	val.range[0].port_max = max;
	val.range[0].vip_id = vip_id;
	val.range[0].real_id = real_id;
	val.range[0].flags = flags;
	if (bpf_map_update_elem(fd, &key, &val, BPF_ANY))
		die("vip_map");
}

/* A ring of real ids first..first+n-1, slot by slot */
static void put_ring(int rings_fd, __u32 vip_id, __u32 first, __u32 n)
{
	static __u32 keys[MAGLEV_RING_SIZE], vals[MAGLEV_RING_SIZE];
	__u32 i, count = MAGLEV_RING_SIZE;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ring", 4, 4,
			    MAGLEV_RING_SIZE, NULL);
	if (fd < 0)
		die("ring");
	for (i = 0; i < MAGLEV_RING_SIZE; i++) {
		keys[i] = i;
		vals[i] = first + i % n;
	}
	if (bpf_map_update_batch(fd, keys, vals, &count, NULL) ||
	    bpf_map_update_elem(rings_fd, &vip_id, &fd, BPF_ANY))
		die("vip_rings");
	close(fd);
}

static void setup_ours(struct loaded *l, int fillers)
{
	struct config cfg = { .smac = { 2, 0, 0, 0, 0, 0x10 } };
	int vips = map_fd(l->obj, "vip_map");
	int reals = map_fd(l->obj, "reals");
	int rings = map_fd(l->obj, "vip_rings");
	char name[64];
	__u32 zero = 0, i;

	if (bpf_map_update_elem(map_fd(l->obj, "config_map"), &zero, &cfg, 0))
		die("config_map");
	put_real(reals, 0, "192.0.2.10", "192.0.2.11");
	put_real(reals, 1, "2001:db8::10", "2001:db8::11");
	for (i = 2; i < 2 + 1000; i++) {
		snprintf(name, sizeof(name), "198.51.100.%u", i % 250 + 1);
		put_real(reals, i, "192.0.2.10", name);
	}
	put_vip(vips, "192.0.2.1", 80, 80, 0, 0, 0);
	put_vip(vips, "2001:db8::1", 80, 80, 1, 1, 0);
	put_vip(vips, "192.0.2.2", 80, 80, 2, 1, 0);
	put_vip(vips, "2001:db8::2", 80, 80, 3, 0, 0);
	put_ring(rings, 4, 2, 16);
	put_vip(vips, "192.0.2.3", 80, 80, 4, 0, VIP_F_RING);
	put_ring(rings, 5, 2, 1000);
	put_vip(vips, "192.0.2.4", 80, 80, 5, 0, VIP_F_RING);
	put_vip(vips, "192.0.2.5", 1, 65535, 6, 0, 0);
	for (i = 0; i < (unsigned int)fillers; i++) {
		snprintf(name, sizeof(name), "2001:db8:1::%x", i + 1);
		put_vip(vips, name, 80, 80, 7 + i, 1, 0);
	}
}

static void put_upstream(int fd, const char *vip, const char *src,
			 const char *dst)
{
	struct upstream_tnl tnl = { .dmac = { 2, 0, 0, 0, 0, 0x11 } };
	struct upstream_vip key;
	int v6 = !!strchr(vip, ':');

	memset(&key, 0, sizeof(key));	/* padding is hashed too */
	addr(vip, key.daddr.v6);
	key.dport = htons(80);
	key.family = v6 ? AF_INET6 : AF_INET;
	key.protocol = IPPROTO_TCP;
	addr(src, tnl.saddr.v6);
	addr(dst, tnl.daddr.v6);
	tnl.family = key.family;
	if (bpf_map_update_elem(fd, &key, &tnl, BPF_ANY))
		die("vip2tnl");
}

static void setup_upstream(struct loaded *l)
{
	int fd = map_fd(l->obj, "vip2tnl");

	put_upstream(fd, "192.0.2.1", "192.0.2.10", "192.0.2.11");
	put_upstream(fd, "2001:db8::1", "2001:db8::10", "2001:db8::11");
}

/* A TCP SYN from client port 40000 + flow, or an ARP request */
static int frame(__u8 *f, const struct bench_case *c, int flow)
{
	int v6 = c->dst && strchr(c->dst, ':'), l4;
	__u16 sport = 40000 + flow;

	memset(f, 0, 128);
	memcpy(f, "\x02\x00\x00\x00\x00\x10\x02\x00\x00\x00\x00\x01", 12);
	if (c->arp) {
		memcpy(f + 12, "\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01", 10);
		return 60;
	}
	if (v6) {
		memcpy(f + 12, "\x86\xdd\x60\x00\x00\x00\x00\x14\x06\x40", 10);
		addr("2001:db8:c::1", (__be32 *)(f + 22));
		addr(c->dst, (__be32 *)(f + 38));
		l4 = 54;
	} else {
		memcpy(f + 12, "\x08\x00\x45\x00\x00\x28\x00\x00\x40\x00\x40\x06",
		       12);
		addr("203.0.113.1", (__be32 *)(f + 26));
		memcpy(f + 30, f + 26, 4);	/* placeholder, then dst */
		addr(c->dst, (__be32 *)(f + 30));
		l4 = 34;
	}
	f[l4] = sport >> 8;
	f[l4 + 1] = sport;
	f[l4 + 2] = c->dport >> 8;
	f[l4 + 3] = c->dport;
	f[l4 + 12] = 0x50;
	f[l4 + 13] = 0x02;
	return l4 + 20;
}

static __u32 run_once(int prog_fd, __u8 *in, int len)
{
	__u8 out[256];
	struct bpf_test_run_opts opts = {
		.sz = sizeof(opts),
		.data_in = in,
		.data_size_in = len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = 1,
	};

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		die("BPF_PROG_TEST_RUN");
	return opts.duration;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static double median(__u32 *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* result[case][prog][round] */
static double result[NR_CASES][NR_PROGS][256];

int main(int argc, char **argv)
{
	static __u32 samples[NR_PROGS][MAX_SAMPLES];
	int rounds = 20, calls = 2000, r, c, p, i, opt;
	__u8 frames[FLOWS][128];
	int lens[FLOWS];

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'n')
			calls = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 3 || rounds < 1 || rounds > 256 || calls < 1 ||
	    calls > MAX_SAMPLES) {
		fprintf(stderr,
			"usage: pktcost [-r ROUNDS<=256] [-n CALLS<=%d] OURS.o UPSTREAM.o FLOOR.o\n",
			MAX_SAMPLES);
		return 2;
	}
	libbpf_set_print(NULL);

	for (r = 0; r < rounds; r++) {
		struct loaded l[NR_PROGS];

		l[OURS] = load(argv[optind], "xdp_iptunnel");
		setup_ours(&l[OURS], 0);
		l[OURS_10K] = load(argv[optind], "xdp_iptunnel");
		setup_ours(&l[OURS_10K], FILLER_VIPS);
		l[UPSTREAM] = load(argv[optind + 1], "_xdp_tx_iptunnel");
		setup_upstream(&l[UPSTREAM]);
		l[UPSTREAM2] = load(argv[optind + 1], "_xdp_tx_iptunnel");
		setup_upstream(&l[UPSTREAM2]);
		l[FLOOR] = load(argv[optind + 2], "xdp_pass");

		for (c = 0; c < (int)NR_CASES; c++) {
			for (i = 0; i < FLOWS; i++)
				lens[i] = frame(frames[i], &cases[c], i);
			for (i = 0; i < calls; i++) {
				int f = i % FLOWS;

				for (p = 0; p < NR_PROGS; p++) {
					if ((p == UPSTREAM || p == UPSTREAM2) &&
					    !cases[c].upstream)
						continue;
					samples[p][i] = run_once(l[p].prog_fd,
								 frames[f],
								 lens[f]);
				}
			}
			for (p = 0; p < NR_PROGS; p++)
				result[c][p][r] = median(samples[p], calls);
		}
		for (p = 0; p < NR_PROGS; p++)
			bpf_object__close(l[p].obj);
		fprintf(stderr, "\rround %d/%d", r + 1, rounds);
	}
	fprintf(stderr, "\n");

	/* one line per case: medians over rounds, and p10/p90 of ours */
	printf("%-20s %8s %8s %8s %8s %8s %7s %10s %8s\n", "case", "ours",
	       "p10", "p90", "10kVIPs", "upstream", "ratio", "resolution",
	       "floor");
	for (c = 0; c < (int)NR_CASES; c++) {
		double m[NR_PROGS], lo, hi;

		for (p = 0; p < NR_PROGS; p++) {
			qsort(result[c][p], rounds, sizeof(double), cmp_double);
			m[p] = result[c][p][rounds / 2];
		}
		lo = result[c][OURS][rounds / 10];
		hi = result[c][OURS][rounds - 1 - rounds / 10];
		if (cases[c].upstream)
			printf("%-20s %8.1f %8.1f %8.1f %8.1f %8.1f %7.3f %10.3f %8.1f\n",
			       cases[c].name, m[OURS], lo, hi, m[OURS_10K],
			       m[UPSTREAM], m[OURS] / m[UPSTREAM],
			       m[UPSTREAM2] / m[UPSTREAM], m[FLOOR]);
		else
			printf("%-20s %8.1f %8.1f %8.1f %8.1f %8s %7s %10s %8.1f\n",
			       cases[c].name, m[OURS], lo, hi, m[OURS_10K],
			       "-", "-", "-", m[FLOOR]);
	}
	printf("# %d rounds x %d calls per program and case, %d flows;",
	       rounds, calls, FLOWS);
	printf(" ns per packet, kernel-measured\n");
	printf("# %s\n", prog_names[OURS_10K]);
	return 0;
}
