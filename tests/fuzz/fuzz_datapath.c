// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_datapath: differential fuzzing of xdp_iptunnel_kern.o.
 *
 * Frames go through the XDP program with BPF_PROG_TEST_RUN (one run each)
 * and through a reference model written here, from the documented
 * behaviour, without code from the kern half: a byte-offset parser, its
 * own flow hash (murmur3's fmix64), checksums and frame writer. The model
 * says what must come out of each frame: XDP_PASS untouched, XDP_DROP
 * (MTU without DF, no usable real, a too big below the minimum MTU), an
 * ICMP/ICMPv6 "too big" to the sender, or the exact tunnelled frame, with
 * the hint naming a moved TCP flow's previous real when its VIP is in a
 * grace period; ICMP errors about a VIP's flows to the flow's real.
 *
 * Checked per frame, each property counted on its own:
 *   1 never XDP_ABORTED (nor any verdict but PASS, DROP, TX)
 *   2 XDP_PASS leaves the frame byte-identical
 *   3 XDP_TX tunnels only frames to a configured VIP, protocol and port
 *   4 every XDP_TX frame has a valid outer header (version, lengths,
 *     protocol, TTL, checksums) and the inner bytes unchanged
 *   5 the verdict is the model's
 *   6 every XDP_TX frame is the model's, byte for byte
 *   7 the real chosen (outer destination and MAC) is the model's
 * and at the end:
 *   8 the events counted are the model's (per frame), and the per-VIP
 *     and per-real counters (ICMP errors too) equal its sums (at the end)
 *   9 the frames reached every outcome the model distinguishes
 *
 * Frames: valid traffic to and around the VIPs (IPv4/IPv6, TCP, UDP,
 * ICMP, others; ports in, at the edges of and out of the ranges), ICMP
 * errors quoting VIP flows and others (quotes short, with options or
 * extension headers, fragments, errors about errors), IPv4
 * options and fragments, IPv6 extension header chains and fragments,
 * VLAN/QinQ tags, Ethernet padding, sizes around the MTU; then
 * mutations: truncation, bit flips, bad length fields, bad ihl, random
 * bytes. A first pass truncates a set of valid frames at every offset.
 *
 *	fuzz_datapath [-n FRAMES] [-s SEED] [-v] [OBJECT]
 *
 * OBJECT defaults to xdp_iptunnel_kern.o two directories above this
 * program. Run as root. Prints "ok N - name" or "not ok N - name: why",
 * then "N passed, N failed"; exit status 1 on a failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
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

#include "../../xdp_iptunnel_common.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FRAME_MAX	2000
#define OUT_MAX		(FRAME_MAX + 256)
#define EXT_MAX		6	/* IPv6 extension headers skipped, documented */
#define TTL		64
#define NO_REAL		4095	/* a reals slot left empty */
#define BAD_REAL	5000	/* beyond MAX_REALS */

#ifndef fallthrough
#define fallthrough	__attribute__((__fallthrough__))
#endif

enum { P_HOPOPTS = 0, P_ICMP = 1, P_IPIP = 4, P_TCP = 6, P_UDP = 17,
	P_IPV6 = 41, P_ROUTING = 43, P_FRAGMENT = 44, P_GRE = 47,
	P_ICMPV6 = 58, P_NONE = 59, P_DSTOPTS = 60 };

/* ---- the configuration, as the model and the maps hold it ------------- */

struct vip_conf {
	struct vip_key key;
	struct vip_value val;
};

static struct vip_conf vips[32];
static int nr_vips;
static struct real reals[MAX_REALS];
static __u32 *rings[MAX_VIPS];
static __u32 *prevs[MAX_VIPS];	/* previous owners: real_id + 1, or 0 */
static struct config cfg;

static const __u8 dir_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x10 };

