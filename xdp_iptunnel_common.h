/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xdp_iptunnel: structures shared by the XDP program and its loader.
 *
 * A VIP is an address, an IP protocol and a destination port range. The
 * program looks a packet up by (address, protocol) in the VIP table; the
 * value lists up to VIP_MAX_RANGES port ranges on that address, each
 * naming a vip_id (its statistics slot and Maglev ring) and how to pick a
 * real. Every structure is replaced whole by one map update, so a running
 * program never sees a half-written service.
 */
#ifndef _XDP_IPTUNNEL_COMMON_H
#define _XDP_IPTUNNEL_COMMON_H

#include <linux/const.h>
#include <linux/types.h>

#define MAX_VIPS		16384	/* vip_id: 0 .. MAX_VIPS - 1 */
#define MAX_REALS		4096	/* real_id: 0 .. MAX_REALS - 1 */
#define VIP_MAX_RANGES		8	/* port ranges on one address+protocol */
#define MAGLEV_RING_SIZE	65537	/* prime, as in the Maglev paper */
#define VIP_ADDR_MAX		16384	/* distinct (address, protocol) keys */

/*
 * The VIP table is an array the program searches itself: a key's slot is
 * vip_key_hash(), or one of the VIP_PROBES_MAX - 1 after it (linear
 * probing); an empty slot ends the search. An array lookup is a few
 * inlined instructions, a hash map's a call into the kernel. Four slots
 * per key keep the searches short: the loader refuses a set of keys where
 * one would be longer.
 */
#define VIP_TABLE_BITS		16
#define VIP_TABLE_SIZE		_BITUL(VIP_TABLE_BITS)	/* 4 slots per key */
#define VIP_PROBES_MAX		16

/* The VIP table's key. IPv4 addresses live in addr[0], the rest is zero. */
struct vip_key {
	__be32 addr[4];
	__u8 family;		/* AF_INET or AF_INET6 */
	__u8 protocol;		/* IPPROTO_* of the inner packet */
	__u16 pad;		/* zero: part of the hashed key */
};

/*
 * Ports are in host order. Protocols without ports (ICMP, GRE, ...) use
 * the range 0-0. A packet matches when every port it could carry is inside
 * the range, so an IPv4/IPv6 fragment of TCP or UDP, whose ports are
 * unknown, matches only a range of 1-65535.
 */
struct vip_range {
	__u16 port_min;
	__u16 port_max;
	__u32 vip_id;
	__u32 real_id;		/* the real when flags lack VIP_F_RING */
	__u32 flags;
};

#define VIP_F_RING	0x1	/* several reals: Maglev ring vip_id */
#define VIP_F_FLOW_SRC	0x2	/* outer source varies per flow */
#define VIP_F_GRACE	0x4	/* ring vip_id has previous owners: hint TCP */

struct vip_value {
	__u32 nr_ranges;
	struct vip_range range[VIP_MAX_RANGES];
};

/* A slot of the VIP table; family 0: empty. */
struct vip_slot {
	struct vip_key key;
	struct vip_value value;
};

/* what the loader maps to write a table */
#define VIP_TABLE_BYTES	((size_t)VIP_TABLE_SIZE * sizeof(struct vip_slot))

/*
 * Where the search for key starts: Fibonacci hashing (Knuth, TAOCP 6.4),
 * the key folded into 64 bits, times 2^64 / golden ratio, the product's
 * top bits. One multiply, and keys a few bits apart, as the addresses of
 * a range are, land far apart. The program and the loader must agree.
 * (AF_INET6 comes from sys/socket.h, or from the program.)
 */
static inline __u32 vip_key_hash(const struct vip_key *key)
{
	__u64 x = key->family << 8 | key->protocol;

	if (key->family == AF_INET6)
		x ^= ((__u64)key->addr[1] << 32 | key->addr[0]) ^
		     ((__u64)key->addr[3] << 32 | key->addr[2]) *
		     0xc2b2ae3d27d4eb4fULL;
	else
		x |= (__u64)key->addr[0] << 16;
	return x * 0x9e3779b97f4a7c15ULL >> (64 - VIP_TABLE_BITS);
}

/*
 * TCP and UDP VIPs have port ranges; a VIP of any other protocol matches
 * its whole address. (IPPROTO_* from netinet/in.h, or the program's.)
 */
static inline int has_ports(__u8 protocol)
{
	return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP;
}

