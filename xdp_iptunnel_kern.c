// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel: an XDP IP-in-IP tunnelling load balancer.
 *
 * A client sends to a VIP. This program, attached to the director's
 * interface, matches the packet's destination address, protocol and port
 * against the configured VIPs, picks a real server, puts an outer IPv4 or
 * IPv6 header addressed to that real in front of the packet and sends the
 * frame back out of the same interface (XDP_TX). The real server removes
 * the outer header and answers the client directly.
 *
 * Read it top-down: parse -> match -> pick real -> encapsulate -> transmit.
 * Parsing and matching go in two steps, address first: a packet that is
 * not for a VIP leaves after one search of the VIP table, its ports never
 * read. ICMP takes one branch before that: an error about a VIP's flow
 * goes to the flow's real (see "ICMP errors about a VIP's flows").
 */
#ifdef __KERNEL__
#include <uapi/linux/bpf.h>	/* samples/bpf's flags: not include/linux/bpf.h */
#else
#include <linux/bpf.h>
#endif
#include <linux/in.h>
#include <linux/if_ether.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#ifndef __KERNEL__
#include <assert.h>		/* static_assert; in-tree, the kernel's */
#endif

#ifndef AF_INET
#define AF_INET		2
#define AF_INET6	10
#endif
/* the kernel's headers have noinline (in-tree), libbpf's __noinline */
#ifndef noinline
#define noinline	__noinline
#endif

#include "xdp_iptunnel_common.h"

#define IP_DF		0x4000
#define IP_MF		0x2000
#define IP_OFFSET	0x1fff
#define IPV6_FRAG_MF	0x0001
#define IPV6_FRAG_OFF	0xfff8
#define IPV6_EXT_MAX	6	/* extension headers we walk before giving up */
/* where the walk can end at most: each header is at most 2048 bytes */
#define IPV6_HDRS_MAX	(sizeof(struct ipv6hdr) + IPV6_EXT_MAX * 2048)
#define OUTER_TTL	64

/*
 * The VIP table (see xdp_iptunnel_common.h). The program starts with
 * first_vip_table, empty, which the first configuration fills before the
 * program is attached. The loader builds each later table aside, writing
 * it through mmap(), and switches it in with one update of vip_tables[0].
 */
struct vip_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, VIP_TABLE_SIZE);
	__type(key, __u32);
	__type(value, struct vip_slot);
};

/* a map of its own, not only an inner one: so its value type has BTF */
struct vip_table first_vip_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct vip_table);
} vip_tables SEC(".maps") = {
	.values = { &first_vip_table },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_REALS);
	__type(key, __u32);
	__type(value, struct real);
} reals SEC(".maps");

/* One Maglev lookup table per VIP with several reals: slot -> real_id. */
struct maglev_ring {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAGLEV_RING_SIZE);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_VIPS);
	__type(key, __u32);
	__array(values, struct maglev_ring);
} vip_rings SEC(".maps");

/* While a VIP's grace period runs: slot -> previous owner (common.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_VIPS);
	__type(key, __u32);
	__array(values, struct maglev_ring);
} prev_rings SEC(".maps");

/*
 * When each VIP's grace period ends, in CLOCK_MONOTONIC nanoseconds. The
 * running director clears what has ended; the program checks it too, so
 * hints stop on time with no loader running (--keep).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_VIPS);
	__type(key, __u32);
	__type(value, __u64);
} grace_ends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_VIPS);
	__type(key, __u32);
	__type(value, struct traffic);
} vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_REALS);
	__type(key, __u32);
	__type(value, struct traffic);
} real_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} events SEC(".maps");

/* ---- trace: written only while a tracer runs (xdp_iptunnel --trace) -- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct trace_ctl);
} trace_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct trace_bucket);
} trace_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} trace_ring SEC(".maps");

/* What parsing learnt about the packet inside the Ethernet frame. */
struct packet {
	struct vip_key dst;	/* destination address and protocol */
	__be32 saddr[4];
	__u16 l4_off;		/* IPv6: L4 header's offset from the IP header */
	__u16 sport;		/* host order; 0 when not known */
	__u16 dport;
	__u16 port_min;		/* ports the packet may carry: see vip_range */
	__u16 port_max;
	__u16 l3_len;		/* IP header and payload, without L2 padding */
	__u16 l3_hlen;		/* IPv4 header with options */
	__be16 ip_id;		/* IPv4 identification, copied to the outer */
	__u8 tos;		/* DSCP and ECN, copied to the outer */
	__u8 df;		/* don't fragment the outer packet */
	__u8 fragment;
};

/* IPv6 fragment header (RFC 8200 4.5). */
struct ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset << 3 | M flag */
	__be32 identification;
};

static __always_inline void count_event(__u32 event)
{
	__u64 *count = bpf_map_lookup_elem(&events, &event);

	if (count)
		*count += 1;
}

/* icmp_errors: 1 when the packet is an ICMP error about the flow */
static __always_inline void count_traffic(void *map, __u32 id, __u64 bytes,
					  __u64 icmp_errors)
{
	struct traffic *t = bpf_map_lookup_elem(map, &id);

	if (t) {
		t->packets += 1;
		t->bytes += bytes;
		t->icmp_errors += icmp_errors;
	}
}

/* ---- parse ------------------------------------------------------------ */

/*
 * Each parse_*() checks a header against data_end before it reads it, and
 * returns 0, or -1 for a frame that is not ours: it passes untouched.
 */

/* The search needs the address and protocol only: nothing more is read. */
static __always_inline int parse_ipv4_address(struct packet *pkt, void *l3,
					      void *data_end)
{
	struct iphdr *iph = l3;

	if (l3 + sizeof(*iph) > data_end)
		return WHY_MALFORMED;
	pkt->dst.family = AF_INET;
	pkt->dst.protocol = iph->protocol;
	pkt->dst.addr[0] = iph->daddr;
	pkt->saddr[0] = iph->saddr;
	return 0;
}

/*
 * Skip hop-by-hop, routing, destination options and fragment headers.
 * NULL when they end past the frame or are too many (*why says which).
 */
