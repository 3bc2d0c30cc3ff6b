// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of xdp_iptunnel_real_kern.o, the real server's programs, with
 * the stack's own sockets: the XDP one, then the tc one (--real --tc),
 * which leaves what it keeps to the kernel's tunnel device untouched and
 * sends what it forwards with bpf_redirect_neigh(), MACs unchanged.
 *
 * The test moves into a network namespace of its own (unshare: it goes
 * away with the process), puts the VIPs and the clients on lo, opens
 * listeners and connections there, and runs hand-built tunnelled frames
 * through the program with BPF_PROG_TEST_RUN, which asks that namespace's
 * stack. Each case checks the verdict, the frame out byte for byte
 * (decapsulated or untouched, or forwarded to the previous real) and the
 * real_events counters. Half-open handshakes and SYN cookies come from raw SYNs of a
 * client address routed back into lo, whose SYN-ACK is read on lo.
 *
 * Usage: test_real [xdp_iptunnel_real_kern.o]   (root)
 * Prints "ok N - name" or "not ok N - name: why" per case, then a summary.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "../xdp_iptunnel_common.h"
#include "unit.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FRAME_MAX	512
#define TTL		64
#define SYN		0x02
#define RST		0x04
#define ACK		0x10

#define VIP4		"192.0.2.33"
#define VIP6		"2001:db8::33"
#define CLIENT4		"198.51.100.7"	/* on lo: connects */
#define CLIENT6		"2001:db8:c::7"
#define HALF4		"198.51.100.99"	/* routed into lo: raw SYNs */
#define DIRECTOR4	"203.0.113.10"
#define DIRECTOR6	"2001:db8:1::10"
#define SELF4		"203.0.113.1"	/* this real's tunnel address */
#define SELF6		"2001:db8:1::1"
#define PREV4		"203.0.113.2"	/* the previous real, a known peer */
#define PREV6		"2001:db8:1::2"
#define STRANGER4	"203.0.113.3"	/* a previous real without a MAC */
#define ROUTER4		"192.0.2.254"	/* sends ICMP errors to the VIP */
#define ROUTER6		"2001:db8:2::1"

static const __u8 self_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0xe1, 0x01 };
static const __u8 director_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0xd1, 0x01 };
static const __u8 prev_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0xe1, 0x02 };

static const char *const event_names[RS_MAX] = {
	"RS_PLAIN", "RS_SYN", "RS_KNOWN", "RS_COOKIE", "RS_LAST_RESORT",
	"RS_FORWARDED", "RS_NO_PEER",
};

/* A program under test: its verdicts, and what it does to a frame. */
struct prog {
	const char *prefix;	/* of the cases' names */
	int fd;
	__u32 keep, forward, drop;
	int decapsulates;	/* else kept frames leave untouched */
	int sets_macs;		/* else the kernel does, at the redirect */
	__u16 half_port;	/* HALF4's first port: each program its own */
};

static const struct prog *prog;
static int events_fd, peers_fd, ncpus;

/* ---- frames ----------------------------------------------------------- */

struct frame {
	__u8 b[FRAME_MAX];
	unsigned int len;
};

#include "frame.h"	/* its writers and checksums */

/*
 * A TCP segment of an inner flow: what the client sent to the VIP; or,
 * with icmp_error, a router's error to the VIP about the real's answer on
 * that connection.
 */
struct segment {
	const char *src, *dst;
	__u16 sport, dport;
	__u8 flags;
	__u32 seq, ack;
	int icmp_error;
};

/* How the director tunnelled it: outer family, hint and its flags. */
struct outer {
	int v6;
	const char *hint;	/* NULL: no hint */
	__u8 hint_flags;
	__u8 ttl;		/* 0: TTL */
};

/* The inner packet's length: IP and TCP, or IP, ICMP and the quote. */
static unsigned int inner_len(const struct segment *s)
{
	unsigned int ip = is_ipv6(s->dst) ? 40 : 20;

	return s->icmp_error ? ip + 8 + ip + 8 : ip + 20;
}

/*
 * "Fragmentation needed" / "packet too big", MTU 1400, from ROUTER to the
 * VIP, quoting the real's answer on s's connection: its IP header and the
 * first 8 bytes of TCP (ports, sequence number).
 */