/*
 * Previous owners (connections survive changes of the real set): while a
 * ring VIP's grace period runs, prev_rings[vip_id] holds an array like its
 * Maglev ring, slot -> real_id + 1 of the real that owned the slot before
 * the last change, or PREV_NONE. The + 1 lets a fresh (zeroed) array mean
 * "nothing moved". A TCP packet on a slot with a previous owner carries
 * that real's address in its outer header, the hint, so that the new real
 * can hand a connection it does not know to the real that does.
 */
#define PREV_NONE	0

/*
 * The hint in an outer IPv4 header: an option of RFC 4727's experimental
 * number 30, class 0 (control), copied bit set (0x9e): a router that
 * fragments the outer datagram keeps it in every fragment. Receivers that
 * do not know it skip it (tunl0 included). 8 bytes: IHL 7.
 */
#define HINT4_TYPE	0x9e
#define HINT_F_USED	0x01	/* forwarded once already: never again */

struct hint4 {
	__u8 type;
	__u8 len;		/* sizeof(struct hint4) */
	__u8 flags;		/* HINT_F_USED */
	__u8 pad;
	__be32 addr;		/* the previous real */
};

/*
 * In an outer IPv6 header: a destination options header after it, with
 * one option of RFC 4727's experimental type, action bits 00 (skip if
 * unknown: ip6tnl0 accepts the packet as before) and the "may change en
 * route" bit set, since the new real marks it used (0x3e); then PadN to
 * 24 bytes.
 */
#define HINT6_TYPE	0x3e
#define HINT6_OPT_LEN	18	/* flags, pad, address */
#define HINT6_PADN	1	/* RFC 8200 PadN option */

struct hint6 {
	__u8 nexthdr;		/* 4 or 41 */
	__u8 hdrlen;		/* in 8 bytes, not counting the first 8: 2 */
	__u8 type;
	__u8 len;		/* HINT6_OPT_LEN */
	__u8 flags;		/* HINT_F_USED */
	__u8 pad;
	__u8 addr[16];		/* the previous real */
	__u8 padn_type;		/* HINT6_PADN, no data */
	__u8 padn_len;
};

/* A tunnel endpoint pair: the director's address and a real server's. */
struct real {
	__be32 saddr[4];
	__be32 daddr[4];
	__u8 dmac[6];		/* next hop toward daddr */
	__u8 family;		/* of saddr and daddr */
	__u8 pad;
};

/* Per-interface settings the loader keeps current. */
struct config {
	__u8 smac[6];		/* outer source MAC: the interface's */
	__u16 mtu;		/* 0: no check */
	/* VIP_F_FLOW_SRC: outer source = prefix | (flow hash & ~mask) */
	__be32 flow_src4;
	__be32 flow_src4_mask;
	__be32 flow_src6[4];
	__be32 flow_src6_mask[4];
};

struct traffic {
	__u64 packets;
	__u64 bytes;		/* of the frame as received */
	__u64 icmp_errors;	/* of packets: ICMP errors about the flows */
};

/* Packets the program had to pass or drop for a reason worth counting. */
enum xdp_iptunnel_event {
	EV_FRAGMENT,		/* fragment to a VIP with a port range: passed */
	EV_TOO_BIG,		/* would exceed MTU: ICMP too big, or dropped */
	EV_NO_REAL,		/* VIP without a usable real: dropped */
	EV_EXT_HDR,		/* IPv6 header chain too long to parse: passed */
	EV_ADJUST_HEAD,		/* no headroom for the outer header: dropped */
	EV_ICMP_QUOTE,		/* ICMP error, quote unreadable: as other ICMP */
	EV_ICMP_MTU_LOW,	/* too big, MTU below the minimum: dropped */
	EV_HINT,		/* TCP of a moved slot: previous real hinted */
	EV_MAX,
};

/* ---- the real server's program (xdp_iptunnel --real) ------------------ */

#define REAL_ADDRS_MAX	64	/* the host's tunnel addresses */
#define REAL_PEERS_MAX	1024	/* previous reals it forwards to */

/* A local address or a peer's; IPv4 in addr[0], the rest zero. */
struct tunnel_addr {
	__be32 addr[4];
	__u32 family;		/* AF_INET or AF_INET6 */
};

struct peer {
	__u8 mac[6];
	__u8 resolved;		/* 0: added by the program, MAC unknown */
	__u8 pad;
};

