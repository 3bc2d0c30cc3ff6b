// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of xdp_iptunnel_kern.o.
 *
 * Loads the XDP program, fills its maps with libbpf and runs hand-built
 * frames through BPF_PROG_TEST_RUN, one repetition per case. Each case
 * checks the verdict, the output frame byte for byte, the events counters
 * and the vip_stats/real_stats sums against what this file predicts on its
 * own: it has its own frame builders (on the writers and checksum of
 * frame.h, shared with test_real.c) and flow hash and shares only the map
 * layouts of xdp_iptunnel_common.h with the program.
 *
 * Usage: test_kern [xdp_iptunnel_kern.o]
 * The default object is ../xdp_iptunnel_kern.o next to this binary.
 * Prints "ok N - name" or "not ok N - name: why" per case, then a summary.
 */
#define _GNU_SOURCE		/* sched_setaffinity() */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "../xdp_iptunnel_common.h"
#include "unit.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FRAME_MAX	2048
#define PAYLOAD		9	/* bytes after the L4 header: odd on purpose */
#define IP_DF		0x4000
#define IP_MF		0x2000
#define IP_OFFSET	0x1fff
#define OUTER_TTL	64
#define INNER_TTL	63
#define FLOW_LABEL	0x12345	/* of every inner IPv6 packet */
#define NSEC_BURST	1000000000ULL	/* a second */

#define CLIENT4		"198.51.100.7"
#define CLIENT6		"2001:db8:c::7"
#define OTHER4		"192.0.2.99"	/* no VIP */
#define VIP4		"192.0.2.1"
#define VIP4_ANY	"192.0.2.2"	/* TCP and UDP 1-65535 */
#define VIP4_RING	"192.0.2.10"
#define VIP4_FLOW	"192.0.2.20"
#define VIP4_BAD	"192.0.2.30"	/* VIPs without a usable real */
#define VIP6		"2001:db8::1"
#define VIP6_ANY	"2001:db8::2"
#define VIP6_RING	"2001:db8::10"
#define VIP6_FLOW	"2001:db8::20"
#define ROUTER4		"203.0.113.1"	/* sends ICMP errors */
#define ROUTER6		"2001:db8:ffff::1"
#define VIP4_GRACE	"192.0.2.40"	/* ring in a grace period */
#define VIP6_GRACE	"2001:db8::40"

enum { R_NONE, R4A, R4B, R6A, R6B, R_EMPTY, NR_REALS };

enum {
	V_NONE,
	V4_HTTP, V4_HTTPS, V4_RANGE, V4_256, V4_DNS, V4_ICMP, V4_GRE,
	V4_ANYTCP, V4_ANYUDP,
	V6_HTTP, V6_ALT, V6_260, V6_DNS, V6_ICMP, V6_ANYTCP,
	V4_RING, V4_RING_ICMP, V6_RING,
	V_NO_RING, V_EMPTY, V_BAD_ID,
	V4_FLOW, V6_FLOW,
	V4_GRACE, V4_GRACE_UDP, V6_GRACE,
};

static const struct {
	const char *saddr;
	const char *daddr;
} real_addrs[NR_REALS] = {
	[R4A] = { "10.0.0.1", "10.1.0.1" },
	[R4B] = { "10.0.0.1", "10.1.0.2" },
	[R6A] = { "fd00::1", "fd01::1" },
	[R6B] = { "fd00::1", "fd01::2" },
	[R_EMPTY] = { NULL, NULL },	/* family 0: a slot not filled */
};

/* A range list ends at its first vip_id 0. */
static const struct {
	const char *addr;
	__u8 protocol;
	struct vip_range range[4];
} vips[] = {
	{ VIP4, IPPROTO_TCP, { { 80, 80, V4_HTTP, R4A, 0 },
			       { 443, 443, V4_HTTPS, R6A, 0 },
			       { 1000, 2000, V4_RANGE, R4B, 0 },
			       { 256, 256, V4_256, R6B, 0 } } },
	{ VIP4, IPPROTO_UDP, { { 53, 53, V4_DNS, R4A, 0 } } },
	{ VIP4, IPPROTO_ICMP, { { 0, 0, V4_ICMP, R4A, 0 } } },
	{ VIP4, IPPROTO_GRE, { { 0, 0, V4_GRE, R6B, 0 } } },
	{ VIP4_ANY, IPPROTO_TCP, { { 1, 65535, V4_ANYTCP, R4B, 0 } } },
	{ VIP4_ANY, IPPROTO_UDP, { { 1, 65535, V4_ANYUDP, R6B, 0 } } },
	{ VIP6, IPPROTO_TCP, { { 80, 80, V6_HTTP, R6A, 0 },
			       { 8080, 8080, V6_ALT, R4A, 0 },
			       { 260, 260, V6_260, R4B, 0 } } },
	{ VIP6, IPPROTO_UDP, { { 53, 53, V6_DNS, R6B, 0 } } },
	{ VIP6, IPPROTO_ICMPV6, { { 0, 0, V6_ICMP, R6A, 0 } } },
	{ VIP6_ANY, IPPROTO_TCP, { { 1, 65535, V6_ANYTCP, R6B, 0 } } },
	{ VIP4_RING, IPPROTO_TCP, { { 1, 65535, V4_RING, 0, VIP_F_RING } } },
	{ VIP4_RING, IPPROTO_ICMP,
	  { { 0, 0, V4_RING_ICMP, 0, VIP_F_RING } } },
	{ VIP6_RING, IPPROTO_UDP, { { 1, 65535, V6_RING, 0, VIP_F_RING } } },
	{ VIP4_BAD, IPPROTO_TCP, { { 1, 1, V_NO_RING, 0, VIP_F_RING },
				   { 2, 2, V_EMPTY, R_EMPTY, 0 },
				   { 3, 3, V_BAD_ID, MAX_REALS, 0 } } },
	{ VIP4_FLOW, IPPROTO_TCP,
	  { { 1, 65535, V4_FLOW, R4A, VIP_F_FLOW_SRC } } },
	{ VIP6_FLOW, IPPROTO_TCP,
	  { { 1, 65535, V6_FLOW, R6A, VIP_F_FLOW_SRC } } },
	{ VIP4_GRACE, IPPROTO_TCP,
	  { { 1, 65535, V4_GRACE, 0, VIP_F_RING | VIP_F_GRACE } } },
	{ VIP4_GRACE, IPPROTO_UDP,
	  { { 1, 65535, V4_GRACE_UDP, 0, VIP_F_RING | VIP_F_GRACE } } },
	{ VIP6_GRACE, IPPROTO_TCP,
	  { { 1, 65535, V6_GRACE, 0, VIP_F_RING | VIP_F_GRACE } } },
};

static const __u8 client_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0xc1, 0x01 };
static const __u8 director_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0xd1, 0x01 };

static const char *const ev_names[EV_MAX] = {
	"EV_FRAGMENT", "EV_TOO_BIG", "EV_NO_REAL", "EV_EXT_HDR",
	"EV_ADJUST_HEAD", "EV_ICMP_QUOTE", "EV_ICMP_MTU_LOW", "EV_HINT",
};

static struct real reals_conf[NR_REALS];
static struct config cfg;
static int prog_fd, tables_fd, reals_fd, rings_fd, config_fd, ring_fd;
static int prev_rings_fd, prev_fd;	/* prev_rings, and the grace VIPs' */
static int grace_ends_fd;
static int vip_table_fd;
static struct vip_slot *vip_table;	/* the program's, mapped writable */
static int vip_stats_fd, real_stats_fd, events_fd;
static int ncpus;
static __u32 *batch_keys;
static struct traffic *batch_values;
static __u64 *ev_values;

/* ---- frames ----------------------------------------------------------- */

struct frame {
	__u8 b[FRAME_MAX];
	unsigned int len;
	/* what the builders wrote, for the expected encapsulation */
	int family;		/* of the IP header */
	unsigned int l3;	/* its offset */
	unsigned int l3_len;	/* IP header and payload, as in the header */
	unsigned int nh;	/* offset of the last next-header byte */
	unsigned int udp;	/* offset of a UDP header to finish, or 0 */
	__u8 tos;
	__u16 id;
	__u16 frag;		/* IPv4 flags and offset */
	int later;		/* a fragment at a nonzero offset */
};

#include "frame.h"	/* its writers and checksums */

/* What a test packet carries. */
struct pkt {
	const char *src;
	const char *dst;	/* IPv6 when it holds a ':' */
	__u8 protocol;
	__u16 sport;
	__u16 dport;
	__u8 tos;		/* IPv4 TOS or IPv6 traffic class */
	__u16 id;
	__u16 frag;		/* IPv4 flags and offset */
};

static struct frame got;	/* output of the last run */

static void eth(struct frame *f, __u16 proto)
{
	memset(f, 0, sizeof(*f));
	put(f, director_mac, ETH_ALEN);
	put(f, client_mac, ETH_ALEN);
	put16(f, proto);
}

/* Ethernet and IP header; the protocol byte is set by what follows. */
static void start(struct frame *f, const struct pkt *p, const __u8 *opts,
		  unsigned int optlen)
{
	eth(f, is_ipv6(p->dst) ? ETH_P_IPV6 : ETH_P_IP);
	f->l3 = f->len;
	f->tos = p->tos;
	if (is_ipv6(p->dst)) {
		f->family = AF_INET6;
		put32(f, 6U << 28 | (__u32)p->tos << 20 | FLOW_LABEL);
		put16(f, 0);		/* payload length: finish() */
		f->nh = f->len;
		put8(f, 0);
		put8(f, INNER_TTL);
		put_addr(f, p->src);
		put_addr(f, p->dst);
		return;
	}
	f->family = AF_INET;
	f->id = p->id;
	f->frag = p->frag;
	f->later = (p->frag & IP_OFFSET) != 0;
	put8(f, 0x40 | (5 + optlen / 4));
	put8(f, p->tos);
	put16(f, 0);			/* total length: finish() */
	put16(f, p->id);
	put16(f, p->frag);
	put8(f, INNER_TTL);
	f->nh = f->len;
	put8(f, 0);
	put16(f, 0);			/* checksum: finish() */
	put_addr(f, p->src);
	put_addr(f, p->dst);
	if (optlen)
		put(f, opts, optlen);
}

/* IPv6 options header of size bytes (PadN), or routing type 0, SL 0. */
static void ext6(struct frame *f, __u8 type, unsigned int size)
{
	f->b[f->nh] = type;
	f->nh = f->len;
	put8(f, 0);
	put8(f, size / 8 - 1);
	if (type == IPPROTO_ROUTING) {
		put16(f, 0);
	} else {
		put8(f, 1);
		put8(f, size - 4);
	}
	put_zeros(f, size - 4);
}

static void frag6(struct frame *f, __u16 offset, int more)
{
	f->b[f->nh] = IPPROTO_FRAGMENT;
	f->nh = f->len;
	put8(f, 0);
	put8(f, 0);
	put16(f, offset << 3 | more);
	put32(f, 0xcafe0001);
	f->later = offset != 0;
}

static void l4(struct frame *f, const struct pkt *p)
{
	f->b[f->nh] = p->protocol;
	if (f->later) {
		/* payload of a later fragment that reads as the ports */
		put16(f, p->sport);
		put16(f, p->dport);
		return;
	}
	switch (p->protocol) {
	case IPPROTO_TCP:
		put16(f, p->sport);
		put16(f, p->dport);
		put32(f, 0x01020304);	/* sequence */
		put32(f, 0);		/* acknowledgment */
		put16(f, 0x5002);	/* data offset 5, SYN */
		put16(f, 0xffff);	/* window */
		put32(f, 0);		/* checksum, urgent pointer */
		break;
	case IPPROTO_UDP:
		f->udp = f->len;
		put16(f, p->sport);
		put16(f, p->dport);
		put32(f, 0);		/* length: finish(), checksum */
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		put8(f, p->protocol == IPPROTO_ICMP ? 8 : 128);	/* echo */
		put8(f, 0);
		put16(f, 0);
		put32(f, 0x00010001);	/* identifier, sequence */
		break;
	case IPPROTO_GRE:
		put16(f, 0);
		put16(f, ETH_P_IP);
		break;
	}
}

static void payload(struct frame *f, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		put8(f, i * 7 + 1);
}

/* Lengths and checksum from what has been written so far. */
static void finish(struct frame *f)
{
	f->l3_len = f->len - f->l3;
	if (f->udp)
		set16(f, f->udp + 4, f->len - f->udp);
	if (f->family == AF_INET6) {
		set16(f, f->l3 + 4, f->l3_len - 40);
		return;
	}
	set16(f, f->l3 + 2, f->l3_len);
	ipv4_csum(f, f->l3);
}

static void build(struct frame *f, const struct pkt *p)
{
	start(f, p, NULL, 0);
	l4(f, p);
	payload(f, PAYLOAD);
	finish(f);
}

static void build_frag6(struct frame *f, const struct pkt *p,
			__u16 offset, int more)
{
	start(f, p, NULL, 0);
	frag6(f, offset, more);
	l4(f, p);
	payload(f, PAYLOAD);
	finish(f);
}

static struct pkt flow(const char *dst, __u8 protocol, __u16 dport)
{
	struct pkt p = {
		.src = is_ipv6(dst) ? CLIENT6 : CLIENT4,
		.dst = dst,
		.protocol = protocol,
		.sport = 40000,
		.dport = dport,
	};

	return p;
}