static void put_icmp_error(struct frame *f, const struct segment *s)
{
	int v6 = is_ipv6(s->dst);
	unsigned int ip = f->len, icmp, quote;
	__u32 sum;

	if (v6) {
		put32(f, 6U << 28);
		put16(f, inner_len(s) - 40);
		put8(f, IPPROTO_ICMPV6);
		put8(f, 63);
		put_addr(f, ROUTER6);
	} else {
		put8(f, 0x45);
		put8(f, 0);
		put16(f, inner_len(s));
		put16(f, 2);
		put16(f, 0);
		put8(f, 63);
		put8(f, IPPROTO_ICMP);
		put16(f, 0);
		put_addr(f, ROUTER4);
	}
	put_addr(f, s->dst);
	if (!v6)
		ipv4_csum(f, ip);
	icmp = f->len;
	put8(f, v6 ? 2 : 3);		/* too big; unreachable */
	put8(f, v6 ? 0 : 4);		/* -; fragmentation needed */
	put16(f, 0);
	put32(f, 1400);
	quote = f->len;
	if (v6) {
		put32(f, 6U << 28);
		put16(f, 1400 - 40);
		put8(f, IPPROTO_TCP);
		put8(f, 64);
	} else {
		put8(f, 0x45);
		put8(f, 0);
		put16(f, 1400);
		put16(f, 3);
		put16(f, 0x4000);
		put8(f, 64);
		put8(f, IPPROTO_TCP);
		put16(f, 0);
	}
	put_addr(f, s->dst);		/* from the VIP, to the client */
	put_addr(f, s->src);
	if (!v6)
		ipv4_csum(f, quote);
	put16(f, s->dport);
	put16(f, s->sport);
	put32(f, s->ack);
	sum = v6 ? sum_words(f->b + ip + 8, 32,
			     IPPROTO_ICMPV6 + f->len - icmp) : 0;
	set16(f, icmp + 2, ~fold(sum_words(f->b + icmp, f->len - icmp, sum)));
}

/* The inner IPv4/IPv6 + TCP packet, with valid checksums. */
static void put_segment(struct frame *f, const struct segment *s)
{
	int v6 = is_ipv6(s->dst);
	unsigned int ip = f->len, tcp;
	__u32 sum;

	if (s->icmp_error) {
		put_icmp_error(f, s);
		return;
	}
	if (v6) {
		put32(f, 6U << 28);
		put16(f, 20);
		put8(f, IPPROTO_TCP);
		put8(f, 63);
	} else {
		put8(f, 0x45);
		put8(f, 0);
		put16(f, 40);
		put16(f, 1);
		put16(f, 0x4000);
		put8(f, 63);
		put8(f, IPPROTO_TCP);
		put16(f, 0);
	}
	put_addr(f, s->src);
	put_addr(f, s->dst);
	if (!v6)
		ipv4_csum(f, ip);
	tcp = f->len;
	put16(f, s->sport);
	put16(f, s->dport);
	put32(f, s->seq);
	put32(f, s->ack);
	put8(f, 5 << 4);
	put8(f, s->flags);
	put16(f, 65535);
	put16(f, 0);
	put16(f, 0);
	/* pseudo header: addresses, protocol, length */
	sum = sum_words(f->b + (v6 ? ip + 8 : ip + 12), v6 ? 32 : 8,
			IPPROTO_TCP + 20);
	set16(f, tcp + 16, ~fold(sum_words(f->b + tcp, 20, sum)));
}

