// SPDX-License-Identifier: GPL-2.0
/*
 * pktcost: nanoseconds per packet of xdp_iptunnel against the kernel's
 * samples/bpf/xdp_tx_iptunnel and an empty program, by BPF_PROG_TEST_RUN.
 *
 * Every call runs a program once (repeat = 1: a repeat count re-runs the
 * program on its own output) and keeps the duration the kernel measured.
 * Two loads of one object differ by up to a quarter per packet for the
 * life of each load (hash seeds, memory placement), so every round loads
 * every program afresh, fills its maps, and runs the programs in turn call
 * by call over several flows; the figures are medians over rounds. A
 * second load of the upstream program, measured the same way, is the
 * benchmark's resolution: its ratio to the first should be 1. A third,
 * its table enlarged to our size, shows what the size alone costs.
 *
 * The kernel's clock here may tick in steps of several nanoseconds, which
 * a median cannot see through; the mean of the middle 80% of a round's
 * calls can (its readings straddle the steps), so that trimmed mean is
 * what a round reports per program, and ratios are taken round by round.
 * The plain median and the 10th and 90th percentiles of the calls are
 * printed too.
 *
 * Every call's verdict and output length are checked (a hit must leave
 * tunnelled, a miss untouched): a program measured on the wrong path
 * stops the benchmark rather than giving a figure.
 *
 *	pktcost [-r ROUNDS] [-n CALLS] [-w WARM_CALLS] [-o TSV]
 *		[-p PREVIOUS.o] [-s STEP=STAGE.o]... [-u STEP=STAGE.o]...
 *		OURS.o UPSTREAM.o BENCH_KERN.o REAL.o
 *
 * -o writes the table as tab-separated values. Each -s adds a copy of
 * ours cut short after a step (bench/stages.py), run on the IPv4 hit in
 * the same rounds, its verdict unchecked: where a tunnelled packet's
 * time goes. -u does the same with a copy of upstream.
 *
 * On the IPv4 hit also: ours with a trace on (trace_ctl set to record
 * every packet, the ring drained between calls), and with -p an object
 * built from a previous tree, loaded and filled as ours is: what the
 * trace costs when on, and that it costs nothing when off.
 *
 * REAL.o, the real server's program (xdp_iptunnel --real), runs on
 * packets a director tunnelled to it, 4in4 and 6in6: without a hint,
 * and hinted with and without a connection here. Its socket lookup asks
 * the stack of the namespace the test run happens in, so pktcost first
 * moves into a network namespace of its own (unshare: nameless, gone
 * with the process however it ends) and opens there a listener on each
 * VIP and a connection per flow. Besides verdict and length, the
 * program's counters must say each call took its case's path.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include "../xdp_iptunnel_common.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FLOWS		8
#define FILLER_VIPS	10000
#define MAX_CALLS	20000
#define MAX_ROUNDS	200
#define MTU		1500	/* as the loader sets from a 1500-byte link */
#define FRAME_MAX	160	/* 6in6 with the hint: 138 bytes */

enum prog {
	OURS,		/* the case VIPs only */
	OURS_10K,	/* and 10,000 more */
	UPSTREAM,
	UPSTREAM2,	/* a second load: the resolution */
	UPSTREAM_CAP,	/* with a table as large as ours */
	FLOOR,		/* return XDP_PASS */
	TRACE_ON,	/* ours, tracing every packet: IPv4 hit only */
	PREVIOUS,	/* -p: ours from a previous tree, IPv4 hit only */
	REAL,		/* the real server's program: its cases only */
	STAGE0,		/* -s, -u: copies cut short after a step, IPv4 hit */
	NR_PROGS = STAGE0 + 8,
};

enum upstream_does {
	UP_NO,		/* upstream cannot: ours only */
	UP_SAME,	/* upstream runs the same packet */
	UP_V4HIT,	/* compared with upstream's IPv4 hit, its only way */
};

/* The real server's cases: what its program is given, what it must do */
enum real_does {
	NOT_REAL,	/* a director's case */
	REAL_PLAIN,	/* no hint: decapsulated (XDP_PASS) */
	REAL_KNOWN,	/* hinted, a connection here: decapsulated */
	REAL_FORWARDED,	/* hinted, none here: to the previous real (XDP_TX) */
};

struct bench_case {
	const char *name;
	const char *dst;	/* IPv6 when it holds a ':'; NULL: ARP */
	__u16 dport;
	enum upstream_does upstream;
	int repeat;		/* runs per call, each on the last's output */
	int outer;		/* bytes a hit adds (20, 28, 40); 0: a miss */
	int icmp_error;		/* an ICMP error about a flow of the VIP */
	enum real_does real;	/* outer: the bytes of the outer header */
};

/*
 * Ours: 192.0.2.1 and 2001:db8::1 one real each; 192.0.2.2 -> an IPv6
 * real, 2001:db8::2 -> an IPv4 real; 192.0.2.3 16 reals and 192.0.2.4
 * 1000 reals on Maglev rings; 192.0.2.5 ports 1-65535; 192.0.2.6 16
 * reals in a grace period, every slot with a previous owner (a moved
 * flow: an 8-byte hint in the outer IPv4 header). Upstream: its
 * only two kinds, 192.0.2.1 (4in4) and 2001:db8::1 (6in6), port 80.
 */
#define WARM	1000