static __always_inline void *skip_ipv6_ext(struct packet *pkt, void *hdr,
					   __u8 nexthdr, void *data_end,
					   int *why)
{
	struct ipv6_opt_hdr *opt;
	struct ipv6_frag *frag;
	int i;

	/* one round more than headers: it reads what follows the last */
	for (i = 0; i <= IPV6_EXT_MAX; i++) {
		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			opt = hdr;
			if (hdr + sizeof(*opt) > data_end)
				return NULL;
			nexthdr = opt->nexthdr;
			hdr += (opt->hdrlen + 1) * 8;
			break;
		case IPPROTO_FRAGMENT:
			frag = hdr;
			if (hdr + sizeof(*frag) > data_end)
				return NULL;
			/* offset 0 without M is an atomic fragment: whole */
			if (bpf_ntohs(frag->frag_off) &
			    (IPV6_FRAG_OFF | IPV6_FRAG_MF))
				pkt->fragment = 1;
			nexthdr = frag->nexthdr;
			hdr += sizeof(*frag);
			/*
			 * a later fragment carries payload, not headers;
			 * as a seventh header it is one too many
			 */
			if (i < IPV6_EXT_MAX &&
			    (bpf_ntohs(frag->frag_off) & IPV6_FRAG_OFF)) {
				pkt->dst.protocol = nexthdr;
				return hdr;
			}
			break;
		default:
			pkt->dst.protocol = nexthdr;
			return hdr;
		}
	}
	count_event(EV_EXT_HDR);
	*why = WHY_EXT_HDR;
	return NULL;
}

/*
 * The protocol is the one after the extension headers, so they are walked
 * here, after the fixed header is checked: a malformed one is not walked.
 */
static __always_inline int parse_ipv6_address(struct packet *pkt, void *l3,
					      void *data_end)
{
	struct ipv6hdr *ip6h = l3;
	int why = WHY_MALFORMED;
	__u16 payload_len;
	void *l4;

	if (l3 + sizeof(*ip6h) > data_end)
		return WHY_MALFORMED;
	if (ip6h->version != 6)
		return WHY_MALFORMED;
	payload_len = bpf_ntohs(ip6h->payload_len);
	/* 0 is a jumbogram: not ours to tunnel */
	if (!payload_len ||
	    payload_len > data_end - l3 - (long)sizeof(*ip6h))
		return WHY_MALFORMED;

	pkt->dst.family = AF_INET6;
	__builtin_memcpy(pkt->dst.addr, &ip6h->daddr, sizeof(pkt->dst.addr));
	__builtin_memcpy(pkt->saddr, &ip6h->saddr, sizeof(pkt->saddr));
	pkt->l3_len = sizeof(*ip6h) + payload_len;
	pkt->tos = ip6h->priority << 4 | ip6h->flow_lbl[0] >> 4;
	pkt->df = 1;		/* IPv6 is never fragmented on the way */

	l4 = skip_ipv6_ext(pkt, l3 + sizeof(*ip6h), ip6h->nexthdr, data_end,
			   &why);
	if (!l4)
		return why;
	pkt->l4_off = l4 - l3;
	return 0;
}

/*
 * First only what the VIP table's search needs: most packets are not for
 * a VIP, and they leave after it. VLAN-tagged and non-IP frames are not
 * ours: they pass untouched. Returns 0, or why the packet passes.
 */
static __always_inline int parse_address(struct xdp_md *ctx,
					 struct packet *pkt)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;

	if (data + sizeof(*eth) > data_end)
		return WHY_NOT_IP;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return parse_ipv4_address(pkt, data + sizeof(*eth), data_end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6_address(pkt, data + sizeof(*eth), data_end);
	return WHY_NOT_IP;
}

/* Read ports for TCP and UDP; only a complete L4 header counts. */
static __always_inline int parse_l4(struct packet *pkt, void *l4,
				    void *data_end, long l4_len)
{
	__u8 protocol = pkt->dst.protocol;
	struct udphdr *udp = l4;

	if (!has_ports(protocol))
		return 0;	/* the whole VIP matches: ports 0-0 */
	if (pkt->fragment) {
		/* ports of a fragmented datagram are unknown: any of them */
		pkt->port_min = 1;
		pkt->port_max = 0xffff;
		return 0;
	}
	/* l4_len: the datagram's bytes from l4 on, L2 padding excluded */
	if (protocol == IPPROTO_TCP &&
	    (l4 + sizeof(struct tcphdr) > data_end ||
	     l4_len < (long)sizeof(struct tcphdr)))
		return -1;
	if (l4 + sizeof(struct udphdr) > data_end ||
	    l4_len < (long)sizeof(struct udphdr))
		return -1;
	pkt->sport = bpf_ntohs(udp->source);	/* same offsets in TCP */
	pkt->dport = bpf_ntohs(udp->dest);
	pkt->port_min = pkt->dport;
	pkt->port_max = pkt->dport;
	return 0;
}

static __always_inline int parse_ipv4_datagram(struct packet *pkt, void *l3,
					       void *data_end)
{
	struct iphdr *iph = l3;
	__u16 frag_off, tot_len;
	__u32 hlen;

	if (l3 + sizeof(*iph) > data_end)
		return -1;
	if (iph->version != 4 || iph->ihl < 5)
		return -1;
	hlen = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hlen || tot_len > data_end - l3)
		return -1;

	frag_off = bpf_ntohs(iph->frag_off);
	pkt->l3_len = tot_len;
	pkt->l3_hlen = hlen;
	pkt->ip_id = iph->id;
	pkt->tos = iph->tos;
	pkt->df = !!(frag_off & IP_DF);
	pkt->fragment = !!(frag_off & (IP_MF | IP_OFFSET));
	return parse_l4(pkt, l3 + hlen, data_end, tot_len - hlen);
}

static __always_inline int parse_ipv6_datagram(struct packet *pkt, void *l3,
					       void *data_end)
{
	/* headers that end in the Ethernet padding: not a datagram */
	if (pkt->l4_off > pkt->l3_len || pkt->l4_off > IPV6_HDRS_MAX)
		return -1;
	return parse_l4(pkt, l3 + pkt->l4_off, data_end,
			pkt->l3_len - pkt->l4_off);
}

/* For a VIP's address: lengths, fragment and ports. */
static __always_inline int parse_datagram(struct xdp_md *ctx,
					  struct packet *pkt)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *l3 = (void *)(long)ctx->data + sizeof(struct ethhdr);

	if (pkt->dst.family == AF_INET)
		return parse_ipv4_datagram(pkt, l3, data_end);
	return parse_ipv6_datagram(pkt, l3, data_end);
}