static void die(const char *what)
{
	fprintf(stderr, "fuzz_datapath: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int parse_ip(const char *s, __be32 *out)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) == 1)
		return AF_INET6;
	fprintf(stderr, "fuzz_datapath: bad address %s\n", s);
	exit(1);
}

static void set_real(__u32 id, const char *saddr, const char *daddr)
{
	struct real *r = &reals[id];

	r->family = parse_ip(saddr, r->saddr);
	parse_ip(daddr, r->daddr);
	r->dmac[0] = 0x02;
	r->dmac[4] = id >> 8;
	r->dmac[5] = id;
}

static struct vip_conf *add_vip(const char *addr, __u8 protocol,
				__u32 nr_ranges)
{
	struct vip_conf *v = &vips[nr_vips++];

	v->key.family = parse_ip(addr, v->key.addr);
	v->key.protocol = protocol;
	v->val.nr_ranges = nr_ranges;
	return v;
}

static void set_range(struct vip_conf *v, int i, __u16 lo, __u16 hi,
		      __u32 vip_id, __u32 real_id, __u32 flags)
{
	struct vip_range *r = &v->val.range[i];

	r->port_min = lo;
	r->port_max = hi;
	r->vip_id = vip_id;
	r->real_id = real_id;
	r->flags = flags;
}

static __u32 mix32(__u32 x)
{
	x ^= x >> 16;
	x *= 0x7feb352d;
	x ^= x >> 15;
	x *= 0x846ca68b;
	return x ^ (x >> 16);
}

/* A Maglev-like table: any real_id per slot, from a list. */
static void set_ring(__u32 vip_id, const __u32 *ids, int n)
{
	__u32 slot;

	rings[vip_id] = malloc(MAGLEV_RING_SIZE * sizeof(__u32));
	if (!rings[vip_id])
		die("malloc");
	for (slot = 0; slot < MAGLEV_RING_SIZE; slot++)
		rings[vip_id][slot] = ids[mix32(slot ^ vip_id) % n];
}

/* Previous owners in a grace period, the same way: entries prev_id + 1. */
static void set_prevs(__u32 vip_id, const __u32 *owners, int n)
{
	__u32 slot;

	prevs[vip_id] = malloc(MAGLEV_RING_SIZE * sizeof(__u32));
	if (!prevs[vip_id])
		die("malloc");
	for (slot = 0; slot < MAGLEV_RING_SIZE; slot++)
		prevs[vip_id][slot] = owners[mix32(slot + vip_id) % n];
}

static void build_config(void)
{
	/* mostly none; reals of both families, empty, out of range */
	static const __u32 prev_owners[] = {
		PREV_NONE, PREV_NONE, PREV_NONE, 0 + 1, 5 + 1, 2 + 1, 9 + 1,
		NO_REAL + 1, BAD_REAL + 1,
	};
	static const __u32 ring_a[] = { 4, 5, 6, 7 };
	static const __u32 ring_b[] = { 8, 9, 10, 11 };
	static const __u32 ring_bad[] = { 0, 1, 2, 3, NO_REAL, BAD_REAL };
	static const __u32 ring_mixed[] = { 0, 1, 8, 9, 10, 3 };
	struct vip_conf *v;
	char buf[64];
	int i;

	set_real(0, "192.0.2.10", "198.51.100.11");
	set_real(1, "192.0.2.10", "198.51.100.12");
	set_real(2, "2001:db8::10", "2001:db8:1::11");
	set_real(3, "2001:db8::10", "2001:db8:1::12");
	for (i = 0; i < 4; i++) {
		snprintf(buf, sizeof(buf), "198.51.100.%d", 20 + i);
		set_real(4 + i, "192.0.2.10", buf);
		snprintf(buf, sizeof(buf), "2001:db8:1::%d", 20 + i);
		set_real(8 + i, "2001:db8::10", buf);
	}
	set_ring(10, ring_a, ARRAY_SIZE(ring_a));
	set_ring(11, ring_b, ARRAY_SIZE(ring_b));
	set_ring(12, ring_bad, ARRAY_SIZE(ring_bad));
	set_ring(24, ring_mixed, ARRAY_SIZE(ring_mixed));
	/* vip_id 13 has VIP_F_RING and no ring: no usable real */
	set_prevs(10, prev_owners, ARRAY_SIZE(prev_owners));
	set_prevs(12, prev_owners, ARRAY_SIZE(prev_owners));
	set_prevs(24, prev_owners, ARRAY_SIZE(prev_owners));
	set_prevs(11, prev_owners, ARRAY_SIZE(prev_owners));

	v = add_vip("192.0.2.1", P_TCP, 3);
	set_range(v, 0, 80, 81, 1, 0, 0);
	set_range(v, 1, 443, 443, 10, 0, VIP_F_RING | VIP_F_GRACE);
	set_range(v, 2, 8000, 8999, 2, 2, 0);		/* 4in6 */
	v = add_vip("192.0.2.1", P_UDP, 2);
	set_range(v, 0, 53, 53, 3, 1, VIP_F_FLOW_SRC);
	set_range(v, 1, 1000, 65535, 12, 0, VIP_F_RING | VIP_F_GRACE);
	v = add_vip("192.0.2.1", P_ICMP, 1);
	set_range(v, 0, 0, 0, 4, 0, 0);
	v = add_vip("192.0.2.2", P_TCP, 1);
	set_range(v, 0, 1, 65535, 11, 0,		/* fragments too */
		  VIP_F_RING | VIP_F_GRACE);
	v = add_vip("192.0.2.2", P_GRE, 1);
	set_range(v, 0, 0, 0, 5, NO_REAL, 0);
	add_vip("192.0.2.2", P_UDP, 0);			/* no range */
	/* more ranges claimed than exist: 8 are read; first match wins */
	v = add_vip("192.0.2.3", P_TCP, 200);
	set_range(v, 0, 100, 200, 6, 0, 0);
	set_range(v, 1, 150, 160, 7, 1, 0);
	set_range(v, 2, 22, 22, 13, 0, VIP_F_RING);
	set_range(v, 3, 23, 23, 14, BAD_REAL, 0);
	set_range(v, 7, 7000, 7001, 10, 0, VIP_F_RING | VIP_F_FLOW_SRC);
	v = add_vip("192.0.2.3", P_IPV6, 1);
	set_range(v, 0, 0, 0, 9, 0, 0);
	v = add_vip("192.0.2.4", P_TCP, 1);
	set_range(v, 0, 9000, 9000, 15, 9, 0);		/* 4in6 */
	v = add_vip("192.0.2.4", P_UDP, 1);	/* range[7] is not read */
	set_range(v, 0, 9, 9, 16, 1, 0);
	set_range(v, 7, 8, 8, 17, 1, 0);

	v = add_vip("2001:db8::1", P_TCP, 3);
	set_range(v, 0, 80, 81, 20, 2, 0);
	set_range(v, 1, 443, 443, 11, 0, VIP_F_RING | VIP_F_GRACE);
	set_range(v, 2, 8080, 8080, 21, 0, 0);		/* 6in4 */
	v = add_vip("2001:db8::1", P_UDP, 1);
	set_range(v, 0, 1, 65535, 22, 3, VIP_F_FLOW_SRC);
	v = add_vip("2001:db8::1", P_ICMPV6, 1);
	set_range(v, 0, 0, 0, 23, 3, 0);
	v = add_vip("2001:db8::2", P_TCP, 1);
	set_range(v, 0, 1000, 2000, 24, 0,
		  VIP_F_RING | VIP_F_FLOW_SRC | VIP_F_GRACE);
	v = add_vip("2001:db8::2", P_NONE, 1);
	set_range(v, 0, 0, 0, 25, 2, 0);
	v = add_vip("2001:db8::2", P_UDP, 1);
	set_range(v, 0, 53, 53, 26, NO_REAL, 0);
	v = add_vip("2001:db8::3", P_TCP, 1);
	set_range(v, 0, 0, 65535, 27, 3, 0);		/* port 0 too */
	v = add_vip("2001:db8::3", P_ICMPV6, 1);
	set_range(v, 0, 5, 10, 28, 3, 0);		/* never port 0 */
	v = add_vip("2001:db8::3", P_ICMP, 1);		/* ICMPv4 in IPv6 */
	set_range(v, 0, 0, 0, 29, 1, 0);

	memcpy(cfg.smac, dir_mac, ETH_ALEN);
}

/* An MTU and --flow-src prefixes, changed every few hundred frames. */
static void vary_config(__u32 r)
{
	static const __u16 mtus[] = { 1500, 1500, 0, 1280, 576, 9000, 1400 };
	static const int len4[] = { 24, 16, 31 }, len6[] = { 64, 40, 127 };
	int l4 = len4[r % 3], l6 = len6[(r / 3) % 3], i, bits;

	cfg.mtu = mtus[(r / 9) % ARRAY_SIZE(mtus)];
	if (cfg.mtu == 1400)
		cfg.mtu += r % 200;
	cfg.flow_src4_mask = htonl(~0U << (32 - l4));
	cfg.flow_src4 = htonl(0xcb007100) & cfg.flow_src4_mask; /* 203.0.113 */
	parse_ip("2001:db8:f00d::", cfg.flow_src6);
	for (i = 0; i < 4; i++) {
		bits = l6 - 32 * i;
		bits = bits < 0 ? 0 : bits > 32 ? 32 : bits;
		cfg.flow_src6_mask[i] = bits ? htonl(~0U << (32 - bits)) : 0;
		cfg.flow_src6[i] &= cfg.flow_src6_mask[i];
	}
}

/* ---- the reference model ---------------------------------------------- */

static __u16 get16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(__u8 *p, __u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* RFC 1071 sum of n bytes from p, big-endian words, not folded */
static __u32 sum_bytes(const __u8 *p, int n, __u32 sum)
{
	int i;

	for (i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += p[n - 1] << 8;
	return sum;
}

static __u16 fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* murmur3's 64-bit finaliser (fmix64) */
static __u64 fmix64(__u64 k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

/* What the model says, and which of its branches said it. */
enum outcome {
	O_NOT_IP, O_VLAN, O_BAD4, O_BAD6, O_NO_VIP, O_NO_RANGE, O_FRAGMENT,
	O_EXT_HDR, O_NO_REAL, O_BIG_DROP, O_ICMP4, O_ICMP6, O_TX4IN4,
	O_TX6IN6, O_TX4IN6, O_TX6IN4, O_TX_RING, O_TX_FLOW_SRC, O_TX_FRAG,
	O_TX_EXT, O_TX_OPTIONS, O_TX_PADDED, O_TX_PORTLESS, O_TX_HINT4,
	O_TX_HINT6, O_ICMP_FORWARD, O_ICMP_HINTED, O_ICMP_QUOTE, O_ICMP_MTU_LOW,
	O_ICMP_BIG, NR_OUTCOMES
};

static const char *const outcome_names[NR_OUTCOMES] = {
	"not IP", "VLAN", "bad IPv4", "bad IPv6", "no VIP", "no range",
	"fragment", "ext_hdr", "no real", "too big dropped", "ICMP too big",
	"ICMPv6 too big", "4in4", "6in6", "4in6", "6in4", "ring", "flow-src",
	"tunnelled fragment", "tunnelled ext headers", "tunnelled options",
	"tunnelled padded", "tunnelled port-less", "hinted in IPv4",
	"hinted in IPv6", "ICMP error forwarded", "ICMP error hinted",
	"ICMP quote unreadable",
	"ICMP too big below the minimum", "ICMP error too big to tunnel",
};

struct expect {
	int action;
	unsigned int events;	/* bit per EV_* counted */
	int vip_id;		/* counted when tunnelled */
	int real_id;
	int icmp_error;		/* the tunnelled frame is a flow's error */
	unsigned int outcomes;	/* bit per enum outcome */
	__u8 out[OUT_MAX];
	int out_len;
};

/* What the model learnt of the inner datagram */
struct inner {
	int family, l3_len, hlen;
	__u8 protocol, tos, df, fragment;
	const __u8 *saddr, *daddr;
	__u16 sport, dport, pmin, pmax;
};

static int pass(struct expect *e, int outcome)
{
	e->action = XDP_PASS;
	e->outcomes |= 1U << outcome;
	return 0;
}

static int is_ext(__u8 nh)
{
	return nh == P_HOPOPTS || nh == P_ROUTING || nh == P_DSTOPTS ||
	       nh == P_FRAGMENT;
}

/* Headers and ports of f (len bytes, IP from byte 14); 0: it is IP. */
static int model_parse(const __u8 *f, int len, struct inner *in,
		       struct expect *e, int *l4)
{
	__u16 type = get16(f + 12), fo;
	int end, off, n, need;
	__u8 nh;

	if (type == ETH_P_8021Q || type == ETH_P_8021AD)
		return pass(e, O_VLAN);
	if (type == ETH_P_IP) {
		if (len < 34 || f[14] >> 4 != 4 || (f[14] & 15) < 5)
			return pass(e, O_BAD4);
		in->family = AF_INET;
		in->hlen = (f[14] & 15) * 4;
		in->l3_len = get16(f + 16);
		if (in->l3_len < in->hlen || in->l3_len > len - 14)
			return pass(e, O_BAD4);
		in->tos = f[15];
		fo = get16(f + 20);
		in->df = !!(fo & 0x4000);
		in->fragment = !!(fo & 0x3fff);
		in->protocol = f[23];
		in->saddr = f + 26;
		in->daddr = f + 30;
		*l4 = 14 + in->hlen;
	} else if (type == ETH_P_IPV6) {
		if (len < 54 || f[14] >> 4 != 6 || !get16(f + 18) ||
		    get16(f + 18) > len - 54)
			return pass(e, O_BAD6);
		in->family = AF_INET6;
		in->l3_len = 40 + get16(f + 18);
		in->tos = get16(f + 14) >> 4;
		in->df = 1;
		in->saddr = f + 22;
		in->daddr = f + 38;
		/*
		 * Up to EXT_MAX extension headers are skipped, read as far
		 * as the frame holds them; a seventh is one too many. The
		 * chain must end inside the payload length, else the
		 * datagram is malformed.
		 */
		end = 14 + in->l3_len;
		off = 54;
		nh = f[20];
		for (n = 0; is_ext(nh); n++) {
			/* the part of a header that says what follows */
			if (off + (nh == P_FRAGMENT ? 8 : 2) > len)
				return pass(e, O_BAD6);
			if (n == EXT_MAX) {
				e->events |= 1U << EV_EXT_HDR;
				return pass(e, O_EXT_HDR);
			}
			if (nh != P_FRAGMENT) {
				nh = f[off];
				off += (f[off + 1] + 1) * 8;
				continue;
			}
			fo = get16(f + off + 2);
			in->fragment |= !!(fo & 0xfff9);
			nh = f[off];
			off += 8;
			if (fo & 0xfff8)
				break;	/* payload follows, not headers */
		}
		/* a chain that ends in the Ethernet padding is malformed */
		if (off > end)
			return pass(e, O_BAD6);
		in->protocol = nh;
		*l4 = off;
	} else {
		return pass(e, O_NOT_IP);
	}
	if (in->protocol != P_TCP && in->protocol != P_UDP)
		return 1;	/* port-less: ports 0-0 */
	if (in->fragment) {
		in->pmin = 1;
		in->pmax = 65535;
		return 1;
	}
	need = in->protocol == P_TCP ? 20 : 8;
	if (*l4 + need > 14 + in->l3_len)
		return pass(e, in->family == AF_INET ? O_BAD4 : O_BAD6);
	in->sport = get16(f + *l4);
	in->dport = get16(f + *l4 + 2);
	in->pmin = in->dport;
	in->pmax = in->dport;
	return 1;
}

static const struct vip_range *model_match(const struct inner *in,
					   struct expect *e)
{
	const struct vip_value *val = NULL;
	int i, n, alen = in->family == AF_INET ? 4 : 16;

	for (i = 0; i < nr_vips && !val; i++)
		if (vips[i].key.family == in->family &&
		    vips[i].key.protocol == in->protocol &&
		    !memcmp(vips[i].key.addr, in->daddr, alen))
			val = &vips[i].val;
	if (!val) {
		pass(e, O_NO_VIP);
		return NULL;
	}
	n = val->nr_ranges < VIP_MAX_RANGES ? val->nr_ranges : VIP_MAX_RANGES;
	for (i = 0; i < n; i++)
		if (val->range[i].port_min <= in->pmin &&
		    in->pmax <= val->range[i].port_max)
			return &val->range[i];
	if (in->fragment) {
		e->events |= 1U << EV_FRAGMENT;
		pass(e, O_FRAGMENT);
	} else {
		pass(e, O_NO_RANGE);
	}
	return NULL;
}

/* 32 bits of the address at byte off, read as the program loads them */
static __u64 word_at(const __u8 *addr, int off)
{
	__u32 w;

	memcpy(&w, addr + off, 4);
	return w;
}

/*
 * The 5-tuple: IPv4 fmix64((saddr << 32 | ports) ^ (protocol << 32 |
 * daddr)); IPv6 from protocol << 32 | ports, each 64-bit address half
 * (first word on top) xor-ed in and mixed, source first. Low 32 bits.
 */
static __u32 model_hash(const struct inner *in)
{
	__u64 ports = (__u32)in->sport << 16 | in->dport;
	__u64 proto = (__u64)in->protocol << 32, h;
	int i;

	if (in->family == AF_INET)
		return fmix64((word_at(in->saddr, 0) << 32 | ports) ^
			      (proto | word_at(in->daddr, 0)));
	h = proto | ports;
	for (i = 0; i < 4; i++) {
		const __u8 *addr = i < 2 ? in->saddr : in->daddr;
		int off = i % 2 * 8;

		h = fmix64(h ^ (word_at(addr, off) << 32 |
				word_at(addr, off + 4)));
	}
	return h;
}

/* ICMP "fragmentation needed" / ICMPv6 "packet too big" to the sender */
static void model_too_big(const __u8 *f, const struct inner *in, int olen,
			  struct expect *e)
{
	__u8 *o = e->out, *ip = o + 14;
	int quote, hdrs;
	__u32 sum;

	memcpy(o, f + 6, ETH_ALEN);
	memcpy(o + 6, cfg.smac, ETH_ALEN);
	e->action = XDP_TX;
	if (in->family == AF_INET) {
		quote = in->hlen + 8;
		hdrs = 28;
		put16(o + 12, ETH_P_IP);
		memset(ip, 0, hdrs);
		ip[0] = 0x45;
		put16(ip + 2, hdrs + quote);
		ip[8] = TTL;
		ip[9] = P_ICMP;
		memcpy(ip + 12, in->daddr, 4);
		memcpy(ip + 16, in->saddr, 4);
		put16(ip + 10, ~fold(sum_bytes(ip, 20, 0)));
		ip[20] = 3;			/* destination unreachable */
		ip[21] = 4;			/* fragmentation needed */
		put16(ip + 26, cfg.mtu - olen);
		memcpy(ip + hdrs, f + 14, quote);
		put16(ip + 22, ~fold(sum_bytes(ip + 20, 8 + quote, 0)));
		e->outcomes |= 1U << O_ICMP4;
	} else {
		quote = 48;
		hdrs = 48;
		put16(o + 12, ETH_P_IPV6);
		memset(ip, 0, hdrs);
		ip[0] = 0x60;
		put16(ip + 4, 8 + quote);
		ip[6] = P_ICMPV6;
		ip[7] = TTL;
		memcpy(ip + 8, in->daddr, 16);
		memcpy(ip + 24, in->saddr, 16);
		ip[40] = 2;			/* packet too big */
		put32(ip + 44, cfg.mtu - olen);
		memcpy(ip + hdrs, f + 14, quote);
		sum = sum_bytes(ip + 8, 32, 8 + quote + P_ICMPV6);
		put16(ip + 42, ~fold(sum_bytes(ip + 40, 8 + quote, sum)));
		e->outcomes |= 1U << O_ICMP6;
	}
	e->out_len = 14 + hdrs + quote;
}

/*
 * The hint: IPv4 option 0x9e, 8 bytes (type, length, flags 0, 0, address)
 * after a 20-byte header, IHL 7; IPv6 destination options (next header
 * 60) of 24 bytes: next header, 2, option 0x3e of 18 bytes (flags 0, 0,
 * address), PadN (1, 0).
 */
static void model_hint(__u8 *h, int v4, __u8 proto, const struct real *prev)
{
	if (v4) {
		h[0] = 0x9e;
		h[1] = 8;
		memcpy(h + 4, prev->daddr, 4);
		return;
	}
	h[0] = proto;
	h[1] = 2;
	h[2] = 0x3e;
	h[3] = 18;
	memcpy(h + 6, prev->daddr, 16);
	h[22] = 1;
}

static void model_outer(const __u8 *f, int len, const struct inner *in,
			const struct vip_range *r, const struct real *real,
			__u32 hash, const struct real *prev, struct expect *e)
{
	int v4 = real->family == AF_INET, i;
	int hint = prev ? (v4 ? 8 : 24) : 0, olen = (v4 ? 20 : 40) + hint;
	__u8 *o = e->out, *ip = o + 14, proto;
	__u32 words[4];

	proto = in->family == AF_INET ? P_IPIP : P_IPV6;
	memcpy(words, real->saddr, 16);
	if (r->flags & VIP_F_FLOW_SRC) {
		if (v4)
			words[0] = cfg.flow_src4 |
				   (htonl(hash) & ~cfg.flow_src4_mask);
		else
			for (i = 0; i < 4; i++)
				words[i] = cfg.flow_src6[i] |
					   (htonl(hash ^ i) &
					    ~cfg.flow_src6_mask[i]);
	}
	memcpy(o, real->dmac, ETH_ALEN);
	memcpy(o + 6, cfg.smac, ETH_ALEN);
	put16(o + 12, v4 ? ETH_P_IP : ETH_P_IPV6);
	memset(ip, 0, olen);
	if (prev)
		model_hint(ip + olen - hint, v4, proto, prev);
	if (v4) {
		ip[0] = 0x40 | olen / 4;
		ip[1] = in->tos;
		put16(ip + 2, in->l3_len + olen);
		if (in->family == AF_INET)
			memcpy(ip + 4, f + 18, 2);	/* identification */
		if (in->df)
			ip[6] = 0x40;
		ip[8] = TTL;
		ip[9] = proto;
		memcpy(ip + 12, words, 4);
		memcpy(ip + 16, real->daddr, 4);
		put16(ip + 10, ~fold(sum_bytes(ip, olen, 0)));
	} else {
		put32(ip, 6U << 28 | (__u32)in->tos << 20);
		put16(ip + 4, in->l3_len + hint);
		ip[6] = prev ? 60 : proto;
		ip[7] = TTL;
		memcpy(ip + 8, words, 16);
		memcpy(ip + 24, real->daddr, 16);
	}
	memcpy(ip + olen, f + 14, len - 14);
	e->out_len = len + olen;
	e->action = XDP_TX;
	if (in->family == AF_INET)
		e->outcomes |= 1U << (v4 ? O_TX4IN4 : O_TX4IN6);
	else
		e->outcomes |= 1U << (v4 ? O_TX6IN4 : O_TX6IN6);
	if (r->flags & VIP_F_RING)
		e->outcomes |= 1U << O_TX_RING;
	if (r->flags & VIP_F_FLOW_SRC)
		e->outcomes |= 1U << O_TX_FLOW_SRC;
	if (in->fragment)
		e->outcomes |= 1U << O_TX_FRAG;
	if (in->family == AF_INET6 && is_ext(f[20]))
		e->outcomes |= 1U << O_TX_EXT;
	if (in->family == AF_INET && in->hlen > 20)
		e->outcomes |= 1U << O_TX_OPTIONS;
	if (len > 14 + in->l3_len)
		e->outcomes |= 1U << O_TX_PADDED;
	if (in->protocol != P_TCP && in->protocol != P_UDP)
		e->outcomes |= 1U << O_TX_PORTLESS;
	if (prev) {
		e->events |= 1U << EV_HINT;
		e->outcomes |= 1U << (v4 ? O_TX_HINT4 : O_TX_HINT6);
	}
}

/*
 * A TCP flow (not a fragment) of a VIP in a grace period, on a slot with
 * a previous owner that is a filled real of the outer header's family.
 */
static const struct real *model_prev(const struct inner *in,
				     const struct vip_range *r,
				     const struct real *real, __u32 hash)
{
	__u32 owner;

	if (!(r->flags & VIP_F_GRACE) || in->protocol != P_TCP ||
	    in->fragment || !prevs[r->vip_id])
		return NULL;
	owner = prevs[r->vip_id][(__u64)hash * MAGLEV_RING_SIZE >> 32];
	if (owner == PREV_NONE || owner - 1 >= MAX_REALS ||
	    reals[owner - 1].family != real->family)
		return NULL;
	return &reals[owner - 1];
}

static __u32 get32(const __u8 *p)
{
	return (__u32)get16(p) << 16 | get16(p + 2);
}

static int is_icmp_of(int family, __u8 protocol)
{
	return protocol == (family == AF_INET ? P_ICMP : P_ICMPV6);
}

/* RFC 1122 3.2.2: the types no error is sent or acted on about */
static int is_icmp_error_type(int family, __u8 type)
{
	if (family == AF_INET6)
		return type < 128;
	return type == 3 || type == 4 || type == 5 || type == 11 ||
	       type == 12;
}

static int quote_unreadable(struct expect *e)
{
	e->events |= 1U << EV_ICMP_QUOTE;
	e->outcomes |= 1U << O_ICMP_QUOTE;
	return 0;
}

/* The real that range r picks for a flow hash (its id in *id), or NULL. */
static const struct real *model_pick(const struct vip_range *r, __u32 hash,
				     __u32 *id)
{
	*id = r->real_id;
	if (r->flags & VIP_F_RING)
		*id = r->vip_id < MAX_VIPS && rings[r->vip_id] ?
		      rings[r->vip_id][(__u64)hash * MAGLEV_RING_SIZE >> 32] :
		      BAD_REAL;
	return *id < MAX_REALS && reals[*id].family ? &reals[*id] : NULL;
}

/*
 * ICMP errors about a VIP's flow, as documented: destination unreachable
 * and time exceeded (ICMPv6: and packet too big, right after the fixed
 * header), not a fragment, its
 * quote an IP header of its own family (IPv6: no extension header, IPv4:
 * not a later fragment) and 8 bytes inside the datagram, not about an
 * ICMP error, from the address the error is sent to. The quote turned
 * around is matched and hashed as a packet of the flow. Returns 1 when
 * the model decided, 0 when the frame goes on as any other.
 */
static int model_icmp(const __u8 *f, int len, const struct inner *in,
		      int l4, struct expect *e)
{
	int end = 14 + in->l3_len, q = l4 + 8, qh, olen, alen, mtu_low = 0;
	unsigned int outcomes = e->outcomes;
	const struct real *real, *prev;
	const struct vip_range *r;
	struct inner fl = {};
	__u32 hash = 0, id;
	__u8 type, code;

	if (in->fragment || q > end)
		return 0;
	type = f[l4];
	code = f[l4 + 1];
	if (in->family == AF_INET) {
		if (type != 3 && type != 11)
			return 0;
		if (type == 3 && code == 4)
			mtu_low = get16(f + l4 + 6) < 576;
		if (q + 20 > end || f[q] >> 4 != 4 || (f[q] & 15) < 5 ||
		    (get16(f + q + 6) & 0x1fff))
			return quote_unreadable(e);
		qh = (f[q] & 15) * 4;
		fl.protocol = f[q + 9];
		fl.daddr = f + q + 12;
		fl.saddr = f + q + 16;
		alen = 4;
	} else {
		/* a router's error has no extension header of its own */
		if (f[20] != P_ICMPV6 || type < 1 || type > 3)
			return 0;
		if (type == 2)
			mtu_low = get32(f + l4 + 4) < 1280;
		qh = 40;
		if (q + 48 > end || f[q] >> 4 != 6 || is_ext(f[q + 6]))
			return quote_unreadable(e);
		fl.protocol = f[q + 6];
		fl.daddr = f + q + 8;
		fl.saddr = f + q + 24;
		alen = 16;
	}
	if (q + qh + 8 > end)
		return quote_unreadable(e);
	fl.family = in->family;
	if (is_icmp_of(fl.family, fl.protocol)) {
		if (is_icmp_error_type(fl.family, f[q + qh]))
			return quote_unreadable(e);
	} else if (fl.protocol == P_TCP || fl.protocol == P_UDP) {
		fl.sport = get16(f + q + qh + 2);
		fl.dport = get16(f + q + qh);
		fl.pmin = fl.dport;
		fl.pmax = fl.dport;
	}
	if (memcmp(fl.daddr, in->daddr, alen))
		return 0;
	r = model_match(&fl, e);
	if (!r) {
		e->outcomes = outcomes;		/* the quote's, not the frame's */
		return 0;
	}
	e->action = XDP_DROP;
	if (mtu_low) {
		e->events |= 1U << EV_ICMP_MTU_LOW;
		e->outcomes |= 1U << O_ICMP_MTU_LOW;
		return 1;
	}
	if (r->flags & (VIP_F_RING | VIP_F_FLOW_SRC))
		hash = model_hash(&fl);
	real = model_pick(r, hash, &id);
	if (!real) {
		e->events |= 1U << EV_NO_REAL;
		e->outcomes |= 1U << O_NO_REAL;
		return 1;
	}
	/* the flow's hint: the error goes where the connection is */
	prev = model_prev(&fl, r, real, hash);
	olen = real->family == AF_INET ? 20 + (prev ? 8 : 0) :
					 40 + (prev ? 24 : 0);
	if (cfg.mtu && in->l3_len + olen > cfg.mtu) {
		e->events |= 1U << EV_TOO_BIG;
		e->outcomes |= 1U << O_ICMP_BIG;
		return 1;
	}
	e->vip_id = r->vip_id;
	e->real_id = id;
	e->icmp_error = 1;
	e->outcomes |= 1U << (prev ? O_ICMP_HINTED : O_ICMP_FORWARD);
	model_outer(f, len, in, r, real, hash, prev, e);
	return 1;
}

static void model(const __u8 *f, int len, struct expect *e)
{
	const struct vip_range *r;
	const struct real *real;
	struct inner in = {};
	__u32 hash = 0, id;
	int l4, olen;

	e->events = 0;
	e->icmp_error = 0;
	e->outcomes = 0;
	e->vip_id = -1;
	e->real_id = -1;
	e->out_len = 0;
	if (!model_parse(f, len, &in, e, &l4))
		return;
	if (is_icmp_of(in.family, in.protocol) &&
	    model_icmp(f, len, &in, l4, e))
		return;
	r = model_match(&in, e);
	if (!r)
		return;
	if (r->flags & (VIP_F_RING | VIP_F_FLOW_SRC))
		hash = model_hash(&in);
	real = model_pick(r, hash, &id);
	if (!real) {
		e->action = XDP_DROP;
		e->events |= 1U << EV_NO_REAL;
		e->outcomes |= 1U << O_NO_REAL;
		return;
	}
	/* the MTU check counts a hint's room, hinted or not */
	olen = real->family == AF_INET ? 20 + 8 : 40 + 24;
	if (cfg.mtu && in.l3_len + olen > cfg.mtu) {
		e->events |= 1U << EV_TOO_BIG;
		if (in.family == AF_INET6 ||
		    (in.df && in.l3_len >= in.hlen + 8)) {
			model_too_big(f, &in, olen, e);
			return;
		}
		e->action = XDP_DROP;
		e->outcomes |= 1U << O_BIG_DROP;
		return;
	}
	e->vip_id = r->vip_id;
	e->real_id = id;
	model_outer(f, len, &in, r, real, hash, model_prev(&in, r, real, hash),
		    e);
}

/* ---- properties that hold whatever the model says --------------------- */

static int is_vip_addr(int family, const __u8 *a)
{
	int i;

	for (i = 0; i < nr_vips; i++)
		if (vips[i].key.family == family &&
		    !memcmp(vips[i].key.addr, a, family == AF_INET ? 4 : 16))
			return 1;
	return 0;
}

/* A configured (VIP, protocol) with a range holding port */
static int configured(int family, const __u8 *addr, __u8 proto, __u16 port)
{
	int i, n;

	for (i = 0; i < nr_vips; i++) {
		const struct vip_conf *v = &vips[i];

		if (v->key.family != family || v->key.protocol != proto ||
		    memcmp(v->key.addr, addr, family == AF_INET ? 4 : 16))
			continue;
		n = v->val.nr_ranges < 8 ? v->val.nr_ranges : 8;
		while (n--)
			if (v->val.range[n].port_min <= port &&
			    port <= v->val.range[n].port_max)
				return 1;
		return 0;
	}
	return 0;
}

/*
 * Protocol and port at l3 (no headers walked); 0 when unknown. frag: the
 * IPv4 fragment bits that hide the ports (a quote holds a first fragment's).
 */
static int l4_of(const __u8 *l3, int v6, int len, __u16 frag, __u8 *proto,
		 __u16 *port, int *l4)
{
	*port = 0;
	if (v6) {
		*proto = l3[6];
		*l4 = 40;
		if (is_ext(*proto))
			return 0;
	} else {
		if (get16(l3 + 6) & frag)
			return 0;
		*proto = l3[9];
		*l4 = (l3[0] & 15) * 4;
	}
	if ((*proto == P_TCP || *proto == P_UDP) && *l4 + 4 <= len)
		*port = get16(l3 + *l4 + 2);
	return 1;
}

/*
 * Property 3: a tunnelled frame was sent to a VIP address; where its
 * protocol and port can be read without walking headers (IPv4 that is
 * not a fragment, IPv6 without extension headers) they are a configured
 * (VIP, protocol) with a range holding the port, or for an ICMP error,
 * its quote's source, protocol and source port are.
 */
static const char *check_configured(const __u8 *f, int len)
{
	int v6 = get16(f + 12) == ETH_P_IPV6, family, l4, qlen;
	const __u8 *q;
	__u16 port;
	__u8 proto;

	family = v6 ? AF_INET6 : AF_INET;
	if (!is_vip_addr(family, f + (v6 ? 38 : 30)))
		return "tunnelled a frame not sent to a VIP address";
	if (!l4_of(f + 14, v6, len - 14, 0x3fff, &proto, &port, &l4))
		return NULL;
	if (configured(family, f + (v6 ? 38 : 30), proto, port))
		return NULL;
	q = f + 14 + l4 + 8;
	qlen = len - 14 - l4 - 8;
	if (is_icmp_of(family, proto) && qlen >= (v6 ? 48 : 28) &&
	    is_icmp_error_type(family, f[14 + l4]) &&
	    l4_of(q, v6, qlen, 0x1fff, &proto, &port, &l4)) {
		if (proto == P_TCP || proto == P_UDP)
			port = get16(q + l4);	/* the quote's source */
		if (configured(family, q + (v6 ? 8 : 12), proto, port))
			return NULL;
		return "tunnelled an ICMP error about no VIP flow";
	}
	return "tunnelled a protocol or port the VIP does not have";
}

/* The inner datagram's own idea of its length */
static int inner_l3_len(const __u8 *ip, int family)
{
	return family == AF_INET ? get16(ip + 2) : 40 + get16(ip + 4);
}

/* Property 4: outer header valid, inner bytes unchanged */
static const char *check_outer(const __u8 *f, int len, const __u8 *o,
			       int olen_total)
{
	int o4 = get16(o + 12) == ETH_P_IP, i4 = get16(f + 12) == ETH_P_IP;
	int hl = o4 ? 20 : 40, l3, k;
	const __u8 *ip = o + 14;
	__u8 proto;
	__u32 sum;

	if (get16(o + 12) != ETH_P_IP && get16(o + 12) != ETH_P_IPV6)
		return "TX frame is not IPv4 or IPv6";
	if (memcmp(o + 6, cfg.smac, ETH_ALEN))
		return "TX source MAC is not the interface's";
	/* a hint: IHL 7 with option 0x9e, or destination options 0x3e */
	if (o4 && ip[0] == 0x47 && ip[20] == 0x9e && ip[21] == 8)
		hl = 28;
	if (!o4 && ip[6] == 60 && ip[41] == 2 && ip[42] == 0x3e)
		hl = 64;
	if (o4 && (ip[0] != 0x40 + hl / 4 ||
		   fold(sum_bytes(ip, hl, 0)) != 0xffff))
		return "outer IPv4 version, ihl or checksum wrong";
	if (!o4 && ip[0] >> 4 != 6)
		return "outer IPv6 version wrong";
	proto = o4 ? ip[9] : hl > 40 ? ip[40] : ip[6];
	if (proto == P_ICMP || proto == P_ICMPV6) {
		/* an answer to the sender: checksums and the quote */
		if (proto != (o4 ? P_ICMP : P_ICMPV6))
			return "ICMP of the wrong family";
		if (memcmp(o, f + 6, ETH_ALEN))
			return "ICMP error not to the sender's MAC";
		if (!is_vip_addr(o4 ? AF_INET : AF_INET6, ip + (o4 ? 12 : 8)))
			return "ICMP error not from a VIP";
		l3 = inner_l3_len(ip, o4 ? AF_INET : AF_INET6);
		if (14 + l3 != olen_total || l3 < hl + 8)
			return "ICMP error length fields wrong";
		sum = o4 ? 0 : sum_bytes(ip + 8, 32, l3 - 40 + P_ICMPV6);
		if (fold(sum_bytes(ip + hl, l3 - hl, sum)) != 0xffff)
			return "ICMP checksum wrong";
		if (memcmp(ip + hl + 8, f + 14, l3 - hl - 8))
			return "ICMP error does not quote the datagram";
		return NULL;
	}
	if (proto != (i4 ? P_IPIP : P_IPV6))
		return "outer protocol does not match the inner family";
	if (olen_total != len + hl || memcmp(ip + hl, f + 14, len - 14))
		return "inner bytes changed";
	l3 = inner_l3_len(f + 14, i4 ? AF_INET : AF_INET6);
	if (o4 && (get16(ip + 2) != l3 + hl || ip[8] != TTL))
		return "outer IPv4 total length or TTL wrong";
	if (!o4 && (get16(ip + 4) != l3 + hl - 40 || ip[7] != TTL))
		return "outer IPv6 payload length or hop limit wrong";
	for (k = 0; k < MAX_REALS; k++)
		if (reals[k].family == (o4 ? AF_INET : AF_INET6) &&
		    !memcmp(ip + (o4 ? 16 : 24), reals[k].daddr, o4 ? 4 : 16) &&
		    !memcmp(o, reals[k].dmac, ETH_ALEN))
			break;
	if (k == MAX_REALS)
		return "outer destination or MAC is no configured real's";
	return check_configured(f, len);
}

/* ---- frames ------------------------------------------------------------ */

static __u64 rnd_state;

static __u32 rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state >> 16;
}

static int chance(int percent)
{
	return rnd() % 100 < (__u32)percent;
}

struct spec {
	int v6, vlan, opts, nr_ext, payload, pad;
	int l3_target;		/* IP length to reach, or 0 */
	const __u8 *dst;
	__u8 proto, tos;
	__u16 sport, dport, frag_off;
	__u8 ext[10];
	__u16 ext_frag[10];
	__u8 ext_len[10];
	struct quote *quote;	/* an ICMP error's, or NULL: an echo */
};

/* An ICMP error's type and word, and the packet it quotes */
struct quote {
	__u8 type, code, proto, inner_type;
	__u32 word;		/* after the checksum: the MTU of a too big */
	int opts, ext, len;	/* len: bytes quoted, or 0: all */
	__u16 sport, dport, frag_off;
};

static const char *const near_addrs[] = {
	"192.0.2.5", "192.0.2.0", "198.51.100.11", "0.0.0.0",
	"2001:db8::4", "2001:db8::1:1", "::ffff:192.0.2.1", "::",
};

/* A port at or around one of the ranges of VIP v, or any */
static __u16 pick_port(const struct vip_conf *v)
{
	static const __u16 any[] = { 0, 1, 53, 80, 443, 65535 };
	const struct vip_range *r;
	int n;

	if (!v || chance(10))
		return chance(50) ? any[rnd() % ARRAY_SIZE(any)] : rnd();
	n = v->val.nr_ranges < 8 ? v->val.nr_ranges : 8;
	if (!n)
		return rnd();
	r = &v->val.range[rnd() % n];
	switch (rnd() % 6) {
	case 0:
		return r->port_min - 1;
	case 1:
		return r->port_min;
	case 2:
		return r->port_max;
	case 3:
		return r->port_max + 1;
	default:
		return r->port_min + rnd() % (r->port_max - r->port_min + 1);
	}
}

/*
 * An ICMP error to s->dst about a packet from it: mostly of a VIP's flow
 * (a protocol and port of the address), with the quote's edges tried.
 */
static void random_quote(struct spec *s, struct quote *q)
{
	static const __u8 types4[] = { 3, 3, 3, 11, 5, 12, 0 };
	static const __u8 types6[] = { 1, 2, 2, 3, 4, 129 };
	static const __u32 mtus[] = { 0, 575, 576, 1279, 1280, 1400, 1500 };
	static const __u8 protos[] = { P_TCP, P_UDP, P_ICMP, P_ICMPV6, P_GRE,
		P_NONE, P_HOPOPTS };
	const struct vip_conf *v = NULL;
	int i, n, family = s->v6 ? AF_INET6 : AF_INET;

	memset(q, 0, sizeof(*q));
	q->type = s->v6 ? types6[rnd() % ARRAY_SIZE(types6)] :
			  types4[rnd() % ARRAY_SIZE(types4)];
	q->code = s->v6 ? rnd() % 8 : chance(50) ? 4 : rnd() % 16;
	q->word = chance(80) ? mtus[rnd() % ARRAY_SIZE(mtus)] : rnd();
	for (i = 0, n = 0; i < nr_vips; i++)
		if (vips[i].key.family == family &&
		    !memcmp(vips[i].key.addr, s->dst, s->v6 ? 16 : 4) &&
		    rnd() % ++n == 0)
			v = &vips[i];
	q->proto = v && chance(85) ? v->key.protocol :
				     protos[rnd() % ARRAY_SIZE(protos)];
	q->sport = pick_port(v);
	q->dport = rnd();
	q->inner_type = chance(50) ? (s->v6 ? 129 : 0) : rnd();
	if (chance(10))
		q->opts = 4 * (1 + rnd() % 10);
	if (chance(10))
		q->ext = 1;
	if (chance(10))
		q->frag_off = chance(50) ? 0x2000 : 1 + rnd() % 0x1fff;
	if (chance(20))
		q->len = 1 + rnd() % 70;
}

static void random_spec(struct spec *s)
{
	static const __u8 protos[] = { P_TCP, P_UDP, P_ICMP, P_ICMPV6, P_GRE,
		P_NONE, P_IPV6, P_IPIP, 132 };
	static const __u16 frags4[] = { 0x2000, 0x0001, 0x2001, 0x4000 | 0x1,
		0x1fff, 0x8000 };
	static const __u16 frags6[] = { 0, 1, 8, 9, 0xfff8, 6 };
	static const __u8 exts[] = { P_HOPOPTS, P_ROUTING, P_DSTOPTS,
		P_FRAGMENT };
	static __be32 near[ARRAY_SIZE(near_addrs)][4];
	static struct quote quote;
	static int near_ready;
	const struct vip_conf *v = NULL;
	int i, family;

	if (!near_ready) {
		for (i = 0; i < (int)ARRAY_SIZE(near_addrs); i++)
			parse_ip(near_addrs[i], near[i]);
		near_ready = 1;
	}
	memset(s, 0, sizeof(*s));
	s->v6 = rnd() % 2;
	family = s->v6 ? AF_INET6 : AF_INET;
	if (chance(85)) {
		do
			v = &vips[rnd() % nr_vips];
		while (v->key.family != family);
		s->dst = (const __u8 *)v->key.addr;
		s->proto = v->key.protocol;
	} else {
		do
			i = rnd() % ARRAY_SIZE(near_addrs);
		while (!strchr(near_addrs[i], ':') != !s->v6);
		s->dst = (const __u8 *)near[i];
		s->proto = protos[rnd() % ARRAY_SIZE(protos)];
	}
	if (chance(15))
		s->proto = chance(80) ? protos[rnd() % ARRAY_SIZE(protos)] :
					rnd();
	s->sport = rnd();
	s->dport = pick_port(v);
	s->tos = chance(50) ? rnd() : 0;
	if (!s->v6) {
		if (chance(20))
			s->opts = 4 * (1 + rnd() % 10);
		s->frag_off = chance(70) ? 0x4000 : 0;
		if (chance(15))
			s->frag_off = frags4[rnd() % ARRAY_SIZE(frags4)];
	} else if (chance(35)) {
		s->nr_ext = 1 + rnd() % 8;
		for (i = 0; i < s->nr_ext; i++) {
			s->ext[i] = exts[rnd() % ARRAY_SIZE(exts)];
			s->ext_len[i] = chance(80) ? rnd() % 3 : rnd() % 8;
			s->ext_frag[i] = frags6[rnd() % ARRAY_SIZE(frags6)];
		}
	}
	s->payload = chance(70) ? rnd() % 40 : rnd() % 300;
	if (chance(6))
		s->payload = 1100 + rnd() % 500;	/* around the MTUs */
	if (chance(6) && cfg.mtu && cfg.mtu < FRAME_MAX - 200)
		s->l3_target = cfg.mtu - (rnd() % 2 ? 20 : 40) + rnd() % 3 - 1;
	if (chance(10))
		s->pad = 1 + rnd() % 30;
	if (chance(4))
		s->vlan = 1 + rnd() % 2;
	if (s->proto == (s->v6 ? P_ICMPV6 : P_ICMP) && chance(85)) {
		random_quote(s, &quote);
		s->quote = &quote;
		/* routers quote up to 576 (IPv4) or 1280 bytes (IPv6) */
		if (chance(50))
			s->payload = 0;
		else if (chance(60))
			s->payload = 400 + rnd() % (s->v6 ? 900 : 200);
		/* and at the MTU's edge once tunnelled */
		if (chance(50) && cfg.mtu && cfg.mtu < FRAME_MAX - 200)
			s->l3_target = cfg.mtu - (rnd() % 2 ? 20 : 40) +
				       rnd() % 3 - 1;
	}
}

/* The packet q quotes from s->dst, at p; returns the bytes written. */
static int build_quoted(__u8 *p, const struct spec *s, const struct quote *q)
{
	int hlen = 0, l4, i;

	if (!s->v6) {
		hlen = 20 + q->opts;
		p[0] = 0x40 | hlen / 4;
		p[1] = 0;
		put16(p + 4, rnd());
		put16(p + 6, 0x4000 | q->frag_off);
		p[8] = 64;
		p[9] = q->proto;
		memcpy(p + 12, s->dst, 4);
		put32(p + 16, 0xc6336400 | (rnd() & 0xff));
		for (i = 20; i < hlen; i++)
			p[i] = 1;			/* NOPs */
		l4 = hlen;
	} else {
		put32(p, 6U << 28);
		p[6] = q->ext ? P_DSTOPTS : q->proto;
		p[7] = 64;
		memcpy(p + 8, s->dst, 16);
		put32(p + 24, 0x20010db8);
		put32(p + 28, 0xc);
		put32(p + 32, 0);
		put32(p + 36, rnd() & 0xffff);
		l4 = 40;
		if (q->ext) {
			memset(p + l4, 0, 8);
			p[l4] = q->proto;
			p[l4 + 2] = 1;				/* PadN */
			p[l4 + 3] = 4;
			l4 += 8;
		}
	}
	put16(p + l4, q->sport);
	put16(p + l4 + 2, q->dport);
	for (i = 4; i < 20; i++)
		p[l4 + i] = rnd();
	if (q->proto == P_ICMP || q->proto == P_ICMPV6)
		p[l4] = q->inner_type;
	if (!s->v6) {
		put16(p + 2, l4 + 20);
		put16(p + 10, ~fold(sum_bytes(p, hlen, 0)));
	} else {
		put16(p + 4, l4 + 20 - 40);
	}
	return q->len && q->len < l4 + 20 ? q->len : l4 + 20;
}

/* Write the frame of s into f; returns its length. */
static int build(__u8 *f, const struct spec *s)
{
	int off = 12, l3, l4, end, i, n, hlen = 0;
	__u8 *nh;

	memcpy(f, dir_mac, ETH_ALEN);
	f[6] = 0x02;
	f[7] = 0xc1;
	put32(f + 8, rnd());
	for (i = 0; i < s->vlan; i++) {
		put16(f + off, i == 0 && s->vlan == 2 ? ETH_P_8021AD :
							ETH_P_8021Q);
		put16(f + off + 2, rnd() & 0xfff);
		off += 4;
	}
	put16(f + off, s->v6 ? ETH_P_IPV6 : ETH_P_IP);
	l3 = off + 2;
	if (!s->v6) {
		hlen = 20 + s->opts;
		f[l3] = 0x40 | hlen / 4;
		f[l3 + 1] = s->tos;
		put16(f + l3 + 4, rnd());
		put16(f + l3 + 6, s->frag_off);
		f[l3 + 8] = 63;
		f[l3 + 9] = s->proto;
		put16(f + l3 + 10, 0);
		put32(f + l3 + 12, 0xc6336400 | (rnd() & 0xff));
		memcpy(f + l3 + 16, s->dst, 4);
		for (i = 20; i < hlen; i++)
			f[l3 + i] = chance(70) ? 1 : rnd();	/* NOPs */
		l4 = l3 + hlen;
	} else {
		put32(f + l3, 6U << 28 | (__u32)s->tos << 20 |
			      (rnd() & 0xfffff));
		nh = f + l3 + 6;
		f[l3 + 7] = 63;
		put32(f + l3 + 8, 0x20010db8);
		put32(f + l3 + 12, 0xc);
		put32(f + l3 + 16, 0);
		put32(f + l3 + 20, rnd() & 0xffff);
		memcpy(f + l3 + 24, s->dst, 16);
		l4 = l3 + 40;
		for (i = 0; i < s->nr_ext; i++) {
			*nh = s->ext[i];
			nh = f + l4;
			if (s->ext[i] == P_FRAGMENT) {
				f[l4 + 1] = 0;
				put16(f + l4 + 2, s->ext_frag[i]);
				put32(f + l4 + 4, rnd());
				l4 += 8;
				continue;
			}
			f[l4 + 1] = s->ext_len[i];
			memset(f + l4 + 2, 0, (s->ext_len[i] + 1) * 8 - 2);
			f[l4 + 2] = 1;				/* PadN */
			f[l4 + 3] = (s->ext_len[i] + 1) * 8 - 4;
			l4 += (s->ext_len[i] + 1) * 8;
		}
		*nh = s->proto;
	}
	end = l4;
	if (s->proto == P_TCP || s->proto == P_UDP) {
		put16(f + l4, s->sport);
		put16(f + l4 + 2, s->dport);
		if (s->proto == P_TCP) {
			for (i = 4; i < 20; i++)
				f[l4 + i] = rnd();
			f[l4 + 12] = 0x50;
			end = l4 + 20;
		} else {
			put16(f + l4 + 4, 8 + s->payload);
			put16(f + l4 + 6, rnd());
			end = l4 + 8;
		}
	} else if (s->quote) {
		f[l4] = s->quote->type;
		f[l4 + 1] = s->quote->code;
		put16(f + l4 + 2, rnd());
		put32(f + l4 + 4, s->quote->word);
		end = l4 + 8 + build_quoted(f + l4 + 8, s, s->quote);
	} else if (s->proto == P_ICMP || s->proto == P_ICMPV6) {
		f[l4] = s->proto == P_ICMP ? 8 : 128;	/* echo request */
		f[l4 + 1] = 0;
		put16(f + l4 + 2, rnd());
		put32(f + l4 + 4, rnd());
		end = l4 + 8;
	}
	n = s->l3_target ? s->l3_target - (end - l3) : s->payload;
	for (i = 0; i < n && end < FRAME_MAX - 64; i++)
		f[end++] = rnd();
	if (!s->v6) {
		put16(f + l3 + 2, end - l3);
		put16(f + l3 + 10, ~fold(sum_bytes(f + l3, hlen, 0)));
	} else {
		put16(f + l3 + 4, end - l3 - 40);
	}
	for (i = 0; i < s->pad && end < FRAME_MAX; i++)
		f[end++] = chance(50) ? 0 : rnd();
	return end;
}

static void mutate(__u8 *f, int *len)
{
	int i, n, v6 = get16(f + 12) == ETH_P_IPV6;

	switch (rnd() % 9) {
	case 0:					/* truncate */
		*len = 14 + rnd() % (*len - 13);
		break;
	case 1:					/* flip bits */
		for (n = 1 + rnd() % 4; n--;)
			f[rnd() % *len] ^= 1 << rnd() % 8;
		break;
	case 2:					/* a header byte */
		i = 14 + rnd() % 80;
		if (i < *len)
			f[i] = rnd();
		break;
	case 3:					/* length fields */
		if (*len < 20)
			break;
		n = get16(f + (v6 ? 18 : 16));
		switch (rnd() % 6) {
		case 0:
			n = 0;
			break;
		case 1:
			n = 0xffff;
			break;
		case 2:
			n += 1;
			break;
		case 3:
			n -= 1;
			break;
		case 4:			/* ending in the first L4 bytes */
			n = (v6 ? 0 : (f[14] & 15) * 4) + rnd() % 24;
			break;
		default:
			n = rnd() % (*len + 8);
		}
		put16(f + (v6 ? 18 : 16), n);
		break;
	case 4:					/* ihl or version */
		if (*len > 14)
			f[14] = chance(50) ? (f[14] & 0xf0) | rnd() % 16 : rnd();
		break;
	case 5:					/* fragment bits */
		if (!v6 && *len > 22)
			put16(f + 20, rnd() % 4 ? rnd() & 0xe000 : rnd());
		else if (v6 && *len > 20)
			f[20] = P_FRAGMENT;
		break;
	case 6:					/* padding */
		for (n = 1 + rnd() % 40; n-- && *len < FRAME_MAX;)
			f[(*len)++] = rnd();
		break;
	case 7:					/* next header */
		if (v6 && *len > 20)
			f[20] = rnd() % 2 ? P_HOPOPTS : rnd() % 64;
		else if (*len > 23)
			f[23] = rnd() % 2 ? P_TCP : rnd();
		break;
	default:				/* noise behind a type */
		for (i = 14; i < *len; i++)
			f[i] = rnd();
		if (chance(50))
			f[14] = v6 ? 0x60 : 0x45;
		break;
	}
}

/* ---- running ------------------------------------------------------------ */

enum check { C_ABORTED, C_PASS, C_CONFIGURED, C_OUTER, C_VERDICT,
	C_BYTES, C_REAL, C_COUNTERS, C_COVERAGE, NR_CHECKS };

static const char *const check_names[NR_CHECKS] = {
	"never XDP_ABORTED or an unknown verdict",
	"XDP_PASS leaves the frame byte-identical",
	"XDP_TX tunnels only frames to a configured VIP, protocol and port",
	"every XDP_TX frame has a valid outer header and the inner bytes unchanged",
	"the verdict is the reference model's",
	"every XDP_TX frame is the model's, byte for byte",
	"the real chosen (outer destination, MAC) is the model's",
	"events, per-VIP and per-real counters equal the model's",
	"the frames reached every outcome of the model",
};

static unsigned long violations[NR_CHECKS];
static char first_why[NR_CHECKS][160];
static int verbose;
static unsigned long frames, sweep_frames, by_action[XDP_REDIRECT + 2];
static unsigned long outcome_count[NR_OUTCOMES];
static __u64 want_vip[MAX_VIPS][3], want_real[MAX_REALS][3];
static int prog_fd, nr_cpus;
static int fd_config, fd_vip_stats, fd_real_stats, fd_events;

static void hexdump(const char *what, const __u8 *p, int n)
{
	int i;

	if (!n)
		return;
	printf("#   %s (%d bytes):", what, n);
	for (i = 0; i < n; i++)
		printf("%s%02x", i % 32 ? " " : "\n#     ", p[i]);
	printf("\n");
}

/* A frame that breaks check c: counted, the first few shown */
static void report(enum check c, const __u8 *in, int len, const __u8 *out,
		   int out_len, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!violations[c]++)
		snprintf(first_why[c], sizeof(first_why[c]), "frame %lu: %.130s",
			 frames, why);
	if (violations[c] > 3 && !verbose)
		return;
	printf("# check %d fails (%s): frame %lu: %s\n", c + 1,
	       check_names[c], frames, why);
	if (verbose || violations[c] == 1) {
		hexdump("in", in, len);
		if (out)
			hexdump("out", out, out_len);
	}
}

static const char *const action_names[] = {
	"ABORTED", "DROP", "PASS", "TX", "REDIRECT", "?",
};

static const char *action_name(__u32 a)
{
	return action_names[a < XDP_REDIRECT ? a : XDP_REDIRECT + 1];
}

/* The events map summed over CPUs, in one system call */
static void read_events(__u64 *sum)
{
	static __u64 buf[EV_MAX * 512];
	__u32 keys[EV_MAX], out, n = EV_MAX;
	int id, cpu;

	if (bpf_map_lookup_batch(fd_events, NULL, &out, keys, buf, &n, NULL) &&
	    errno != ENOENT)
		die("events");
	for (id = 0; id < EV_MAX; id++)
		for (sum[id] = 0, cpu = 0; cpu < nr_cpus; cpu++)
			sum[id] += buf[id * nr_cpus + cpu];
}

static void run_frame(const __u8 *in, int len)
{
	static __u8 out[OUT_MAX];
	static struct expect e;
	struct bpf_test_run_opts t = {
		.sz = sizeof(t),
		.data_in = in,
		.data_size_in = len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = 1,
	};
	static __u64 ev_now[EV_MAX], ev_last[EV_MAX];
	const char *why;
	int i, olen;

	model(in, len, &e);
	if (bpf_prog_test_run_opts(prog_fd, &t))
		die("BPF_PROG_TEST_RUN");
	frames++;
	olen = t.data_size_out;
	by_action[t.retval <= XDP_REDIRECT ? t.retval : XDP_REDIRECT + 1]++;
	for (i = 0; i < NR_OUTCOMES; i++)
		outcome_count[i] += e.outcomes >> i & 1;
	if (e.vip_id >= 0) {
		want_vip[e.vip_id][0]++;
		want_vip[e.vip_id][1] += len;
		want_vip[e.vip_id][2] += e.icmp_error;
		want_real[e.real_id][0]++;
		want_real[e.real_id][1] += len;
		want_real[e.real_id][2] += e.icmp_error;
	}

	read_events(ev_now);
	for (i = 0; i < EV_MAX; i++) {
		if (ev_now[i] - ev_last[i] != (e.events >> i & 1))
			report(C_COUNTERS, in, len, NULL, 0,
			       "event %d counted %llu times, the model %u", i,
			       (unsigned long long)(ev_now[i] - ev_last[i]),
			       e.events >> i & 1);
		ev_last[i] = ev_now[i];
	}
	if (t.retval != XDP_PASS && t.retval != XDP_DROP &&
	    t.retval != XDP_TX)
		report(C_ABORTED, in, len, NULL, 0, "XDP_%s",
		       action_name(t.retval));
	if (t.retval == XDP_PASS && (olen != len || memcmp(out, in, len)))
		report(C_PASS, in, len, out, olen, "frame changed");
	if (t.retval == XDP_TX && olen >= 34) {
		why = check_outer(in, len, out, olen);
		if (why)
			report(strstr(why, "tunnelled") ? C_CONFIGURED :
			       C_OUTER, in, len, out, olen, "%s", why);
	} else if (t.retval == XDP_TX) {
		report(C_OUTER, in, len, out, olen, "TX frame of %d bytes",
		       olen);
	}
	if (t.retval != (__u32)e.action) {
		report(C_VERDICT, in, len, out, olen,
		       "XDP_%s, the model says XDP_%s",
		       action_name(t.retval), action_name(e.action));
		return;
	}
	if (t.retval != XDP_TX)
		return;
	if (olen != e.out_len || memcmp(out, e.out, olen)) {
		for (i = 0; i < olen && i < e.out_len && out[i] == e.out[i];)
			i++;
		report(C_BYTES, in, len, out, olen,
		       "%d bytes, the model's %d; first difference at byte %d",
		       olen, e.out_len, i);
		if (verbose)
			hexdump("model", e.out, e.out_len);
	}
	if (e.real_id >= 0 && olen >= 54 &&
	    (memcmp(out, e.out, ETH_ALEN) ||
	     (get16(out + 12) == ETH_P_IP ?
	      memcmp(out + 30, e.out + 30, 4) :
	      memcmp(out + 38, e.out + 38, 16))))
		report(C_REAL, in, len, out, olen,
		       "not real %d, the model's", e.real_id);
}

static void push_config(void)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(fd_config, &zero, &cfg, BPF_ANY))
		die("config_map");
}