/*
 * The frame the program should send for in to real_id from saddr, with
 * the hint naming real prev_id (R_NONE: none): in IPv4 an option 0x9e,
 * length 8, flags 0, a zero byte, the address (IHL 7); in IPv6 a
 * destination options header (next header 60) of 24 bytes: next header,
 * length 2, option 0x3e of 18 bytes (flags, zero, address), PadN 1, 0.
 */
static void encap_hint(struct frame *e, const struct frame *in,
		       __u32 real_id, const __be32 *saddr, __u32 prev_id)
{
	const struct real *r = &reals_conf[real_id];
	const struct real *prev = &reals_conf[prev_id];
	int inner4 = in->family == AF_INET;
	__u8 proto = inner4 ? IPPROTO_IPIP : IPPROTO_IPV6;

	if (!saddr)
		saddr = r->saddr;
	memset(e, 0, sizeof(*e));
	put(e, r->dmac, ETH_ALEN);
	put(e, cfg.smac, ETH_ALEN);
	if (r->family == AF_INET) {
		put16(e, ETH_P_IP);
		e->l3 = e->len;
		put8(e, prev_id ? 0x47 : 0x45);
		put8(e, in->tos);
		put16(e, in->l3_len + (prev_id ? 28 : 20));
		put16(e, inner4 ? in->id : 0);
		put16(e, !inner4 || (in->frag & IP_DF) ? IP_DF : 0);
		put8(e, OUTER_TTL);
		put8(e, proto);
		put16(e, 0);
		put(e, saddr, 4);
		put(e, r->daddr, 4);
		if (prev_id) {
			put8(e, 0x9e);
			put8(e, 8);
			put16(e, 0);
			put(e, prev->daddr, 4);
		}
		ipv4_csum(e, e->l3);
	} else {
		put16(e, ETH_P_IPV6);
		put32(e, 6U << 28 | (__u32)in->tos << 20);
		put16(e, in->l3_len + (prev_id ? 24 : 0));
		put8(e, prev_id ? 60 : proto);
		put8(e, OUTER_TTL);
		put(e, saddr, 16);
		put(e, r->daddr, 16);
		if (prev_id) {
			put8(e, proto);
			put8(e, 2);
			put8(e, 0x3e);
			put8(e, 18);
			put16(e, 0);
			put(e, prev->daddr, 16);
			put8(e, 1);
			put8(e, 0);
		}
	}
	put(e, in->b + ETH_HLEN, in->len - ETH_HLEN);
}

static void encap(struct frame *e, const struct frame *in, __u32 real_id,
		  const __be32 *saddr)
{
	encap_hint(e, in, real_id, saddr, R_NONE);
}

/* ---- the flow hash: murmur3's 64-bit finaliser ------------------------ */

static __u64 fmix64(__u64 k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

/* Two address words as the program loads them: the first on top. */
static __u64 pair(const __u32 *w)
{
	return (__u64)w[0] << 32 | w[1];
}

/*
 * IPv4: fmix64 of (saddr << 32 | ports) xor (protocol << 32 | daddr);
 * IPv6: from protocol << 32 | ports, each address half xor-ed in and
 * mixed, source first. Ports are sport << 16 | dport, or 0 when not
 * hashed; the hash is the low 32 bits.
 */
static __u32 flow_hash(const struct pkt *p, int with_ports)
{
	__u64 ports = with_ports ? (__u32)p->sport << 16 | p->dport : 0;
	__u64 proto = (__u64)p->protocol << 32;
	__u32 src[4], dst[4];
	__u64 h;

	parse_addr(p->src, src);
	parse_addr(p->dst, dst);
	if (!is_ipv6(p->dst))
		return fmix64(((__u64)src[0] << 32 | ports) ^ (proto | dst[0]));
	h = fmix64((proto | ports) ^ pair(src));
	h = fmix64(h ^ pair(src + 2));
	h = fmix64(h ^ pair(dst));
	return fmix64(h ^ pair(dst + 2));
}

/* The slot of a hash: floor(hash * size / 2^32). */
static __u32 hash_slot(__u32 hash)
{
	return (__u64)hash * MAGLEV_RING_SIZE >> 32;
}

/* The test's ring: slot s holds R4A, R4B, R6A, R6B in turn. */
static __u32 slot_real(__u32 slot)
{
	return R4A + slot % 4;
}

static __u32 ring_real(__u32 hash)
{
	return slot_real(hash_slot(hash));
}

/* ---- counters --------------------------------------------------------- */

struct counters {
	__u64 ev[EV_MAX];
	struct traffic vips, vip;	/* all of vip_stats, and one entry */
	struct traffic reals, real;
};

static void read_traffic(int fd, __u32 entries, __u32 id,
			 struct traffic *all, struct traffic *one)
{
	__u32 count = entries, out_batch, i;
	const struct traffic *t;
	int cpu;

	memset(all, 0, sizeof(*all));
	memset(one, 0, sizeof(*one));
	if (bpf_map_lookup_batch(fd, NULL, &out_batch, batch_keys,
				 batch_values, &count, NULL) &&
	    errno != ENOENT)
		die("bpf_map_lookup_batch(stats)");
	if (count != entries)
		fail("read %u of %u stats entries", count, entries);
	for (i = 0; i < count; i++) {
		for (cpu = 0; cpu < ncpus; cpu++) {
			t = &batch_values[i * ncpus + cpu];
			all->packets += t->packets;
			all->bytes += t->bytes;
			all->icmp_errors += t->icmp_errors;
			if (batch_keys[i] != id)
				continue;
			one->packets += t->packets;
			one->bytes += t->bytes;
			one->icmp_errors += t->icmp_errors;
		}
	}
}

static void read_counters(struct counters *c, __u32 vip_id, __u32 real_id)
{
	__u32 ev;
	int cpu;

	for (ev = 0; ev < EV_MAX; ev++) {
		if (bpf_map_lookup_elem(events_fd, &ev, ev_values))
			die("bpf_map_lookup_elem(events)");
		c->ev[ev] = 0;
		for (cpu = 0; cpu < ncpus; cpu++)
			c->ev[ev] += ev_values[cpu];
	}
	read_traffic(vip_stats_fd, MAX_VIPS, vip_id, &c->vips, &c->vip);
	read_traffic(real_stats_fd, MAX_REALS, real_id, &c->reals, &c->real);
}

static void check_traffic(const char *what, const struct traffic *before,
			  const struct traffic *after, __u64 packets,
			  __u64 bytes, __u64 icmp_errors)
{
	if (after->packets - before->packets != packets ||
	    after->bytes - before->bytes != bytes ||
	    after->icmp_errors - before->icmp_errors != icmp_errors)
		fail("%s +%llu packets +%llu bytes +%llu ICMP errors, want +%llu +%llu +%llu",
		     what, after->packets - before->packets,
		     after->bytes - before->bytes,
		     after->icmp_errors - before->icmp_errors, packets, bytes,
		     icmp_errors);
}

/* ---- running a case --------------------------------------------------- */

struct want {
	int action;
	const struct frame *out;	/* NULL: the input, untouched */
	int event;			/* the events[] slot to count 1, or -1 */
	__u32 vip_id;			/* stats that count an XDP_TX */
	__u32 real_id;
	int icmp_error;			/* the XDP_TX is an ICMP error */
};

static const char *action_name(__u32 action)
{
	static const char *const names[] = {
		"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT",
	};

	return action < 5 ? names[action] : "unknown action";
}

static void dump(const char *who, const struct frame *f, unsigned int from)
{
	unsigned int n = strlen(diff), i;

	n += snprintf(diff + n, sizeof(diff) - n, "# %4s @%#06x:", who, from);
	for (i = from; i < from + 16 && i < f->len; i++)
		n += snprintf(diff + n, sizeof(diff) - n, " %02x", f->b[i]);
	snprintf(diff + n, sizeof(diff) - n, "\n");
}

static void compare(const struct frame *f, const struct frame *want)
{
	unsigned int at = 0;

	if (f->len == want->len && !memcmp(f->b, want->b, f->len))
		return;
	while (at < f->len && at < want->len && f->b[at] == want->b[at])
		at++;
	fail("frame of %u bytes, want %u, first difference at byte %u",
	     f->len, want->len, at);
	dump("got", f, at & ~15U);
	dump("want", want, at & ~15U);
}

static void run(const struct frame *in, const struct want *w)
{
	const struct frame *out = w->out ? w->out : in;
	/* an ICMP error back to the sender is sent but not tunnelled */
	__u64 tx = w->action == XDP_TX && w->vip_id != V_NONE;
	struct bpf_test_run_opts opts = {
		.sz = sizeof(opts),
		.data_in = in->b,
		.data_size_in = in->len,
		.data_out = got.b,
		.data_size_out = sizeof(got.b),
		.repeat = 1,	/* more would re-run on the output */
	};
	struct counters before, after;
	__u64 icmp;
	int err, ev;

	read_counters(&before, w->vip_id, w->real_id);
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	read_counters(&after, w->vip_id, w->real_id);
	if (err) {
		fail("BPF_PROG_TEST_RUN: %s", strerror(-err));
		return;
	}
	got.len = opts.data_size_out;
	if (opts.retval != (__u32)w->action)
		fail("%s, want %s", action_name(opts.retval),
		     action_name(w->action));
	compare(&got, out);
	/* independent of the expected frame: a valid header sums to ~0 */
	if (w->action == XDP_TX && get16(got.b + 12) == ETH_P_IP &&
	    sum16(got.b + ETH_HLEN, (got.b[ETH_HLEN] & 0xf) * 4) != 0xffff)
		fail("outer IPv4 header sums to %#x, not 0xffff",
		     sum16(got.b + ETH_HLEN, (got.b[ETH_HLEN] & 0xf) * 4));
	for (ev = 0; ev < EV_MAX; ev++)
		if (after.ev[ev] - before.ev[ev] != (__u64)(ev == w->event))
			fail("%s +%llu, want +%d", ev_names[ev],
			     after.ev[ev] - before.ev[ev], ev == w->event);
	icmp = tx && w->icmp_error;
	check_traffic("vip_stats", &before.vips, &after.vips, tx,
		      tx * in->len, icmp);
	check_traffic("real_stats", &before.reals, &after.reals, tx,
		      tx * in->len, icmp);
	if (!tx)
		return;
	check_traffic("vip_stats[vip_id]", &before.vip, &after.vip, 1,
		      in->len, icmp);
	check_traffic("real_stats[real_id]", &before.real, &after.real, 1,
		      in->len, icmp);
}

static void run_tx(const struct frame *in, __u32 vip_id, __u32 real_id,
		   const __be32 *saddr)
{
	struct frame out;
	struct want w = { XDP_TX, &out, -1, vip_id, real_id, 0 };

	encap(&out, in, real_id, saddr);
	run(in, &w);
}

static void tx_from(const char *name, const struct frame *in, __u32 vip_id,
		    __u32 real_id, const __be32 *saddr)
{
	run_tx(in, vip_id, real_id, saddr);
	report(name);
}

static void tx(const char *name, const struct frame *in, __u32 vip_id,
	       __u32 real_id)
{
	tx_from(name, in, vip_id, real_id, NULL);
}

static void pass(const char *name, const struct frame *in, int event)
{
	struct want w = { XDP_PASS, NULL, event, V_NONE, R_NONE, 0 };

	run(in, &w);
	report(name);
}

/*
 * The ICMP error the director sends back for a datagram that would not fit
 * the MTU once tunnelled: Ethernet back to the sender, an IP header from
 * the VIP, ICMP "fragmentation needed" or ICMPv6 "packet too big" with the
 * MTU inside the tunnel, then the datagram's IP header and 8 more bytes.
 */
static void icmp_too_big(struct frame *e, const struct frame *in, __u32 mtu)
{
	const __u8 *ip = in->b + in->l3;
	unsigned int quote, icmp;
	__u32 sum;

	memset(e, 0, sizeof(*e));
	put(e, client_mac, ETH_ALEN);
	put(e, cfg.smac, ETH_ALEN);
	if (in->family == AF_INET) {
		quote = (ip[0] & 0xf) * 4 + 8;
		put16(e, ETH_P_IP);
		e->l3 = e->len;
		put8(e, 0x45);
		put8(e, 0);
		put16(e, 20 + 8 + quote);
		put32(e, 0);			/* id, flags, offset */
		put8(e, OUTER_TTL);
		put8(e, IPPROTO_ICMP);
		put16(e, 0);
		put(e, ip + 16, 4);		/* from the VIP */
		put(e, ip + 12, 4);		/* to the client */
		ipv4_csum(e, e->l3);
		icmp = e->len;
		put8(e, 3);			/* destination unreachable */
		put8(e, 4);			/* fragmentation needed */
		put16(e, 0);
		put16(e, 0);
		put16(e, mtu);
		put(e, ip, quote);
		set16(e, icmp + 2, ~sum16(e->b + icmp, e->len - icmp));
		return;
	}
	quote = 40 + 8;
	put16(e, ETH_P_IPV6);
	e->l3 = e->len;
	put32(e, 6U << 28);
	put16(e, 8 + quote);
	put8(e, IPPROTO_ICMPV6);
	put8(e, OUTER_TTL);
	put(e, ip + 24, 16);			/* from the VIP */
	put(e, ip + 8, 16);			/* to the client */
	icmp = e->len;
	put8(e, 2);				/* packet too big */
	put8(e, 0);
	put16(e, 0);
	put32(e, mtu);
	put(e, ip, quote);
	/* pseudo header: addresses, upper-layer length, next header */
	sum = sum16(e->b + e->l3 + 8, 32) + 8 + quote + IPPROTO_ICMPV6 +
	      sum16(e->b + icmp, e->len - icmp);
	set16(e, icmp + 2, ~fold(sum));
}

static void too_big(const char *name, const struct frame *in, __u32 mtu)
{
	struct frame out;
	struct want w = { XDP_TX, &out, EV_TOO_BIG, V_NONE, R_NONE, 0 };

	icmp_too_big(&out, in, mtu);
	run(in, &w);
	report(name);
}

static void drop(const char *name, const struct frame *in, int event)
{
	struct want w = { XDP_DROP, NULL, event, V_NONE, R_NONE, 0 };

	run(in, &w);
	report(name);
}

/* ---- the cases -------------------------------------------------------- */

static void test_encap(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct frame f;

	p.tos = 0xb9;			/* DSCP 46, ECN 01 */
	p.id = 0x1234;
	p.frag = IP_DF;
	build(&f, &p);
	tx("4in4: protocol 4, TOS with ECN, id and DF copied", &f,
	   V4_HTTP, R4A);

	p.tos = 0x03;
	p.frag = 0;
	build(&f, &p);
	tx("4in4 without DF: outer DF clear", &f, V4_HTTP, R4A);

	p.dport = 443;
	p.tos = 0x4a;
	build(&f, &p);
	tx("4in6: next header 4, TOS as traffic class, flow label 0", &f,
	   V4_HTTPS, R6A);

	p = flow(VIP6, IPPROTO_TCP, 80);
	p.tos = 0xb9;
	build(&f, &p);
	tx("6in6: next header 41, traffic class copied, flow label 0", &f,
	   V6_HTTP, R6A);

	p.dport = 8080;
	p.tos = 0x2b;
	build(&f, &p);
	tx("6in4: protocol 41, DF set, id 0", &f, V6_ALT, R4A);

	p = flow(VIP4, IPPROTO_UDP, 53);
	p.id = 7;
	start(&f, &p, NULL, 0);
	l4(&f, &p);
	finish(&f);
	put_zeros(&f, 60 - f.len);
	tx("4in4 UDP header only, padded to 60: padding after datagram", &f,
	   V4_DNS, R4A);

	p = flow(VIP6, IPPROTO_UDP, 53);
	build(&f, &p);
	put_zeros(&f, 6);
	tx("6in6 with 6 trailing bytes: length from the header", &f,
	   V6_DNS, R6B);

	p = flow(VIP4, IPPROTO_TCP, 443);
	build(&f, &p);
	put_zeros(&f, 4);
	tx("4in6 with 4 trailing bytes: length from the header", &f,
	   V4_HTTPS, R6A);
}

/* The shape of tools/testing/selftests/bpf/prog_tests/xdp.c */
static void test_selftest_shape(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct frame f, out;
	struct want w = { XDP_TX, &out, -1, V4_HTTP, R4A, 0 };

	start(&f, &p, NULL, 0);
	l4(&f, &p);
	finish(&f);
	encap(&out, &f, R4A, NULL);
	run(&f, &w);
	if (f.len != 54 || got.len != 74 || got.b[23] != IPPROTO_IPIP)
		fail("%u bytes -> %u, protocol %u", f.len, got.len, got.b[23]);
	report("selftest shape: IPv4/TCP 54 bytes -> XDP_TX 74, protocol 4");

	p = flow(VIP6, IPPROTO_TCP, 80);
	start(&f, &p, NULL, 0);
	l4(&f, &p);
	finish(&f);
	encap(&out, &f, R6A, NULL);
	w.vip_id = V6_HTTP;
	w.real_id = R6A;
	run(&f, &w);
	if (f.len != 74 || got.len != 114 || got.b[20] != IPPROTO_IPV6)
		fail("%u bytes -> %u, next header %u", f.len, got.len,
		     got.b[20]);
	report("selftest shape: IPv6/TCP 74 bytes -> XDP_TX 114, nexthdr 41");
}

static const struct {
	const char *name;
	const char *dst;
	__u8 protocol;
	__u16 dport;
	__u32 vip_id;		/* V_NONE: XDP_PASS */
	__u32 real_id;
} match_cases[] = {
	{ "TCP 1000: low edge of 1000-2000", VIP4, IPPROTO_TCP, 1000,
	  V4_RANGE, R4B },
	{ "TCP 2000: high edge of 1000-2000", VIP4, IPPROTO_TCP, 2000,
	  V4_RANGE, R4B },
	{ "TCP 1500: inside 1000-2000", VIP4, IPPROTO_TCP, 1500,
	  V4_RANGE, R4B },
	{ "TCP 999: below every range passes", VIP4, IPPROTO_TCP, 999,
	  V_NONE, R_NONE },
	{ "TCP 2001: above every range passes", VIP4, IPPROTO_TCP, 2001,
	  V_NONE, R_NONE },
	{ "TCP 256: fourth range of the address", VIP4, IPPROTO_TCP, 256,
	  V4_256, R6B },
	{ "TCP 1 on 1-65535", VIP4_ANY, IPPROTO_TCP, 1, V4_ANYTCP, R4B },
	{ "TCP 65535 on 1-65535", VIP4_ANY, IPPROTO_TCP, 65535,
	  V4_ANYTCP, R4B },
	{ "TCP 0 is outside 1-65535: passes", VIP4_ANY, IPPROTO_TCP, 0,
	  V_NONE, R_NONE },
	{ "UDP 53", VIP4, IPPROTO_UDP, 53, V4_DNS, R4A },
	{ "UDP 80: only TCP has port 80, passes", VIP4, IPPROTO_UDP, 80,
	  V_NONE, R_NONE },
	{ "UDP 65535 on 1-65535: 4in6", VIP4_ANY, IPPROTO_UDP, 65535,
	  V4_ANYUDP, R6B },
	{ "TCP 80 to an address without VIP passes", OTHER4, IPPROTO_TCP,
	  80, V_NONE, R_NONE },
	{ "ICMP matches the whole VIP (0-0)", VIP4, IPPROTO_ICMP, 0,
	  V4_ICMP, R4A },
	{ "ICMP to an address with only TCP/UDP VIPs passes", VIP4_ANY,
	  IPPROTO_ICMP, 0, V_NONE, R_NONE },
	{ "GRE matches the whole VIP: 4in6", VIP4, IPPROTO_GRE, 0,
	  V4_GRE, R6B },
	{ "IPv6 UDP 53", VIP6, IPPROTO_UDP, 53, V6_DNS, R6B },
	{ "IPv6 TCP 81 passes", VIP6, IPPROTO_TCP, 81, V_NONE, R_NONE },
	{ "ICMPv6 matches the whole VIP", VIP6, IPPROTO_ICMPV6, 0,
	  V6_ICMP, R6A },
	{ "IPv6 to an address without VIP passes", "2001:db8::99",
	  IPPROTO_TCP, 80, V_NONE, R_NONE },
};

static void test_match(void)
{
	struct frame f;
	struct pkt p;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(match_cases); i++) {
		p = flow(match_cases[i].dst, match_cases[i].protocol,
			 match_cases[i].dport);
		build(&f, &p);
		if (match_cases[i].vip_id == V_NONE)
			pass(match_cases[i].name, &f, -1);
		else
			tx(match_cases[i].name, &f, match_cases[i].vip_id,
			   match_cases[i].real_id);
	}
}