/* ---- match ------------------------------------------------------------ */

/* The key is five words: compared as such, not byte by byte. */
static_assert(sizeof(struct vip_key) == 5 * sizeof(__u32),
	      "same_key() compares struct vip_key as five words");

static __always_inline int same_key(const struct vip_key *a,
				    const struct vip_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] &&
	       x[4] == y[4];
}

/* The port ranges on the packet's destination address and protocol. */
static __always_inline struct vip_value *match_address(struct packet *pkt)
{
	__u32 zero = 0, start = vip_key_hash(&pkt->dst), slot, i;
	struct vip_slot *entry;
	void *table;

	table = bpf_map_lookup_elem(&vip_tables, &zero);
	if (!table)
		return NULL;
	for (i = 0; i < VIP_PROBES_MAX; i++) {
		slot = (start + i) & (VIP_TABLE_SIZE - 1);
		entry = bpf_map_lookup_elem(table, &slot);
		if (!entry || !entry->key.family)
			return NULL;
		if (same_key(&entry->key, &pkt->dst))
			return &entry->value;
	}
	return NULL;
}

/* Tried in order: the first range that holds every port the packet may. */
static __always_inline struct vip_range *match_ports(struct vip_value *ranges,
						     struct packet *pkt)
{
	struct vip_range *range;
	__u32 i;

	for (i = 0; i < VIP_MAX_RANGES && i < ranges->nr_ranges; i++) {
		range = &ranges->range[i];
		if (range->port_min <= pkt->port_min &&
		    pkt->port_max <= range->port_max)
			return range;
	}
	if (pkt->fragment)
		count_event(EV_FRAGMENT);
	return NULL;
}

/* ---- pick real -------------------------------------------------------- */

/* murmur3's 64-bit finaliser: every output bit depends on every input bit */
static __always_inline __u64 mix64(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Two address words as one, the first on top */
static __always_inline __u64 two_words(const __be32 *word)
{
	return (__u64)word[0] << 32 | word[1];
}

/*
 * The flow's 5-tuple, hashed the same on every director so that all of
 * them pick the same real for it. IPv4: one 64-bit word, the source
 * address over the ports, xor the protocol over the destination (those
 * two are the VIP's: no two flows of a VIP fold alike), mixed once.
 * IPv6: the ports and protocol, then each 64-bit half of the addresses
 * xor-ed in and mixed. Fragments and port-less protocols hash with ports
 * 0, which keeps every fragment of a datagram on one real.
 */
static __always_inline __u32 flow_hash(const struct packet *pkt)
{
	__u64 ports = (__u32)pkt->sport << 16 | pkt->dport;
	__u64 hash = (__u64)pkt->dst.protocol << 32;

	if (pkt->dst.family == AF_INET)
		return mix64(((__u64)pkt->saddr[0] << 32 | ports) ^
			     (hash | pkt->dst.addr[0]));
	hash = mix64((hash | ports) ^ two_words(&pkt->saddr[0]));
	hash = mix64(hash ^ two_words(&pkt->saddr[2]));
	hash = mix64(hash ^ two_words(&pkt->dst.addr[0]));
	return mix64(hash ^ two_words(&pkt->dst.addr[2]));
}

/* hash * size / 2^32: a slot as uniform as hash % size, without a divide */
static __always_inline __u32 ring_slot(__u32 hash)
{
	return (__u64)hash * MAGLEV_RING_SIZE >> 32;
}

static __always_inline struct real *pick_real(struct vip_range *vip,
					      __u32 hash, __u32 *real_id)
{
	__u32 slot = ring_slot(hash);
	__u32 *ring_real;
	struct real *real;
	void *ring;

	*real_id = vip->real_id;
	if (vip->flags & VIP_F_RING) {
		ring = bpf_map_lookup_elem(&vip_rings, &vip->vip_id);
		if (!ring)
			return NULL;
		ring_real = bpf_map_lookup_elem(ring, &slot);
		if (!ring_real)
			return NULL;
		*real_id = *ring_real;
	}
	real = bpf_map_lookup_elem(&reals, real_id);
	if (!real || !real->family)
		return NULL;	/* a slot the loader has not filled */
	return real;
}

/*
 * A TCP flow whose slot changed owner in the VIP's grace period: the
 * real that owned it before, to be named in the outer header (the new
 * real hands it the connections it does not know, and the errors about
 * them). Only a real of the outer header's family fits in it. A fragment
 * hashes without ports, to another slot than its flow's: no hint.
 */
static __always_inline struct real *previous_real(const struct packet *pkt,
						  const struct vip_range *vip,
						  __u32 hash,
						  const struct real *real)
{
	__u32 slot = ring_slot(hash), *owner, prev_id;
	struct real *prev;
	__u64 *end;
	void *ring;

	if (!(vip->flags & VIP_F_GRACE) ||
	    pkt->dst.protocol != IPPROTO_TCP || pkt->fragment)
		return NULL;
	/* the coarse clock (a tick behind) costs half as much here */
	end = bpf_map_lookup_elem(&grace_ends, &vip->vip_id);
	if (!end || *end < bpf_ktime_get_coarse_ns())
		return NULL;
	ring = bpf_map_lookup_elem(&prev_rings, &vip->vip_id);
	if (!ring)
		return NULL;
	owner = bpf_map_lookup_elem(ring, &slot);
	if (!owner || *owner == PREV_NONE)
		return NULL;
	prev_id = *owner - 1;
	prev = bpf_map_lookup_elem(&reals, &prev_id);
	if (!prev || prev->family != real->family)
		return NULL;
	return prev;
}

/* ---- encapsulate ------------------------------------------------------ */

static __always_inline __u16 ipt_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum += sum >> 16;
	return ~sum;
}

/* the 16-bit words of a fixed-size header, unfolded */
static __always_inline __u32 ipt_csum_add(__u32 sum, const void *hdr, int len)
{
	const __u16 *word = hdr;
	int i;

	for (i = 0; i < len / 2; i++)
		sum += word[i];
	return sum;
}

static __always_inline __u16 ipt_ipv4_csum(const struct iphdr *iph)
{
	return ipt_csum_fold(ipt_csum_add(0, iph, sizeof(*iph)));
}