static const struct bench_case cases[] = {
	{ "IPv4 hit (4in4)", "192.0.2.1", 80, UP_SAME, 1, 20, 0, 0 },
	{ "IPv6 hit (6in6)", "2001:db8::1", 80, UP_SAME, 1, 40, 0, 0 },
	{ "4in6", "192.0.2.2", 80, UP_NO, 1, 40, 0, 0 },
	{ "6in4", "2001:db8::2", 80, UP_NO, 1, 20, 0, 0 },
	{ "IPv4, 16 reals", "192.0.2.3", 80, UP_V4HIT, 1, 20, 0, 0 },
	{ "IPv4, 1000 reals", "192.0.2.4", 80, UP_V4HIT, 1, 20, 0, 0 },
	{ "IPv4, ports 1-65535", "192.0.2.5", 443, UP_V4HIT, 1, 20, 0, 0 },
	{ "IPv4 moved, hinted", "192.0.2.6", 80, UP_V4HIT, 1, 28, 0, 0 },
	{ "miss: not a VIP", "192.0.2.99", 80, UP_SAME, 1, 0, 0, 0 },
	{ "miss: port outside", "192.0.2.1", 81, UP_SAME, 1, 0, 0, 0 },
	{ "non-IP (ARP)", NULL, 0, UP_SAME, 1, 0, 0, 0 },
	/* to the VIP about its flow: upstream passes ICMP to the stack */
	{ "ICMP frag needed", "192.0.2.1", 80, UP_NO, 1, 20, 1, 0 },
	{ "ICMPv6 too big", "2001:db8::1", 80, UP_NO, 1, 40, 1, 0 },
	/* the real server's program; dst: the inner destination, the VIP */
	{ "real 4in4: plain", "192.0.2.1", 80, UP_NO, 1, 20, 0, REAL_PLAIN },
	{ "real 4in4: known", "192.0.2.1", 80, UP_NO, 1, 28, 0, REAL_KNOWN },
	{ "real 4in4: forwarded", "192.0.2.1", 80, UP_NO, 1, 28, 0,
	  REAL_FORWARDED },
	{ "real 6in6: plain", "2001:db8::1", 80, UP_NO, 1, 40, 0, REAL_PLAIN },
	{ "real 6in6: known", "2001:db8::1", 80, UP_NO, 1, 64, 0, REAL_KNOWN },
	{ "real 6in6: forwarded", "2001:db8::1", 80, UP_NO, 1, 64, 0,
	  REAL_FORWARDED },
	/*
	 * Warm: WARM runs per call, possible where the program leaves the
	 * packet as it was (a hit would see its own output the next run).
	 * With a repeat count the kernel puts the program in the XDP
	 * dispatcher for the call (a direct call, not a retpoline) and takes
	 * it out again, waiting for RCU twice: a few calls per round only.
	 */
	{ "warm: not a VIP", "192.0.2.99", 80, UP_SAME, WARM, 0, 0, 0 },
	{ "warm: port outside", "192.0.2.1", 81, UP_SAME, WARM, 0, 0, 0 },
	{ "warm: non-IP (ARP)", NULL, 0, UP_SAME, WARM, 0, 0, 0 },
};

#define NR_CASES	ARRAY_SIZE(cases)
/* cases[] indexes */
#define V4HIT		0
#define REALS16		4
#define REALS1000	5
#define MISS		8

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

/* What one round says of one program on one case, in ns. */
struct round_stat {
	double tmean;	/* mean of the middle 80% of the calls */
	double median;
	double p10;
	double p90;
};

static struct round_stat stats[NR_CASES][NR_PROGS][MAX_ROUNDS];
static __u32 samples[NR_PROGS][MAX_CALLS];
static const char *prog_names[NR_PROGS] = {
	"ours", "ours+10k VIPs", "upstream", "upstream again",
	"upstream, 16384 entries", "floor", "ours, trace on",
	"previous tree", "real server",
};

static const char *previous_file;	/* -p */
static struct ring_buffer *trace_rb;	/* TRACE_ON's, this round */

static const char *stage_files[NR_PROGS];
static int stage_upstream[NR_PROGS];	/* -u: a copy of upstream */
static int nr_progs = STAGE0;	/* and one per -s or -u */

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

/* TABLE_SIZE: when not 0, upstream's vip2tnl gets that many entries */
static struct bpf_object *load(const char *path, const char *prog_name,
			       __u32 table_size, int *prog_fd)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;

	if (!obj)
		die(path);
	if (table_size &&
	    bpf_map__set_max_entries(bpf_object__find_map_by_name(obj,
								  "vip2tnl"),
				     table_size))
		die("vip2tnl");
	if (bpf_object__load(obj))
		die(path);
	prog = bpf_object__find_program_by_name(obj, prog_name);
	if (!prog)
		die(prog_name);
	*prog_fd = bpf_program__fd(prog);
	return obj;
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

/* One VIP, in the first free slot from where the program starts looking */
static void put_vip(struct vip_slot *table, const char *vip, __u16 min,
		    __u16 max, __u32 vip_id, __u32 real_id, __u32 flags)
{
	struct vip_slot e = { .key.protocol = IPPROTO_TCP,
			      .value.nr_ranges = 1 };
	__u32 slot, i;

	addr(vip, e.key.addr);
	e.key.family = strchr(vip, ':') ? AF_INET6 : AF_INET;
	e.value.range[0].port_min = min;
	e.value.range[0].port_max = max;
	e.value.range[0].vip_id = vip_id;
	e.value.range[0].real_id = real_id;
	e.value.range[0].flags = flags;
	slot = vip_key_hash(&e.key);
	for (i = 0; i < VIP_PROBES_MAX && table[slot].key.family; i++)
		slot = (slot + 1) & (VIP_TABLE_SIZE - 1);
	if (i == VIP_PROBES_MAX) {
		fprintf(stderr,
			"pktcost: %s: the %d slots of the VIP table where the program looks for it are taken\n",
			vip, VIP_PROBES_MAX);
		exit(1);
	}
	table[slot] = e;
}

/* A ring of real ids first .. first + n - 1, slot by slot. */
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

/*
 * What the loader would write for the VIPs above, and FILLERS more: the
 * VIPs into the program's first table, through mmap().
 */