/*
 * Where the program starts looking for a key, computed here as the
 * header documents it rather than with its vip_key_hash(): the key
 * folded into 64 bits, family << 8 | protocol, with the IPv4 address
 * word << 16 or-ed in, or for IPv6 xor (word1 << 32 | word0) xor (word3
 * << 32 | word2) * 0xc2b2ae3d27d4eb4f; then times 0x9e3779b97f4a7c15, the
 * top 16 bits of the product.
 */
static __u32 home_slot(const struct vip_key *key)
{
	__u64 x = key->family << 8 | key->protocol;
	const __u32 *w = key->addr;

	if (key->family == AF_INET6)
		x ^= ((__u64)w[1] << 32 | w[0]) ^
		     ((__u64)w[3] << 32 | w[2]) * 0xc2b2ae3d27d4eb4fULL;
	else
		x |= (__u64)w[0] << 16;
	return x * 0x9e3779b97f4a7c15ULL >> 48;
}

static __u32 table_slot(__u32 slot)
{
	return slot % VIP_TABLE_SIZE;
}

static struct vip_key key_of(const char *addr, __u8 protocol)
{
	struct vip_key key = { .protocol = protocol };

	parse_addr(addr, key.addr);
	key.family = is_ipv6(addr) ? AF_INET6 : AF_INET;
	return key;
}

/* Empty the slots from home on, then put the VIP behind taken ones. */
static void chain(__u32 home, const struct vip_slot *vip,
		  const struct vip_slot *decoy, unsigned int taken)
{
	unsigned int i;

	for (i = 0; i <= VIP_PROBES_MAX; i++)
		memset(&vip_table[table_slot(home + i)], 0,
		       sizeof(*vip_table));
	for (i = 0; i < taken; i++)
		vip_table[table_slot(home + i)] = *decoy;
	vip_table[table_slot(home + taken)] = *vip;
}

/*
 * The search itself: how far the program looks for a key, what ends the
 * search, that the whole key is compared. The VIP is VIP4 TCP (port 80:
 * V4_HTTP to R4A); the slots it moves over are put back afterwards.
 */
static void test_vip_table(void)
{
	struct vip_key key = key_of(VIP4, IPPROTO_TCP);
	struct vip_slot saved[VIP_PROBES_MAX + 1], vip = {}, decoy = {};
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	__u32 home = home_slot(&key), zero = 0, i;
	struct frame f;

	build(&f, &p);
	for (i = 0; i <= VIP_PROBES_MAX; i++) {
		saved[i] = vip_table[table_slot(home + i)];
		if (!memcmp(&saved[i].key, &key, sizeof(key)))
			vip = saved[i];
	}
	if (!vip.key.family) {
		fail("VIP4 TCP is not within %d slots of its own", VIP_PROBES_MAX);
		report("VIP table: VIP4 TCP where the loader would put it");
		return;
	}
	/* another VIP's slot: the program must never stop at it */
	decoy.key = key_of(OTHER4, IPPROTO_TCP);
	decoy.value.nr_ranges = 1;
	decoy.value.range[0] = (struct vip_range){ 1, 65535, V4_HTTPS, R6A, 0 };

	chain(home, &vip, &decoy, 1);
	tx("VIP table: found behind one taken slot", &f, V4_HTTP, R4A);
	chain(home, &vip, &decoy, VIP_PROBES_MAX - 1);
	tx("VIP table: found in the last slot looked at", &f, V4_HTTP, R4A);
	chain(home, &vip, &decoy, VIP_PROBES_MAX);
	pass("VIP table: not looked for beyond VIP_PROBES_MAX slots", &f, -1);

	chain(home, &vip, &decoy, 1);
	memset(&vip_table[home], 0, sizeof(*vip_table));
	pass("VIP table: an empty slot ends the search", &f, -1);

	/* IPv6 key whose first word is VIP4's address */
	decoy.key = key;
	decoy.key.family = AF_INET6;
	chain(home, &vip, &decoy, 1);
	tx("VIP table: an IPv6 key with VIP4's word is another key", &f,
	   V4_HTTP, R4A);

	for (i = 0; i <= VIP_PROBES_MAX; i++)
		vip_table[table_slot(home + i)] = saved[i];
	tx("VIP table: put back", &f, V4_HTTP, R4A);

	if (bpf_map_delete_elem(tables_fd, &zero))
		die("bpf_map_delete_elem(vip_tables)");
	pass("no VIP table yet: VIP4 passes", &f, -1);
	if (bpf_map_update_elem(tables_fd, &zero, &vip_table_fd, BPF_ANY))
		die("bpf_map_update_elem(vip_tables)");
	tx("VIP table switched back in", &f, V4_HTTP, R4A);
}

/* L4 header of len bytes in a frame that ends (or is padded) there. */
static void build_short_l4(struct frame *f, const struct pkt *p,
			   unsigned int len, unsigned int frame_len)
{
	start(f, p, NULL, 0);
	l4(f, p);
	f->len = f->l3 + (f->family == AF_INET ? 20 : 40) + len;
	finish(f);
	if (f->len < frame_len)
		put_zeros(f, frame_len - f->len);
}

static void test_truncated(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct frame f;

	build_short_l4(&f, &p, 19, 0);
	pass("TCP header of 19 bytes passes", &f, -1);
	build_short_l4(&f, &p, 10, 60);
	pass("TCP header cut by tot_len, rest in Ethernet padding passes",
	     &f, -1);

	p = flow(VIP4, IPPROTO_UDP, 53);
	build_short_l4(&f, &p, 7, 0);
	pass("UDP header of 7 bytes passes", &f, -1);

	p = flow(VIP6, IPPROTO_TCP, 80);
	build_short_l4(&f, &p, 19, 0);
	pass("IPv6 TCP header of 19 bytes passes", &f, -1);
	build_short_l4(&f, &p, 10, 80);
	pass("IPv6 TCP header cut by payload_len, rest in trailer passes",
	     &f, -1);

	p = flow(VIP4, IPPROTO_TCP, 80);
	build(&f, &p);
	f.len = ETH_HLEN + 19;
	pass("IPv4 header cut at 19 bytes passes", &f, -1);

	build(&f, &p);
	f.len--;
	pass("IPv4 tot_len one byte beyond the frame passes", &f, -1);

	build(&f, &p);
	set16(&f, f.l3 + 2, 19);
	ipv4_csum(&f, f.l3);
	pass("IPv4 tot_len shorter than the header passes", &f, -1);

	/* read at ihl * 4, the destination 192.0.2.2 is port 514: a match */
	p.dst = VIP4_ANY;
	build(&f, &p);
	f.b[f.l3] = 0x44;
	ipv4_csum(&f, f.l3);
	pass("IPv4 ihl 4 passes", &f, -1);

	p.dst = VIP4;

	build(&f, &p);
	f.b[f.l3] = 0x65;
	ipv4_csum(&f, f.l3);
	pass("IPv4 ethertype carrying version 6 passes", &f, -1);

	p = flow(VIP6, IPPROTO_TCP, 80);
	build(&f, &p);
	f.len = ETH_HLEN + 39;
	pass("IPv6 header cut at 39 bytes passes", &f, -1);

	build(&f, &p);
	f.len--;
	pass("IPv6 payload_len one byte beyond the frame passes", &f, -1);

	build(&f, &p);
	set16(&f, f.l3 + 4, 0);
	pass("IPv6 payload_len 0 (jumbogram) passes", &f, -1);
}