/* The outer source: the director's, or per flow inside a prefix (RSS). */
static __always_inline void outer_saddr(__be32 *saddr, const struct real *real,
					const struct config *cfg,
					const struct vip_range *vip, __u32 hash)
{
	int i;

	if (!(vip->flags & VIP_F_FLOW_SRC)) {
		__builtin_memcpy(saddr, real->saddr, sizeof(real->saddr));
		return;
	}
	if (real->family == AF_INET) {
		saddr[0] = cfg->flow_src4 |
			   (bpf_htonl(hash) & ~cfg->flow_src4_mask);
		return;
	}
	for (i = 0; i < 4; i++)
		saddr[i] = cfg->flow_src6[i] |
			   (bpf_htonl(hash ^ i) & ~cfg->flow_src6_mask[i]);
}

/* The hint's bytes after the outer IPv4 header: see common.h. */
static __always_inline int write_hint4(struct hint4 *hint, void *data_end,
				       const struct real *prev)
{
	if ((void *)(hint + 1) > data_end)
		return -1;
	hint->type = HINT4_TYPE;
	hint->len = sizeof(*hint);
	hint->flags = 0;
	hint->pad = 0;
	hint->addr = prev->daddr[0];
	return 0;
}

static __always_inline int write_outer_ipv4(void *l3, void *data_end,
					    const struct packet *pkt,
					    const struct real *real,
					    const __be32 *saddr,
					    const struct real *prev)
{
	struct iphdr *outer = l3;
	struct hint4 *hint = (void *)(outer + 1);
	__be16 *first = l3, *ttl_proto = (__be16 *)&outer->ttl;
	__u8 protocol = pkt->dst.family == AF_INET ? IPPROTO_IPIP :
						     IPPROTO_IPV6;
	__u16 len = sizeof(*outer) + pkt->l3_len;
	__u32 sum = 0;

	if (l3 + sizeof(*outer) > data_end)
		return -1;
	/*
	 * Written field by field, two bytes at a time where fields share a
	 * word: clang copied a whole header byte by byte (IPv4 hit 1.247 ->
	 * 1.195 of upstream's time with these stores and copy_mac(),
	 * bench/pktcost.c, same pair of runs, 2026-11-30).
	 * Version 4, header length 5 words, DSCP and ECN of the inner.
	 */
	*first = bpf_htons(0x4500 | pkt->tos);
	if (prev) {
		if (write_hint4(hint, data_end, prev))
			return -1;
		*first = bpf_htons(0x4700 | pkt->tos);	/* 7 words */
		len += sizeof(*hint);
		sum = ipt_csum_add(0, hint, sizeof(*hint));
	}
	outer->tot_len = bpf_htons(len);
	outer->id = pkt->dst.family == AF_INET ? pkt->ip_id : 0;
	outer->frag_off = pkt->df ? bpf_htons(IP_DF) : 0;
	*ttl_proto = bpf_htons(OUTER_TTL << 8 | protocol);
	outer->saddr = saddr[0];
	outer->daddr = real->daddr[0];
	outer->check = 0;
	outer->check = ipt_csum_fold(ipt_csum_add(sum, outer, sizeof(*outer)));
	return 0;
}

/* The hint as a destination options header after the outer IPv6 one. */
static __always_inline int write_hint6(struct hint6 *hint, void *data_end,
				       const struct real *prev, __u8 nexthdr)
{
	if ((void *)(hint + 1) > data_end)
		return -1;
	hint->nexthdr = nexthdr;
	hint->hdrlen = sizeof(*hint) / 8 - 1;
	hint->type = HINT6_TYPE;
	hint->len = HINT6_OPT_LEN;
	hint->flags = 0;
	hint->pad = 0;
	__builtin_memcpy(hint->addr, prev->daddr, sizeof(hint->addr));
	hint->padn_type = HINT6_PADN;
	hint->padn_len = 0;
	return 0;
}

static __always_inline int write_outer_ipv6(void *l3, void *data_end,
					    const struct packet *pkt,
					    const struct real *real,
					    const __be32 *saddr,
					    const struct real *prev)
{
	struct ipv6hdr *outer = l3;
	__u8 nexthdr = pkt->dst.family == AF_INET ? IPPROTO_IPIP :
						    IPPROTO_IPV6;
	__u16 len = pkt->l3_len;

	if (l3 + sizeof(*outer) > data_end)
		return -1;
	if (prev) {
		if (write_hint6((void *)(outer + 1), data_end, prev, nexthdr))
			return -1;
		nexthdr = IPPROTO_DSTOPTS;
		len += sizeof(struct hint6);
	}
	/* version 6, traffic class from the inner packet, flow label 0 */
	*(__be32 *)outer = bpf_htonl(6U << 28 | (__u32)pkt->tos << 20);
	outer->payload_len = bpf_htons(len);
	outer->nexthdr = nexthdr;
	outer->hop_limit = OUTER_TTL;
	__builtin_memcpy(&outer->saddr, saddr, sizeof(outer->saddr));
	__builtin_memcpy(&outer->daddr, real->daddr, sizeof(outer->daddr));
	return 0;
}

/* Both ends are 2-byte aligned: three 16-bit moves, not six bytes. */
static __always_inline void copy_mac(__u8 *dst, const __u8 *src)
{
	__u16 *to = (__u16 *)dst;
	const __u16 *from = (const __u16 *)src;

	to[0] = from[0];
	to[1] = from[1];
	to[2] = from[2];
}

static __always_inline int outer_len(const struct real *real,
				     const struct real *prev)
{
	if (real->family == AF_INET)
		return sizeof(struct iphdr) + (prev ? sizeof(struct hint4) : 0);
	return sizeof(struct ipv6hdr) + (prev ? sizeof(struct hint6) : 0);
}

/*
 * What the MTU check counts: the outer header and a hint's room, for
 * every packet, hinted or not. A grace period then never lowers the path
 * MTU a client sees in the middle of its connection.
 */
static __always_inline int tunnel_room(const struct real *real)
{
	return real->family == AF_INET ?
	       sizeof(struct iphdr) + sizeof(struct hint4) :
	       sizeof(struct ipv6hdr) + sizeof(struct hint6);
}