static void setup_ours(struct bpf_object *obj, int fillers)
{
	struct config cfg = { .smac = { 2, 0, 0, 0, 0, 0x10 }, .mtu = MTU };
	int table = map_fd(obj, "first_vip_table");
	int reals = map_fd(obj, "reals");
	int rings = map_fd(obj, "vip_rings");
	struct vip_slot *vips;
	__u64 never = ~0ULL;	/* a grace period that does not end */
	__u32 zero = 0, seven = 7, i;
	char name[64];

	vips = mmap(NULL, VIP_TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		    table, 0);
	if (vips == MAP_FAILED)
		die("first_vip_table");
	if (bpf_map_update_elem(map_fd(obj, "config_map"), &zero, &cfg, 0))
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
	/* a previous tree (-p, the IPv4 hit only) may predate grace periods */
	if (bpf_object__find_map_by_name(obj, "grace_ends")) {
		put_ring(rings, 7, 2, 16);
		put_ring(map_fd(obj, "prev_rings"), 7, 2 + 16 + 1, 16);
		if (bpf_map_update_elem(map_fd(obj, "grace_ends"), &seven,
					&never, 0))
			die("grace_ends");
		put_vip(vips, "192.0.2.6", 80, 80, 7, 0,
			VIP_F_RING | VIP_F_GRACE);
	}
	for (i = 0; i < (unsigned int)fillers; i++) {
		snprintf(name, sizeof(name), "2001:db8:1::%x", i + 1);
		put_vip(vips, name, 80, 80, 8 + i, 1, 0);
	}
	munmap(vips, VIP_TABLE_BYTES);
}

static void put_upstream(int fd, const char *vip, __u8 protocol, __u16 port,
			 const char *src, const char *dst)
{
	struct upstream_tnl tnl = { .dmac = { 2, 0, 0, 0, 0, 0x11 } };
	struct upstream_vip key;
	int v6 = !!strchr(vip, ':');

	memset(&key, 0, sizeof(key));	/* its padding is hashed too */
	addr(vip, key.daddr.v6);
	key.dport = htons(port);
	key.family = v6 ? AF_INET6 : AF_INET;
	key.protocol = protocol;
	addr(src, tnl.saddr.v6);
	addr(dst, tnl.daddr.v6);
	tnl.family = key.family;
	if (bpf_map_update_elem(fd, &key, &tnl, BPF_ANY))
		die("vip2tnl");
}

static void setup_upstream(struct bpf_object *obj)
{
	int fd = map_fd(obj, "vip2tnl");

	put_upstream(fd, "192.0.2.1", IPPROTO_TCP, 80, "192.0.2.10",
		     "192.0.2.11");
	put_upstream(fd, "2001:db8::1", IPPROTO_TCP, 80, "2001:db8::10",
		     "2001:db8::11");
}

/*
 * The real server: 192.0.2.11 and 2001:db8::11 (the director's real 0
 * and 1 above) are its tunnel addresses; the hints name a previous real
 * whose MAC it knows. Its stack, set up by setup_stack(), holds the VIPs
 * and the client 203.0.113.1 / 2001:db8:c::1, which has a connection to
 * each VIP's port 80 from KNOWN_PORT + flow and none from UNKNOWN_PORT +
 * flow.
 */
#define REAL_DIRECTOR4	"192.0.2.10"
#define REAL_SELF4	"192.0.2.11"
#define REAL_PREV4	"198.51.100.2"
#define REAL_DIRECTOR6	"2001:db8::10"
#define REAL_SELF6	"2001:db8::11"
#define REAL_PREV6	"2001:db8::12"
#define CLIENT4		"203.0.113.1"
#define CLIENT6		"2001:db8:c::1"
#define KNOWN_PORT	40000
#define UNKNOWN_PORT	50000

static const char *real_event_names[RS_MAX] = {
	"plain", "syn", "known", "cookie", "last_resort", "forwarded",
	"no_peer",
};

static int real_events_fd = -1;	/* this round's load of REAL */

static void put_tunnel_addr(int fd, const char *s, const void *value)
{
	struct tunnel_addr key = {};

	key.family = strchr(s, ':') ? AF_INET6 : AF_INET;
	addr(s, key.addr);
	if (bpf_map_update_elem(fd, &key, value, BPF_ANY))
		die(s);
}

/* What xdp_iptunnel --real fills: the host's addresses, a known peer. */
static void setup_real(struct bpf_object *obj)
{
	struct peer prev = { .mac = { 2, 0, 0, 0, 0, 0x12 }, .resolved = 1 };
	int local = map_fd(obj, "local_addrs");
	int peers = map_fd(obj, "peers");
	__u8 yes = 1;

	put_tunnel_addr(local, REAL_SELF4, &yes);
	put_tunnel_addr(local, REAL_SELF6, &yes);
	put_tunnel_addr(peers, REAL_PREV4, &prev);
	put_tunnel_addr(peers, REAL_PREV6, &prev);
	real_events_fd = map_fd(obj, "real_events");
}

static socklen_t sockaddr_of(const char *s, __u16 port,
			     struct sockaddr_in6 *sa)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;

	memset(sa, 0, sizeof(*sa));
	if (strchr(s, ':')) {
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons(port);
		addr(s, (__be32 *)&sa->sin6_addr);
		return sizeof(*sa);
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	if (inet_pton(AF_INET, s, &sin->sin_addr) != 1)
		die(s);
	return sizeof(*sin);
}

/* A listener on vip:80, and FLOWS connections to it, left open. */
static void open_connections(const char *vip, const char *client)
{
	struct sockaddr_in6 sa;
	socklen_t len = sockaddr_of(vip, 80, &sa);
	int family = sa.sin6_family, lfd, fd, i;

	lfd = socket(family, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, len) ||
	    listen(lfd, FLOWS))
		die("listener");
	for (i = 0; i < FLOWS; i++) {
		len = sockaddr_of(client, KNOWN_PORT + i, &sa);
		fd = socket(family, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len))
			die("client socket");
		len = sockaddr_of(vip, 80, &sa);
		if (connect(fd, (struct sockaddr *)&sa, len) ||
		    accept(lfd, NULL, NULL) < 0)
			die("connection");
	}
}

/*
 * The real server's stack, where the test runs ask: a network namespace
 * of this process's own, which the kernel removes when it exits.
 */
static void setup_stack(void)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		"ip addr add 192.0.2.1/32 dev lo",
		"ip addr add " CLIENT4 "/32 dev lo",
		"ip addr add 2001:db8::1/128 dev lo nodad",
		"ip addr add " CLIENT6 "/128 dev lo nodad",
	};
	unsigned int i;

	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET)");
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (system(cmds[i])) {
			fprintf(stderr, "pktcost: %s: failed\n", cmds[i]);
			exit(1);
		}
	}
	open_connections("192.0.2.1", CLIENT4);
	open_connections("2001:db8::1", CLIENT6);
}