static void test_ipv4_options(void)
{
	/* NOP NOP NOP EOL: read as ports they would be 257 -> 256 */
	static const __u8 opts[4] = { 1, 1, 1, 0 };
	__u8 nops[40];
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct frame f;

	start(&f, &p, opts, sizeof(opts));
	l4(&f, &p);
	payload(&f, PAYLOAD);
	finish(&f);
	tx("ihl 6: port 80 read after the options, not 256 from them", &f,
	   V4_HTTP, R4A);

	p.dport = 81;
	start(&f, &p, opts, sizeof(opts));
	l4(&f, &p);
	payload(&f, PAYLOAD);
	finish(&f);
	pass("ihl 6: options read as port 256 do not match, 81 passes", &f,
	     -1);

	memset(nops, 1, sizeof(nops));
	nops[39] = 0;
	p.dport = 1999;
	start(&f, &p, nops, sizeof(nops));
	l4(&f, &p);
	payload(&f, PAYLOAD);
	finish(&f);
	tx("ihl 15: 40 bytes of options, port 1999", &f, V4_RANGE, R4B);
}

static void test_fragments(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct frame f;

	p.id = 0x4242;
	p.frag = IP_MF;
	build(&f, &p);
	pass("IPv4 first fragment to TCP 80-80 passes, EV_FRAGMENT", &f,
	     EV_FRAGMENT);
	p.frag = 185;
	build(&f, &p);
	pass("IPv4 last fragment to TCP 80-80 passes, EV_FRAGMENT", &f,
	     EV_FRAGMENT);

	p.dst = VIP4_ANY;
	p.frag = IP_MF;
	build(&f, &p);
	tx("IPv4 first fragment to TCP 1-65535: id kept, no DF", &f,
	   V4_ANYTCP, R4B);
	p.frag = IP_MF | 185;
	build(&f, &p);
	tx("IPv4 middle fragment to TCP 1-65535", &f, V4_ANYTCP, R4B);

	p = flow(VIP4, IPPROTO_UDP, 53);
	p.frag = IP_MF;
	build(&f, &p);
	pass("IPv4 first fragment to UDP 53-53 passes, EV_FRAGMENT", &f,
	     EV_FRAGMENT);
	p.dst = VIP4_ANY;
	p.frag = 185;
	build(&f, &p);
	tx("IPv4 last fragment to UDP 1-65535: 4in6", &f, V4_ANYUDP, R6B);

	p = flow(VIP4, IPPROTO_ICMP, 0);
	p.frag = IP_MF;
	build(&f, &p);
	tx("IPv4 ICMP first fragment tunnelled, no event", &f, V4_ICMP, R4A);
	p = flow(VIP4, IPPROTO_GRE, 0);
	p.frag = 185;
	build(&f, &p);
	tx("IPv4 GRE last fragment tunnelled 4in6", &f, V4_GRE, R6B);

	p = flow(OTHER4, IPPROTO_TCP, 80);
	p.frag = IP_MF;
	build(&f, &p);
	pass("IPv4 fragment to an address without VIP passes, no event",
	     &f, -1);

	p = flow(VIP6, IPPROTO_TCP, 80);
	build_frag6(&f, &p, 0, 1);
	pass("IPv6 first fragment to TCP 80-80 passes, EV_FRAGMENT", &f,
	     EV_FRAGMENT);
	build_frag6(&f, &p, 100, 0);
	pass("IPv6 last fragment to TCP 80-80 passes, EV_FRAGMENT", &f,
	     EV_FRAGMENT);
	build_frag6(&f, &p, 0, 0);
	tx("IPv6 atomic fragment (offset 0, M 0) is a whole packet", &f,
	   V6_HTTP, R6A);

	p.dst = VIP6_ANY;
	build_frag6(&f, &p, 0, 1);
	tx("IPv6 first fragment to TCP 1-65535", &f, V6_ANYTCP, R6B);
	build_frag6(&f, &p, 100, 1);
	tx("IPv6 middle fragment to TCP 1-65535", &f, V6_ANYTCP, R6B);

	p = flow(VIP6, IPPROTO_ICMPV6, 0);
	build_frag6(&f, &p, 0, 1);
	tx("IPv6 ICMPv6 fragment tunnelled, no event", &f, V6_ICMP, R6A);
}

/* Extension headers in this order; sizes alternate 8 and 16 bytes. */
static const __u8 ext_chain[] = {
	IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT,
	IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
};

static void build_ext(struct frame *f, const struct pkt *p, unsigned int n)
{
	unsigned int i;

	start(f, p, NULL, 0);
	for (i = 0; i < n; i++) {
		if (ext_chain[i] == IPPROTO_FRAGMENT)
			frag6(f, 0, 0);
		else
			ext6(f, ext_chain[i], i % 2 ? 16 : 8);
	}
	l4(f, p);
	payload(f, PAYLOAD);
	finish(f);
}

/* n destination options headers, then a fragment at a non-zero offset */
static void build_later(struct frame *f, const struct pkt *p, unsigned int n)
{
	unsigned int i;

	start(f, p, NULL, 0);
	for (i = 0; i < n; i++)
		ext6(f, IPPROTO_DSTOPTS, 8);
	frag6(f, 100, 0);
	l4(f, p);
	payload(f, PAYLOAD);
	finish(f);
}

static void test_ipv6_ext(void)
{
	struct pkt p = flow(VIP6, IPPROTO_TCP, 80);
	struct frame f;

	/* read as ports, an 8-byte hop-by-hop header is 0x0600 -> 260 */
	build_ext(&f, &p, 1);
	tx("IPv6 hop-by-hop: port 80 after it, not 260 from it", &f,
	   V6_HTTP, R6A);
	p.dport = 81;
	build_ext(&f, &p, 1);
	pass("IPv6 hop-by-hop read as port 260 does not match, 81 passes",
	     &f, -1);

	p.dport = 8080;
	build_ext(&f, &p, 3);
	tx("IPv6 hop-by-hop, 16-byte dstopts, routing: 6in4", &f,
	   V6_ALT, R4A);
	p.dport = 80;
	build_ext(&f, &p, 5);
	tx("IPv6 5 extension headers with an atomic fragment", &f,
	   V6_HTTP, R6A);
	build_ext(&f, &p, 6);
	tx("IPv6 6 extension headers are skipped", &f, V6_HTTP, R6A);
	build_ext(&f, &p, 7);
	pass("IPv6 7 extension headers pass, EV_EXT_HDR", &f, EV_EXT_HDR);

	/* a later fragment ends the chain, but still counts as a header */
	p.dst = VIP6_ANY;
	build_later(&f, &p, 5);
	tx("IPv6 5 extension headers and a later fragment", &f,
	   V6_ANYTCP, R6B);
	build_later(&f, &p, 6);
	pass("IPv6 6 extension headers and a later fragment pass, EV_EXT_HDR",
	     &f, EV_EXT_HDR);

	p = flow(VIP6, IPPROTO_ICMPV6, 0);
	build_ext(&f, &p, 2);
	tx("IPv6 ICMPv6 after two extension headers", &f, V6_ICMP, R6A);
	/* the payload length ends inside the second header */
	set16(&f, f.l3 + 4, 8 + 8);
	pass("IPv6 extension headers ending in Ethernet padding pass", &f, -1);

	p = flow(VIP6, IPPROTO_TCP, 80);
	start(&f, &p, NULL, 0);
	ext6(&f, IPPROTO_HOPOPTS, 16);
	f.len -= 8;
	finish(&f);
	pass("IPv6 extension header cut by the frame end passes", &f, -1);
}

static void test_not_ip(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct frame ip, f;

	build(&ip, &p);
	eth(&f, 0x8100);
	f.len -= 2;
	put16(&f, 0x8100);
	put16(&f, 100);			/* VLAN 100 */
	put(&f, ip.b + 12, ip.len - 12);
	pass("VLAN-tagged IPv4 to a VIP passes", &f, -1);

	eth(&f, ETH_P_ARP);
	put16(&f, 1);			/* Ethernet */
	put16(&f, ETH_P_IP);
	put8(&f, ETH_ALEN);
	put8(&f, 4);
	put16(&f, 1);			/* request */
	put(&f, client_mac, ETH_ALEN);
	put_addr(&f, CLIENT4);
	put_zeros(&f, ETH_ALEN);
	put_addr(&f, VIP4);
	pass("ARP request for a VIP passes", &f, -1);
}

static void set_mtu(__u16 mtu)
{
	__u32 zero = 0;

	cfg.mtu = mtu;
	if (bpf_map_update_elem(config_fd, &zero, &cfg, BPF_ANY))
		die("bpf_map_update_elem(config_map)");
}

/*
 * The MTU check counts the outer header and the room of a hint, hinted or
 * not: 20 + 8 bytes in IPv4, 40 + 24 in IPv6.
 */
#define ROOM4	28
#define ROOM6	64

static void test_mtu(void)
{
	static const __u8 nop4[4] = { 1, 1, 1, 0 };
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct frame f;

	build(&f, &p);
	set_mtu(f.l3_len + ROOM4);
	tx("mtu: 4in4 at the MTU less a hint's room is sent", &f, V4_HTTP,
	   R4A);
	set_mtu(f.l3_len + ROOM4 - 1);
	drop("mtu: 4in4 one byte over without DF drops, EV_TOO_BIG", &f,
	     EV_TOO_BIG);
	p.frag = IP_DF;
	build(&f, &p);
	too_big("mtu: 4in4 one byte over with DF: ICMP frag needed, MTU - 28",
		&f, f.l3_len - 1);
	start(&f, &p, nop4, sizeof(nop4));
	l4(&f, &p);
	payload(&f, PAYLOAD);
	finish(&f);
	set_mtu(f.l3_len + ROOM4 - 1);
	too_big("mtu: ICMP frag needed quotes IPv4 options and 8 bytes", &f,
		f.l3_len - 1);

	p.frag = 0;
	p.dport = 443;
	build(&f, &p);
	set_mtu(f.l3_len + ROOM6 - 1);
	drop("mtu: 4in6 counts a 40-byte outer header and 24 of hint", &f,
	     EV_TOO_BIG);
	p.frag = IP_DF;
	build(&f, &p);
	too_big("mtu: 4in6 with DF: ICMP frag needed, MTU - 64", &f,
		f.l3_len - 1);

	p = flow(VIP6, IPPROTO_TCP, 80);
	build(&f, &p);
	set_mtu(f.l3_len + ROOM6);
	tx("mtu: 6in6 at the MTU less a hint's room is sent", &f, V6_HTTP,
	   R6A);
	set_mtu(f.l3_len + ROOM6 - 1);
	too_big("mtu: 6in6 one byte over: ICMPv6 packet too big, MTU - 64",
		&f, f.l3_len - 1);
	p.dport = 8080;
	build(&f, &p);
	set_mtu(f.l3_len + ROOM4);
	tx("mtu: 6in4 counts a 20-byte outer header and 8 of hint", &f,
	   V6_ALT, R4A);
	set_mtu(f.l3_len + ROOM4 - 1);
	too_big("mtu: 6in4 one byte over: ICMPv6 packet too big, MTU - 28",
		&f, f.l3_len - 1);

	p = flow(VIP4, IPPROTO_UDP, 53);
	start(&f, &p, NULL, 0);
	l4(&f, &p);
	finish(&f);
	put_zeros(&f, 60 - f.len);
	set_mtu(f.l3_len + ROOM4);
	tx("mtu: Ethernet padding is not counted", &f, V4_DNS, R4A);

	set_mtu(0);
	start(&f, &p, NULL, 0);
	l4(&f, &p);
	payload(&f, 1500 - 28);
	finish(&f);
	tx("mtu 0: a 1500-byte datagram is tunnelled", &f, V4_DNS, R4A);
}

static void set_slot(__u32 slot, __u32 real_id)
{
	if (bpf_map_update_elem(ring_fd, &slot, &real_id, BPF_ANY))
		die("bpf_map_update_elem(ring)");
}

/* Flows of p's kind with sports found to land on each real in turn. */
static void ring_flows(const char *kind, struct pkt p, __u32 vip_id)
{
	char name[80];
	struct frame f;
	__u32 real_id;

	for (real_id = R4A; real_id <= R6B; real_id++) {
		while (ring_real(flow_hash(&p, 1)) != real_id)
			p.sport++;
		build(&f, &p);
		snprintf(name, sizeof(name), "ring: %s sport %u -> real %u",
			 kind, p.sport, real_id);
		tx(name, &f, vip_id, real_id);
	}
}

