// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_datapath: random and mutated frames through xdp_iptunnel_kern.o
 * with BPF_PROG_TEST_RUN, checking properties that hold for any input:
 *
 *  - the program never returns XDP_ABORTED;
 *  - XDP_PASS leaves the frame byte for byte as it was;
 *  - XDP_DROP happens only with an event counted (too big, no real);
 *  - XDP_TX is either a tunnelled frame or an ICMP error to the sender.
 *    Tunnelled: the inner packet is the received one minus its Ethernet
 *    header, byte for byte, addressed to a configured VIP with its
 *    protocol; the outer header is one of a configured real's, with
 *    lengths that add up, protocol 4 or 41 by the inner family, TTL 64
 *    and a valid IPv4 checksum. An ICMP error comes from the VIP, back
 *    to the sender's MAC, and quotes the received packet's first bytes.
 *
 *	fuzz_datapath [-n FRAMES] [-s SEED] [OBJECT]
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

#define FRAME_MAX	1600
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const vip_addrs[] = {
	"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2",
};

static const __u8 smac[ETH_ALEN] = { 2, 0, 0, 0, 0, 0x10 };
static const __u8 rmac[ETH_ALEN] = { 2, 0, 0, 0, 0, 0x11 };
static struct real reals_conf[4];
static int prog_fd, events_fd, nr_cpus;
static unsigned long tried, violations, by_action[5];
static __u32 rnd_state;

static __u32 rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_datapath: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void addr(const char *s, void *out)
{
	memset(out, 0, 16);
	if (inet_pton(strchr(s, ':') ? AF_INET6 : AF_INET, s, out) != 1)
		die(s);
}

static void configure(struct bpf_object *obj)
{
	struct config cfg = { .mtu = 1500 };
	int vips = bpf_object__find_map_fd_by_name(obj, "vip_map");
	int reals = bpf_object__find_map_fd_by_name(obj, "reals");
	int rings = bpf_object__find_map_fd_by_name(obj, "vip_rings");
	static __u32 keys[MAGLEV_RING_SIZE], vals[MAGLEV_RING_SIZE];
	__u32 zero = 0, i, n = MAGLEV_RING_SIZE, id;
	int ring;

	memcpy(cfg.smac, smac, ETH_ALEN);
	if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj,
								"config_map"),
				&zero, &cfg, 0))
		die("config_map");
	for (id = 0; id < 4; id++) {
		struct real *r = &reals_conf[id];

		r->family = id < 2 ? AF_INET : AF_INET6;
		addr(id < 2 ? "192.0.2.10" : "2001:db8::10", r->saddr);
		addr(id == 0 ? "192.0.2.11" : id == 1 ? "192.0.2.12" :
		     id == 2 ? "2001:db8::11" : "2001:db8::12", r->daddr);
		memcpy(r->dmac, rmac, ETH_ALEN);
		if (bpf_map_update_elem(reals, &id, r, 0))
			die("reals");
	}
	ring = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ring", 4, 4,
			      MAGLEV_RING_SIZE, NULL);
	for (i = 0; i < MAGLEV_RING_SIZE; i++) {
		keys[i] = i;
		vals[i] = i % 4;
	}
	id = 1;
	if (ring < 0 || bpf_map_update_batch(ring, keys, vals, &n, NULL) ||
	    bpf_map_update_elem(rings, &id, &ring, 0))
		die("vip_rings");

	/* per VIP: TCP 80-90 and 443, UDP 1-65535, and ICMP/ICMPv6 */
	for (i = 0; i < ARRAY_SIZE(vip_addrs); i++) {
		struct vip_key key = {};
		struct vip_value v = {};
		int v6 = !!strchr(vip_addrs[i], ':');

		addr(vip_addrs[i], key.addr);
		key.family = v6 ? AF_INET6 : AF_INET;
		key.protocol = IPPROTO_TCP;
		v.nr_ranges = 2;
		v.range[0] = (struct vip_range){ 80, 90, 0, i % 4, 0 };
		v.range[1] = (struct vip_range){ 443, 443, 1, 0, VIP_F_RING };
		if (bpf_map_update_elem(vips, &key, &v, 0))
			die("vip_map");
		key.protocol = IPPROTO_UDP;
		v.nr_ranges = 1;
		v.range[0] = (struct vip_range){ 1, 65535, 2, (i + 1) % 4, 0 };
		if (bpf_map_update_elem(vips, &key, &v, 0))
			die("vip_map");
		key.protocol = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
		v.range[0] = (struct vip_range){ 0, 0, 3, (i + 2) % 4, 0 };
		if (bpf_map_update_elem(vips, &key, &v, 0))
			die("vip_map");
	}
}