/* An address, 4 or 16 bytes, at p (addr() writes 16 bytes always). */
static void addr_at(__u8 *p, const char *s)
{
	__be32 a[4];

	addr(s, a);
	memcpy(p, a, strchr(s, ':') ? 16 : 4);
}

/*
 * What a director sends the real server: an ACK from the client to the
 * VIP, from KNOWN_PORT + flow (its connection is here) or, forwarded,
 * UNKNOWN_PORT + flow, tunnelled 4in4 or 6in6, hinted but for a plain
 * case. Checksums left 0: the program checks none, and when it forwards
 * it computes the outer IPv4 one afresh.
 */
static int real_frame(__u8 *f, const struct bench_case *c, int flow)
{
	int v6 = !!strchr(c->dst, ':'), hinted = c->real != REAL_PLAIN;
	__u16 sport = (c->real == REAL_FORWARDED ? UNKNOWN_PORT :
		       KNOWN_PORT) + flow;
	int ip = 14, in = ip + c->outer, l4, len;

	memset(f, 0, FRAME_MAX);
	memcpy(f, "\x02\x00\x00\x00\x00\x11\x02\x00\x00\x00\x00\x10", 12);
	if (v6) {
		struct hint6 h = {
			.nexthdr = IPPROTO_IPV6,
			.hdrlen = sizeof(h) / 8 - 1,
			.type = HINT6_TYPE,
			.len = HINT6_OPT_LEN,
			.padn_type = HINT6_PADN,
		};

		len = in + 40 + 20;
		memcpy(f + 12, "\x86\xdd\x60", 3);
		f[ip + 4] = (len - ip - 40) >> 8;
		f[ip + 5] = len - ip - 40;
		f[ip + 6] = hinted ? IPPROTO_DSTOPTS : IPPROTO_IPV6;
		f[ip + 7] = 64;
		addr_at(f + ip + 8, REAL_DIRECTOR6);
		addr_at(f + ip + 24, REAL_SELF6);
		addr_at(h.addr, REAL_PREV6);
		if (hinted)
			memcpy(f + ip + 40, &h, sizeof(h));
		memcpy(f + in, "\x60\x00\x00\x00\x00\x14\x06\x40", 8);
		addr_at(f + in + 8, CLIENT6);
		addr_at(f + in + 24, c->dst);
		l4 = in + 40;
	} else {
		struct hint4 h = { .type = HINT4_TYPE, .len = sizeof(h) };

		len = in + 20 + 20;
		memcpy(f + 12, "\x08\x00", 2);
		f[ip] = 0x40 | c->outer / 4;
		f[ip + 2] = (len - ip) >> 8;
		f[ip + 3] = len - ip;
		f[ip + 6] = 0x40;		/* DF */
		f[ip + 8] = 64;
		f[ip + 9] = IPPROTO_IPIP;
		addr_at(f + ip + 12, REAL_DIRECTOR4);
		addr_at(f + ip + 16, REAL_SELF4);
		addr_at((__u8 *)&h.addr, REAL_PREV4);
		if (hinted)
			memcpy(f + ip + 20, &h, sizeof(h));
		memcpy(f + in, "\x45\x00\x00\x28\x00\x00\x40\x00\x40\x06",
		       10);
		addr_at(f + in + 12, CLIENT4);
		addr_at(f + in + 16, c->dst);
		l4 = in + 20;
	}
	f[l4] = sport >> 8;
	f[l4 + 1] = sport;
	f[l4 + 2] = c->dport >> 8;
	f[l4 + 3] = c->dport;
	f[l4 + 7] = 1;			/* sequence 1, acknowledging 1 */
	f[l4 + 11] = 1;
	f[l4 + 12] = 0x50;
	f[l4 + 13] = 0x10;		/* ACK */
	f[l4 + 14] = 0xff;		/* window */
	f[l4 + 15] = 0xff;
	return len;
}

/*
 * A router's "fragmentation needed" (MTU 1400) or "packet too big" to the
 * VIP, quoting the answer to the client's SYN of flow: the IP header and
 * 8 bytes of TCP (checksums left 0: the program reads neither).
 */
static int icmp_error_frame(__u8 *f, const struct bench_case *c, int flow)
{
	int v6 = !!strchr(c->dst, ':'), l4, q;
	__u16 sport = 40000 + flow;

	memset(f, 0, FRAME_MAX);
	memcpy(f, "\x02\x00\x00\x00\x00\x10\x02\x00\x00\x00\x00\x01", 12);
	if (v6) {
		memcpy(f + 12, "\x86\xdd\x60\x00\x00\x00\x00\x38\x3a\x40", 10);
		addr("2001:db8:f::1", (__be32 *)(f + 22));
		addr(c->dst, (__be32 *)(f + 38));
		l4 = 54;
		f[l4] = 2;			/* packet too big */
		f[l4 + 6] = 1400 >> 8;
		f[l4 + 7] = 1400 & 0xff;
		q = l4 + 8;
		memcpy(f + q, "\x60\x00\x00\x00\x00\x14\x06\x40", 8);
		addr(c->dst, (__be32 *)(f + q + 8));
		addr("2001:db8:c::1", (__be32 *)(f + q + 24));
		q += 40;
	} else {
		memcpy(f + 12, "\x08\x00\x45\x00\x00\x38\x00\x00\x00\x00\x40\x01",
		       12);
		addr("198.51.100.1", (__be32 *)(f + 26));
		addr(c->dst, (__be32 *)(f + 30));
		l4 = 34;
		f[l4] = 3;			/* destination unreachable */
		f[l4 + 1] = 4;			/* fragmentation needed */
		f[l4 + 6] = 1400 >> 8;
		f[l4 + 7] = 1400 & 0xff;
		q = l4 + 8;
		memcpy(f + q, "\x45\x00\x05\xdc\x00\x00\x40\x00\x40\x06", 10);
		addr(c->dst, (__be32 *)(f + q + 12));
		addr("203.0.113.1", (__be32 *)(f + q + 16));
		q += 20;
	}
	f[q] = c->dport >> 8;
	f[q + 1] = c->dport;
	f[q + 2] = sport >> 8;
	f[q + 3] = sport;
	return q + 8;
}