static void test_ring(void)
{
	struct pkt p = flow(VIP4_RING, IPPROTO_TCP, 80);
	struct frame f;
	__u32 slot;

	ring_flows("IPv4 TCP", p, V4_RING);
	ring_flows("IPv6 UDP", flow(VIP6_RING, IPPROTO_UDP, 53), V6_RING);

	p = flow(VIP4_RING, IPPROTO_ICMP, 0);
	build(&f, &p);
	tx("ring: ICMP hashed with ports 0", &f, V4_RING_ICMP,
	   ring_real(flow_hash(&p, 0)));

	/* a flow whose ports would move it to another real */
	p = flow(VIP4_RING, IPPROTO_TCP, 80);
	while (ring_real(flow_hash(&p, 1)) == ring_real(flow_hash(&p, 0)))
		p.sport++;
	p.frag = IP_MF;
	build(&f, &p);
	tx("ring: IPv4 first fragment hashed with ports 0", &f, V4_RING,
	   ring_real(flow_hash(&p, 0)));
	p.frag = 185;
	build(&f, &p);
	tx("ring: IPv4 last fragment follows the first", &f, V4_RING,
	   ring_real(flow_hash(&p, 0)));

	p = flow(VIP6_RING, IPPROTO_UDP, 53);
	while (ring_real(flow_hash(&p, 1)) == ring_real(flow_hash(&p, 0)))
		p.sport++;
	build_frag6(&f, &p, 0, 1);
	tx("ring: IPv6 first fragment hashed with ports 0", &f, V6_RING,
	   ring_real(flow_hash(&p, 0)));

	p = flow(VIP4_RING, IPPROTO_TCP, 80);
	build(&f, &p);
	slot = hash_slot(flow_hash(&p, 1));
	set_slot(slot, R_EMPTY);
	drop("ring: slot naming a real of family 0 drops, EV_NO_REAL", &f,
	     EV_NO_REAL);
	set_slot(slot, slot_real(slot));
	tx("ring: the same flow after the slot is refilled", &f, V4_RING,
	   slot_real(slot));

	p = flow(VIP4_BAD, IPPROTO_TCP, 1);
	build(&f, &p);
	drop("ring VIP without a ring map drops, EV_NO_REAL", &f,
	     EV_NO_REAL);
	p.dport = 2;
	build(&f, &p);
	drop("real of family 0 drops, EV_NO_REAL", &f, EV_NO_REAL);
	p.dport = 3;
	build(&f, &p);
	drop("real_id beyond the reals map drops, EV_NO_REAL", &f,
	     EV_NO_REAL);
}

static void flow_saddr(__be32 *saddr, __u32 real_id, __u32 hash)
{
	int i;

	if (reals_conf[real_id].family == AF_INET) {
		saddr[0] = cfg.flow_src4 | (htonl(hash) & ~cfg.flow_src4_mask);
		return;
	}
	for (i = 0; i < 4; i++)
		saddr[i] = cfg.flow_src6[i] |
			   (htonl(hash ^ i) & ~cfg.flow_src6_mask[i]);
}

static void flow_src_cases(const char *kind, const char *vip, __u32 vip_id,
			   __u32 real_id)
{
	unsigned int off = reals_conf[real_id].family == AF_INET ? 26 : 22;
	unsigned int len = reals_conf[real_id].family == AF_INET ? 4 : 16;
	struct pkt p = flow(vip, IPPROTO_TCP, 80);
	__u8 first[16];
	__be32 saddr[4];
	char name[80];
	struct frame f;

	build(&f, &p);
	flow_saddr(saddr, real_id, flow_hash(&p, 1));
	snprintf(name, sizeof(name), "flow src: %s outer source from hash",
		 kind);
	tx_from(name, &f, vip_id, real_id, saddr);
	memcpy(first, got.b + off, len);
	snprintf(name, sizeof(name), "flow src: %s same flow, same source",
		 kind);
	tx_from(name, &f, vip_id, real_id, saddr);

	p.sport++;
	build(&f, &p);
	flow_saddr(saddr, real_id, flow_hash(&p, 1));
	run_tx(&f, vip_id, real_id, saddr);
	if (!memcmp(first, got.b + off, len))
		fail("the outer source did not change");
	snprintf(name, sizeof(name),
		 "flow src: %s another flow, another source", kind);
	report(name);
}

static void test_flow_src(void)
{
	flow_src_cases("IPv4", VIP4_FLOW, V4_FLOW, R4A);
	flow_src_cases("IPv6", VIP6_FLOW, V6_FLOW, R6A);
}

/* ---- ICMP errors about a VIP's flows ---------------------------------- */

/* The real's answer to the flow p: from the VIP's port to the client. */
static struct pkt answer(const struct pkt *p)
{
	struct pkt a = *p;

	a.src = p->dst;
	a.dst = p->src;
	a.sport = p->dport;
	a.dport = p->sport;
	return a;
}

/*
 * An ICMP error from a router to dst, quoting the first quote_len bytes
 * of the IP packet in quoted: type, code, then the 32-bit word after the
 * checksum (the MTU of a too big), with a valid ICMP checksum.
 */
static void icmp_error(struct frame *f, const char *dst,
		       const struct frame *quoted, unsigned int quote_len,
		       __u8 type, __u8 code, __u32 word)
{
	struct pkt o = {
		.src = is_ipv6(dst) ? ROUTER6 : ROUTER4,
		.dst = dst,
		.protocol = is_ipv6(dst) ? IPPROTO_ICMPV6 : IPPROTO_ICMP,
		.tos = 0xc0,			/* CS6, as routers send */
		.id = 0x4242,
	};
	unsigned int icmp;
	__u32 sum;

	start(f, &o, NULL, 0);
	f->b[f->nh] = o.protocol;
	icmp = f->len;
	put8(f, type);
	put8(f, code);
	put16(f, 0);
	put32(f, word);
	put(f, quoted->b + quoted->l3, quote_len);
	finish(f);
	if (f->family == AF_INET) {
		set16(f, icmp + 2, ~sum16(f->b + icmp, f->len - icmp));
		return;
	}
	sum = sum16(f->b + f->l3 + 8, 32) + (f->len - icmp) +
	      IPPROTO_ICMPV6 + sum16(f->b + icmp, f->len - icmp);
	set16(f, icmp + 2, ~fold(sum));
}

/* An error about the answer to p, quoting all of it (routers quote more). */
static void error_about(struct frame *f, const struct pkt *p, __u8 type,
			__u8 code, __u32 word)
{
	struct pkt a = answer(p);
	struct frame ans;

	build(&ans, &a);
	icmp_error(f, p->dst, &ans, ans.l3_len, type, code, word);
}

static void icmp_tx_from(const char *name, const struct frame *in,
			 __u32 vip_id, __u32 real_id, const __be32 *saddr)
{
	struct frame out;
	struct want w = { XDP_TX, &out, -1, vip_id, real_id, 1 };

	encap(&out, in, real_id, saddr);
	run(in, &w);
	report(name);
}

static void icmp_tx(const char *name, const struct frame *in, __u32 vip_id,
		    __u32 real_id)
{
	icmp_tx_from(name, in, vip_id, real_id, NULL);
}

#define ICMP_UNREACH	3
#define ICMP_FRAG	4	/* its code "fragmentation needed" */
#define ICMP_TIME	11
#define ICMP6_UNREACH	1
#define ICMP6_TOO_BIG	2
#define ICMP6_TIME	3

/* Each error a socket acts on, in the four encapsulations. */
static void test_icmp_forward(void)
{
	static const struct {
		const char *dst;
		__u16 port;
		__u32 vip_id, real_id;
		const char *encap;
	} flows[] = {
		{ VIP4, 80, V4_HTTP, R4A, "4in4" },
		{ VIP4, 443, V4_HTTPS, R6A, "4in6" },
		{ VIP6, 80, V6_HTTP, R6A, "6in6" },
		{ VIP6, 8080, V6_ALT, R4A, "6in4" },
	};
	char name[120];
	struct frame f;
	struct pkt p;
	unsigned int i, code;

	for (i = 0; i < ARRAY_SIZE(flows); i++) {
		p = flow(flows[i].dst, IPPROTO_TCP, flows[i].port);
		if (is_ipv6(p.dst)) {
			error_about(&f, &p, ICMP6_TOO_BIG, 0, 1400);
			snprintf(name, sizeof(name),
				 "icmp: %s packet too big 1400 to the flow's real",
				 flows[i].encap);
			icmp_tx(name, &f, flows[i].vip_id, flows[i].real_id);
			for (code = 0; code <= 7; code++) {
				error_about(&f, &p, ICMP6_UNREACH, code, 0);
				snprintf(name, sizeof(name),
					 "icmp: %s unreachable code %u",
					 flows[i].encap, code);
				icmp_tx(name, &f, flows[i].vip_id,
					flows[i].real_id);
			}
			error_about(&f, &p, ICMP6_TIME, 0, 0);
		} else {
			error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
			snprintf(name, sizeof(name),
				 "icmp: %s frag needed 1400 to the flow's real",
				 flows[i].encap);
			icmp_tx(name, &f, flows[i].vip_id, flows[i].real_id);
			for (code = 0; code <= 15; code++) {
				if (code == ICMP_FRAG)
					continue;
				error_about(&f, &p, ICMP_UNREACH, code, 0);
				snprintf(name, sizeof(name),
					 "icmp: %s unreachable code %u",
					 flows[i].encap, code);
				icmp_tx(name, &f, flows[i].vip_id,
					flows[i].real_id);
			}
			error_about(&f, &p, ICMP_TIME, 0, 0);
		}
		snprintf(name, sizeof(name), "icmp: %s time exceeded",
			 flows[i].encap);
		icmp_tx(name, &f, flows[i].vip_id, flows[i].real_id);
	}

	p = flow(VIP4, IPPROTO_UDP, 53);
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	icmp_tx("icmp: UDP flow: frag needed to its real", &f, V4_DNS, R4A);
	p = flow(VIP6, IPPROTO_UDP, 53);
	error_about(&f, &p, ICMP6_TOO_BIG, 0, 1280);
	icmp_tx("icmp: IPv6 UDP flow: too big 1280 to its real", &f, V6_DNS,
		R6B);
}

/* The ring and the outer source follow the flow, not the error. */
static void test_icmp_hash(void)
{
	struct pkt p = flow(VIP4_RING, IPPROTO_TCP, 80);
	__u32 real_id, hash;
	__be32 saddr[4];
	char name[120];
	struct frame f;

	for (real_id = R4A; real_id <= R6B; real_id++) {
		while (ring_real(flow_hash(&p, 1)) != real_id)
			p.sport++;
		error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
		snprintf(name, sizeof(name),
			 "icmp: ring: frag needed about sport %u -> real %u",
			 p.sport, real_id);
		icmp_tx(name, &f, V4_RING, real_id);
	}
	p = flow(VIP6_RING, IPPROTO_UDP, 53);
	for (real_id = R4A; real_id <= R6B; real_id++) {
		while (ring_real(flow_hash(&p, 1)) != real_id)
			p.sport++;
		error_about(&f, &p, ICMP6_TOO_BIG, 0, 1400);
		snprintf(name, sizeof(name),
			 "icmp: ring: IPv6 too big about sport %u -> real %u",
			 p.sport, real_id);
		icmp_tx(name, &f, V6_RING, real_id);
	}

	p = flow(VIP4_FLOW, IPPROTO_TCP, 80);
	hash = flow_hash(&p, 1);
	flow_saddr(saddr, R4A, hash);
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	icmp_tx_from("icmp: flow src: IPv4 outer source of the flow", &f,
		     V4_FLOW, R4A, saddr);
	p = flow(VIP6_FLOW, IPPROTO_TCP, 80);
	flow_saddr(saddr, R6A, flow_hash(&p, 1));
	error_about(&f, &p, ICMP6_TOO_BIG, 0, 1400);
	icmp_tx_from("icmp: flow src: IPv6 outer source of the flow", &f,
		     V6_FLOW, R6A, saddr);

	/* an error about an echo reply of a -P icmp VIP: the echo's real */
	p = flow(VIP4_RING, IPPROTO_ICMP, 0);
	error_about(&f, &p, ICMP_UNREACH, 1, 0);
	icmp_tx("icmp: about an echo reply: the echo request's real", &f,
		V4_RING_ICMP, ring_real(flow_hash(&p, 0)));
}