static __u64 events_total(void)
{
	__u64 v[256], sum = 0;
	__u32 e;
	int c;

	for (e = 0; e < EV_MAX; e++) {
		if (bpf_map_lookup_elem(events_fd, &e, v))
			die("events");
		for (c = 0; c < nr_cpus; c++)
			sum += v[c];
	}
	return sum;
}

/* A plausible frame to or around a VIP, before mutation */
static int make_frame(__u8 *f)
{
	static const __u8 protos[] = { 6, 17, 1, 58, 47 };
	static const __u16 ports[] = { 80, 85, 90, 91, 443, 53, 0 };
	static const __u8 ext_types[] = { 0, 43, 60, 44 };
	int v6 = rnd() % 2, len, l4, i, ext = 0;
	__u8 proto = protos[rnd() % ARRAY_SIZE(protos)];
	const char *dst = vip_addrs[rnd() % ARRAY_SIZE(vip_addrs)];
	__u16 dport = ports[rnd() % ARRAY_SIZE(ports)];
	int payload = rnd() % 64;

	if (!!strchr(dst, ':') != v6)
		dst = v6 ? "2001:db8::99" : "192.0.2.99";
	memset(f, 0, FRAME_MAX);
	memcpy(f, "\x02\x00\x00\x00\x00\x10\x02\x00\x00\x00\x00\x01", 12);
	if (v6) {
		f[12] = 0x86;
		f[13] = 0xdd;
		f[14] = 0x60 | (rnd() % 16);
		f[15] = rnd();
		f[20] = proto;
		f[21] = 64;
		addr("2001:db8:c::1", f + 22);
		addr(dst, f + 38);
		l4 = 54;
		for (ext = rnd() % 4; ext > 0; ext--) {
			__u8 type = ext_types[rnd() % ARRAY_SIZE(ext_types)];

			f[l4] = f[20];
			f[20] = type;
			if (type == 44 && rnd() % 2)
				f[l4 + 3] = rnd();	/* offset and M */
			l4 += 8;
		}
	} else {
		int opts = rnd() % 3 ? 0 : 4 * (rnd() % 3);

		f[12] = 0x08;
		f[14] = 0x45 + opts / 4;
		f[15] = rnd();
		f[18] = rnd();
		f[20] = rnd() % 4 ? 0x40 : rnd();	/* DF, or flags+offset */
		f[21] = rnd() % 4 ? 0 : rnd();
		f[22] = 64;
		f[23] = proto;
		addr("198.51.100.1", f + 26);
		addr(dst, f + 30);
		for (i = 0; i < opts; i++)
			f[34 + i] = 1;		/* NOP options */
		l4 = 34 + opts;
	}
	f[l4] = rnd();
	f[l4 + 1] = rnd();
	f[l4 + 2] = dport >> 8;
	f[l4 + 3] = dport;
	len = l4 + (proto == 6 ? 20 : 8) + payload;
	if (rnd() % 50 == 0)
		len += 1400;			/* over the MTU once tunnelled */
	if (v6) {
		f[18] = (len - 54) >> 8;
		f[19] = len - 54;
	} else {
		f[16] = (len - 14) >> 8;
		f[17] = len - 14;
	}
	return len;
}