/* The frame the director sends: Ethernet, outer header, hint, segment. */
static void tunnelled(struct frame *f, const struct segment *s,
		      const struct outer *o, const char *to)
{
	__u8 proto = is_ipv6(s->dst) ? IPPROTO_IPV6 : IPPROTO_IPIP;
	unsigned int ip, inner = inner_len(s);

	memset(f, 0, sizeof(*f));
	put(f, self_mac, ETH_ALEN);
	put(f, director_mac, ETH_ALEN);
	ip = f->len + 2;
	if (o->v6) {
		put16(f, ETH_P_IPV6);
		put32(f, 6U << 28);
		put16(f, inner + (o->hint ? 24 : 0));
		put8(f, o->hint ? IPPROTO_DSTOPTS : proto);
		put8(f, o->ttl ? o->ttl : TTL);
		put_addr(f, DIRECTOR6);
		put_addr(f, to ? to : SELF6);
		if (o->hint) {
			put8(f, proto);
			put8(f, 2);
			put8(f, 0x3e);
			put8(f, 18);
			put8(f, o->hint_flags);
			put8(f, 0);
			put_addr(f, o->hint);
			put8(f, 1);
			put8(f, 0);
		}
	} else {
		put16(f, ETH_P_IP);
		put8(f, o->hint ? 0x47 : 0x45);
		put8(f, 0);
		put16(f, inner + (o->hint ? 28 : 20));
		put16(f, 0);
		put16(f, 0x4000);
		put8(f, o->ttl ? o->ttl : TTL);
		put8(f, proto);
		put16(f, 0);
		put_addr(f, DIRECTOR4);
		put_addr(f, to ? to : SELF4);
		if (o->hint) {
			put8(f, 0x9e);
			put8(f, 8);
			put8(f, o->hint_flags);
			put8(f, 0);
			put_addr(f, o->hint);
		}
		ipv4_csum(f, ip);
	}
	put_segment(f, s);
}

/* What goes up the stack: the same MACs, the inner packet. */
static void decapsulated(struct frame *f, const struct segment *s)
{
	memset(f, 0, sizeof(*f));
	put(f, self_mac, ETH_ALEN);
	put(f, director_mac, ETH_ALEN);
	put16(f, is_ipv6(s->dst) ? ETH_P_IPV6 : ETH_P_IP);
	put_segment(f, s);
}

/*
 * What goes to the previous real: from this real's MAC to the peer's (the
 * XDP program's; the tc one leaves them to the kernel), the outer
 * destination the previous real, TTL - 1, the hint marked used.
 */
static void forwarded(struct frame *f, const struct segment *s,
		      const struct outer *o)
{
	struct outer used = *o;
	unsigned int ip = 2 * ETH_ALEN + 2;

	used.hint_flags |= HINT_F_USED;
	tunnelled(f, s, &used, o->hint);
	if (prog->sets_macs) {
		memcpy(f->b, prev_mac, ETH_ALEN);
		memcpy(f->b + ETH_ALEN, self_mac, ETH_ALEN);
	}
	if (o->v6) {
		f->b[ip + 7] = TTL - 1;
		return;
	}
	f->b[ip + 8] = TTL - 1;
	ipv4_csum(f, ip);
}

/* ---- running the program ---------------------------------------------- */

static void read_events(__u64 *ev)
{
	__u64 v[ncpus];
	__u32 i;
	int c;

	for (i = 0; i < RS_MAX; i++) {
		if (bpf_map_lookup_elem(events_fd, &i, v))
			die("bpf_map_lookup_elem(real_events)");
		for (ev[i] = 0, c = 0; c < ncpus; c++)
			ev[i] += v[c];
	}
}

/* The case's name after the program's prefix */
static void report_case(const char *name)
{
	char full[160];

	snprintf(full, sizeof(full), "%s%s", prog->prefix, name);
	report(full);
}

/* Run in; want action, the frame out (NULL: in unchanged), event (-1: none) */
static void run(const char *name, const struct frame *in, __u32 action,
		const struct frame *out, int event)
{
	__u64 before[RS_MAX], after[RS_MAX];
	struct frame got = {};
	struct bpf_test_run_opts opts = {
		.sz = sizeof(opts),
		.data_in = in->b,
		.data_size_in = in->len,
		.data_out = got.b,
		.data_size_out = sizeof(got.b),
		.repeat = 1,
	};
	unsigned int i;
	int err;

	if (!out)
		out = in;
	read_events(before);
	err = bpf_prog_test_run_opts(prog->fd, &opts);
	read_events(after);
	if (err) {
		fail("BPF_PROG_TEST_RUN: %s", strerror(-err));
	} else if (opts.retval != action) {
		fail("verdict %u, want %u", opts.retval, action);
	} else if (action != prog->drop) {
		if (opts.data_size_out != out->len)
			fail("frame of %u bytes, want %u",
			     opts.data_size_out, out->len);
		for (i = 0; i < out->len && !why[0]; i++)
			if (got.b[i] != out->b[i])
				fail("byte %u is %#x, want %#x", i, got.b[i],
				     out->b[i]);
	}
	for (i = 0; i < RS_MAX; i++)
		if (after[i] - before[i] != (__u64)(event == (int)i))
			fail("%s +%llu, want +%d", event_names[i],
			     after[i] - before[i], event == (int)i);
	report_case(name);
}