/* The quote as the kernel reads it; what it cannot read goes on. */
static void test_icmp_quote(void)
{
	static const __u8 nop4[4] = { 1, 1, 1, 0 };
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80), a = answer(&p);
	struct frame ans, f;

	build(&ans, &a);
	icmp_error(&f, VIP4, &ans, 28, ICMP_UNREACH, ICMP_FRAG, 1400);
	icmp_tx("icmp: quote of header and 8 bytes is enough", &f, V4_HTTP,
		R4A);
	icmp_error(&f, VIP4_ANY, &ans, 27, ICMP_UNREACH, ICMP_FRAG, 1400);
	pass("icmp: quote of header and 7 bytes passes, EV_ICMP_QUOTE", &f,
	     EV_ICMP_QUOTE);
	start(&ans, &a, nop4, sizeof(nop4));
	l4(&ans, &a);
	payload(&ans, PAYLOAD);
	finish(&ans);
	icmp_error(&f, VIP4, &ans, 32, ICMP_UNREACH, ICMP_FRAG, 1400);
	icmp_tx("icmp: quote with IPv4 options: ports after them", &f,
		V4_HTTP, R4A);
	icmp_error(&f, VIP4_ANY, &ans, 31, ICMP_UNREACH, ICMP_FRAG, 1400);
	pass("icmp: quote with options, 7 bytes after them, EV_ICMP_QUOTE",
	     &f, EV_ICMP_QUOTE);

	a.frag = IP_MF;
	build(&ans, &a);
	icmp_error(&f, VIP4, &ans, ans.l3_len, ICMP_UNREACH, ICMP_FRAG, 1400);
	icmp_tx("icmp: quoted first fragment: its ports", &f, V4_HTTP, R4A);
	a.frag = 185;
	build(&ans, &a);
	icmp_error(&f, VIP4_ANY, &ans, ans.l3_len, ICMP_UNREACH, ICMP_FRAG,
		   1400);
	pass("icmp: quoted later fragment passes, EV_ICMP_QUOTE", &f,
	     EV_ICMP_QUOTE);

	/* an error about an error: never acted on (RFC 1122 3.2.2) */
	error_about(&ans, &p, ICMP_UNREACH, 1, 0);
	memcpy(ans.b + ans.l3 + 12, ans.b + ans.l3 + 16, 4);
	icmp_error(&f, VIP4_ANY, &ans, ans.l3_len, ICMP_UNREACH, 1, 0);
	pass("icmp: an error quoting an ICMP error passes, EV_ICMP_QUOTE",
	     &f, EV_ICMP_QUOTE);

	p = flow(VIP6, IPPROTO_TCP, 80);
	a = answer(&p);
	build(&ans, &a);
	icmp_error(&f, VIP6, &ans, 48, ICMP6_TOO_BIG, 0, 1400);
	icmp_tx("icmp: IPv6 quote of header and 8 bytes is enough", &f,
		V6_HTTP, R6A);
	/* to a VIP without -P icmp from here on: they pass */
	p = flow(VIP6_ANY, IPPROTO_TCP, 80);
	a = answer(&p);
	build(&ans, &a);
	icmp_error(&f, VIP6_ANY, &ans, 47, ICMP6_TOO_BIG, 0, 1400);
	pass("icmp: IPv6 quote of header and 7 bytes passes, EV_ICMP_QUOTE",
	     &f, EV_ICMP_QUOTE);
	start(&ans, &a, NULL, 0);
	ext6(&ans, IPPROTO_DSTOPTS, 8);
	l4(&ans, &a);
	payload(&ans, PAYLOAD);
	finish(&ans);
	icmp_error(&f, VIP6_ANY, &ans, ans.l3_len, ICMP6_TOO_BIG, 0, 1400);
	pass("icmp: IPv6 quote with an extension header passes, EV_ICMP_QUOTE",
	     &f, EV_ICMP_QUOTE);
	error_about(&ans, &p, ICMP6_UNREACH, 0, 0);
	memcpy(ans.b + ans.l3 + 8, ans.b + ans.l3 + 24, 16);
	icmp_error(&f, VIP6_ANY, &ans, ans.l3_len, ICMP6_UNREACH, 0, 0);
	pass("icmp: an ICMPv6 error quoting an ICMPv6 error passes, EV_ICMP_QUOTE",
	     &f, EV_ICMP_QUOTE);

	/* a router's ICMPv6 error has no extension header of its own */
	build(&ans, &a);
	start(&f, &(struct pkt){ .src = ROUTER6, .dst = VIP6_ANY }, NULL, 0);
	ext6(&f, IPPROTO_DSTOPTS, 8);
	f.b[f.nh] = IPPROTO_ICMPV6;
	put8(&f, ICMP6_TOO_BIG);
	put8(&f, 0);
	put16(&f, 0);
	put32(&f, 1400);
	put(&f, ans.b + ans.l3, ans.l3_len);
	finish(&f);
	pass("icmp: ICMPv6 error behind an extension header goes on: passes",
	     &f, -1);

	/* an ICMP error quotes its own family */
	icmp_error(&f, VIP4_ANY, &ans, 48, ICMP_UNREACH, ICMP_FRAG, 1400);
	pass("icmp: ICMP quoting IPv6 passes, EV_ICMP_QUOTE", &f,
	     EV_ICMP_QUOTE);
}

/* Not a VIP's flow: as any other ICMP to the address. */
static void test_icmp_not_a_flow(void)
{
	struct pkt p = flow(VIP4_ANY, IPPROTO_TCP, 80), a;
	struct frame ans, f;

	p.dst = OTHER4;
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	pass("icmp: about a packet from an address without VIP passes", &f,
	     -1);
	p = flow(VIP4, IPPROTO_TCP, 81);
	p.dst = VIP4;
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	tx("icmp: about no service, to a -P icmp VIP: its ICMP service", &f,
	   V4_ICMP, R4A);
	/* the same error, but the VIP has no -P icmp */
	p = flow(VIP4_ANY, IPPROTO_TCP, 0);
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	pass("icmp: about port 0, outside 1-65535, passes", &f, -1);
	p = flow(VIP6, IPPROTO_TCP, 81);
	error_about(&f, &p, ICMP6_TOO_BIG, 0, 1400);
	tx("icmp: IPv6 about no service, to a -P icmp VIP: its service", &f,
	   V6_ICMP, R6A);
	p = flow("2001:db8::99", IPPROTO_TCP, 80);
	error_about(&f, &p, ICMP6_TOO_BIG, 0, 1400);
	pass("icmp: IPv6 about an address without VIP passes", &f, -1);

	/* quoted from a VIP, sent elsewhere */
	p = flow(VIP4_ANY, IPPROTO_TCP, 80);
	a = answer(&p);
	build(&ans, &a);
	icmp_error(&f, OTHER4, &ans, ans.l3_len, ICMP_UNREACH, ICMP_FRAG,
		   1400);
	pass("icmp: sent to another address than the quote's source passes",
	     &f, -1);

	p = flow(VIP4_ANY, IPPROTO_TCP, 80);
	error_about(&f, &p, 5, 1, 0x01020304);
	pass("icmp: a redirect is not forwarded: passes", &f, -1);
	error_about(&f, &p, 12, 0, 0);
	pass("icmp: a parameter problem is not forwarded: passes", &f, -1);

	p = flow(VIP4_ANY, IPPROTO_ICMP, 0);
	build(&f, &p);
	pass("icmp: echo request to a VIP without -P icmp passes", &f, -1);
	p = flow(VIP6_ANY, IPPROTO_ICMPV6, 0);
	build(&f, &p);
	pass("icmp: IPv6 echo request to a VIP without -P icmp passes", &f,
	     -1);
	p = flow(VIP4, IPPROTO_ICMP, 0);
	build(&f, &p);
	tx("icmp: echo request to a -P icmp VIP is tunnelled", &f, V4_ICMP,
	   R4A);
}

/* Too big below the minimum MTU, no real, too big to tunnel */
static void test_icmp_limits(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct frame f;

	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 575);
	drop("icmp: frag needed 575 drops, EV_ICMP_MTU_LOW", &f,
	     EV_ICMP_MTU_LOW);
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 576);
	icmp_tx("icmp: frag needed 576 is forwarded", &f, V4_HTTP, R4A);
	p.dport = 443;
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 0);
	drop("icmp: 4in6 frag needed 0 drops, EV_ICMP_MTU_LOW", &f,
	     EV_ICMP_MTU_LOW);
	p = flow(VIP6, IPPROTO_TCP, 80);
	error_about(&f, &p, ICMP6_TOO_BIG, 0, 1279);
	drop("icmp: too big 1279 drops, EV_ICMP_MTU_LOW", &f,
	     EV_ICMP_MTU_LOW);
	error_about(&f, &p, ICMP6_TOO_BIG, 0, 1280);
	icmp_tx("icmp: too big 1280 is forwarded", &f, V6_HTTP, R6A);

	p = flow(VIP4_BAD, IPPROTO_TCP, 2);
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	drop("icmp: about a flow of a VIP without real drops, EV_NO_REAL", &f,
	     EV_NO_REAL);

	p = flow(VIP6, IPPROTO_TCP, 80);
	error_about(&f, &p, ICMP6_TOO_BIG, 0, 1400);
	set_mtu(f.l3_len + 40);
	icmp_tx("icmp: 6in6 exactly at the MTU is sent", &f, V6_HTTP, R6A);
	set_mtu(f.l3_len + 39);
	drop("icmp: 6in6 over the MTU drops (no error about an error), EV_TOO_BIG",
	     &f, EV_TOO_BIG);
	set_mtu(0);
}

/* ---- previous owners: the hint of a moved flow ------------------------ */

/* The grace VIPs' previous owner of slot: prev_id, or R_NONE for none. */
static void set_prev(__u32 slot, __u32 prev_id)
{
	__u32 owner = prev_id == R_NONE ? PREV_NONE : prev_id + 1;

	if (bpf_map_update_elem(prev_fd, &slot, &owner, BPF_ANY))
		die("bpf_map_update_elem(prev ring)");
}

/* A flow of p's kind, its sport moved until the ring gives it real_id. */
static struct pkt flow_to(struct pkt p, __u32 real_id)
{
	while (ring_real(flow_hash(&p, 1)) != real_id)
		p.sport++;
	return p;
}

/* in tunnelled to real_id with prev_id's hint; icmp: an error about a flow */
static void tx_hinted(const char *name, const struct frame *in,
		      __u32 vip_id, __u32 real_id, __u32 prev_id, int icmp)
{
	struct frame out;
	struct want w = { XDP_TX, &out, EV_HINT, vip_id, real_id, icmp };

	encap_hint(&out, in, real_id, NULL, prev_id);
	run(in, &w);
	report(name);
}

static void tx_hint(const char *name, const struct frame *in, __u32 vip_id,
		    __u32 real_id, __u32 prev_id)
{
	tx_hinted(name, in, vip_id, real_id, prev_id, 0);
}

/* When the grace VIPs' grace period ends, in CLOCK_MONOTONIC ns */
static void set_grace_end(__u64 end)
{
	__u32 id;

	for (id = V4_GRACE; id <= V6_GRACE; id++)
		if (bpf_map_update_elem(grace_ends_fd, &id, &end, BPF_ANY))
			die("bpf_map_update_elem(grace_ends)");
}

static __u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void test_grace(void)
{
	struct pkt p = flow_to(flow(VIP4_GRACE, IPPROTO_TCP, 80), R4A);
	__u32 slot = hash_slot(flow_hash(&p, 1)), id;
	struct frame f;

	build(&f, &p);
	tx("grace: 4in4 on a slot without a previous owner: no hint", &f,
	   V4_GRACE, R4A);
	set_prev(slot, R4B);
	tx_hint("grace: 4in4 hinted: IHL 7, option 0x9e naming the old real",
		&f, V4_GRACE, R4A, R4B);
	set_mtu(f.l3_len + ROOM4);
	tx_hint("grace: hinted 4in4 at the MTU less a hint's room is sent",
		&f, V4_GRACE, R4A, R4B);
	set_mtu(f.l3_len + ROOM4 - 1);
	drop("grace: hinted 4in4 one byte over drops, EV_TOO_BIG", &f,
	     EV_TOO_BIG);
	set_mtu(0);
	/* a second ago: the program's coarse clock may be a tick behind */
	set_grace_end(monotonic_ns() - 1000000000ULL);
	tx("grace: a grace period just ended: no hint", &f, V4_GRACE, R4A);
	set_grace_end(0);
	tx("grace: no grace period ever started: no hint", &f, V4_GRACE,
	   R4A);
	set_grace_end(monotonic_ns() + 600000000000ULL);
	tx_hint("grace: a grace period of ten more minutes: hinted", &f,
		V4_GRACE, R4A, R4B);
	set_prev(slot, R6A);
	tx("grace: a previous real of the other family: no hint", &f,
	   V4_GRACE, R4A);
	set_prev(slot, R_EMPTY);
	tx("grace: a previous real the loader has not filled: no hint", &f,
	   V4_GRACE, R4A);
	set_prev(slot, R_NONE);

	p = flow_to(flow(VIP4_GRACE, IPPROTO_UDP, 53), R4A);
	build(&f, &p);
	set_prev(hash_slot(flow_hash(&p, 1)), R4B);
	tx("grace: UDP on a slot with a previous owner: no hint", &f,
	   V4_GRACE_UDP, R4A);
	set_prev(hash_slot(flow_hash(&p, 1)), R_NONE);

	/* a previous owner of the fragment's real's family: R4A-R4B, R6A-R6B */
	p = flow(VIP4_GRACE, IPPROTO_TCP, 80);
	p.frag = IP_MF;
	build(&f, &p);
	id = ring_real(flow_hash(&p, 0));
	set_prev(hash_slot(flow_hash(&p, 0)), id % 2 ? id + 1 : id - 1);
	tx("grace: a TCP fragment (hashed without ports): no hint", &f,
	   V4_GRACE, id);
	set_prev(hash_slot(flow_hash(&p, 0)), R_NONE);

	p = flow_to(flow(VIP4_GRACE, IPPROTO_TCP, 80), R6A);
	build(&f, &p);
	set_prev(hash_slot(flow_hash(&p, 1)), R6B);
	tx_hint("grace: 4in6 hinted: destination options 0x3e, PadN", &f,
		V4_GRACE, R6A, R6B);
	set_prev(hash_slot(flow_hash(&p, 1)), R_NONE);

	p = flow_to(flow(VIP6_GRACE, IPPROTO_TCP, 443), R6B);
	build(&f, &p);
	set_prev(hash_slot(flow_hash(&p, 1)), R6A);
	tx_hint("grace: 6in6 hinted", &f, V6_GRACE, R6B, R6A);
	set_mtu(f.l3_len + ROOM6);
	tx_hint("grace: hinted 6in6 at the MTU less a hint's room is sent",
		&f, V6_GRACE, R6B, R6A);
	set_mtu(0);
	set_prev(hash_slot(flow_hash(&p, 1)), R_NONE);

	p = flow_to(flow(VIP6_GRACE, IPPROTO_TCP, 443), R4B);
	build(&f, &p);
	set_prev(hash_slot(flow_hash(&p, 1)), R4A);
	tx_hint("grace: 6in4 hinted", &f, V6_GRACE, R4B, R4A);

	id = V6_GRACE;
	if (bpf_map_delete_elem(prev_rings_fd, &id))
		die("bpf_map_delete_elem(prev_rings)");
	tx("grace: VIP flagged but without previous owners: no hint", &f,
	   V6_GRACE, R4B);
	if (bpf_map_update_elem(prev_rings_fd, &id, &prev_fd, BPF_ANY))
		die("bpf_map_update_elem(prev_rings)");
	set_prev(hash_slot(flow_hash(&p, 1)), R_NONE);
}