/* A TCP SYN from client port 40000 + flow, an ARP request, or above. */
static int frame(__u8 *f, const struct bench_case *c, int flow)
{
	int v6 = c->dst && strchr(c->dst, ':'), l4;
	__u16 sport = 40000 + flow;

	if (c->icmp_error)
		return icmp_error_frame(f, c, flow);
	if (c->real)
		return real_frame(f, c, flow);
	memset(f, 0, FRAME_MAX);
	memcpy(f, "\x02\x00\x00\x00\x00\x10\x02\x00\x00\x00\x00\x01", 12);
	if (!c->dst) {
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
		addr(c->dst, (__be32 *)(f + 30));
		l4 = 34;
	}
	f[l4] = sport >> 8;
	f[l4 + 1] = sport;
	f[l4 + 2] = c->dport >> 8;
	f[l4 + 3] = c->dport;
	f[l4 + 12] = 0x50;
	f[l4 + 13] = 0x02;
	return l4 + 20 < 60 ? 60 : l4 + 20;
}

/* What the real server's program did on its cases, for the table. */
static struct {
	__u32 verdict, len_in, len_out;
	__u64 counted;		/* its counter of the case's path */
} real_seen[NR_CASES];

/* The counter each real server's case must move, once per call */
static const int real_path_event[] = {
	[REAL_PLAIN] = RS_PLAIN,
	[REAL_KNOWN] = RS_KNOWN,
	[REAL_FORWARDED] = RS_FORWARDED,
};

/* real_events, summed over the CPUs */
static void read_real_events(__u64 *ev)
{
	int ncpus = libbpf_num_possible_cpus(), cpu;
	__u64 v[ncpus > 0 ? ncpus : 1];
	__u32 i;

	for (i = 0; i < RS_MAX; i++) {
		if (ncpus <= 0 || bpf_map_lookup_elem(real_events_fd, &i, v))
			die("real_events");
		for (ev[i] = 0, cpu = 0; cpu < ncpus; cpu++)
			ev[i] += v[cpu];
	}
}

/*
 * After N calls of case C: its path's counter moved by N, no other. A
 * hinted packet decapsulated as a last resort, say, has the verdict and
 * length of a known one.
 */
static void check_real_events(int c, const __u64 *before, int n)
{
	int event = real_path_event[cases[c].real], i;
	__u64 after[RS_MAX], want;

	read_real_events(after);
	for (i = 0; i < RS_MAX; i++) {
		want = i == event ? n : 0;
		if (after[i] - before[i] != want) {
			fprintf(stderr,
				"pktcost: real server on \"%s\": %s +%llu in %d calls, expected +%llu\n",
				cases[c].name, real_event_names[i],
				after[i] - before[i], n, want);
			exit(1);
		}
	}
	real_seen[c].counted += after[event] - before[event];
}

/* Program P's verdict on case C, and the length of its output in *out. */
static __u32 expect(int p, int c, int len, int *out)
{
	const struct bench_case *k = &cases[c];

	*out = len;
	if (p == FLOOR)
		return XDP_PASS;
	if (k->real == REAL_FORWARDED)
		return XDP_TX;
	if (k->real) {
		*out = len - k->outer;
		return XDP_PASS;
	}
	*out = len + k->outer;
	return k->outer ? XDP_TX : XDP_PASS;
}

/* One call; dies unless program P did what case C expects. */
static __u32 run_once(int prog_fd, int p, int c, __u8 *in, int len)
{
	__u8 out[256];
	struct bpf_test_run_opts opts = {
		.sz = sizeof(opts),
		.data_in = in,
		.data_size_in = len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = cases[c].repeat,
	};
	int want;
	__u32 verdict = expect(p, c, len, &want);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		die("BPF_PROG_TEST_RUN");
	if (p >= STAGE0)
		return opts.duration;	/* cut short: any verdict */
	if (opts.retval != verdict || opts.data_size_out != (__u32)want) {
		fprintf(stderr,
			"pktcost: %s on \"%s\": verdict %u, %u bytes out of %d; expected %u, %d\n",
			prog_names[p], cases[c].name, opts.retval,
			opts.data_size_out, len, verdict, want);
		exit(1);
	}
	if (p == REAL) {
		real_seen[c].verdict = opts.retval;
		real_seen[c].len_in = len;
		real_seen[c].len_out = opts.data_size_out;
	}
	return opts.duration;
}

/* 0 .. n - 1 in a random order */
static void shuffle(int *v, int n)
{
	int i, k, t;

	for (i = 0; i < n; i++)
		v[i] = i;
	for (i = n - 1; i > 0; i--) {
		k = rand() % (i + 1);
		t = v[i];
		v[i] = v[k];
		v[k] = t;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct round_stat round_stat(__u32 *v, int n)
{
	struct round_stat s;
	double sum = 0;
	int i, lo = n / 10, hi = n - n / 10;

	qsort(v, n, sizeof(*v), cmp_u32);
	for (i = lo; i < hi; i++)
		sum += v[i];
	s.tmean = sum / (hi - lo);
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
	s.p10 = v[n / 10];
	s.p90 = v[n - 1 - n / 10];
	return s;
}

/* The q-quantile (by rank, 0..1) of v[0..n-1], which it sorts. */
static double quantile(double *v, int n, double q)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(int)(q * (n - 1) + 0.5)];
}

static double med_of(int c, int p, size_t field, int rounds)
{
	double v[MAX_ROUNDS];
	int r;

	for (r = 0; r < rounds; r++)
		v[r] = *(double *)((char *)&stats[c][p][r] + field);
	return quantile(v, rounds, 0.5);
}