/* What the real's program did with a packet tunnelled to it. */
enum real_event {
	RS_PLAIN,		/* no hint: decapsulated */
	RS_SYN,			/* hinted SYN: a new connection, kept */
	RS_KNOWN,		/* hinted, the stack knows the connection */
	RS_COOKIE,		/* hinted ACK completing a SYN cookie */
	RS_LAST_RESORT,		/* hint used already or unusable: kept */
	RS_FORWARDED,		/* unknown here: sent to the previous real */
	RS_NO_PEER,		/* previous real's MAC not known yet: dropped */
	RS_MAX,
};

/*
 * Why the program gave a packet its verdict: what a trace reports (see
 * xdp_iptunnel_trace.c). Where a reason counts an event, it says which.
 */
enum xdp_iptunnel_reason {
	WHY_TUNNELLED,		/* sent to a real (XDP_TX) */
	WHY_NOT_IP,		/* not IPv4 or IPv6 (ARP, VLAN, ...): passed */
	WHY_MALFORMED,		/* IP or L4 header short or inconsistent */
	WHY_EXT_HDR,		/* EV_EXT_HDR: passed */
	WHY_NOT_VIP,		/* no VIP on address and protocol: passed */
	WHY_NO_PORT,		/* no range of the VIP holds the port: passed */
	WHY_FRAGMENT,		/* EV_FRAGMENT: passed */
	WHY_NO_REAL,		/* EV_NO_REAL: dropped */
	WHY_TOO_BIG,		/* EV_TOO_BIG: ICMP error sent back, or dropped */
	WHY_NO_HEADROOM,	/* EV_ADJUST_HEAD: dropped */
	WHY_NO_CONFIG,		/* config_map unreadable: aborted */
	WHY_HINTED,		/* EV_HINT: sent, the previous real hinted */
	WHY_ICMP_FORWARDED,	/* an ICMP error sent to its flow's real */
	WHY_ICMP_MTU_LOW,	/* EV_ICMP_MTU_LOW: dropped */
	WHY_MAX,
};

/*
 * What a tracer asks for: trace_ctl[0]. The program traces while
 * bpf_ktime_get_ns() < expires_ns; the tracer pushes expires_ns forward
 * every second, so a tracer that dies stops costing anything soon after.
 * The filter's unset fields (family 0, port 0, verdicts 0) match all.
 */
struct trace_ctl {
	__u64 expires_ns;	/* CLOCK_MONOTONIC; 0: no trace */
	__u64 ns_per_record;	/* rate limit, per CPU */
	__u64 burst_ns;		/* how far ahead of its rate a CPU may go */
	__be32 vip[4];		/* the packet's destination */
	__be32 client[4];	/* the packet's source */
	__u8 vip_family;
	__u8 client_family;
	__u16 port;		/* source or destination port, host order */
	__u32 verdicts;		/* bits 1 << XDP_* */
};

/* Per CPU: the rate limit's token bucket and what did not reach the ring. */
struct trace_bucket {
	__u64 next_ns;		/* when this CPU's next record is due */
	__u64 limited;		/* records the rate limit dropped */
	__u64 lost;		/* records the full ring buffer dropped */
};

#define TRACE_F_VIP	0x1	/* a range matched: vip_id, port_min/max */
#define TRACE_F_REAL	0x2	/* a real was picked: real_id */
#define TRACE_F_SLOT	0x4	/* through its VIP's Maglev ring: slot */

/* One packet's decision, as the ring buffer carries it. */
struct trace_record {
	__u64 time_ns;		/* bpf_ktime_get_ns() */
	__be32 saddr[4];	/* the packet as received */
	__be32 daddr[4];
	__be32 outer_saddr[4];	/* the outer header written */
	__be32 outer_daddr[4];
	__u32 ifindex;
	__u32 len;		/* of the frame as received */
	__u32 vip_id;
	__u32 real_id;
	__u32 slot;
	__u16 sport;		/* host order; 0 when not read */
	__u16 dport;
	__u16 port_min;		/* of the range matched */
	__u16 port_max;
	__u8 verdict;		/* XDP_* */
	__u8 reason;		/* WHY_* */
	__u8 family;		/* 0: not parsed as IP */
	__u8 protocol;
	__u8 outer_family;	/* 0: no outer header */
	__u8 flags;		/* TRACE_F_* */
	__u16 pad;
};

#endif /* _XDP_IPTUNNEL_COMMON_H */
