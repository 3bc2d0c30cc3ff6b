// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel_real: the real server's half of xdp_iptunnel.
 *
 * A packet tunnelled to one of this host's addresses loses its outer
 * header here and goes up the stack as if it had arrived bare, as the
 * kernel's tunl0 / ip6tnl0 would do. Everything else passes untouched.
 *
 * When the director has just moved a TCP flow to this real (a real was
 * added, drained, reweighted, or came back after a failed health check),
 * its packets carry a hint: the real that owned the flow before (see
 * xdp_iptunnel_common.h). Such a packet is kept here when the stack knows
 * its connection (a socket, TIME_WAIT, a handshake in progress, a valid
 * SYN cookie) or when it opens one (SYN); otherwise it is sent on, once,
 * to the previous real, which holds the connection. An ICMP error about
 * the connection (a router's "too big" about an answer) carries the hint
 * too, and goes the same way, asked about by its quote. The director
 * keeps no per-flow state; the stack that owns the socket answers.
 *
 * Read it top-down: parse the outer header -> ours? -> hinted? -> known
 * here? -> decapsulate, or forward to the previous real (XDP_TX: the real
 * needs no IP forwarding). At the end, the same steps as a tc program for
 * a real whose kernel tunnel device decapsulates (xdp_iptunnel --real
 * --tc): both programs are in this object and share its maps.
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
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET		2
#define AF_INET6	10
#endif

#include "xdp_iptunnel_common.h"

#define IP_MF		0x2000
#define IP_OFFSET	0x1fff
#define ICMP_QUOTE_L4	8	/* of TCP in an ICMP error's quote: the ports */

/* The host's tunnel addresses, filled by the loader (xdp_iptunnel --real). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, REAL_ADDRS_MAX);
	__type(key, struct tunnel_addr);
	__type(value, __u8);
} local_addrs SEC(".maps");

/*
 * Previous reals' MAC addresses. A hint naming an address missing here
 * adds it unresolved; the loader resolves it (neighbour table) and fills
 * the MAC in. Until then such packets are dropped: TCP sends them again.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, REAL_PEERS_MAX);
	__type(key, struct tunnel_addr);
	__type(value, struct peer);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} real_events SEC(".maps");

/* What the outer header said. */
struct tunnel {
	struct tunnel_addr dst;	/* outer destination */
	__be16 inner_proto;	/* ethertype of the inner packet */
	__u8 hinted;
	__u8 hint_flags;
	struct tunnel_addr prev;	/* the hint's previous real */
};

static __always_inline void count(__u32 event)
{
	__u64 *n = bpf_map_lookup_elem(&real_events, &event);

	if (n)
		*n += 1;
}

/* ---- parse the outer header ------------------------------------------ */

/* The ethertype of what an IP-in-IP packet carries, or 0. */
static __always_inline __be16 inner_proto(__u8 protocol)
{
	if (protocol == IPPROTO_IPIP)
		return bpf_htons(ETH_P_IP);
	if (protocol == IPPROTO_IPV6)
		return bpf_htons(ETH_P_IPV6);
	return 0;
}

/* IHL 5, or 7 holding exactly the hint; not a fragment. */
static __always_inline int parse_outer_ipv4(struct tunnel *t, void *l3,
					    void *data_end)
{
	struct iphdr *iph = l3;
	struct hint4 *hint = (void *)(iph + 1);

	if ((void *)(iph + 1) > data_end)
		return -1;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return -1;
	if (iph->ihl == 7) {
		if ((void *)(hint + 1) > data_end ||
		    hint->type != HINT4_TYPE || hint->len != sizeof(*hint))
			return -1;
		t->hinted = 1;
		t->hint_flags = hint->flags;
		t->prev.family = AF_INET;
		t->prev.addr[0] = hint->addr;
	} else if (iph->ihl != 5) {
		return -1;
	}
	t->inner_proto = inner_proto(iph->protocol);
	t->dst.family = AF_INET;
	t->dst.addr[0] = iph->daddr;
	return 0;
}

/* Next header 4 or 41, or the hint's destination options, then 4 or 41. */
static __always_inline int parse_outer_ipv6(struct tunnel *t, void *l3,
					    void *data_end)
{
	struct ipv6hdr *ip6h = l3;
	struct hint6 *hint = (void *)(ip6h + 1);
	__u8 nexthdr;

	if ((void *)(ip6h + 1) > data_end)
		return -1;
	nexthdr = ip6h->nexthdr;
	if (nexthdr == IPPROTO_DSTOPTS) {
		if ((void *)(hint + 1) > data_end ||
		    hint->hdrlen != sizeof(*hint) / 8 - 1 ||
		    hint->type != HINT6_TYPE || hint->len != HINT6_OPT_LEN)
			return -1;
		t->hinted = 1;
		t->hint_flags = hint->flags;
		t->prev.family = AF_INET6;
		__builtin_memcpy(t->prev.addr, hint->addr, sizeof(hint->addr));
		nexthdr = hint->nexthdr;
	}
	t->inner_proto = inner_proto(nexthdr);
	t->dst.family = AF_INET6;
	__builtin_memcpy(t->dst.addr, &ip6h->daddr, sizeof(t->dst.addr));
	return 0;
}

static __always_inline int parse_outer(void *data, void *data_end,
				       struct tunnel *t)
{
	struct ethhdr *eth = data;
	int err = -1;

	if (data + sizeof(*eth) > data_end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		err = parse_outer_ipv4(t, data + sizeof(*eth), data_end);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		err = parse_outer_ipv6(t, data + sizeof(*eth), data_end);
	return err || !t->inner_proto ? -1 : 0;
}

/* The outer header and the hint: one of four constants, for the verifier */
static __always_inline int outer_len(const struct tunnel *t)
{
	if (t->dst.family == AF_INET)
		return t->hinted ? sizeof(struct iphdr) + sizeof(struct hint4) :
				   sizeof(struct iphdr);
	return t->hinted ? sizeof(struct ipv6hdr) + sizeof(struct hint6) :
			   sizeof(struct ipv6hdr);
}

/* ---- known here? ------------------------------------------------------ */

/*
 * A socket of the stack answers: a connection (established, closing,
 * TIME_WAIT) or a handshake in progress (a request socket). An unknown
 * 4-tuple finds the listener, if any: then only a valid SYN cookie in an
 * ACK (th, when a segment asks) makes it ours.
 */
static __always_inline int ask_stack(void *ctx,
				     struct bpf_sock_tuple *tuple, __u32 size,
				     void *iph, __u32 iph_len,
				     struct tcphdr *th)
{
	struct bpf_sock *sk;
	int event = RS_FORWARDED;

	sk = bpf_skc_lookup_tcp(ctx, tuple, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return RS_FORWARDED;
	if (sk->state != BPF_TCP_LISTEN)
		event = RS_KNOWN;
	else if (th && th->ack && !th->syn && !th->rst &&
		 !bpf_tcp_check_syncookie(sk, iph, iph_len, th, sizeof(*th)))
		event = RS_COOKIE;
	bpf_sk_release(sk);
	return event;
}

/*
 * The 4-tuple of TCP to this host from a plain IPv4 header (no options,
 * not a fragment) and the ports after it; its size, or 0. turned: the
 * header is that of a segment this host sent, quoted by an ICMP error
 * with 8 bytes of TCP: the 4-tuple is then that of its connection's
 * segments to this host.
 */
static __always_inline __u32 tcp_tuple4(struct iphdr *iph, void *data_end,
					int turned,
					struct bpf_sock_tuple *tuple)
{
	struct tcphdr *th = (void *)(iph + 1);

	if ((void *)th + (turned ? ICMP_QUOTE_L4 : sizeof(*th)) > data_end ||
	    iph->ihl != 5 || iph->protocol != IPPROTO_TCP ||
	    iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return 0;
	tuple->ipv4.saddr = turned ? iph->daddr : iph->saddr;
	tuple->ipv4.daddr = turned ? iph->saddr : iph->daddr;
	tuple->ipv4.sport = turned ? th->dest : th->source;
	tuple->ipv4.dport = turned ? th->source : th->dest;
	return sizeof(tuple->ipv4);
}

/* The same from an IPv6 header with TCP right after it. */
static __always_inline __u32 tcp_tuple6(struct ipv6hdr *ip6h, void *data_end,
					int turned,
					struct bpf_sock_tuple *tuple)
{
	struct tcphdr *th = (void *)(ip6h + 1);

	if ((void *)th + (turned ? ICMP_QUOTE_L4 : sizeof(*th)) > data_end ||
	    ip6h->nexthdr != IPPROTO_TCP)
		return 0;
	__builtin_memcpy(tuple->ipv6.saddr,
			 turned ? &ip6h->daddr : &ip6h->saddr, 16);
	__builtin_memcpy(tuple->ipv6.daddr,
			 turned ? &ip6h->saddr : &ip6h->daddr, 16);
	tuple->ipv6.sport = turned ? th->dest : th->source;
	tuple->ipv6.dport = turned ? th->source : th->dest;
	return sizeof(tuple->ipv6);
}

/*
 * An ICMP error a router sent the VIP about a segment of this host's
 * connection (the director tunnels it with the connection's hint): the
 * quoted IP header, or NULL. Unreachable (every code, "fragmentation
 * needed" among them) and time exceeded; ICMPv6 also packet too big.
 */
static __always_inline void *icmp_quote(void *inner, void *data_end,
					__be16 proto)
{
	struct icmphdr *icmp;
	struct iphdr *iph = inner;
	struct ipv6hdr *ip6h = inner;

	if (proto == bpf_htons(ETH_P_IP)) {
		icmp = (void *)(iph + 1);
		if ((void *)(icmp + 1) > data_end || iph->ihl != 5 ||
		    iph->protocol != IPPROTO_ICMP ||
		    iph->frag_off & bpf_htons(IP_MF | IP_OFFSET) ||
		    (icmp->type != ICMP_DEST_UNREACH &&
		     icmp->type != ICMP_TIME_EXCEEDED))
			return NULL;
		return icmp + 1;
	}
	icmp = (void *)(ip6h + 1);	/* the same 8 bytes in ICMPv6 */
	if ((void *)(icmp + 1) > data_end ||
	    ip6h->nexthdr != IPPROTO_ICMPV6 ||
	    (icmp->type != ICMPV6_DEST_UNREACH &&
	     icmp->type != ICMPV6_PKT_TOOBIG &&
	     icmp->type != ICMPV6_TIME_EXCEED))
		return NULL;
	return icmp + 1;
}

/*
 * What to do with a hinted packet: RS_SYN, RS_KNOWN, RS_COOKIE (kept),
 * RS_LAST_RESORT (kept: the hint was used, or names this host, or the
 * packet is not plain TCP, nor an ICMP error about it), or RS_FORWARDED
 * (send it to the previous real). The inner header must be plain: IPv4
 * without options, IPv6 with TCP (or ICMPv6) right after the fixed
 * header. An error goes where its connection is, as its segments do.
 */
static __always_inline int judge(void *ctx, void *data, void *data_end,
				 const struct tunnel *t)
{
	void *inner = data + sizeof(struct ethhdr) + outer_len(t), *quote;
	int v4 = t->inner_proto == bpf_htons(ETH_P_IP);
	struct bpf_sock_tuple tuple = {};
	__u32 size, iph_len;
	struct tcphdr *th;

	if (t->hint_flags & HINT_F_USED ||
	    bpf_map_lookup_elem(&local_addrs, &t->prev))
		return RS_LAST_RESORT;
	quote = icmp_quote(inner, data_end, t->inner_proto);
	if (quote) {
		size = v4 ? tcp_tuple4(quote, data_end, 1, &tuple) :
			    tcp_tuple6(quote, data_end, 1, &tuple);
		return size ? ask_stack(ctx, &tuple, size, NULL, 0, NULL) :
			      RS_LAST_RESORT;
	}
	size = v4 ? tcp_tuple4(inner, data_end, 0, &tuple) :
		    tcp_tuple6(inner, data_end, 0, &tuple);
	iph_len = v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	th = inner + iph_len;
	if (!size || (void *)(th + 1) > data_end)
		return RS_LAST_RESORT;
	if (th->syn && !th->ack)
		return RS_SYN;
	return ask_stack(ctx, &tuple, size, inner, iph_len, th);
}

/*
 * The steps both programs take: a frame tunnelled to this host, its
 * outer header in *t, gets the RS_* event of what to do with it (plain
 * when not hinted); anything else -1, to go on untouched.
 */
static __always_inline int classify(void *ctx, void *data, void *data_end,
				    struct tunnel *t)
{
	if (parse_outer(data, data_end, t) ||
	    !bpf_map_lookup_elem(&local_addrs, &t->dst))
		return -1;
	return t->hinted ? judge(ctx, data, data_end, t) : RS_PLAIN;
}

/* ---- decapsulate, or forward ------------------------------------------ */

static __always_inline int decapsulate(struct xdp_md *ctx,
				       const struct tunnel *t)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data, *moved;
	int len = outer_len(t);

	/* the Ethernet header moves up over the outer header */
	moved = data + len;
	if ((void *)(moved + 1) > data_end)
		return XDP_PASS;
	__builtin_memmove(moved, eth, 2 * ETH_ALEN);
	moved->h_proto = t->inner_proto;
	if (bpf_xdp_adjust_head(ctx, len))
		return XDP_DROP;
	return XDP_PASS;
}

/* Not csum_fold(): upstream's samples/bpf rules bring the kernel's in. */
static __always_inline __u16 rs_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum += sum >> 16;
	return ~sum;
}

/* Outer IPv4 with the hint: a new destination, TTL - 1, the hint used. */
static __always_inline int redirect_ipv4(struct iphdr *iph, void *data_end,
					 const struct tunnel *t)
{
	struct hint4 *hint = (void *)(iph + 1);
	__u16 *word = (__u16 *)iph;
	__u32 sum = 0;
	int i;

	if ((void *)(hint + 1) > data_end || iph->ttl <= 1)
		return -1;
	iph->daddr = t->prev.addr[0];
	iph->ttl--;
	hint->flags |= HINT_F_USED;
	iph->check = 0;
	for (i = 0; i < (int)(sizeof(*iph) + sizeof(*hint)) / 2; i++)
		sum += word[i];
	iph->check = rs_csum_fold(sum);
	return 0;
}

/* Outer IPv6 with the hint: a new destination, hop limit - 1, used. */
static __always_inline int redirect_ipv6(struct ipv6hdr *ip6h, void *data_end,
					 const struct tunnel *t)
{
	struct hint6 *hint = (void *)(ip6h + 1);

	if ((void *)(hint + 1) > data_end || ip6h->hop_limit <= 1)
		return -1;
	__builtin_memcpy(&ip6h->daddr, t->prev.addr, sizeof(ip6h->daddr));
	ip6h->hop_limit--;
	hint->flags |= HINT_F_USED;
	return 0;
}

/*
 * Once, to the previous real: same frame, outer destination and MACs
 * rewritten. The frame came to this host's MAC: it leaves from it.
 */
static __always_inline int forward(struct xdp_md *ctx, const struct tunnel *t)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct peer unresolved = {}, *peer;
	struct ethhdr *eth = data;
	int err;

	peer = bpf_map_lookup_elem(&peers, &t->prev);
	if (!peer || !peer->resolved) {
		bpf_map_update_elem(&peers, &t->prev, &unresolved,
				    BPF_NOEXIST);
		count(RS_NO_PEER);
		return XDP_DROP;
	}
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (t->dst.family == AF_INET)
		err = redirect_ipv4(data + sizeof(*eth), data_end, t);
	else
		err = redirect_ipv6(data + sizeof(*eth), data_end, t);
	if (err)
		return XDP_DROP;
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, peer->mac, ETH_ALEN);
	count(RS_FORWARDED);
	return XDP_TX;
}