/* The VIPs into the program's first VIP table, placed as the loader does. */
static void load_vips(int fd)
{
	struct vip_slot *table;
	__u32 slot, n;
	int i;

	table = mmap(NULL, VIP_TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		     fd, 0);
	if (table == MAP_FAILED)
		die("vip_table");
	for (i = 0; i < nr_vips; i++) {
		slot = vip_key_hash(&vips[i].key);
		for (n = 0; n < VIP_PROBES_MAX && table[slot].key.family; n++) {
			if (!memcmp(&table[slot].key, &vips[i].key,
				    sizeof(struct vip_key))) {
				errno = EEXIST;
				die("vip_table: a VIP given twice");
			}
			slot = (slot + 1) & (VIP_TABLE_SIZE - 1);
		}
		if (n == VIP_PROBES_MAX) {
			errno = ENOSPC;
			die("vip_table: a VIP's VIP_PROBES_MAX slots are taken");
		}
		table[slot].key = vips[i].key;
		table[slot].value = vips[i].val;
	}
	munmap(table, VIP_TABLE_BYTES);
}

static void load_maps(struct bpf_object *obj)
{
	int fd_table = bpf_object__find_map_fd_by_name(obj, "first_vip_table");
	int fd_reals = bpf_object__find_map_fd_by_name(obj, "reals");
	int fd_rings = bpf_object__find_map_fd_by_name(obj, "vip_rings");
	int fd_prev_rings = bpf_object__find_map_fd_by_name(obj, "prev_rings");
	int fd_grace_ends = bpf_object__find_map_fd_by_name(obj, "grace_ends");
	__u64 never = ~0ULL;	/* grace periods that do not end */
	static __u32 keys[MAGLEV_RING_SIZE];
	__u32 id, n;
	int fd;

	fd_config = bpf_object__find_map_fd_by_name(obj, "config_map");
	fd_vip_stats = bpf_object__find_map_fd_by_name(obj, "vip_stats");
	fd_real_stats = bpf_object__find_map_fd_by_name(obj, "real_stats");
	fd_events = bpf_object__find_map_fd_by_name(obj, "events");
	if (fd_table < 0 || fd_reals < 0 || fd_rings < 0 ||
	    fd_prev_rings < 0 || fd_grace_ends < 0 || fd_config < 0 ||
	    fd_vip_stats < 0 || fd_real_stats < 0 || fd_events < 0)
		die("the object lacks a map");
	load_vips(fd_table);
	for (id = 0; id < MAX_REALS; id++)
		if (reals[id].family &&
		    bpf_map_update_elem(fd_reals, &id, &reals[id], BPF_ANY))
			die("reals");
	for (id = 0; id < MAGLEV_RING_SIZE; id++)
		keys[id] = id;
	for (id = 0; id < MAX_VIPS; id++) {
		if (!rings[id])
			continue;
		n = MAGLEV_RING_SIZE;
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ring", 4, 4,
				    MAGLEV_RING_SIZE, NULL);
		if (fd < 0 || bpf_map_update_batch(fd, keys, rings[id], &n,
						   NULL) ||
		    bpf_map_update_elem(fd_rings, &id, &fd, BPF_ANY))
			die("vip_rings");
		close(fd);
	}
	for (id = 0; id < MAX_VIPS; id++) {
		if (!prevs[id])
			continue;
		n = MAGLEV_RING_SIZE;
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "prev", 4, 4,
				    MAGLEV_RING_SIZE, NULL);
		if (fd < 0 || bpf_map_update_batch(fd, keys, prevs[id], &n,
						   NULL) ||
		    bpf_map_update_elem(fd_prev_rings, &id, &fd, BPF_ANY) ||
		    bpf_map_update_elem(fd_grace_ends, &id, &never, BPF_ANY))
			die("prev_rings");
		close(fd);
	}
	push_config();
}