static __always_inline int encapsulate(struct xdp_md *ctx,
				       const struct packet *pkt,
				       const struct vip_range *vip,
				       const struct real *real,
				       const struct config *cfg, __u32 hash,
				       const struct real *prev)
{
	void *data, *data_end;
	struct ethhdr *eth;
	__be32 saddr[4];

	outer_saddr(saddr, real, cfg, vip, hash);

	if (bpf_xdp_adjust_head(ctx, -outer_len(real, prev))) {
		count_event(EV_ADJUST_HEAD);
		return XDP_DROP;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if (data + sizeof(*eth) > data_end)
		return XDP_DROP;
	copy_mac(eth->h_dest, real->dmac);
	copy_mac(eth->h_source, cfg->smac);
	if (real->family == AF_INET) {
		eth->h_proto = bpf_htons(ETH_P_IP);
		if (write_outer_ipv4(data + sizeof(*eth), data_end, pkt, real,
				     saddr, prev))
			return XDP_DROP;
	} else {
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		if (write_outer_ipv6(data + sizeof(*eth), data_end, pkt, real,
				     saddr, prev))
			return XDP_DROP;
	}
	return XDP_TX;
}

/* ---- too big: tell the sender, as a router on the path would ---------- */

#define ICMP_QUOTE	8	/* bytes of the datagram after its IP header */
#define QUOTE_WORDS_MAX	((60 + ICMP_QUOTE + sizeof(struct icmphdr)) / 2)

static __always_inline __u32 ipt_csum_words(const __u16 *word, int words,
					    const void *data_end, __u32 sum)
{
	int i;

	for (i = 0; i < (int)QUOTE_WORDS_MAX && i < words; i++) {
		if ((const void *)(word + i + 1) > data_end)
			break;
		sum += word[i];
	}
	return sum;
}

/*
 * Turn the frame into an error to its sender: keep the Ethernet header and
 * the first quote bytes of the datagram, and put headers bytes of the
 * ethertype proto in between. Returns the new frame start, or NULL.
 */
static __always_inline void *make_reply(struct xdp_md *ctx,
					const struct config *cfg, int quote,
					int headers, __be16 proto)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth;
	__u8 sender[ETH_ALEN];

	if (bpf_xdp_adjust_tail(ctx, ETH_HLEN + quote - (int)(data_end - data)))
		return NULL;
	if (bpf_xdp_adjust_head(ctx, -headers))
		return NULL;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if (data + headers + sizeof(*eth) > data_end)
		return NULL;
	/* the received Ethernet header now starts headers bytes in */
	__builtin_memcpy(sender, data + headers + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, sender, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->smac, ETH_ALEN);
	eth->h_proto = proto;
	return data;
}

/* ICMP "fragmentation needed" with the MTU left inside the tunnel */
static __always_inline int icmp4_too_big(struct xdp_md *ctx,
					 const struct packet *pkt,
					 const struct config *cfg, __u16 mtu)
{
	int headers = sizeof(struct iphdr) + sizeof(struct icmphdr);
	int quote = pkt->l3_hlen + ICMP_QUOTE;
	struct iphdr ip = {
		.version = 4,
		.ihl = sizeof(ip) / 4,
		.tot_len = bpf_htons(headers + quote),
		.ttl = OUTER_TTL,
		.protocol = IPPROTO_ICMP,
		.saddr = pkt->dst.addr[0],
		.daddr = pkt->saddr[0],
	};
	struct icmphdr *icmp;
	void *data, *data_end;
	__u32 sum;

	data = make_reply(ctx, cfg, quote, headers, bpf_htons(ETH_P_IP));
	if (!data)
		return XDP_DROP;
	data_end = (void *)(long)ctx->data_end;
	icmp = data + ETH_HLEN + sizeof(ip);
	if ((void *)(icmp + 1) > data_end)
		return XDP_DROP;
	ip.check = ipt_ipv4_csum(&ip);
	__builtin_memcpy(data + ETH_HLEN, &ip, sizeof(ip));
	icmp->type = ICMP_DEST_UNREACH;
	icmp->code = ICMP_FRAG_NEEDED;
	icmp->checksum = 0;
	icmp->un.frag.__unused = 0;
	icmp->un.frag.mtu = bpf_htons(mtu);
	sum = ipt_csum_words((__u16 *)icmp, (sizeof(*icmp) + quote) / 2,
			     data_end, 0);
	icmp->checksum = ipt_csum_fold(sum);
	return XDP_TX;
}

/* ICMPv6 "packet too big" with the MTU left inside the tunnel */
static __always_inline int icmp6_too_big(struct xdp_md *ctx,
					 const struct packet *pkt,
					 const struct config *cfg, __u32 mtu)
{
	int quote = sizeof(struct ipv6hdr) + ICMP_QUOTE;
	int headers = sizeof(struct ipv6hdr) + sizeof(struct icmp6hdr);
	int len = sizeof(struct icmp6hdr) + quote;
	struct icmp6hdr *icmp6;
	struct ipv6hdr *ip6h;
	void *data, *data_end;
	__u32 sum;

	data = make_reply(ctx, cfg, quote, headers, bpf_htons(ETH_P_IPV6));
	if (!data)
		return XDP_DROP;
	data_end = (void *)(long)ctx->data_end;
	ip6h = data + ETH_HLEN;
	icmp6 = (void *)(ip6h + 1);
	if ((void *)(icmp6 + 1) > data_end)
		return XDP_DROP;
	*(__be32 *)ip6h = bpf_htonl(6U << 28);
	ip6h->payload_len = bpf_htons(len);
	ip6h->nexthdr = IPPROTO_ICMPV6;
	ip6h->hop_limit = OUTER_TTL;
	__builtin_memcpy(&ip6h->saddr, pkt->dst.addr, sizeof(ip6h->saddr));
	__builtin_memcpy(&ip6h->daddr, pkt->saddr, sizeof(ip6h->daddr));
	icmp6->icmp6_type = ICMPV6_PKT_TOOBIG;
	icmp6->icmp6_code = 0;
	icmp6->icmp6_cksum = 0;
	icmp6->icmp6_mtu = bpf_htonl(mtu);
	/* pseudo header: addresses, length, next header */
	sum = ipt_csum_words((__u16 *)&ip6h->saddr, 16, data_end,
			     bpf_htons(len) + bpf_htons(IPPROTO_ICMPV6));
	sum = ipt_csum_words((__u16 *)icmp6, len / 2, data_end, sum);
	icmp6->icmp6_cksum = ipt_csum_fold(sum);
	return XDP_TX;
}

