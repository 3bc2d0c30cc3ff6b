// SPDX-License-Identifier: GPL-2.0
/*
 * flowpick: which real does the director on IFNAME pick for each of COUNT
 * synthetic flows? Runs the XDP program attached to IFNAME once per flow
 * with BPF_PROG_TEST_RUN on a TCP SYN from 203.0.113.0/24 (or
 * 2001:db8:c::/64) to VIP:PORT and prints one line per flow:
 *
 *	<client> <sport> TX <outer source> <outer destination> [hint <real>]
 *	<client> <sport> PASS|DROP|...
 *
 * With -e each flow's frame is instead a router's ICMP error about the
 * flow's answer ("fragmentation needed" / "packet too big", MTU 1400, from
 * 192.0.2.1 or 2001:db8::1, quoting VIP:PORT -> client:sport): the
 * program must send it to the flow's real.
 *
 * "hint" names the previous real a moved flow carries in a grace period.
 *
 * The flows depend on SEED only. With -c CLIENT they are CLIENT's
 * connections from ports SEED, SEED + 1, ... (e.g. curl --local-port);
 * with -C CLIENT as well, but each from the next address: CLIENT,
 * CLIENT + 1, ... (e.g. curl --interface).
 * With -r ROUNDS it replays the same flows
 * ROUNDS times and prints only flows whose outcome changed from the first
 * round, then a summary line "rounds N changed N": the check that live
 * updates lose no packet of a flow whose real survives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define FRAME_MAX	128

struct flow {
	__u8 client[16];
	__u16 sport;
	char outcome[96];
};

static const char *const actions[] = { "ABORTED", "DROP", "PASS", "TX",
				       "REDIRECT" };

static __u32 seed_state;

static __u32 next_random(void)
{
	seed_state = seed_state * 1103515245 + 12345;
	return seed_state >> 8;
}

/* An Ethernet + IPv4/IPv6 + TCP SYN frame; checksums do not matter here. */
static int build_syn(__u8 *f, int family, const __u8 *client, const __u8 *vip,
		     __u16 sport, __u16 dport)
{
	int l3 = 14, l4, ip_len = family == AF_INET ? 20 : 40;

	memset(f, 0, FRAME_MAX);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	if (family == AF_INET) {
		f[12] = 0x08;
		f[l3] = 0x45;
		f[l3 + 3] = 40;			/* total length */
		f[l3 + 8] = 64;			/* TTL */
		f[l3 + 9] = IPPROTO_TCP;
		memcpy(f + l3 + 12, client, 4);
		memcpy(f + l3 + 16, vip, 4);
	} else {
		f[12] = 0x86;
		f[13] = 0xdd;
		f[l3] = 0x60;
		f[l3 + 5] = 20;			/* payload length */
		f[l3 + 6] = IPPROTO_TCP;
		f[l3 + 7] = 64;
		memcpy(f + l3 + 8, client, 16);
		memcpy(f + l3 + 24, vip, 16);
	}
	l4 = l3 + ip_len;
	f[l4] = sport >> 8;
	f[l4 + 1] = sport;
	f[l4 + 2] = dport >> 8;
	f[l4 + 3] = dport;
	f[l4 + 12] = 0x50;			/* data offset 5 */
	f[l4 + 13] = 0x02;			/* SYN */
	return l4 + 20;
}

/*
 * A router's ICMP error about the answer to the flow: IP header and 8 bytes
 * of TCP quoted; checksums do not matter here.
 */
static int build_icmp_error(__u8 *f, int family, const __u8 *client,
			    const __u8 *vip, __u16 sport, __u16 dport)
{
	int l3 = 14, q, ip_len = family == AF_INET ? 20 : 40;

	memset(f, 0, FRAME_MAX);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	q = l3 + ip_len + 8;
	if (family == AF_INET) {
		f[12] = 0x08;
		f[l3] = 0x45;
		f[l3 + 3] = 20 + 8 + 28;	/* total length */
		f[l3 + 8] = 64;
		f[l3 + 9] = IPPROTO_ICMP;
		memcpy(f + l3 + 12, "\xc0\x00\x02\x01", 4);
		memcpy(f + l3 + 16, vip, 4);
		f[l3 + 20] = 3;			/* destination unreachable */
		f[l3 + 21] = 4;			/* fragmentation needed */
		f[l3 + 26] = 1400 >> 8;
		f[l3 + 27] = 1400 & 0xff;
		f[q] = 0x45;
		f[q + 2] = 1500 >> 8;
		f[q + 3] = 1500 & 0xff;
		f[q + 8] = 64;
		f[q + 9] = IPPROTO_TCP;
		memcpy(f + q + 12, vip, 4);
		memcpy(f + q + 16, client, 4);
	} else {
		f[12] = 0x86;
		f[13] = 0xdd;
		f[l3] = 0x60;
		f[l3 + 5] = 8 + 48;		/* payload length */
		f[l3 + 6] = IPPROTO_ICMPV6;
		f[l3 + 7] = 64;
		memcpy(f + l3 + 8, "\x20\x01\x0d\xb8", 4);
		f[l3 + 23] = 1;
		memcpy(f + l3 + 24, vip, 16);
		f[l3 + 40] = 2;			/* packet too big */
		f[l3 + 46] = 1400 >> 8;
		f[l3 + 47] = 1400 & 0xff;
		f[q] = 0x60;
		f[q + 4] = 1440 >> 8;
		f[q + 5] = 1440 & 0xff;
		f[q + 6] = IPPROTO_TCP;
		f[q + 7] = 64;
		memcpy(f + q + 8, vip, 16);
		memcpy(f + q + 24, client, 16);
	}
	q += ip_len;
	f[q] = dport >> 8;			/* from the VIP's port */
	f[q + 1] = dport;
	f[q + 2] = sport >> 8;			/* to the client's */
	f[q + 3] = sport;
	return q + 8;
}