static void kept(const char *name, const struct segment *s,
		 const struct outer *o, int event)
{
	struct frame in, out;

	tunnelled(&in, s, o, NULL);
	if (prog->decapsulates)
		decapsulated(&out, s);
	else
		out = in;
	run(name, &in, prog->keep, &out, event);
}

static void sent_on(const char *name, const struct segment *s,
		    const struct outer *o)
{
	struct frame in, out;

	tunnelled(&in, s, o, NULL);
	forwarded(&out, s, o);
	run(name, &in, prog->forward, &out, RS_FORWARDED);
}

/* ---- the stack's side ------------------------------------------------- */

static void sh(const char *cmd)
{
	if (system(cmd))
		die(cmd);
}

static void set_syncookies(int mode)
{
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_syncookies", "w");

	if (!f || fprintf(f, "%d\n", mode) < 0 || fclose(f))
		die("tcp_syncookies");
}

static socklen_t sockaddr(const char *addr, __u16 port,
			  struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (void *)ss;
	struct sockaddr_in *s4 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (is_ipv6(addr)) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		return sizeof(*s6);
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	inet_pton(AF_INET, addr, &s4->sin_addr);
	return sizeof(*s4);
}

static int listener(const char *addr, __u16 port)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr(addr, port, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one)) ||
	    bind(fd, (void *)&ss, len) || listen(fd, 16))
		die("listener");
	return fd;
}

/* A connection from addr to vip:port; its client port in *sport. */
static int connect_from(const char *addr, const char *vip, __u16 port,
			__u16 *sport)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr(addr, 0, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (void *)&ss, len))
		die("client bind");
	len = sockaddr(vip, port, &ss);
	if (connect(fd, (void *)&ss, len))
		die("connect");
	len = sizeof(ss);
	if (getsockname(fd, (void *)&ss, &len))
		die("getsockname");
	*sport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/*
 * A SYN from HALF4:sport to VIP4:port sent raw; HALF4 is routed into lo
 * and is not local, so the answer is read on lo and nothing completes the
 * handshake. Returns the SYN-ACK's sequence number.
 */