/* IPv4 without DF can't be fragmented here: dropped, and counted. */
static __always_inline int report_too_big(struct xdp_md *ctx,
					  const struct packet *pkt,
					  const struct config *cfg,
					  const struct real *real)
{
	int mtu = cfg->mtu - tunnel_room(real);

	count_event(EV_TOO_BIG);
	if (pkt->dst.family == AF_INET6)
		return icmp6_too_big(ctx, pkt, cfg, mtu);
	if (pkt->df && pkt->l3_len >= pkt->l3_hlen + ICMP_QUOTE)
		return icmp4_too_big(ctx, pkt, cfg, mtu);
	return XDP_DROP;
}

/* What the steps decided about a packet: all a trace reports. */
struct decision {
	struct packet pkt;
	struct vip_range *vip;	/* the range matched */
	struct real *real;	/* the real picked */
	__u32 real_id;
	__u32 hash;
	__u64 bytes;		/* of the frame as received */
	int why;		/* WHY_*: 0, tunnelled, unless a step says */
};

/*
 * The flow's real (by its hash on a ring or with --flow-src) into *d,
 * and the configuration to tunnel with; NULL when there is no real (drop)
 * or no configuration (abort), d->why saying which.
 */
static __always_inline struct config *pick(struct decision *d,
					   const struct packet *flow)
{
	struct config *cfg;
	__u32 zero = 0;

	if (d->vip->flags & (VIP_F_RING | VIP_F_FLOW_SRC))
		d->hash = flow_hash(flow);
	d->real = pick_real(d->vip, d->hash, &d->real_id);
	if (!d->real) {
		count_event(EV_NO_REAL);
		d->why = WHY_NO_REAL;
		return NULL;
	}
	cfg = bpf_map_lookup_elem(&config_map, &zero);
	if (!cfg)
		d->why = WHY_NO_CONFIG;
	return cfg;
}

/* ---- ICMP errors about a VIP's flows ---------------------------------- */

/*
 * The real answers the client from the VIP (direct server return), so a
 * router that cannot forward an answer (too big for its next link,
 * unreachable, TTL run out) sends its ICMP error to the VIP: here. The
 * error quotes the answer's IP header and 8 bytes more; turned around,
 * the quote is the flow's own tuple, and the flow's real is picked from
 * it as from the flow's packets. That real's stack finds its socket from
 * the quote and, for "too big", lowers the path MTU. The message is
 * tunnelled unchanged. Errors the quote does not tie to a VIP's flow go
 * on as other ICMP: to a VIP's ICMP service if it has one (-P icmp),
 * else to the director's stack.
 */

#define ICMP_NOT_A_FLOW	-1
#define ICMP4_MTU_MIN	576	/* the datagram every IPv4 host accepts */
#define ICMP6_MTU_MIN	1280	/* IPv6's minimum link MTU */

static __always_inline int is_icmp(const struct packet *pkt)
{
	return pkt->dst.protocol == (pkt->dst.family == AF_INET ?
				     IPPROTO_ICMP : IPPROTO_ICMPV6);
}

/* RFC 1122 3.2.2: never act on an error about an error */
static __always_inline int is_icmp_error(__u8 family, __u8 type)
{
	if (family == AF_INET6)
		return !(type & ICMPV6_INFOMSG_MASK);
	return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
	       type == ICMP_REDIRECT || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAMETERPROB;
}

/*
 * The quoted packet went from the VIP to the client: the flow is the
 * other way. Ports as parse_l4() reads them from the flow's packets.
 */
static __always_inline int turn_quote_around(struct packet *flow,
					     const __u8 *l4)
{
	const struct udphdr *ports = (const void *)l4;

	if (is_icmp(flow)) {
		if (is_icmp_error(flow->dst.family, l4[0]))
			return -1;
		return 0;	/* ports 0, as an echo to a -P icmp VIP */
	}
	if (!has_ports(flow->dst.protocol))
		return 0;
	flow->sport = bpf_ntohs(ports->dest);
	flow->dport = bpf_ntohs(ports->source);
	flow->port_min = flow->dport;
	flow->port_max = flow->dport;
	return 0;
}

/*
 * A quoted IPv4 header with options is read as the kernel reads it; a
 * later fragment has no ports. A sender needs the header and 8 bytes.
 */
static __always_inline int parse_quote4(struct packet *flow, void *quote,
					long quote_len, void *data_end)
{
	struct iphdr *iph = quote;
	__u32 hlen;
	void *l4;

	if (quote + sizeof(*iph) > data_end)
		return -1;
	if (iph->version != 4 || iph->ihl < 5 ||
	    (bpf_ntohs(iph->frag_off) & IP_OFFSET))
		return -1;
	hlen = iph->ihl * 4;
	l4 = quote + hlen;
	if (l4 + ICMP_QUOTE > data_end || quote_len < hlen + ICMP_QUOTE)
		return -1;
	flow->dst.family = AF_INET;
	flow->dst.protocol = iph->protocol;
	flow->dst.addr[0] = iph->saddr;
	flow->saddr[0] = iph->daddr;
	return turn_quote_around(flow, l4);
}

/* The answers a real sends have no extension headers: none are walked. */
static __always_inline int parse_quote6(struct packet *flow, void *quote,
					long quote_len, void *data_end)
{
	struct ipv6hdr *ip6h = quote;
	void *l4 = quote + sizeof(*ip6h);

	if (l4 + ICMP_QUOTE > data_end ||
	    quote_len < (long)sizeof(*ip6h) + ICMP_QUOTE)
		return -1;
	if (ip6h->version != 6)
		return -1;
	switch (ip6h->nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_FRAGMENT:
		return -1;
	}
	flow->dst.family = AF_INET6;
	flow->dst.protocol = ip6h->nexthdr;
	__builtin_memcpy(flow->dst.addr, &ip6h->saddr, sizeof(flow->dst.addr));
	__builtin_memcpy(flow->saddr, &ip6h->daddr, sizeof(flow->saddr));
	return turn_quote_around(flow, l4);
}

/*
 * The errors a sender's socket acts on: destination unreachable (with
 * "fragmentation needed" / "packet too big" for path MTU discovery) and
 * time exceeded. A too big announcing less than the protocol's minimum
 * MTU (0 included) would slow the flow down, forged or not (RFC 8201
 * 5.2, RFC 1191 7): *mtu_low says so.
 */