static void describe(char *out, size_t size, int action, const __u8 *f)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], hint[64] = "";
	char prev[INET6_ADDRSTRLEN];

	if (action != XDP_TX) {
		snprintf(out, size, "%s", action >= 0 && action <= 4 ?
			 actions[action] : "?");
		return;
	}
	/* the hint: IPv4 option 0x9e (IHL 7), IPv6 destination option 0x3e */
	if (f[12] == 0x08) {
		inet_ntop(AF_INET, f + 26, src, sizeof(src));
		inet_ntop(AF_INET, f + 30, dst, sizeof(dst));
		if (f[14] == 0x47 && f[34] == 0x9e)
			snprintf(hint, sizeof(hint), " hint %s",
				 inet_ntop(AF_INET, f + 38, prev, sizeof(prev)));
	} else {
		inet_ntop(AF_INET6, f + 22, src, sizeof(src));
		inet_ntop(AF_INET6, f + 38, dst, sizeof(dst));
		if (f[20] == 60 && f[56] == 0x3e)
			snprintf(hint, sizeof(hint), " hint %s",
				 inet_ntop(AF_INET6, f + 60, prev, sizeof(prev)));
	}
	snprintf(out, size, "TX %s %s%s", src, dst, hint);
}

static int icmp_errors;		/* -e */

static int run_flow(int prog_fd, int family, const __u8 *vip, __u16 port,
		    struct flow *flow)
{
	struct bpf_test_run_opts opts = { .sz = sizeof(opts) };
	__u8 in[FRAME_MAX], out[FRAME_MAX + 64];

	opts.data_in = in;
	opts.data_out = out;
	opts.data_size_out = sizeof(out);
	opts.repeat = 1;
	if (icmp_errors)
		opts.data_size_in = build_icmp_error(in, family, flow->client,
						     vip, flow->sport, port);
	else
		opts.data_size_in = build_syn(in, family, flow->client, vip,
					      flow->sport, port);
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	describe(flow->outcome, sizeof(flow->outcome), opts.retval, out);
	return 0;
}

static int attached_prog(const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	int ifindex = if_nametoindex(ifname);

	if (!ifindex || bpf_xdp_query(ifindex, 0, &query) || !query.prog_id) {
		fprintf(stderr, "flowpick: no XDP program on '%s'\n", ifname);
		return -1;
	}
	return bpf_prog_get_fd_by_id(query.prog_id);
}

/* addr + n, in its last 32 bits */
static void add_to_addr(__u8 *addr, int family, __u32 n)
{
	__u8 *last = addr + (family == AF_INET ? 0 : 12);
	__u32 word;

	memcpy(&word, last, 4);
	word = htonl(ntohl(word) + n);
	memcpy(last, &word, 4);
}

int main(int argc, char **argv)
{
	int c, i, r, prog_fd, family, count, rounds = 1, changed = 0;
	char client[INET6_ADDRSTRLEN], now[96];
	const char *fixed_client = NULL;
	int next_client = 0;
	struct flow *flows;
	__u8 vip[16];
	__u16 port;

	while ((c = getopt(argc, argv, "er:c:C:")) != -1) {
		if (c == 'e')
			icmp_errors = 1;
		else if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 'c' || c == 'C')
			fixed_client = optarg;
		else
			return 2;
		next_client |= c == 'C';
	}
	if (argc - optind != 5) {
		fprintf(stderr,
			"usage: flowpick [-e] [-r ROUNDS] [-c|-C CLIENT] IFNAME VIP PORT COUNT SEED\n");
		return 2;
	}
	family = strchr(argv[optind + 1], ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, argv[optind + 1], vip) != 1)
		return 2;
	port = atoi(argv[optind + 2]);
	count = atoi(argv[optind + 3]);
	seed_state = atoi(argv[optind + 4]);
	prog_fd = attached_prog(argv[optind]);
	flows = calloc(count, sizeof(*flows));
	if (prog_fd < 0 || !flows)
		return 1;

	for (i = 0; i < count; i++) {
		__u32 rnd = next_random();

		if (family == AF_INET) {
			memcpy(flows[i].client, "\xcb\x00\x71", 3);
			flows[i].client[3] = rnd;
		} else {
			memcpy(flows[i].client, "\x20\x01\x0d\xb8\x00\x0c", 6);
			flows[i].client[14] = rnd >> 16;
			flows[i].client[15] = rnd;
		}
		flows[i].sport = 1024 + next_random() % 64512;
		if (fixed_client) {
			if (inet_pton(family, fixed_client, flows[i].client) != 1)
				return 2;
			flows[i].sport = atoi(argv[optind + 4]) + i;
			if (next_client)
				add_to_addr(flows[i].client, family, i);
		}
		if (run_flow(prog_fd, family, vip, port, &flows[i]))
			return 1;
		if (rounds > 1)
			continue;
		inet_ntop(family, flows[i].client, client, sizeof(client));
		printf("%s %u %s\n", client, flows[i].sport, flows[i].outcome);
	}
	for (r = 1; r < rounds; r++) {
		for (i = 0; i < count; i++) {
			struct flow again = flows[i];

			if (run_flow(prog_fd, family, vip, port, &again))
				return 1;
			if (!strcmp(again.outcome, flows[i].outcome))
				continue;
			strcpy(now, again.outcome);
			inet_ntop(family, flows[i].client, client,
				  sizeof(client));
			printf("%s %u %s -> %s\n", client, flows[i].sport,
			       flows[i].outcome, now);
			changed++;
		}
	}
	if (rounds > 1)
		printf("rounds %d changed %d\n", rounds, changed);
	free(flows);
	return 0;
}