/* Per-CPU struct traffic counters of map fd against the model's sums */
static void check_traffic(const char *map, int fd, __u64 (*want)[3],
			  __u32 n)
{
	static const char *const fields[] = {
		"packets", "bytes", "icmp_errors",
	};
	static const __u8 none[1];
	static __u64 buf[4096 * 3];
	__u64 got;
	__u32 id, f;
	int cpu;

	for (id = 0; id < n; id++) {
		if (bpf_map_lookup_elem(fd, &id, buf))
			die(map);
		for (f = 0; f < 3; f++) {
			for (got = 0, cpu = 0; cpu < nr_cpus; cpu++)
				got += buf[cpu * 3 + f];
			if (got != want[id][f])
				report(C_COUNTERS, none, 0, NULL, 0,
				       "%s[%u].%s %llu, the model's %llu", map,
				       id, fields[f],
				       (unsigned long long)got,
				       (unsigned long long)want[id][f]);
		}
	}
}

static void check_coverage(void)
{
	static const __u8 none[1];
	int i;

	printf("# outcomes:");
	for (i = 0; i < NR_OUTCOMES; i++)
		printf("%s %s %lu", i ? "," : "", outcome_names[i],
		       outcome_count[i]);
	printf("\n");
	for (i = 0; i < NR_OUTCOMES; i++)
		if (!outcome_count[i])
			report(C_COVERAGE, none, 0, NULL, 0,
			       "no frame reached \"%s\"", outcome_names[i]);
}