static __u32 half_open(__u16 sport, __u16 port)
{
	struct segment syn = { HALF4, VIP4, sport, port, SYN, 1000, 0, 0 };
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_ifindex = if_nametoindex("lo"),
	};
	struct timeval tv = { .tv_sec = 2 };
	struct sockaddr_storage ss;
	struct frame f = {};
	__u8 buf[256];
	int raw, cap, n;

	cap = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	if (cap < 0 || bind(cap, (void *)&ll, sizeof(ll)) ||
	    setsockopt(cap, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		die("packet socket on lo");
	raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (raw < 0)
		die("raw socket");
	put_segment(&f, &syn);
	if (sendto(raw, f.b, f.len, 0, (void *)&ss,
		   sockaddr(VIP4, 0, &ss)) < 0)
		die("sendto(SYN)");
	close(raw);
	for (;;) {
		n = recv(cap, buf, sizeof(buf), 0);
		if (n < 0)
			die("no SYN-ACK on lo");
		/* IPv4 from the VIP to HALF4:sport, SYN and ACK */
		if (n >= 40 && buf[9] == IPPROTO_TCP &&
		    !memcmp(buf + 12, f.b + 16, 4) &&
		    (buf[20] << 8 | buf[21]) == port &&
		    (buf[22] << 8 | buf[23]) == sport &&
		    buf[33] == (SYN | ACK))
			break;
	}
	close(cap);
	return (__u32)buf[24] << 24 | buf[25] << 16 | buf[26] << 8 | buf[27];
}

/* ---- the cases -------------------------------------------------------- */

static const struct outer plain4 = { 0, NULL, 0, 0 };
static const struct outer hint4 = { 0, PREV4, 0, 0 };
static const struct outer hint6 = { 1, PREV6, 0, 0 };

static void test_states(void)
{
	int lfd = listener(VIP4, 80), lfd6 = listener(VIP6, 80), cfd, afd;
	struct segment s = { CLIENT4, VIP4, 0, 80, ACK, 1, 1, 0 };
	__u32 cookie;

	cfd = connect_from(CLIENT4, VIP4, 80, &s.sport);
	kept("established IPv4 connection, hinted: known, kept", &s, &hint4,
	     RS_KNOWN);
	kept("established, hinted in an IPv6 outer header (4in6): kept", &s,
	     &hint6, RS_KNOWN);
	s.icmp_error = 1;
	kept("ICMP frag needed about it, hinted: known by its quote, kept",
	     &s, &hint4, RS_KNOWN);
	s.icmp_error = 0;
	afd = accept(lfd, NULL, NULL);
	close(afd);		/* the server closes first: TIME_WAIT */
	close(cfd);
	usleep(200000);
	kept("TIME_WAIT, hinted: known, kept", &s, &hint4, RS_KNOWN);

	s.sport++;
	sent_on("no socket, hinted: forwarded to the previous real", &s,
		&hint4);
	s.icmp_error = 1;
	sent_on("ICMP frag needed about no socket here, hinted: forwarded",
		&s, &hint4);
	s.icmp_error = 0;
	sent_on("no socket, hinted in IPv6 (4in6): forwarded", &s, &hint6);
	kept("no socket, no hint: kept as before", &s, &plain4,
	     RS_PLAIN);
	s.dport = 9;		/* no listener either */
	sent_on("no listener, hinted: forwarded", &s, &hint4);
	s.dport = 80;
	s.flags = SYN;
	kept("SYN, hinted: a new connection, kept", &s, &hint4, RS_SYN);

	s = (struct segment){ CLIENT6, VIP6, 0, 80, ACK, 1, 1, 0 };
	cfd = connect_from(CLIENT6, VIP6, 80, &s.sport);
	kept("established IPv6 connection, hinted (6in6): kept", &s, &hint6,
	     RS_KNOWN);
	s.icmp_error = 1;
	kept("ICMPv6 too big about it, hinted: known by its quote, kept", &s,
	     &hint6, RS_KNOWN);
	s.sport++;
	sent_on("ICMPv6 too big about no socket here, hinted: forwarded", &s,
		&hint6);
	s.icmp_error = 0;
	sent_on("IPv6, no socket, hinted (6in6): forwarded", &s, &hint6);
	sent_on("IPv6, no socket, hinted in IPv4 (6in4): forwarded", &s,
		&hint4);
	close(cfd);

	/* a handshake the client never completes: a request socket */
	set_syncookies(1);
	s = (struct segment){ HALF4, VIP4, prog->half_port, 80, ACK, 1001, 0, 0 };
	s.ack = half_open(s.sport, 80) + 1;
	kept("handshake in progress, hinted: known, kept", &s, &hint4,
	     RS_KNOWN);

	/* tcp_syncookies=2: every SYN answered with a cookie, no state */
	set_syncookies(2);
	s.sport = prog->half_port + 1;
	cookie = half_open(s.sport, 80);
	s.ack = cookie + 1;
	kept("ACK with a valid SYN cookie, hinted: kept", &s, &hint4,
	     RS_COOKIE);
	s.ack = cookie + 1 + (1U << 24);	/* another minute's counter */
	sent_on("ACK with a wrong SYN cookie, hinted: forwarded", &s, &hint4);
	set_syncookies(1);
	close(lfd);
	close(lfd6);
}

static void test_hints(void)
{
	struct segment s = { CLIENT4, VIP4, 42000, 80, ACK, 1, 1, 0 };
	struct outer o = hint4;
	struct tunnel_addr key = { .family = AF_INET };
	struct peer peer;
	struct frame in;

	o.hint_flags = HINT_F_USED;
	kept("a used hint: never a second hop, kept (last resort)", &s, &o,
	     RS_LAST_RESORT);
	o = (struct outer){ 0, SELF4, 0, 0 };
	kept("a hint naming this real: kept (last resort)", &s, &o,
	     RS_LAST_RESORT);
	o = (struct outer){ 0, PREV4, 0, 1 };
	tunnelled(&in, &s, &o, NULL);
	run("no socket, hinted, TTL 1: dropped", &in, prog->drop, NULL, -1);
	o = (struct outer){ 1, PREV6, 0, 1 };
	tunnelled(&in, &s, &o, NULL);
	run("no socket, hinted, hop limit 1: dropped", &in, prog->drop, NULL,
	    -1);

	o = (struct outer){ 0, STRANGER4, 0, 0 };
	if (!prog->sets_macs) {
		sent_on("a previous real this host has not met: forwarded",
			&s, &o);
	} else {
		tunnelled(&in, &s, &o, NULL);
		run("a previous real without a MAC: dropped, RS_NO_PEER", &in,
		    XDP_DROP, NULL, RS_NO_PEER);
		inet_pton(AF_INET, STRANGER4, key.addr);
		if (bpf_map_lookup_elem(peers_fd, &key, &peer) ||
		    peer.resolved)
			fail("peers has no unresolved entry for " STRANGER4);
		report_case("... and left in peers, unresolved, for the loader");
	}

	tunnelled(&in, &s, &hint4, "203.0.113.50");
	run("a tunnel to another address: untouched", &in, prog->keep, NULL,
	    -1);
	tunnelled(&in, &s, &plain4, NULL);
	in.b[12 + 2 + 9] = IPPROTO_GRE;
	run("not IP in IP: untouched", &in, prog->keep, NULL, -1);
}

/* ---- setup ------------------------------------------------------------ */

static void add_addr(int fd, const char *s, const void *value)
{
	struct tunnel_addr key = {};

	key.family = is_ipv6(s) ? AF_INET6 : AF_INET;
	inet_pton(key.family, s, key.addr);
	if (bpf_map_update_elem(fd, &key, value, BPF_ANY))
		die("bpf_map_update_elem");
}

static struct bpf_object *setup(const char *path, int *xdp_fd)
{
	struct peer prev = { .resolved = 1 };
	struct bpf_object *obj;
	__u8 yes = 1;
	int local_fd;

	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET)");
	sh("ip link set lo up");
	sh("ip addr add " VIP4 "/32 dev lo");
	sh("ip addr add " CLIENT4 "/32 dev lo");
	sh("ip addr add " VIP6 "/128 dev lo nodad");
	sh("ip addr add " CLIENT6 "/128 dev lo nodad");
	sh("ip route add " HALF4 "/32 dev lo");
	obj = load(path, "xdp_iptunnel_real", xdp_fd);
	events_fd = map_fd(obj, "real_events");
	peers_fd = map_fd(obj, "peers");
	local_fd = map_fd(obj, "local_addrs");
	add_addr(local_fd, SELF4, &yes);
	add_addr(local_fd, SELF6, &yes);
	memcpy(prev.mac, prev_mac, ETH_ALEN);
	add_addr(peers_fd, PREV4, &prev);
	add_addr(peers_fd, PREV6, &prev);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		die("libbpf_num_possible_cpus");
	return obj;
}

int main(int argc, char **argv)
{
	struct prog progs[] = {
		{ "", -1, XDP_PASS, XDP_TX, XDP_DROP, 1, 1, 41000 },
		{ "tc: ", -1, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, 0, 0,
		  41100 },
	};
	struct bpf_program *tc;
	char path[PATH_MAX];
	struct bpf_object *obj;
	size_t i;

	object_path(path, sizeof(path), argc, argv, "xdp_iptunnel_real_kern.o");
	obj = setup(path, &progs[0].fd);
	tc = bpf_object__find_program_by_name(obj, "xdp_iptunnel_real_tc");
	if (!tc)
		die("program xdp_iptunnel_real_tc");
	progs[1].fd = bpf_program__fd(tc);
	for (i = 0; i < ARRAY_SIZE(progs); i++) {
		prog = &progs[i];
		test_states();
		test_hints();
	}
	summary();
	bpf_object__close(obj);
	return failed ? 1 : 0;
}