SEC("xdp")
int xdp_iptunnel_real(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct tunnel t = {};
	int event = classify(ctx, data, data_end, &t);

	if (event < 0)
		return XDP_PASS;
	if (event == RS_FORWARDED)
		return forward(ctx, &t);
	count(event);
	return decapsulate(ctx, &t);
}

/* The peer of a veth that sends with native XDP_TX needs a program. */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/*
 * ---- the same check at tc ingress, for a kernel tunnel ------------------
 *
 * xdp_iptunnel --real --tc: on a real whose tunl0 / ip6tnl0 decapsulates,
 * the same steps from parse_outer() to judge() run at the uplink's tc
 * ingress (clsact). What they keep is left untouched: the tunnel device
 * removes the outer header and skips the hint. What they would forward
 * leaves from the uplink to the previous real; the kernel finds its MAC
 * (bpf_redirect_neigh(): a route and neighbour lookup, no IP forwarding,
 * no peers map).
 */

/*
 * The most judge() reads: Ethernet, IPv6 with the hint, then IPv6 and
 * TCP, or IPv6, ICMPv6 and its quote (IPv6, 8 bytes of TCP): the more.
 */
#define TC_HEADERS	(sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + \
			 sizeof(struct hint6) + sizeof(struct ipv6hdr) + \
			 sizeof(struct icmp6hdr) + sizeof(struct ipv6hdr) + \
			 ICMP_QUOTE_L4)