static void default_object(const char *argv0, char *path, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		snprintf(path, size, "xdp_iptunnel_kern.o");
		return;
	}
	exe[n] = '\0';
	snprintf(path, size, "%s/../../xdp_iptunnel_kern.o", dirname(exe));
	(void)argv0;
}

int main(int argc, char **argv)
{
	static __u8 f[FRAME_MAX + 64];
	unsigned long want = 20000, seed = 1, base;
	struct bpf_program *prog;
	struct bpf_object *obj;
	struct spec s;
	char path[PATH_MAX];
	struct timespec t0, t1;
	int opt, len, full, i, failed = 0;

	while ((opt = getopt(argc, argv, "n:s:v")) != -1) {
		switch (opt) {
		case 'n':
			want = strtoul(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 10);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n FRAMES] [-s SEED] [-v] [OBJECT]\n",
				argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		snprintf(path, sizeof(path), "%s", argv[optind]);
	else
		default_object(argv[0], path, sizeof(path));
	rnd_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	build_config();
	vary_config(0);
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj))
		die(path);
	prog = bpf_object__find_program_by_name(obj, "xdp_iptunnel");
	prog_fd = prog ? bpf_program__fd(prog) : -1;
	if (prog_fd < 0)
		die("no program xdp_iptunnel");
	nr_cpus = libbpf_num_possible_cpus();
	load_maps(obj);
	printf("# %s, seed %lu, %lu frames\n", path, seed, want);

	/* every truncation of a set of valid frames, under two MTUs */
	for (base = 0; frames < want && base < 48; base++) {
		do {
			random_spec(&s);
			s.vlan = 0;
			full = build(f, &s);
		} while (full > 200);
		if (base == 24) {
			vary_config(9);			/* MTU 0 */
			push_config();
		}
		for (len = 14; len <= full && frames < want; len++)
			run_frame(f, len);
	}
	sweep_frames = frames;
	vary_config(0);
	push_config();

	for (i = 0; frames < want; i++) {
		if (i % 512 == 511) {
			vary_config(rnd());
			push_config();
		}
		if (chance(2)) {
			len = 14 + rnd() % 120;
			for (full = 0; full < len; full++)
				f[full] = rnd();
			if (chance(50))
				put16(f + 12, chance(50) ? ETH_P_IP :
							   ETH_P_IPV6);
		} else {
			random_spec(&s);
			len = build(f, &s);
			for (full = chance(45) ? 1 + rnd() % 3 : 0; full--;)
				mutate(f, &len);
		}
		run_frame(f, len);
	}
	check_traffic("vip_stats", fd_vip_stats, want_vip, MAX_VIPS);
	check_traffic("real_stats", fd_real_stats, want_real, MAX_REALS);
	check_coverage();
	clock_gettime(CLOCK_MONOTONIC, &t1);

	printf("# frames tried: %lu (%lu in the truncation sweep) in %.1f s\n",
	       frames, sweep_frames,
	       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("# XDP_PASS %lu, XDP_TX %lu, XDP_DROP %lu, other %lu\n",
	       by_action[XDP_PASS], by_action[XDP_TX], by_action[XDP_DROP],
	       by_action[XDP_ABORTED] + by_action[XDP_REDIRECT] +
	       by_action[XDP_REDIRECT + 1]);
	for (i = 0; i < NR_CHECKS; i++) {
		if (violations[i]) {
			printf("not ok %d - %s: %lu violations, first %s\n",
			       i + 1, check_names[i], violations[i],
			       first_why[i]);
			failed++;
		} else {
			printf("ok %d - %s\n", i + 1, check_names[i]);
		}
	}
	for (i = 0, base = 0; i < NR_CHECKS; i++)
		base += violations[i];
	printf("# %lu frames, %lu violations\n", frames, base);
	printf("%d passed, %d failed\n", NR_CHECKS - failed, failed);
	bpf_object__close(obj);
	return !!failed;
}