#define MED(c, p, f)	med_of(c, p, offsetof(struct round_stat, f), rounds)

struct ratio {
	double med, lo, hi;	/* median and 10th / 90th percentile */
	int valid;
};

/* Round by round: program p on case c over program q on case d. */
static struct ratio ratio_of(int c, int p, int d, int q, int rounds)
{
	struct ratio x = { .valid = 1 };
	double v[MAX_ROUNDS];
	int r;

	for (r = 0; r < rounds; r++)
		v[r] = stats[c][p][r].tmean / stats[d][q][r].tmean;
	x.med = quantile(v, rounds, 0.5);
	x.lo = quantile(v, rounds, 0.1);
	x.hi = quantile(v, rounds, 0.9);
	return x;
}

/* Ours (or a variant) against upstream on case c, and the resolution. */
static void compare(int c, int p, int rounds, struct ratio *vs,
		    struct ratio *res)
{
	int d = c;

	if (cases[c].upstream == UP_V4HIT)
		d = V4HIT;
	memset(vs, 0, sizeof(*vs));
	memset(res, 0, sizeof(*res));
	if (cases[c].upstream == UP_NO)
		return;
	*vs = ratio_of(c, p, d, UPSTREAM, rounds);
	*res = ratio_of(d, UPSTREAM2, d, UPSTREAM, rounds);
}

static void print_ratio(const struct ratio *x)
{
	if (x->valid)
		printf(" %6.3f %5.2f-%-5.2f", x->med, x->lo, x->hi);
	else
		printf(" %6s %11s", "-", "");
}

static void flat(const char *what, int c, int p, int d, int q, int rounds)
{
	struct ratio x = ratio_of(c, p, d, q, rounds);

	printf("%-40s", what);
	print_ratio(&x);
	printf("\n");
}

static int runs_on(int p, int c)
{
	if (cases[c].real)
		return p == REAL || p == FLOOR;
	if (p == REAL)
		return 0;
	if (p == UPSTREAM || p == UPSTREAM2 || p == UPSTREAM_CAP)
		return cases[c].upstream == UP_SAME;
	if (p >= STAGE0)
		return p < nr_progs && c == V4HIT;
	if (p == TRACE_ON)
		return c == V4HIT;
	if (p == PREVIOUS)
		return previous_file && c == V4HIT;
	return 1;
}

/*
 * The durations the empty program took in one round (V sorted), those of
 * 5% of the calls or more: the steps of the kernel's clock show here.
 */
static void print_clock(const __u32 *v, int n)
{
	int i, j;

	printf("# durations of the empty program, ns (share of calls):");
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && v[j] == v[i]; j++)
			;
		if (20 * (j - i) >= n)
			printf(" %u (%.0f%%)", v[i], 100.0 * (j - i) / n);
	}
	printf("\n");
}

/*
 * What the real server's program did on its cases: the last call's
 * verdict and lengths (every call was checked) and how many calls its
 * counters put on the case's path, over all rounds.
 */
static void print_real(void)
{
	int c;

	printf("\n# the real server's program: verdict, bytes in and out, counter (all rounds)\n");
	printf("%-20s %-8s %4s %4s  %s\n", "case", "verdict", "in", "out",
	       "counter");
	for (c = 0; c < (int)NR_CASES; c++) {
		const char *verdict = "?";

		if (!cases[c].real)
			continue;
		if (real_seen[c].verdict == XDP_PASS)
			verdict = "XDP_PASS";
		else if (real_seen[c].verdict == XDP_TX)
			verdict = "XDP_TX";
		printf("%-20s %-8s %4u %4u  %s %llu\n", cases[c].name, verdict,
		       real_seen[c].len_in, real_seen[c].len_out,
		       real_event_names[real_path_event[cases[c].real]],
		       real_seen[c].counted);
	}
}

/*
 * Upstream's table holds 256 entries, ours VIP_ADDR_MAX: how much of the
 * difference is the size of the table alone.
 */
static void print_same_size(int rounds)
{
	struct ratio up, ours;
	int c;

	printf("\n# upstream with a table as large as ours (vip2tnl of %d entries)\n",
	       VIP_ADDR_MAX);
	printf("%-20s %9s %18s %18s\n", "case", "upstr16k",
	       "upstr16k/upstream", "ours/upstr16k");
	for (c = 0; c < (int)NR_CASES; c++) {
		if (cases[c].upstream != UP_SAME || cases[c].repeat > 1 ||
		    !cases[c].dst)
			continue;
		up = ratio_of(c, UPSTREAM_CAP, c, UPSTREAM, rounds);
		ours = ratio_of(c, OURS, c, UPSTREAM_CAP, rounds);
		printf("%-20s %9.1f", cases[c].name,
		       MED(c, UPSTREAM_CAP, tmean));
		print_ratio(&up);
		print_ratio(&ours);
		printf("\n");
	}
}

/* The IPv4 hit: trace off against a previous tree, and trace on. */
static void print_trace(int rounds)
{
	struct ratio off, on = ratio_of(V4HIT, TRACE_ON, V4HIT, OURS, rounds);

	printf("\n# the trace (xdp_iptunnel --trace), IPv4 hit: ns, ratio (median, 10-90%%)\n");
	if (previous_file) {
		off = ratio_of(V4HIT, OURS, V4HIT, PREVIOUS, rounds);
		printf("%-34s %6.1f\n", "previous tree",
		       MED(V4HIT, PREVIOUS, tmean));
		printf("%-34s %6.1f", "trace off / previous tree",
		       MED(V4HIT, OURS, tmean));
		print_ratio(&off);
		printf("\n");
	}
	printf("%-34s %6.1f", "trace on, every packet / off",
	       MED(V4HIT, TRACE_ON, tmean));
	print_ratio(&on);
	printf("\n");
}

/* One row of the step profile: the copy cut after a step, or whole. */
static double print_step(const char *name, int p, double last, int rounds)
{
	double ns = MED(V4HIT, p, tmean);
	struct ratio vs = ratio_of(V4HIT, p, V4HIT, UPSTREAM, rounds);

	printf("%-20s %9.1f %9.1f", name, ns, ns - last);
	print_ratio(&vs);
	printf("\n");
	return ns;
}