/*
 * An error about a moved flow carries the flow's hint: the new real hands
 * it to the previous one, which holds the connection (and, for a too big,
 * must lower its path MTU). Four encapsulations, the MTU edge, and no hint
 * where the flow has none.
 */
static void test_icmp_grace(void)
{
	static const struct {
		const char *vip;
		__u16 port;
		__u32 vip_id, real_id, prev_id;
		const char *encap;
	} moved[] = {
		{ VIP4_GRACE, 80, V4_GRACE, R4A, R4B, "4in4" },
		{ VIP4_GRACE, 80, V4_GRACE, R6A, R6B, "4in6" },
		{ VIP6_GRACE, 443, V6_GRACE, R6B, R6A, "6in6" },
		{ VIP6_GRACE, 443, V6_GRACE, R4B, R4A, "6in4" },
	};
	char name[120];
	struct frame f;
	unsigned int i;
	struct pkt p;
	__u32 slot;

	for (i = 0; i < ARRAY_SIZE(moved); i++) {
		p = flow_to(flow(moved[i].vip, IPPROTO_TCP, moved[i].port),
			    moved[i].real_id);
		slot = hash_slot(flow_hash(&p, 1));
		if (is_ipv6(p.dst))
			error_about(&f, &p, ICMP6_TOO_BIG, 0, 1400);
		else
			error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
		set_prev(slot, moved[i].prev_id);
		snprintf(name, sizeof(name),
			 "icmp: grace: %s too big about a moved flow, hinted",
			 moved[i].encap);
		tx_hinted(name, &f, moved[i].vip_id, moved[i].real_id,
			  moved[i].prev_id, 1);
		set_prev(slot, R_NONE);
		snprintf(name, sizeof(name),
			 "icmp: grace: %s the same flow not moved: no hint",
			 moved[i].encap);
		icmp_tx(name, &f, moved[i].vip_id, moved[i].real_id);
	}

	p = flow_to(flow(VIP4_GRACE, IPPROTO_TCP, 80), R4A);
	slot = hash_slot(flow_hash(&p, 1));
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	set_prev(slot, R4B);
	set_mtu(f.l3_len + ROOM4);
	tx_hinted("icmp: grace: hinted error exactly at the MTU is sent", &f,
		  V4_GRACE, R4A, R4B, 1);
	set_mtu(f.l3_len + ROOM4 - 1);
	drop("icmp: grace: hinted error one byte over drops, EV_TOO_BIG", &f,
	     EV_TOO_BIG);
	set_mtu(0);
	set_prev(slot, R_NONE);

	p = flow_to(flow(VIP4_GRACE, IPPROTO_UDP, 53), R4A);
	slot = hash_slot(flow_hash(&p, 1));
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	set_prev(slot, R4B);
	icmp_tx("icmp: grace: about a UDP flow on a moved slot: no hint", &f,
		V4_GRACE_UDP, R4A);
	set_prev(slot, R_NONE);
}

/* ---- setup ------------------------------------------------------------ */

/* The first free slot from the key's own on, as the loader does. */
static void put_vip(const struct vip_key *key, const struct vip_value *value)
{
	__u32 slot = home_slot(key);

	while (vip_table[slot].key.family)
		slot = table_slot(slot + 1);
	vip_table[slot].key = *key;
	vip_table[slot].value = *value;
}

/* The program's first VIP table, written through mmap() as the loader does. */
static void map_first_table(void)
{
	vip_table = mmap(NULL, VIP_TABLE_BYTES,
			 PROT_READ | PROT_WRITE, MAP_SHARED, vip_table_fd, 0);
	if (vip_table == MAP_FAILED)
		die("mmap(first_vip_table)");
}

static void fill_maps(void)
{
	struct vip_value value;
	struct vip_key key;
	__u32 id, i, zero = 0;

	parse_addr("10.0.128.0", &cfg.flow_src4);
	parse_addr("255.255.128.0", &cfg.flow_src4_mask);
	parse_addr("fd00:f::", cfg.flow_src6);
	parse_addr("ffff:ffff:ffff:ffff::", cfg.flow_src6_mask);
	memcpy(cfg.smac, director_mac, ETH_ALEN);
	if (bpf_map_update_elem(config_fd, &zero, &cfg, BPF_ANY))
		die("bpf_map_update_elem(config_map)");

	for (id = R4A; id < NR_REALS; id++) {
		struct real *r = &reals_conf[id];

		if (real_addrs[id].saddr) {
			r->family = is_ipv6(real_addrs[id].daddr) ?
				    AF_INET6 : AF_INET;
			parse_addr(real_addrs[id].saddr, r->saddr);
			parse_addr(real_addrs[id].daddr, r->daddr);
		}
		r->dmac[0] = 0x02;
		r->dmac[4] = 0xe1;
		r->dmac[5] = id;
		if (bpf_map_update_elem(reals_fd, &id, r, BPF_ANY))
			die("bpf_map_update_elem(reals)");
	}

	map_first_table();
	for (i = 0; i < ARRAY_SIZE(vips); i++) {
		memset(&key, 0, sizeof(key));
		memset(&value, 0, sizeof(value));
		parse_addr(vips[i].addr, key.addr);
		key.family = is_ipv6(vips[i].addr) ? AF_INET6 : AF_INET;
		key.protocol = vips[i].protocol;
		while (value.nr_ranges < 4 &&
		       vips[i].range[value.nr_ranges].vip_id) {
			value.range[value.nr_ranges] =
				vips[i].range[value.nr_ranges];
			value.nr_ranges++;
		}
		put_vip(&key, &value);
	}

	ring_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_ring",
				 sizeof(__u32), sizeof(__u32),
				 MAGLEV_RING_SIZE, NULL);
	if (ring_fd < 0)
		die("bpf_map_create(ring)");
	for (i = 0; i < MAGLEV_RING_SIZE; i++)
		set_slot(i, slot_real(i));
	for (id = V4_RING; id <= V6_RING; id++)
		if (bpf_map_update_elem(rings_fd, &id, &ring_fd, BPF_ANY))
			die("bpf_map_update_elem(vip_rings)");

	/* the grace VIPs: the same ring, previous owners set per case */
	prev_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_prev",
				 sizeof(__u32), sizeof(__u32),
				 MAGLEV_RING_SIZE, NULL);
	if (prev_fd < 0)
		die("bpf_map_create(prev ring)");
	for (id = V4_GRACE; id <= V6_GRACE; id++)
		if (bpf_map_update_elem(rings_fd, &id, &ring_fd, BPF_ANY) ||
		    bpf_map_update_elem(prev_rings_fd, &id, &prev_fd, BPF_ANY))
			die("bpf_map_update_elem(vip_rings, prev_rings)");
	set_grace_end(~0ULL);
}

static int print_warnings(enum libbpf_print_level level, const char *fmt,
			  va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static struct bpf_object *setup(const char *path)
{
	struct bpf_object *obj;

	libbpf_set_print(print_warnings);
	obj = load(path, "xdp_iptunnel", &prog_fd);
	tables_fd = map_fd(obj, "vip_tables");
	vip_table_fd = map_fd(obj, "first_vip_table");
	reals_fd = map_fd(obj, "reals");
	rings_fd = map_fd(obj, "vip_rings");
	prev_rings_fd = map_fd(obj, "prev_rings");
	grace_ends_fd = map_fd(obj, "grace_ends");
	config_fd = map_fd(obj, "config_map");
	vip_stats_fd = map_fd(obj, "vip_stats");
	real_stats_fd = map_fd(obj, "real_stats");
	events_fd = map_fd(obj, "events");

	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0) {
		errno = -ncpus;
		die("libbpf_num_possible_cpus");
	}
	batch_keys = calloc(MAX_VIPS, sizeof(*batch_keys));
	batch_values = calloc((size_t)MAX_VIPS * ncpus,
			      sizeof(*batch_values));
	ev_values = calloc(ncpus, sizeof(*ev_values));
	if (!batch_keys || !batch_values || !ev_values)
		die("calloc");
	fill_maps();
	return obj;
}

/* ---- trace ------------------------------------------------------------ */

/*
 * With trace_ctl set, one record per packet in trace_ring, its fields
 * predicted here. No packet can make the program miss its headroom or
 * its settings in a test run (WHY_NO_HEADROOM, WHY_NO_CONFIG): those two
 * reasons are not tested.
 */
static int trace_ctl_fd, trace_buckets_fd;
static struct ring_buffer *trace_rb;
static struct trace_record traced;	/* the first of the last run */
static int nr_traced;

static int keep_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (!nr_traced++ && size == sizeof(traced))
		memcpy(&traced, data, size);
	return 0;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static struct trace_ctl trace_filter;	/* the next set_trace()'s filter */

/* trace_ctl as a tracer sets it, with the buckets emptied */
static void set_trace(__u64 ns_per_record, __u64 burst_ns, __u64 expires)
{
	struct trace_ctl ctl = trace_filter;
	struct trace_bucket empty[ncpus];
	__u32 zero = 0;

	memset(empty, 0, sizeof(empty));
	if (bpf_map_update_elem(trace_buckets_fd, &zero, empty, BPF_ANY))
		die("bpf_map_update_elem(trace_buckets)");

	ctl.ns_per_record = ns_per_record;
	ctl.burst_ns = burst_ns;
	ctl.expires_ns = expires;
	if (bpf_map_update_elem(trace_ctl_fd, &zero, &ctl, BPF_ANY))
		die("bpf_map_update_elem(trace_ctl)");
}

static void trace_all(void)
{
	memset(&trace_filter, 0, sizeof(trace_filter));
	set_trace(1, 1000000000ULL, mono_ns() + 10000000000ULL);
}

/* sums over the CPUs of trace_buckets */
static void read_buckets(__u64 *limited, __u64 *lost)
{
	struct trace_bucket b[ncpus];
	__u32 zero = 0;
	int cpu;

	if (bpf_map_lookup_elem(trace_buckets_fd, &zero, b))
		die("bpf_map_lookup_elem(trace_buckets)");
	*limited = 0;
	*lost = 0;
	for (cpu = 0; cpu < ncpus; cpu++) {
		*limited += b[cpu].limited;
		*lost += b[cpu].lost;
	}
}

/* Run in once, without looking at the output; the records it left. */
static int run_traced(const struct frame *in, __u64 *before, __u64 *after)
{
	struct bpf_test_run_opts opts = {
		.sz = sizeof(opts),
		.data_in = in->b,
		.data_size_in = in->len,
		.data_out = got.b,
		.data_size_out = sizeof(got.b),
		.repeat = 1,
	};

	nr_traced = 0;
	*before = mono_ns();
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		die("BPF_PROG_TEST_RUN");
	*after = mono_ns();
	if (ring_buffer__consume(trace_rb) < 0)
		die("ring_buffer__consume");
	return nr_traced;
}

struct want_trace {
	__u32 verdict;
	__u32 reason;
	__u32 vip_id;		/* V_NONE: no range matched */
	__u16 port_min, port_max;
	__u32 real_id;		/* R_NONE: no real picked */
	int ports;		/* the ports were read */
	int ring;		/* the real came from the Maglev ring */
	int outer;		/* tunnelled: the outer header of real_id */
};

static void check_trace(const char *name, const struct frame *in,
			const struct pkt *p, const struct want_trace *w)
{
	int family = p ? (is_ipv6(p->dst) ? AF_INET6 : AF_INET) : 0;
	const struct real *real = &reals_conf[w->real_id];
	__u8 flags = (w->vip_id ? TRACE_F_VIP : 0) |
		     (w->real_id ? TRACE_F_REAL : 0) |
		     (w->ring ? TRACE_F_SLOT : 0);
	__be32 src[4] = {}, dst[4] = {};
	__u64 before, after;
	int n;

	if (p) {
		parse_addr(p->src, src);
		parse_addr(p->dst, dst);
	}
	n = run_traced(in, &before, &after);
	if (n != 1) {
		fail("%d records, want 1", n);
		report(name);
		return;
	}
	if (traced.verdict != w->verdict)
		fail("verdict %s, want %s", action_name(traced.verdict),
		     action_name(w->verdict));
	if (traced.reason != w->reason)
		fail("reason %u, want %u", traced.reason, w->reason);
	if (traced.time_ns < before || traced.time_ns > after)
		fail("time %llu outside the run", traced.time_ns);
	if (traced.len != in->len)
		fail("len %u, want %u", traced.len, in->len);
	if (traced.ifindex != 1)
		fail("ifindex %u, want 1 (lo, in a test run)", traced.ifindex);
	if (traced.family != family)
		fail("family %u, want %d", traced.family, family);
	if (family && w->reason != WHY_EXT_HDR &&
	    traced.protocol != p->protocol)
		fail("protocol %u, want %u", traced.protocol, p->protocol);
	if (memcmp(traced.saddr, src, 16) || memcmp(traced.daddr, dst, 16))
		fail("addresses differ");
	if (traced.sport != (w->ports ? p->sport : 0) ||
	    traced.dport != (w->ports ? p->dport : 0))
		fail("ports %u > %u, want %u > %u", traced.sport, traced.dport,
		     w->ports ? p->sport : 0, w->ports ? p->dport : 0);
	if (traced.flags != flags)
		fail("flags %#x, want %#x", traced.flags, flags);
	if (traced.vip_id != w->vip_id || traced.port_min != w->port_min ||
	    traced.port_max != w->port_max)
		fail("vip %u %u-%u, want %u %u-%u", traced.vip_id,
		     traced.port_min, traced.port_max, w->vip_id,
		     w->port_min, w->port_max);
	if (traced.real_id != w->real_id)
		fail("real %u, want %u", traced.real_id, w->real_id);
	if (traced.slot != (w->ring ? hash_slot(flow_hash(p, 1)) : 0))
		fail("slot %u, want %u", traced.slot,
		     w->ring ? hash_slot(flow_hash(p, 1)) : 0);
	if (traced.outer_family != (w->outer ? real->family : 0) ||
	    (w->outer && (memcmp(traced.outer_saddr, real->saddr, 16) ||
			  memcmp(traced.outer_daddr, real->daddr, 16))))
		fail("outer header of family %u differs", traced.outer_family);
	report(name);
}