static void mutate(__u8 *f, int *len)
{
	int n = rnd() % 4, i;

	if (rnd() % 3 == 0)
		*len = rnd() % (*len + 1);		/* truncate */
	for (i = 0; i < n && *len; i++)
		f[rnd() % *len] ^= 1 << (rnd() % 8);	/* flip bits */
	if (rnd() % 8 == 0) {				/* VLAN tag */
		memmove(f + 16, f + 12, *len - 12 < FRAME_MAX - 16 ?
			*len - 12 : FRAME_MAX - 16);
		f[12] = 0x81;
		f[13] = 0;
		*len += 4;
	}
	if (rnd() % 20 == 0)
		for (i = 0; i < *len; i++)
			f[i] = rnd();			/* noise */
}

static __u16 sum16(const __u8 *p, int n)
{
	__u32 s = 0;
	int i;

	for (i = 0; i + 1 < n; i += 2)
		s += p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

static int is_vip(const __u8 *a, int v6)
{
	__u8 b[16];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vip_addrs); i++) {
		addr(vip_addrs[i], b);
		if (!memcmp(a, b, v6 ? 16 : 4) && !!strchr(vip_addrs[i], ':') == v6)
			return 1;
	}
	return 0;
}

/*
 * Where the inner protocol and port can be read directly (IPv4 that is
 * not a fragment, IPv6 without extension headers), they must be one of
 * a configured service's: TCP 80-90 or 443, UDP any, ICMP/ICMPv6.
 */
static const char *check_service(const __u8 *in)
{
	int i6 = in[12] == 0x86, l4;
	__u8 proto;
	__u16 port;

	if (i6) {
		proto = in[20];
		l4 = 54;
	} else {
		if ((in[20] & 0x3f) || in[21])
			return NULL;		/* a fragment: ports unknown */
		proto = in[23];
		l4 = 14 + (in[14] & 0xf) * 4;
	}
	port = in[l4 + 2] << 8 | in[l4 + 3];
	if (proto == IPPROTO_TCP && !(port >= 80 && port <= 90) && port != 443)
		return "tunnelled TCP to a port outside the ranges";
	if (proto == IPPROTO_UDP && !port)
		return "tunnelled UDP to port 0";
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP &&
	    proto != (i6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP) &&
	    (i6 ? proto != 0 && proto != 43 && proto != 60 && proto != 44 : 1))
		return "tunnelled a protocol no VIP has";
	return NULL;
}