/*
 * Where an IPv4 hit's time goes: each -s copy returns after one more step
 * of ours, each -u copy after one more of upstream's; the last row of
 * each is the whole program.
 */
static void print_stages(int rounds)
{
	double floor = MED(V4HIT, FLOOR, tmean), last;
	int p, upstream;

	if (nr_progs == STAGE0)
		return;
	printf("\n# IPv4 hit, each program cut short after each step (bench/stages.py)\n");
	printf("%-20s %9s %9s %18s\n", "after step", "ns", "step ns",
	       "/ upstream's hit");
	for (upstream = 0; upstream < 2; upstream++) {
		last = floor;
		for (p = STAGE0; p < nr_progs; p++)
			if (stage_upstream[p] == upstream)
				last = print_step(prog_names[p], p, last,
						  rounds);
		print_step(upstream ? "upstream: + the rest" : "+ count (all)",
			   upstream ? UPSTREAM : OURS, last, rounds);
	}
	printf("# the first step of each is over the empty program's %.1f ns\n",
	       floor);
}

/*
 * With page-table isolation and no PCID every system call reloads CR3,
 * which flushes every TLB entry but the kernel image's global ones: each
 * call's program finds no map, stack or packet page in the TLB.
 */
static void print_tlb(void)
{
	char line[4096];
	int pti = 0, pcid = 0;
	FILE *f;

	f = fopen("/sys/devices/system/cpu/vulnerabilities/meltdown", "r");
	if (f) {
		pti = fgets(line, sizeof(line), f) && strstr(line, "PTI");
		fclose(f);
	}
	f = fopen("/proc/cpuinfo", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "flags", 5) && strstr(line, " pcid"))
				pcid = 1;
		fclose(f);
	}
	if (pti && !pcid)
		printf("# this machine: page-table isolation without PCID: each system call\n"
		       "# flushes the TLB's kernel data entries, so a call pays a page walk\n"
		       "# for every page of maps, stack and packet it touches\n");
}

static void print_usage(void)
{
	fprintf(stderr,
		"usage: pktcost [-r ROUNDS<=%d] [-n CALLS<=%d] [-w WARM_CALLS] [-o TSV]\n"
		"               [-p PREVIOUS.o] [-s STEP=STAGE.o]... [-u STEP=STAGE.o]...\n"
		"               OURS.o UPSTREAM.o BENCH_KERN.o REAL.o\n",
		MAX_ROUNDS, MAX_CALLS);
	exit(2);
}

/* records are only drained: the cost is the program's */
static int drop_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

/* trace_ctl as xdp_iptunnel --trace sets it, with no filter or limit */
static void trace_every_packet(struct bpf_object *obj)
{
	struct trace_ctl ctl = { .ns_per_record = 1, .burst_ns = 1ULL << 62 };
	struct timespec now;
	__u32 zero = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ctl.expires_ns = (now.tv_sec + 3600) * 1000000000ULL;
	if (bpf_map_update_elem(map_fd(obj, "trace_ctl"), &zero, &ctl,
				BPF_ANY))
		die("trace_ctl");
	trace_rb = ring_buffer__new(map_fd(obj, "trace_ring"), drop_record,
				    NULL, NULL);
	if (!trace_rb)
		die("ring_buffer__new");
}

/* A fresh load of program P, its maps filled. */
static struct bpf_object *load_prog(int p, char **files, int *fd)
{
	struct bpf_object *obj;

	switch (p) {
	case UPSTREAM:
	case UPSTREAM2:
	case UPSTREAM_CAP:
		obj = load(files[1], "_xdp_tx_iptunnel",
			   p == UPSTREAM_CAP ? VIP_ADDR_MAX : 0, fd);
		setup_upstream(obj);
		break;
	case FLOOR:
		obj = load(files[2], "xdp_floor", 0, fd);
		break;
	case OURS:
	case OURS_10K:
	case TRACE_ON:
		obj = load(files[0], "xdp_iptunnel", 0, fd);
		setup_ours(obj, p == OURS_10K ? FILLER_VIPS : 0);
		if (p == TRACE_ON)
			trace_every_packet(obj);
		break;
	case REAL:
		obj = load(files[3], "xdp_iptunnel_real", 0, fd);
		setup_real(obj);
		break;
	case PREVIOUS:
		if (!previous_file)
			return NULL;
		obj = load(previous_file, "xdp_iptunnel", 0, fd);
		setup_ours(obj, 0);
		break;
	default:
		if (stage_upstream[p]) {
			obj = load(stage_files[p], "_xdp_tx_iptunnel", 0, fd);
			setup_upstream(obj);
			break;
		}
		obj = load(stage_files[p], "xdp_iptunnel", 0, fd);
		setup_ours(obj, 0);
	}
	return obj;
}

static void write_tsv(const char *path, int rounds)
{
	FILE *out = fopen(path, "w");
	int c, p;

	if (!out)
		die(path);
	fprintf(out, "case\tprogram\tns\tmedian\tp10\tp90\t");
	fprintf(out, "vs_upstream\tvs_lo\tvs_hi\tres\tres_lo\tres_hi\n");
	for (c = 0; c < (int)NR_CASES; c++) {
		for (p = 0; p < STAGE0; p++) {
			struct ratio vs = { 0 }, res = { 0 };

			if (!runs_on(p, c))
				continue;
			if (p == OURS || p == OURS_10K)
				compare(c, p, rounds, &vs, &res);
			fprintf(out, "%s\t%s\t%.1f\t%.0f\t%.0f\t%.0f\t",
				cases[c].name, prog_names[p],
				MED(c, p, tmean), MED(c, p, median),
				MED(c, p, p10), MED(c, p, p90));
			fprintf(out, "%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n",
				vs.med, vs.lo, vs.hi, res.med, res.lo, res.hi);
		}
	}
	if (fclose(out))
		die(path);
}