static __always_inline int icmp_error_to_forward(const struct packet *pkt,
						 const struct icmphdr *icmp,
						 int *mtu_low)
{
	const struct icmp6hdr *icmp6 = (const void *)icmp;

	if (pkt->dst.family == AF_INET) {
		if (icmp->type == ICMP_DEST_UNREACH &&
		    icmp->code == ICMP_FRAG_NEEDED)
			*mtu_low = bpf_ntohs(icmp->un.frag.mtu) <
				   ICMP4_MTU_MIN;
		return icmp->type == ICMP_DEST_UNREACH ||
		       icmp->type == ICMP_TIME_EXCEEDED;
	}
	if (icmp6->icmp6_type == ICMPV6_PKT_TOOBIG)
		*mtu_low = bpf_ntohl(icmp6->icmp6_mtu) < ICMP6_MTU_MIN;
	return icmp6->icmp6_type == ICMPV6_DEST_UNREACH ||
	       icmp6->icmp6_type == ICMPV6_PKT_TOOBIG ||
	       icmp6->icmp6_type == ICMPV6_TIME_EXCEED;
}

/*
 * Where an ICMP message starts, from the packet itself: a bound the
 * verifier sees whatever clang makes of parse_datagram()'s. An ICMPv6
 * error is a router's, with no extension headers: one that has them
 * goes on as other ICMP.
 */
static __always_inline struct icmphdr *icmp_header(const struct packet *pkt,
						   void *l3, void *data_end)
{
	struct ipv6hdr *ip6h = l3;
	struct iphdr *iph = l3;

	if (pkt->dst.family == AF_INET) {
		if ((void *)(iph + 1) > data_end)
			return NULL;
		return l3 + iph->ihl * 4;
	}
	if ((void *)(ip6h + 1) > data_end ||
	    ip6h->nexthdr != IPPROTO_ICMPV6)
		return NULL;
	return (void *)(ip6h + 1);
}

/*
 * An error to forward, about a packet the VIP it was sent to sent: its
 * flow, turned around, in *flow. An error we would forward whose quote
 * cannot be read is counted.
 */
static __always_inline int parse_icmp_error(struct xdp_md *ctx,
					    struct packet *pkt,
					    struct packet *flow, int *mtu_low)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *l3 = (void *)(long)ctx->data + sizeof(struct ethhdr);
	struct icmphdr *icmp;
	long quote_len;
	int err, i;

	if (parse_datagram(ctx, pkt) || pkt->fragment)
		return -1;
	icmp = icmp_header(pkt, l3, data_end);
	if (!icmp || (void *)(icmp + 1) > data_end)
		return -1;
	quote_len = (long)pkt->l3_len - ((void *)(icmp + 1) - l3);
	if (quote_len < 0)
		return -1;
	if (!icmp_error_to_forward(pkt, icmp, mtu_low))
		return -1;
	if (pkt->dst.family == AF_INET)
		err = parse_quote4(flow, icmp + 1, quote_len, data_end);
	else
		err = parse_quote6(flow, icmp + 1, quote_len, data_end);
	if (err) {
		count_event(EV_ICMP_QUOTE);
		return -1;
	}
	/* sent to the address the quoted packet came from: the VIP */
	for (i = 0; i < 4; i++)
		if (flow->dst.addr[i] != pkt->dst.addr[i])
			return -1;
	return 0;
}

/*
 * Tunnel the error to the real of the flow it quotes, unchanged: the
 * same flow hash and ring as the flow's packets, so every director
 * behind ECMP picks that real too. What it chose goes in *d as for the
 * flow's own packets, its hash and ring slot the flow's.
 */
static __always_inline int forward_icmp_error(struct xdp_md *ctx,
					      struct decision *d)
{
	struct packet flow = {};
	struct vip_value *ranges;
	struct real *prev;
	struct config *cfg;
	int action, mtu_low = 0;

	if (parse_icmp_error(ctx, &d->pkt, &flow, &mtu_low))
		return ICMP_NOT_A_FLOW;
	ranges = match_address(&flow);
	if (!ranges)
		return ICMP_NOT_A_FLOW;
	d->vip = match_ports(ranges, &flow);
	if (!d->vip)
		return ICMP_NOT_A_FLOW;
	if (mtu_low) {
		count_event(EV_ICMP_MTU_LOW);
		d->why = WHY_ICMP_MTU_LOW;
		return XDP_DROP;
	}
	cfg = pick(d, &flow);
	if (!cfg)
		return d->real ? XDP_ABORTED : XDP_DROP;
	/* the flow's hint: the error goes where its connection is */
	prev = previous_real(&flow, d->vip, d->hash, d->real);
	/* too big to tunnel, and no error is sent about an error */
	if (cfg->mtu && d->pkt.l3_len + outer_len(d->real, prev) > cfg->mtu) {
		count_event(EV_TOO_BIG);
		d->why = WHY_TOO_BIG;
		return XDP_DROP;
	}
	action = encapsulate(ctx, &d->pkt, d->vip, d->real, cfg, d->hash, prev);
	if (action == XDP_TX) {
		if (prev)
			count_event(EV_HINT);
		count_traffic(&vip_stats, d->vip->vip_id, d->bytes, 1);
		count_traffic(&real_stats, d->real_id, d->bytes, 1);
		d->why = WHY_ICMP_FORWARDED;
	} else {
		d->why = WHY_NO_HEADROOM;
	}
	return action;
}

/* ---- transmit --------------------------------------------------------- */