/* NULL when the TX frame is right, else what is wrong with it */
static const char *check_tx(const __u8 *in, int in_len, const __u8 *out,
			    int out_len)
{
	int o4 = out[12] == 0x08, hl = o4 ? 20 : 40, inner = 14 + hl, k;
	int i6 = in[12] == 0x86;
	__u8 proto = o4 ? out[23] : out[20];

	if (memcmp(out + 6, smac, ETH_ALEN))
		return "source MAC is not the interface's";
	/* an ICMP error back to the sender? */
	if (proto == (o4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		if (memcmp(out, in + 6, ETH_ALEN))
			return "ICMP error not back to the sender's MAC";
		if (!is_vip(out + (o4 ? 26 : 22), !o4))
			return "ICMP error not from a VIP";
		if (o4 && sum16(out + 14, 20) != 0xffff)
			return "ICMP error: bad IPv4 header checksum";
		if (memcmp(out + inner + 8, in + 14, out_len - inner - 8))
			return "ICMP error does not quote the packet";
		return NULL;
	}
	if (memcmp(out, rmac, ETH_ALEN))
		return "destination MAC is not the real's";
	if (out_len != in_len + hl)
		return "length is not the input's plus an outer header";
	if (memcmp(out + inner, in + 14, in_len - 14))
		return "inner packet changed";
	if (proto != (i6 ? IPPROTO_IPV6 : IPPROTO_IPIP))
		return "outer protocol does not match the inner family";
	if (!is_vip(in + (i6 ? 38 : 30), i6))
		return "tunnelled a packet not to a VIP";
	if (check_service(in))
		return check_service(in);
	for (k = 0; k < 4; k++)
		if (reals_conf[k].family == (o4 ? AF_INET : AF_INET6) &&
		    !memcmp(out + (o4 ? 30 : 38), reals_conf[k].daddr,
			    o4 ? 4 : 16))
			break;
	if (k == 4)
		return "outer destination is no configured real";
	if (o4) {
		if (out[22] != 64 || sum16(out + 14, 20) != 0xffff)
			return "outer IPv4 TTL or checksum wrong";
		if ((out[16] << 8 | out[17]) != 20 + (in[12] == 0x08 ?
			(in[16] << 8 | in[17]) : 40 + (in[18] << 8 | in[19])))
			return "outer IPv4 total length wrong";
	} else if (out[21] != 64) {
		return "outer hop limit is not 64";
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static __u8 in[FRAME_MAX], orig[FRAME_MAX], out[FRAME_MAX + 128];
	unsigned long frames = 20000, i;
	const char *obj_path = "xdp_iptunnel_kern.o", *why;
	struct bpf_object *obj;
	__u64 before;
	int opt, len;

	rnd_state = 1;
	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		if (opt == 'n')
			frames = strtoul(optarg, NULL, 10);
		else if (opt == 's')
			rnd_state = strtoul(optarg, NULL, 10) | 1;
		else
			return 2;
	}
	if (optind < argc)
		obj_path = argv[optind];
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(obj_path, NULL);
	if (libbpf_get_error(obj) || bpf_object__load(obj))
		die(obj_path);
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj,
								   "xdp_iptunnel"));
	events_fd = bpf_object__find_map_fd_by_name(obj, "events");
	nr_cpus = libbpf_num_possible_cpus();
	configure(obj);

	for (i = 0; i < frames; i++) {
		struct bpf_test_run_opts t = { .sz = sizeof(t) };

		len = make_frame(in);
		if (rnd() % 2)
			mutate(in, &len);
		if (len < 14)
			len = 14;		/* the smallest a test run takes */
		memcpy(orig, in, len);
		t.data_in = in;
		t.data_size_in = len;
		t.data_out = out;
		t.data_size_out = sizeof(out);
		t.repeat = 1;
		before = events_total();
		if (bpf_prog_test_run_opts(prog_fd, &t))
			die("BPF_PROG_TEST_RUN");
		tried++;
		why = NULL;
		if (t.retval == XDP_ABORTED)
			why = "XDP_ABORTED";
		else if (t.retval == XDP_PASS &&
			 ((int)t.data_size_out != len || memcmp(out, orig, len)))
			why = "XDP_PASS changed the frame";
		else if (t.retval == XDP_DROP && events_total() == before)
			why = "XDP_DROP without an event";
		else if (t.retval == XDP_TX)
			why = check_tx(orig, len, out, t.data_size_out);
		else if (t.retval > XDP_TX)
			why = "unexpected action";
		if (t.retval < 5)
			by_action[t.retval]++;
		if (why) {
			violations++;
			if (violations <= 5)
				printf("# frame %lu (%d bytes): %s\n", i, len, why);
		}
	}
	printf("# %lu frames: %lu passed, %lu tunnelled or answered, %lu dropped\n",
	       tried, by_action[XDP_PASS], by_action[XDP_TX],
	       by_action[XDP_DROP]);
	printf("%s 1 - %lu frames, %lu property violations\n",
	       violations ? "not ok" : "ok", tried, violations);
	printf("%d passed, %d failed\n", !violations, !!violations);
	bpf_object__close(obj);
	return !!violations;
}