int main(int argc, char **argv)
{
	int rounds = 30, calls = 2000, warm_calls = 20, r, c, p, k, i, n, opt;
	__u8 frames[FLOWS][FRAME_MAX];
	const char *tsv = NULL;
	int lens[FLOWS];

	while ((opt = getopt(argc, argv, "r:n:w:o:p:s:u:")) != -1) {
		switch (opt) {
		case 'p':
			previous_file = optarg;
			break;
		case 's':
		case 'u':
			if (nr_progs == NR_PROGS || !strchr(optarg, '='))
				print_usage();
			stage_upstream[nr_progs] = opt == 'u';
			prog_names[nr_progs] = optarg;
			*strchr(optarg, '=') = '\0';
			stage_files[nr_progs++] = optarg + strlen(optarg) + 1;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'n':
			calls = atoi(optarg);
			break;
		case 'w':
			warm_calls = atoi(optarg);
			break;
		case 'o':
			tsv = optarg;
			break;
		default:
			print_usage();
		}
	}
	if (argc - optind != 4 || rounds < 3 || rounds > MAX_ROUNDS ||
	    calls < 10 || calls > MAX_CALLS || warm_calls < 1 ||
	    warm_calls > MAX_CALLS)
		print_usage();
	libbpf_set_print(NULL);
	setup_stack();

	for (r = 0; r < rounds; r++) {
		struct bpf_object *obj[NR_PROGS];
		int fd[NR_PROGS], order[NR_PROGS], turn[NR_PROGS];

		/*
		 * In a new order each round: where a program lands depends
		 * on what was loaded before it.
		 */
		shuffle(order, nr_progs);
		for (k = 0; k < nr_progs; k++) {
			p = order[k];
			obj[p] = load_prog(p, argv + optind, &fd[p]);
		}
		for (c = 0; c < (int)NR_CASES; c++) {
			__u64 before[RS_MAX];

			for (i = 0; i < FLOWS; i++)
				lens[i] = frame(frames[i], &cases[c], i);
			n = calls;
			if (cases[c].repeat > 1)
				n = warm_calls;
			if (cases[c].real)
				read_real_events(before);
			/*
			 * call by call, each program in turn, in a new order
			 * every time: a program leaves the caches and TLB to
			 * the next, so none may always follow the same one
			 */
			for (i = 0; i < n; i++) {
				shuffle(turn, nr_progs);
				for (k = 0; k < nr_progs; k++) {
					p = turn[k];
					if (runs_on(p, c))
						samples[p][i] =
							run_once(fd[p], p, c,
								 frames[i % FLOWS],
								 lens[i % FLOWS]);
				}
				/* untimed; the ring holds some 2000 records */
				if (c == V4HIT && i % 256 == 255)
					ring_buffer__consume(trace_rb);
			}
			if (cases[c].real)
				check_real_events(c, before, n);
			for (p = 0; p < nr_progs; p++)
				if (runs_on(p, c))
					stats[c][p][r] = round_stat(samples[p],
								    n);
			if (r == 0 && c == V4HIT) {
				print_clock(samples[FLOOR], calls);
				print_tlb();
			}
		}
		ring_buffer__free(trace_rb);
		trace_rb = NULL;
		for (p = 0; p < nr_progs; p++)
			bpf_object__close(obj[p]);
		fprintf(stderr, "\rpktcost: round %d/%d", r + 1, rounds);
	}
	fprintf(stderr, "\n");

	printf("# ns per packet: median over %d rounds (each a fresh load of every program)\n",
	       rounds);
	printf("# of the mean of the middle 80%% of %d calls; med/p10/p90: of the calls;\n",
	       calls);
	printf("# ratios: median and 10-90%% range over rounds of the per-round ratio;\n");
	printf("# resolution: upstream's second load over its first, the same way\n");
	printf("%-20s %6s %5s %5s %5s %7s %6s %6s %18s %18s\n",
	       "case", "ours", "med", "p10", "p90", "ours10k", "upstr", "floor",
	       "ours/upstream", "resolution");
	for (c = 0; c < (int)NR_CASES; c++) {
		int mine = OURS;
		struct ratio vs, res;

		if (cases[c].real)
			mine = REAL;

		compare(c, OURS, rounds, &vs, &res);
		printf("%-20s %6.1f %5.0f %5.0f %5.0f", cases[c].name,
		       MED(c, mine, tmean), MED(c, mine, median),
		       MED(c, mine, p10), MED(c, mine, p90));
		if (cases[c].real)
			printf(" %7s", "-");
		else
			printf(" %7.1f", MED(c, OURS_10K, tmean));
		if (cases[c].upstream == UP_SAME)
			printf(" %6.1f", MED(c, UPSTREAM, tmean));
		else if (cases[c].upstream == UP_V4HIT)
			printf(" %5.1f*", MED(V4HIT, UPSTREAM, tmean));
		else
			printf(" %6s", "-");
		printf(" %6.1f", MED(c, FLOOR, tmean));
		print_ratio(&vs);
		print_ratio(&res);
		printf("\n");
	}
	printf("# *: upstream cannot: its IPv4 hit (one port, one real) instead\n");
	printf("# real: the real server's program (xdp_iptunnel --real) in ours' columns\n");
	print_real();
	printf("\n# flatness of ours, ratio of the per-round costs (median, 10-90%%)\n");
	flat("10,000 more VIPs / few, IPv4 hit", V4HIT, OURS_10K, V4HIT, OURS,
	     rounds);
	flat("10,000 more VIPs / few, not a VIP", MISS, OURS_10K, MISS, OURS,
	     rounds);
	flat("16 reals / 1 real", REALS16, OURS, V4HIT, OURS, rounds);
	flat("1000 reals / 1 real", REALS1000, OURS, V4HIT, OURS, rounds);
	flat("1000 reals / 16 reals", REALS1000, OURS, REALS16, OURS, rounds);
	flat("resolution: upstream again / upstream", V4HIT, UPSTREAM2, V4HIT,
	     UPSTREAM, rounds);
	print_trace(rounds);
	print_same_size(rounds);
	print_stages(rounds);
	if (tsv)
		write_tsv(tsv, rounds);
	return 0;
}