/*
 * Rewritten as forward() does, the MACs left to the kernel. The outer
 * header's words change: skb->csum follows them (CHECKSUM_COMPLETE).
 */
static __always_inline int forward_neigh(struct __sk_buff *skb,
					 const struct tunnel *t)
{
	void *data_end = (void *)(long)skb->data_end;
	void *outer = (void *)(long)skb->data + sizeof(struct ethhdr);
	int len = outer_len(t), err;
	__s64 sum;

	if (outer + len > data_end)
		return TC_ACT_SHOT;
	sum = bpf_csum_diff(outer, len, NULL, 0, 0);
	if (t->dst.family == AF_INET)
		err = redirect_ipv4(outer, data_end, t);
	else
		err = redirect_ipv6(outer, data_end, t);
	if (err)
		return TC_ACT_SHOT;
	bpf_csum_update(skb, bpf_csum_diff(NULL, 0, outer, len, sum));
	count(RS_FORWARDED);
	return bpf_redirect_neigh(skb->ifindex, NULL, 0, 0);
}

SEC("tc")
int xdp_iptunnel_real_tc(struct __sk_buff *skb)
{
	__u32 len = skb->len < TC_HEADERS ? skb->len : TC_HEADERS;
	void *data_end, *data;
	struct tunnel t = {};
	int event;

	/* the headers in the linear part: pulled only when they are not */
	if ((void *)(long)skb->data + len > (void *)(long)skb->data_end &&
	    bpf_skb_pull_data(skb, len))
		return TC_ACT_OK;
	data_end = (void *)(long)skb->data_end;
	data = (void *)(long)skb->data;
	event = classify(skb, data, data_end, &t);
	if (event < 0)
		return TC_ACT_OK;
	if (event == RS_FORWARDED)
		return forward_neigh(skb, &t);
	count(event);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