/* The steps; why is set where a packet leaves them, not on the way. */
static __always_inline int decide(struct xdp_md *ctx, struct decision *d)
{
	struct packet *pkt = &d->pkt;
	struct vip_value *ranges;
	struct real *prev;
	struct config *cfg;
	int action, why;

	d->bytes = ctx->data_end - ctx->data;
	why = parse_address(ctx, pkt);
	if (why) {
		d->why = why;
		return XDP_PASS;
	}
	if (is_icmp(pkt)) {
		action = forward_icmp_error(ctx, d);
		if (action != ICMP_NOT_A_FLOW)
			return action;
	}
	ranges = match_address(pkt);
	if (!ranges) {
		d->why = WHY_NOT_VIP;
		return XDP_PASS;
	}
	if (parse_datagram(ctx, pkt)) {
		d->why = WHY_MALFORMED;
		return XDP_PASS;
	}
	d->vip = match_ports(ranges, pkt);
	if (!d->vip) {
		d->why = pkt->fragment ? WHY_FRAGMENT : WHY_NO_PORT;
		return XDP_PASS;
	}
	cfg = pick(d, pkt);
	if (!cfg)
		return d->real ? XDP_ABORTED : XDP_DROP;
	if (cfg->mtu && pkt->l3_len + tunnel_room(d->real) > cfg->mtu) {
		d->why = WHY_TOO_BIG;
		return report_too_big(ctx, pkt, cfg, d->real);
	}
	prev = previous_real(pkt, d->vip, d->hash, d->real);
	action = encapsulate(ctx, pkt, d->vip, d->real, cfg, d->hash, prev);
	if (action == XDP_TX) {
		if (prev) {
			count_event(EV_HINT);
			d->why = WHY_HINTED;
		}
		count_traffic(&vip_stats, d->vip->vip_id, d->bytes, 0);
		count_traffic(&real_stats, d->real_id, d->bytes, 0);
	} else {
		d->why = WHY_NO_HEADROOM;
	}
	return action;
}

/* ---- trace ------------------------------------------------------------ */

static __always_inline int same_addr(const __be32 *a, const __be32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* The filter of xdp_iptunnel --trace, applied here: only what is asked. */
static __always_inline int trace_wanted(const struct trace_ctl *ctl,
					const struct trace_record *r)
{
	if (ctl->verdicts && !(ctl->verdicts & 1U << (r->verdict & 31)))
		return 0;
	if (ctl->vip_family && (ctl->vip_family != r->family ||
				!same_addr(ctl->vip, r->daddr)))
		return 0;
	if (ctl->client_family && (ctl->client_family != r->family ||
				   !same_addr(ctl->client, r->saddr)))
		return 0;
	return !ctl->port || ctl->port == r->sport || ctl->port == r->dport;
}

/*
 * A token bucket per CPU, kept as the time its next record is due: one
 * record per ns_per_record, up to burst_ns ahead of the clock.
 */
static __always_inline struct trace_bucket *
trace_allowed(const struct trace_ctl *ctl, __u64 now)
{
	struct trace_bucket *bucket;
	__u32 zero = 0;

	bucket = bpf_map_lookup_elem(&trace_buckets, &zero);
	if (!bucket)
		return NULL;
	if (bucket->next_ns < now)
		bucket->next_ns = now;
	if (bucket->next_ns > now + ctl->burst_ns) {
		bucket->limited += 1;
		return NULL;
	}
	bucket->next_ns += ctl->ns_per_record;
	return bucket;
}

/* The outer header as written: read back from the frame sent. */
static __always_inline void trace_outer(struct xdp_md *ctx,
					struct trace_record *r)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6h;
	struct iphdr *iph;

	if (data + sizeof(*eth) > data_end)
		return;
	iph = data + sizeof(*eth);
	ip6h = data + sizeof(*eth);
	if (eth->h_proto == bpf_htons(ETH_P_IP) &&
	    (void *)(iph + 1) <= data_end) {
		r->outer_family = AF_INET;
		r->outer_saddr[0] = iph->saddr;
		r->outer_daddr[0] = iph->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6) &&
		   (void *)(ip6h + 1) <= data_end) {
		r->outer_family = AF_INET6;
		__builtin_memcpy(r->outer_saddr, &ip6h->saddr, 16);
		__builtin_memcpy(r->outer_daddr, &ip6h->daddr, 16);
	}
}

/*
 * A global function: the verifier checks it once, not once for each way
 * the data path can end. decided: the record without time or outer header.
 */
noinline int trace_write(struct xdp_md *ctx,
			 const struct trace_record *decided)
{
	struct trace_bucket *bucket;
	struct trace_record *r;
	struct trace_ctl *ctl;
	__u32 zero = 0;
	__u64 now;

	ctl = bpf_map_lookup_elem(&trace_ctl, &zero);
	if (!ctl || !decided)
		return 0;
	now = bpf_ktime_get_ns();
	if (now >= ctl->expires_ns || !trace_wanted(ctl, decided))
		return 0;
	bucket = trace_allowed(ctl, now);
	if (!bucket)
		return 0;
	r = bpf_ringbuf_reserve(&trace_ring, sizeof(*r), 0);
	if (!r) {
		bucket->lost += 1;
		return 0;
	}
	__builtin_memcpy(r, decided, sizeof(*r));
	r->time_ns = now;
	/* an outer header was written: read it back */
	if (r->verdict == XDP_TX && r->reason != WHY_TOO_BIG)
		trace_outer(ctx, r);
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* The decision as a record: what the steps chose, read through them. */
static __always_inline void trace(struct xdp_md *ctx, const struct decision *d,
				  int action)
{
	const struct packet *pkt = &d->pkt;
	struct trace_record r = {};

	r.ifindex = ctx->ingress_ifindex;
	r.len = d->bytes;
	r.verdict = action;
	r.reason = d->why;
	r.family = pkt->dst.family;
	r.protocol = pkt->dst.protocol;
	__builtin_memcpy(r.saddr, pkt->saddr, sizeof(r.saddr));
	__builtin_memcpy(r.daddr, pkt->dst.addr, sizeof(r.daddr));
	r.sport = pkt->sport;
	r.dport = pkt->dport;
	if (d->vip) {
		r.flags |= TRACE_F_VIP;
		r.vip_id = d->vip->vip_id;
		r.port_min = d->vip->port_min;
		r.port_max = d->vip->port_max;
		if (d->vip->flags & VIP_F_RING) {
			r.flags |= TRACE_F_SLOT;
			r.slot = ring_slot(d->hash);
		}
	}
	if (d->real) {
		r.flags |= TRACE_F_REAL;
		r.real_id = d->real_id;
	}
	trace_write(ctx, &r);
}

/*
 * decide() is the lesson; the rest costs one load and a branch unless a
 * tracer has set trace_ctl.
 */
SEC("xdp")
int xdp_iptunnel(struct xdp_md *ctx)
{
	struct decision d = {};
	struct trace_ctl *ctl;
	__u32 zero = 0;
	int action;

	action = decide(ctx, &d);
	ctl = bpf_map_lookup_elem(&trace_ctl, &zero);
	if (ctl && ctl->expires_ns)
		trace(ctx, &d, action);
	return action;
}

char _license[] SEC("license") = "GPL";