/* Each reason, for a packet built to cause it. */
static void test_trace_reasons(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct want_trace w;
	struct frame f;
	__u16 mtu = cfg.mtu;
	__u32 real;

	trace_all();
	build(&f, &p);
	w = (struct want_trace){ XDP_TX, WHY_TUNNELLED, V4_HTTP, 80, 80, R4A,
				 1, 0, 1 };
	check_trace("trace: 4in4 tunnelled, range, real, outer", &f, &p, &w);

	p.dport = 443;
	build(&f, &p);
	w = (struct want_trace){ XDP_TX, WHY_TUNNELLED, V4_HTTPS, 443, 443,
				 R6A, 1, 0, 1 };
	check_trace("trace: 4in6 tunnelled, outer IPv6", &f, &p, &w);

	p = flow(VIP6, IPPROTO_TCP, 80);
	build(&f, &p);
	w = (struct want_trace){ XDP_TX, WHY_TUNNELLED, V6_HTTP, 80, 80,
				 R6A, 1, 0, 1 };
	check_trace("trace: 6in6 tunnelled", &f, &p, &w);

	p.dport = 8080;
	build(&f, &p);
	w = (struct want_trace){ XDP_TX, WHY_TUNNELLED, V6_ALT, 8080, 8080,
				 R4A, 1, 0, 1 };
	check_trace("trace: 6in4 tunnelled", &f, &p, &w);

	p = flow(VIP4_RING, IPPROTO_TCP, 80);
	build(&f, &p);
	real = ring_real(flow_hash(&p, 1));
	w = (struct want_trace){ XDP_TX, WHY_TUNNELLED, V4_RING, 1, 65535,
				 real, 1, 1, 1 };
	check_trace("trace: Maglev ring: the real and its slot", &f, &p, &w);

	eth(&f, ETH_P_ARP);
	put_zeros(&f, 28);
	w = (struct want_trace){ .verdict = XDP_PASS, .reason = WHY_NOT_IP };
	check_trace("trace: ARP passed, not IP", &f, NULL, &w);

	p = flow(VIP4, IPPROTO_TCP, 80);
	build(&f, &p);
	set16(&f, f.l3 + 2, f.l3_len + 1);	/* longer than the frame */
	w = (struct want_trace){ .verdict = XDP_PASS,
				 .reason = WHY_MALFORMED };
	check_trace("trace: IPv4 length past the frame passed, malformed",
		    &f, &p, &w);

	p = flow(VIP6, IPPROTO_TCP, 80);
	build_ext(&f, &p, 7);
	w = (struct want_trace){ .verdict = XDP_PASS, .reason = WHY_EXT_HDR };
	check_trace("trace: 7 IPv6 extension headers passed", &f, &p, &w);

	p = flow(OTHER4, IPPROTO_TCP, 80);
	build(&f, &p);
	w = (struct want_trace){ .verdict = XDP_PASS, .reason = WHY_NOT_VIP };
	check_trace("trace: not a VIP passed, ports unread", &f, &p, &w);

	p = flow(VIP4, IPPROTO_TCP, 81);
	build(&f, &p);
	w = (struct want_trace){ .verdict = XDP_PASS, .reason = WHY_NO_PORT,
				 .ports = 1 };
	check_trace("trace: port outside the ranges passed", &f, &p, &w);

	p = flow(VIP4, IPPROTO_TCP, 80);
	p.frag = IP_MF;
	build(&f, &p);
	w = (struct want_trace){ .verdict = XDP_PASS,
				 .reason = WHY_FRAGMENT };
	check_trace("trace: fragment to a one-port range passed", &f, &p, &w);

	p = flow(VIP4_BAD, IPPROTO_TCP, 2);
	build(&f, &p);
	w = (struct want_trace){ .verdict = XDP_DROP, .reason = WHY_NO_REAL,
				 .vip_id = V_EMPTY, .port_min = 2,
				 .port_max = 2, .ports = 1 };
	check_trace("trace: no usable real dropped", &f, &p, &w);

	p = flow(VIP4, IPPROTO_TCP, 80);
	build(&f, &p);
	set_mtu(f.l3_len + 19);
	w = (struct want_trace){ XDP_DROP, WHY_TOO_BIG, V4_HTTP, 80, 80, R4A,
				 1, 0, 0 };
	check_trace("trace: too big without DF dropped", &f, &p, &w);
	p.frag = IP_DF;
	build(&f, &p);
	w.verdict = XDP_TX;
	check_trace("trace: too big with DF: ICMP sent back, no outer", &f,
		    &p, &w);
	set_mtu(mtu);
}

/* The reasons of an ICMP error forwarded and of a hinted packet. */
static void test_trace_icmp_hint(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	struct pkt err = { .src = ROUTER4, .dst = VIP4,
			   .protocol = IPPROTO_ICMP };
	struct want_trace w;
	struct frame f;
	__u32 slot;

	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 1400);
	w = (struct want_trace){ XDP_TX, WHY_ICMP_FORWARDED, V4_HTTP, 80, 80,
				 R4A, 0, 0, 1 };
	check_trace("trace: ICMP error about a flow: to its real, outer", &f,
		    &err, &w);
	error_about(&f, &p, ICMP_UNREACH, ICMP_FRAG, 575);
	w = (struct want_trace){ XDP_DROP, WHY_ICMP_MTU_LOW, V4_HTTP, 80, 80,
				 R_NONE, 0, 0, 0 };
	check_trace("trace: frag needed 575 dropped, MTU below the minimum",
		    &f, &err, &w);

	p = flow_to(flow(VIP4_GRACE, IPPROTO_TCP, 80), R4A);
	slot = hash_slot(flow_hash(&p, 1));
	set_grace_end(mono_ns() + 600000000000ULL);
	set_prev(slot, R4B);
	build(&f, &p);
	w = (struct want_trace){ XDP_TX, WHY_HINTED, V4_GRACE, 1, 65535, R4A,
				 1, 1, 1 };
	check_trace("trace: a moved flow hinted: its reason, real, outer", &f,
		    &p, &w);
	set_prev(slot, R_NONE);
}

/* count_traced NAME WANT: how many records a frame leaves */
static void count_traced(const char *name, const struct frame *in,
			 int want)
{
	__u64 before, after;
	int n = run_traced(in, &before, &after);

	if (n != want)
		fail("%d records, want %d", n, want);
	report(name);
}

static void test_trace_filter(void)
{
	struct pkt p4 = flow(VIP4, IPPROTO_TCP, 80);
	struct pkt p6 = flow(VIP6, IPPROTO_TCP, 80);
	struct pkt miss = flow(VIP4, IPPROTO_TCP, 81);
	struct frame f4, f6, fmiss;
	__u64 forever = mono_ns() + 10000000000ULL;

	build(&f4, &p4);
	build(&f6, &p6);
	build(&fmiss, &miss);

	memset(&trace_filter, 0, sizeof(trace_filter));
	trace_filter.vip_family = AF_INET;
	parse_addr(VIP4, trace_filter.vip);
	set_trace(1, NSEC_BURST, forever);
	count_traced("trace filter vip: its packet", &f4, 1);
	count_traced("trace filter vip: another VIP's, none", &f6, 0);

	memset(&trace_filter, 0, sizeof(trace_filter));
	trace_filter.client_family = AF_INET6;
	parse_addr(CLIENT6, trace_filter.client);
	set_trace(1, NSEC_BURST, forever);
	count_traced("trace filter client: its packet", &f6, 1);
	count_traced("trace filter client: another client's, none", &f4, 0);

	memset(&trace_filter, 0, sizeof(trace_filter));
	trace_filter.port = 40000;
	set_trace(1, NSEC_BURST, forever);
	count_traced("trace filter port: the source port", &f4, 1);
	trace_filter.port = 80;
	set_trace(1, NSEC_BURST, forever);
	count_traced("trace filter port: the destination port", &f6, 1);
	count_traced("trace filter port: another port, none", &fmiss, 0);

	memset(&trace_filter, 0, sizeof(trace_filter));
	trace_filter.verdicts = 1U << XDP_PASS;
	set_trace(1, NSEC_BURST, forever);
	count_traced("trace filter passed: a passed packet", &fmiss, 1);
	count_traced("trace filter passed: a tunnelled one, none", &f4, 0);
	trace_filter.verdicts = 1U << XDP_TX;
	set_trace(1, NSEC_BURST, forever);
	count_traced("trace filter sent: a tunnelled packet", &f4, 1);
	count_traced("trace filter sent: a passed one, none", &fmiss, 0);

	memset(&trace_filter, 0, sizeof(trace_filter));
	set_trace(1, NSEC_BURST, 0);
	count_traced("trace off (expiry 0): nothing", &f4, 0);
	set_trace(1, NSEC_BURST, mono_ns() - 1);
	count_traced("trace expired: nothing", &f4, 0);
}

/* The token bucket, and the ring buffer full. */
static void test_trace_limits(void)
{
	struct pkt p = flow(VIP4, IPPROTO_TCP, 80);
	__u64 limited, lost, before, after;
	struct frame f;
	cpu_set_t cpus;
	int i, n = 0;

	/* one CPU: the buckets are per CPU */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		die("sched_setaffinity");
	build(&f, &p);
	memset(&trace_filter, 0, sizeof(trace_filter));

	/* one per 1000 s, a burst of 2 ahead: 3 of 10 */
	set_trace(1000 * NSEC_BURST, 2000 * NSEC_BURST,
		  mono_ns() + 10000000000ULL);
	for (i = 0; i < 10; i++)
		n += run_traced(&f, &before, &after);
	read_buckets(&limited, &lost);
	if (n != 3)
		fail("%d records, want 3", n);
	if (limited != 7 || lost)
		fail("limited %llu and lost %llu, want 7 and 0", limited,
		     lost);
	report("trace rate limit: a burst of 3, then nothing, counted");

	/* a full ring: every record past its room counted as lost */
	set_trace(1, NSEC_BURST, mono_ns() + 10000000000ULL);
	for (i = 0; i < 3000; i++) {
		struct bpf_test_run_opts opts = {
			.sz = sizeof(opts),
			.data_in = f.b,
			.data_size_in = f.len,
			.repeat = 1,
		};

		if (bpf_prog_test_run_opts(prog_fd, &opts))
			die("BPF_PROG_TEST_RUN");
	}
	nr_traced = 0;
	ring_buffer__consume(trace_rb);
	read_buckets(&limited, &lost);
	if (!lost || nr_traced + lost != 3000 || limited)
		fail("%d records, %llu lost, %llu limited: want 3000, some lost",
		     nr_traced, lost, limited);
	report("trace ring full: the rest counted as lost");
	CPU_ZERO(&cpus);
	for (i = 0; i < ncpus; i++)
		CPU_SET(i, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
}

static void test_trace(struct bpf_object *obj)
{
	trace_ctl_fd = map_fd(obj, "trace_ctl");
	trace_buckets_fd = map_fd(obj, "trace_buckets");
	trace_rb = ring_buffer__new(map_fd(obj, "trace_ring"), keep_record,
				    NULL, NULL);
	if (!trace_rb)
		die("ring_buffer__new(trace_ring)");
	test_trace_reasons();
	test_trace_icmp_hint();
	test_trace_filter();
	test_trace_limits();
	memset(&trace_filter, 0, sizeof(trace_filter));
	set_trace(1, 0, 0);
	ring_buffer__free(trace_rb);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	struct bpf_object *obj;

	object_path(path, sizeof(path), argc, argv, "xdp_iptunnel_kern.o");
	obj = setup(path);

	test_encap();
	test_selftest_shape();
	test_match();
	test_vip_table();
	test_truncated();
	test_ipv4_options();
	test_fragments();
	test_ipv6_ext();
	test_not_ip();
	test_mtu();
	test_ring();
	test_grace();
	test_icmp_grace();
	test_flow_src();
	test_icmp_forward();
	test_icmp_hash();
	test_icmp_quote();
	test_icmp_not_a_flow();
	test_icmp_limits();
	test_trace(obj);

	summary();
	bpf_object__close(obj);
	return failed ? 1 : 0;
}
