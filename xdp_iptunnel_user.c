// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel: loader, configuration and statistics for
 * xdp_iptunnel_kern.o, an XDP IP-in-IP tunnelling load balancer.
 *
 * Read it top-down: options -> config -> load -> attach -> stats -> detach.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_trace.h"

#define PROG_NAME		"xdp_iptunnel"
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define STATS_INTERVAL_S	2
#define MAX_SERVICE_REALS	1024
#define BPFFS			"/sys/fs/bpf"
#define PIN_ROOT		BPFFS "/xdp_iptunnel"
#define BPFFS_MAGIC		0xcafe4a11

static const char *prog_name = PROG_NAME;

/* ---- options ---------------------------------------------------------- */

struct ip_addr {
	int family;		/* 0 when not given */
	__be32 words[4];
};

struct real_spec {
	struct ip_addr daddr;
	__u8 mac[ETH_ALEN];
	bool has_mac;
	unsigned int weight;
	bool down;		/* failed its health check */
};

/* One -a group: a VIP address, its protocol, port ranges and reals. */
struct service {
	struct ip_addr vip;
	int protocol;		/* -1: not given, TCP */
	struct {
		__u16 min;
		__u16 max;
	} ports[VIP_MAX_RANGES];
	int nr_ports;
	struct ip_addr saddr;
	struct real_spec *reals;
	int nr_reals;
	bool flow_src;		/* --flow-src set for the reals' family */
	__u8 early_mac[ETH_ALEN];	/* -m before any -d: the default */
	bool has_early_mac;
};

struct options {
	int ifindex;
	char ifname[IF_NAMESIZE];
	__u32 xdp_flags;
	bool force;
	bool json;
	bool verbose;
	unsigned int duration;	/* seconds, 0 = until interrupted */
	enum { RUN, UPDATE, STOP, TRACE } mode;
	struct trace_options trace;	/* --trace [FILTER] */
	bool keep;		/* leave it attached and pinned at exit */
	struct ip_addr flow_src[2];	/* --flow-src prefixes, v4 and v6 */
	int flow_src_len[2];
	struct health_check {
		enum { CHECK_NONE, CHECK_TCP, CHECK_HTTP } kind;
		unsigned int port;	/* 0: the VIP's first port */
		char path[64];
		unsigned int interval, fall, rise;
	} check;
	char pin_dir[128];	/* PIN_ROOT[/<netns>]/<ifname> */
	char pin_netns[64];	/* "" in the initial network namespace */
	struct service *svc;
	int nr_svc;
};

static void print_usage(FILE *out)
{
	fprintf(out,
		"usage: %s [...]\n"
		"    -i <ifname|ifindex> Interface\n"
		"    -a <vip-service-address> IPv4 or IPv6; starts a new VIP\n"
		"    -p <vip-service-port> A port range (e.g. 433-444) is also allowed;\n"
		"       repeat for more ranges; TCP and UDP only\n"
		"    -s <source-ip> Used in the IPTunnel header\n"
		"    -d <dest-ip>[,weight=N][,mac=MAC] Used in the IPTunnel header;\n"
		"       repeat for several real servers\n"
		"    -m <dest-MAC> Used in sending the IP Tunneled pkt (of the last -d;\n"
		"       before any -d: of every -d without one)\n"
		"    -T <stop-after-X-seconds> Default: 0 (forever)\n"
		"    -P <IP-Protocol> Default is TCP; other protocols match the whole VIP\n"
		"    -S use skb-mode\n"
		"    -N enforce native mode\n"
		"    -F Force loading the XDP prog\n"
		"    -j print statistics as JSON lines\n"
		"    -v print libbpf messages\n"
		"    -h Display this help\n"
		"    -U, --update   change the VIPs of the director running on -i\n"
		"    -K, --keep     leave the director attached and pinned at exit\n"
		"    --stop         detach a director left by --keep\n"
		"    --trace [FILTER] print the decision on each packet of the director\n"
		"       running on -i; FILTER: vip ADDR, client ADDR, port N, passed,\n"
		"       dropped, sent, limit N (per second, 1000), joined by 'and'\n"
		"    --flow-src <prefix> outer source per flow inside prefix (RSS)\n"
		"    --check tcp[:port] | http[:port][/path]  health-check reals\n"
		"    --check-interval <s> (2), --check-fall <n> (3), --check-rise <n> (2)\n"
		"-p, -P, -s, -d and -m describe the VIP of the last -a (or the first\n"
		"VIP when given before any -a); a VIP without -s or -d uses those of\n"
		"the VIP before it.\n",
		prog_name);
}

/* One line naming the option and the value, as for every bad input. */
static int bad_option(char opt, const char *value, const char *why)
{
	fprintf(stderr, "%s: -%c '%s': %s\n", prog_name, opt, value, why);
	return -1;
}

static int bad_long_option(const char *opt, const char *value, const char *why)
{
	fprintf(stderr, "%s: --%s '%s': %s\n", prog_name, opt, value, why);
	return -1;
}

static int parse_addr(const char *str, struct ip_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, str, addr->words) == 1)
		addr->family = AF_INET;
	else if (inet_pton(AF_INET6, str, addr->words) == 1)
		addr->family = AF_INET6;
	else
		return -1;
	return 0;
}

/* A whole decimal number in [min, max]: no sign, no junk after it. */
static int parse_uint(const char *str, unsigned long min, unsigned long max,
		      unsigned long *val)
{
	char *end;

	if (*str < '0' || *str > '9')
		return -1;
	errno = 0;
	*val = strtoul(str, &end, 10);
	if (errno || *end || *val < min || *val > max)
		return -1;
	return 0;
}

static int parse_ports(const char *str, __u16 *min, __u16 *max)
{
	const char *dash = strchr(str, '-');
	unsigned long lo, hi;
	char first[8];

	if (!dash) {
		if (parse_uint(str, 1, 65535, &lo))
			return bad_option('p', str,
					  "not a port 1-65535 or a range lo-hi");
		*min = *max = lo;
		return 0;
	}
	if (dash - str >= (long)sizeof(first))
		return bad_option('p', str, "not a port range lo-hi");
	memcpy(first, str, dash - str);
	first[dash - str] = '\0';
	if (parse_uint(first, 1, 65535, &lo) ||
	    parse_uint(dash + 1, 1, 65535, &hi))
		return bad_option('p', str,
				  "not a port range lo-hi within 1-65535");
	if (lo > hi)
		return bad_option('p', str, "reversed port range");
	*min = lo;
	*max = hi;
	return 0;
}

static int parse_mac(const char *str, __u8 *mac)
{
	unsigned int b[ETH_ALEN];
	char tail;
	int i;

	/* sscanf alone would read " 8" or "-1" as a byte */
	if (strlen(str) != 17 ||
	    strspn(str, "0123456789abcdefABCDEF:") != 17 ||
	    sscanf(str, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
		   &b[3], &b[4], &b[5], &tail) != ETH_ALEN)
		return -1;
	for (i = 0; i < ETH_ALEN; i++)
		mac[i] = b[i];
	return 0;
}

static int parse_protocol(const char *str, int *protocol)
{
	unsigned long val;

	if (!strcasecmp(str, "tcp"))
		*protocol = IPPROTO_TCP;
	else if (!strcasecmp(str, "udp"))
		*protocol = IPPROTO_UDP;
	else if (!strcasecmp(str, "icmp"))
		*protocol = IPPROTO_ICMP;
	else if (!strcasecmp(str, "icmpv6"))
		*protocol = IPPROTO_ICMPV6;
	else if (!parse_uint(str, 0, 255, &val))
		*protocol = val;
	else
		return bad_option('P', str,
				  "not an IP protocol number 0-255 or tcp/udp/icmp/icmpv6");
	return 0;
}

static int parse_ifname(const char *str, struct options *opt)
{
	unsigned long idx;

	opt->ifindex = if_nametoindex(str);
	if (!opt->ifindex && !parse_uint(str, 1, INT_MAX, &idx) &&
	    if_indextoname(idx, opt->ifname))
		opt->ifindex = idx;
	if (!opt->ifindex)
		return bad_option('i', str, "no such interface");
	if_indextoname(opt->ifindex, opt->ifname);
	return 0;
}

static struct service *current_service(struct options *opt)
{
	if (!opt->nr_svc) {
		opt->svc = calloc(1, sizeof(*opt->svc));
		if (!opt->svc)
			return NULL;
		opt->svc->protocol = -1;
		opt->nr_svc = 1;
	}
	return &opt->svc[opt->nr_svc - 1];
}

static struct service *new_service(struct options *opt)
{
	struct service *svc;

	svc = realloc(opt->svc, (opt->nr_svc + 1) * sizeof(*svc));
	if (!svc)
		return NULL;
	opt->svc = svc;
	svc = &opt->svc[opt->nr_svc++];
	memset(svc, 0, sizeof(*svc));
	svc->protocol = -1;
	return svc;
}

/* -d ADDR[,weight=N][,mac=MAC] */
static int add_real(struct service *svc, const char *arg)
{
	char buf[128], *item, *save;
	struct real_spec *real;
	unsigned long weight;

	if (svc->nr_reals >= MAX_SERVICE_REALS)
		return bad_option('d', arg, "too many real servers for one VIP");
	if (strlen(arg) >= sizeof(buf))
		return bad_option('d', arg, "too long");
	strcpy(buf, arg);
	real = realloc(svc->reals, (svc->nr_reals + 1) * sizeof(*real));
	if (!real)
		return bad_option('d', arg, "out of memory");
	svc->reals = real;
	real = &svc->reals[svc->nr_reals];
	memset(real, 0, sizeof(*real));
	real->weight = 1;

	item = strtok_r(buf, ",", &save);
	if (!item || parse_addr(item, &real->daddr))
		return bad_option('d', arg, "not an IPv4 or IPv6 address");
	while ((item = strtok_r(NULL, ",", &save))) {
		if (!strncmp(item, "weight=", 7)) {
			if (parse_uint(item + 7, 0, 65535, &weight))
				return bad_option('d', arg,
						  "weight must be 0-65535");
			real->weight = weight;
		} else if (!strncmp(item, "mac=", 4)) {
			if (parse_mac(item + 4, real->mac))
				return bad_option('d', arg, "not a MAC address");
			real->has_mac = true;
		} else {
			return bad_option('d', arg,
					  "expected ADDR[,weight=N][,mac=MAC]");
		}
	}
	if (svc->has_early_mac && !real->has_mac) {
		memcpy(real->mac, svc->early_mac, ETH_ALEN);
		real->has_mac = true;
	}
	svc->nr_reals++;
	return 0;
}

static int set_mac(struct service *svc, const char *arg)
{
	__u8 mac[ETH_ALEN];
	struct real_spec *real;

	if (parse_mac(arg, mac))
		return bad_option('m', arg, "not a MAC address xx:xx:xx:xx:xx:xx");
	if (!svc->nr_reals) {
		memcpy(svc->early_mac, mac, ETH_ALEN);
		svc->has_early_mac = true;
		return 0;
	}
	real = &svc->reals[svc->nr_reals - 1];
	memcpy(real->mac, mac, ETH_ALEN);
	real->has_mac = true;
	return 0;
}

static int parse_service_option(struct options *opt, int c, const char *arg)
{
	struct service *svc = current_service(opt);

	if (!svc)
		return bad_option(c, arg, "out of memory");
	switch (c) {
	case 'a':
		if (svc->vip.family)
			svc = new_service(opt);
		if (!svc)
			return bad_option(c, arg, "out of memory");
		if (parse_addr(arg, &svc->vip))
			return bad_option(c, arg, "not an IPv4 or IPv6 address");
		return 0;
	case 'p':
		if (svc->nr_ports >= VIP_MAX_RANGES)
			return bad_option(c, arg, "too many port ranges");
		if (parse_ports(arg, &svc->ports[svc->nr_ports].min,
				&svc->ports[svc->nr_ports].max))
			return -1;
		svc->nr_ports++;
		return 0;
	case 'P':
		return parse_protocol(arg, &svc->protocol);
	case 's':
		if (parse_addr(arg, &svc->saddr))
			return bad_option(c, arg, "not an IPv4 or IPv6 address");
		return 0;
	case 'd':
		return add_real(svc, arg);
	case 'm':
		return set_mac(svc, arg);
	}
	return -1;
}

static int missing_option(const char *what)
{
	fprintf(stderr, "%s: missing %s\n", prog_name, what);
	print_usage(stderr);
	return -1;
}

static bool has_ports(int protocol)
{
	return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP;
}

/* Fill what a VIP may take from the one before it, then check it whole. */
static int check_service(struct service *svc, const struct service *prev)
{
	char vip[INET6_ADDRSTRLEN];
	int i;

	if (!svc->vip.family)
		return missing_option("-a <vip-service-address>");
	inet_ntop(svc->vip.family, svc->vip.words, vip, sizeof(vip));
	if (svc->protocol < 0)
		svc->protocol = IPPROTO_TCP;
	if (!svc->saddr.family && prev)
		svc->saddr = prev->saddr;
	if (!svc->nr_reals && prev && prev->nr_reals) {
		svc->reals = calloc(prev->nr_reals, sizeof(*svc->reals));
		if (!svc->reals)
			return bad_option('d', vip, "out of memory");
		memcpy(svc->reals, prev->reals,
		       prev->nr_reals * sizeof(*svc->reals));
		svc->nr_reals = prev->nr_reals;
	}
	if (has_ports(svc->protocol) && !svc->nr_ports)
		return missing_option("-p <vip-service-port> (required for TCP and UDP)");
	if (!has_ports(svc->protocol) && svc->nr_ports)
		return bad_option('a', vip,
				  "-p applies to TCP and UDP only, not to this -P");
	if (!svc->saddr.family)
		return missing_option("-s <source-ip>");
	if (!svc->nr_reals)
		return missing_option("-d <dest-ip>");
	for (i = 0; i < svc->nr_reals; i++) {
		char dst[INET6_ADDRSTRLEN];

		inet_ntop(svc->reals[i].daddr.family, svc->reals[i].daddr.words,
			  dst, sizeof(dst));
		if (svc->reals[i].daddr.family != svc->saddr.family)
			return bad_option('d', dst,
					  "not of the same address family as -s");
	}
	return 0;
}

/* --flow-src ADDR/LEN: one prefix per address family */
static int parse_flow_src(const char *str, struct options *opt)
{
	char buf[INET6_ADDRSTRLEN + 4], *slash;
	struct ip_addr addr;
	unsigned long len;
	int f;

	if (strlen(str) >= sizeof(buf))
		return bad_long_option("flow-src", str, "not ADDR/LEN");
	strcpy(buf, str);
	slash = strchr(buf, '/');
	if (!slash)
		return bad_long_option("flow-src", str, "not ADDR/LEN");
	*slash = '\0';
	if (parse_addr(buf, &addr) ||
	    parse_uint(slash + 1, 1, addr.family == AF_INET ? 31 : 127, &len))
		return bad_long_option("flow-src", str,
				       "not ADDR/LEN with room for hosts");
	f = addr.family == AF_INET6;
	opt->flow_src[f] = addr;
	opt->flow_src_len[f] = len;
	return 0;
}

/* tcp[:port] or http[:port][/path] */
static int parse_check(const char *str, struct health_check *check)
{
	const char *rest = NULL, *slash;
	char port[8];
	unsigned long val;

	if (!strncmp(str, "tcp", 3)) {
		check->kind = CHECK_TCP;
		rest = str + 3;
	} else if (!strncmp(str, "http", 4)) {
		check->kind = CHECK_HTTP;
		rest = str + 4;
	}
	if (!rest || (*rest && *rest != ':' && *rest != '/'))
		return bad_long_option("check", str,
				       "expected tcp[:port] or http[:port][/path]");
	strcpy(check->path, "/");
	slash = strchr(rest, '/');
	if (slash) {
		if (check->kind != CHECK_HTTP || strlen(slash) >= sizeof(check->path))
			return bad_long_option("check", str, "bad path");
		strcpy(check->path, slash);
	}
	if (*rest == ':') {
		size_t n = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);

		if (n >= sizeof(port))
			return bad_long_option("check", str, "bad port");
		memcpy(port, rest + 1, n);
		port[n] = '\0';
		if (parse_uint(port, 1, 65535, &val))
			return bad_long_option("check", str, "bad port");
		check->port = val;
	}
	return 0;
}

enum {
	OPT_STOP = 256,
	OPT_FLOW_SRC,
	OPT_CHECK,
	OPT_CHECK_INTERVAL,
	OPT_CHECK_FALL,
	OPT_CHECK_RISE,
	OPT_TRACE,
};

static const struct option long_options[] = {
	{ "update", no_argument, NULL, 'U' },
	{ "keep", no_argument, NULL, 'K' },
	{ "stop", no_argument, NULL, OPT_STOP },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "flow-src", required_argument, NULL, OPT_FLOW_SRC },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "check-interval", required_argument, NULL, OPT_CHECK_INTERVAL },
	{ "check-fall", required_argument, NULL, OPT_CHECK_FALL },
	{ "check-rise", required_argument, NULL, OPT_CHECK_RISE },
	{ "help", no_argument, NULL, 'h' },
	{}
};

static int parse_count(const char *name, const char *str, unsigned int *val)
{
	unsigned long v;

	if (parse_uint(str, 1, 3600, &v))
		return bad_long_option(name, str, "not a number 1-3600");
	*val = v;
	return 0;
}

static void vip_key_of(const struct service *svc, struct vip_key *key)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->addr, svc->vip.words, sizeof(key->addr));
	key->family = svc->vip.family;
	key->protocol = svc->protocol;
}

/*
 * The VIP table's slot for each key, where the program will look for it:
 * the key's own slot or the first free one of the VIP_PROBES_MAX from
 * there; a key given again gets its first one. Returns 0, or the error of
 * list[*bad]: -E2BIG beyond VIP_ADDR_MAX keys, -ENOSPC when the slots are
 * taken.
 */
static int place_vips(const struct vip_slot *list, int nr, __u32 *slot,
		      int *bad)
{
	int *owner = calloc(VIP_TABLE_SIZE, sizeof(*owner));	/* index + 1 */
	int k, i, keys = 0, err = 0;

	if (!owner)
		return -ENOMEM;
	for (k = 0; k < nr && !err; k++) {
		slot[k] = vip_key_hash(&list[k].key);
		for (i = 0; i < VIP_PROBES_MAX && owner[slot[k]]; i++) {
			if (!memcmp(&list[owner[slot[k]] - 1].key, &list[k].key,
				    sizeof(list[k].key)))
				break;
			slot[k] = (slot[k] + 1) & (VIP_TABLE_SIZE - 1);
		}
		if (i == VIP_PROBES_MAX)
			err = -ENOSPC;
		else if (!owner[slot[k]] && keys++ == VIP_ADDR_MAX)
			err = -E2BIG;
		else if (!owner[slot[k]])
			owner[slot[k]] = k + 1;
	}
	*bad = k - 1;
	free(owner);
	return err;
}

/* Every VIP address and protocol must find a slot in the VIP table. */
static int check_vip_slots(const struct options *opt)
{
	struct vip_slot *list = calloc(opt->nr_svc, sizeof(*list));
	__u32 *slot = calloc(opt->nr_svc, sizeof(*slot));
	char vip[INET6_ADDRSTRLEN], why[80];
	int i, bad, err = -ENOMEM;

	for (i = 0; list && slot && i < opt->nr_svc; i++)
		vip_key_of(&opt->svc[i], &list[i].key);
	if (list && slot)
		err = place_vips(list, opt->nr_svc, slot, &bad);
	free(list);
	free(slot);
	if (!err)
		return 0;
	if (err == -ENOMEM) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		return -1;
	}
	inet_ntop(opt->svc[bad].vip.family, opt->svc[bad].vip.words, vip,
		  sizeof(vip));
	if (err == -E2BIG)
		snprintf(why, sizeof(why),
			 "more than %d VIP addresses and protocols",
			 VIP_ADDR_MAX);
	else
		snprintf(why, sizeof(why),
			 "the %d slots of the VIP table where it would go are taken",
			 VIP_PROBES_MAX);
	return bad_option('a', vip, why);
}

/* Ranges of VIPs on one address and protocol must not overlap. */
static int check_ranges(const struct options *opt)
{
	const struct service *a, *b;
	char vip[INET6_ADDRSTRLEN];
	int i, j, x, y, n;

	for (i = 0; i < opt->nr_svc; i++) {
		a = &opt->svc[i];
		inet_ntop(a->vip.family, a->vip.words, vip, sizeof(vip));
		n = 0;
		for (j = 0; j < opt->nr_svc; j++) {
			b = &opt->svc[j];
			if (memcmp(&a->vip, &b->vip, sizeof(a->vip)) ||
			    a->protocol != b->protocol)
				continue;
			n += b->nr_ports ? b->nr_ports : 1;
			for (x = 0; x < a->nr_ports; x++)
				for (y = 0; y < b->nr_ports; y++)
					if ((i != j || x != y) &&
					    a->ports[x].min <= b->ports[y].max &&
					    b->ports[y].min <= a->ports[x].max)
						return bad_option('a', vip,
								  "port ranges overlap");
			if (i != j && (!a->nr_ports || !b->nr_ports))
				return bad_option('a', vip,
						  "given twice for this protocol");
		}
		if (n > VIP_MAX_RANGES)
			return bad_option('a', vip,
					  "more than 8 port ranges for this protocol");
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	unsigned long val;
	int c, i;

	memset(opt, 0, sizeof(*opt));
	opt->check.interval = 2;
	opt->check.fall = 3;
	opt->check.rise = 2;
	while ((c = getopt_long(argc, argv, "i:a:p:s:d:m:T:P:SNFjvhUK",
				long_options, NULL)) != -1) {
		switch (c) {
		case 'U':
			opt->mode = UPDATE;
			break;
		case 'K':
			opt->keep = true;
			break;
		case OPT_STOP:
			opt->mode = STOP;
			break;
		case OPT_TRACE:
			opt->mode = TRACE;
			break;
		case OPT_FLOW_SRC:
			if (parse_flow_src(optarg, opt))
				return -1;
			break;
		case OPT_CHECK:
			if (parse_check(optarg, &opt->check))
				return -1;
			break;
		case OPT_CHECK_INTERVAL:
			if (parse_count("check-interval", optarg,
					&opt->check.interval))
				return -1;
			break;
		case OPT_CHECK_FALL:
			if (parse_count("check-fall", optarg, &opt->check.fall))
				return -1;
			break;
		case OPT_CHECK_RISE:
			if (parse_count("check-rise", optarg, &opt->check.rise))
				return -1;
			break;
		case 'i':
			if (parse_ifname(optarg, opt))
				return -1;
			break;
		case 'a':
		case 'p':
		case 'P':
		case 's':
		case 'd':
		case 'm':
			if (parse_service_option(opt, c, optarg))
				return -1;
			break;
		case 'T':
			if (parse_uint(optarg, 0, UINT_MAX, &val))
				return bad_option(c, optarg,
						  "not a number of seconds >= 0");
			opt->duration = val;
			break;
		case 'S':
			opt->xdp_flags |= XDP_FLAGS_SKB_MODE;
			break;
		case 'N':
			opt->xdp_flags |= XDP_FLAGS_DRV_MODE;
			break;
		case 'F':
			opt->force = true;
			break;
		case 'j':
			opt->json = true;
			break;
		case 'v':
			opt->verbose = true;
			break;
		case 'h':
			print_usage(stdout);
			exit(0);
		default:
			print_usage(stderr);
			return -1;
		}
	}
	/* the words after the options are the trace's filter */
	if (opt->mode == TRACE && trace_parse_filter(argc - optind,
						     argv + optind,
						     &opt->trace))
		return -1;
	if (optind < argc && opt->mode != TRACE)
		return bad_option('?', argv[optind], "unexpected argument");
	if ((opt->xdp_flags & XDP_FLAGS_SKB_MODE) &&
	    (opt->xdp_flags & XDP_FLAGS_DRV_MODE))
		return bad_option('N', "-S", "-S and -N exclude each other");
	if (!opt->ifindex)
		return missing_option("-i <ifname|ifindex>");
	if (opt->mode == STOP || opt->mode == TRACE)
		return 0;
	if (!opt->nr_svc)
		return missing_option("-a <vip-service-address>");
	for (i = 0; i < opt->nr_svc; i++) {
		struct service *svc = &opt->svc[i];

		if (check_service(svc, i ? &opt->svc[i - 1] : NULL))
			return -1;
		svc->flow_src = opt->flow_src_len[svc->saddr.family == AF_INET6];
	}
	return check_ranges(opt) || check_vip_slots(opt) ? -1 : 0;
}

/* ---- config: next-hop MACs from the kernel's tables -------------------- */

static int addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* msg: a request with room after its header for the attribute */
static void nl_add_attr(void *msg, int type, const void *data, int len)
{
	struct nlmsghdr *nh = msg;
	struct rtattr *rta = msg + NLMSG_ALIGN(nh->nlmsg_len);

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Send one request; points *payload at the answer's fixed header. */
static int nl_ask(int sock, struct nlmsghdr *req, char *buf, size_t size,
		  void **payload, int *payload_len)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	ssize_t len;

	if (send(sock, req, req->nlmsg_len, 0) < 0)
		return -errno;
	len = recv(sock, buf, size, 0);
	if (len < 0)
		return -errno;
	if (!NLMSG_OK(nh, (size_t)len))
		return -EIO;
	if (nh->nlmsg_type == NLMSG_ERROR)
		return ((struct nlmsgerr *)NLMSG_DATA(nh))->error ?: -ENOENT;
	*payload = NLMSG_DATA(nh);
	*payload_len = NLMSG_PAYLOAD(nh, 0);
	return 0;
}

/* The next hop toward dst out of ifindex: a gateway, or dst itself. */
static int next_hop(int sock, int ifindex, const struct ip_addr *dst,
		    struct ip_addr *hop)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req = {
		.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)),
		.nh.nlmsg_type = RTM_GETROUTE,
		.nh.nlmsg_flags = NLM_F_REQUEST,
		.rt.rtm_family = dst->family,
		.rt.rtm_dst_len = addr_len(dst->family) * 8,
	};
	char buf[4096];
	struct rtattr *rta;
	struct rtmsg *rt;
	int len, err;

	nl_add_attr(&req, RTA_DST, dst->words, addr_len(dst->family));
	nl_add_attr(&req, RTA_OIF, &ifindex, sizeof(ifindex));
	err = nl_ask(sock, &req.nh, buf, sizeof(buf), (void **)&rt, &len);
	if (err)
		return err;
	*hop = *dst;
	len -= NLMSG_ALIGN(sizeof(*rt));
	for (rta = RTM_RTA(rt); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == RTA_GATEWAY)
			memcpy(hop->words, RTA_DATA(rta), addr_len(dst->family));
	return 0;
}

static int neighbour_mac(int sock, int ifindex, const struct ip_addr *hop,
			 __u8 *mac)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
		char attrs[64];
	} req = {
		.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg)),
		.nh.nlmsg_type = RTM_GETNEIGH,
		.nh.nlmsg_flags = NLM_F_REQUEST,
		.nd.ndm_family = hop->family,
		.nd.ndm_ifindex = ifindex,
	};
	char buf[4096];
	struct rtattr *rta;
	struct ndmsg *nd;
	int len, err;

	nl_add_attr(&req, NDA_DST, hop->words, addr_len(hop->family));
	err = nl_ask(sock, &req.nh, buf, sizeof(buf), (void **)&nd, &len);
	if (err)
		return err;
	if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY |
			       NUD_PROBE | NUD_PERMANENT)))
		return -EAGAIN;
	len -= NLMSG_ALIGN(sizeof(*nd));
	for (rta = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == NDA_LLADDR &&
		    RTA_PAYLOAD(rta) == ETH_ALEN) {
			memcpy(mac, RTA_DATA(rta), ETH_ALEN);
			return 0;
		}
	}
	return -EAGAIN;
}

/* An empty UDP datagram makes the kernel resolve the neighbour. */
static void poke_neighbour(const struct options *opt, const struct ip_addr *hop)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(9) };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(9) };
	struct sockaddr *sa = (struct sockaddr *)&sin;
	socklen_t sa_len = sizeof(sin);
	int sock;

	if (hop->family == AF_INET6) {
		memcpy(&sin6.sin6_addr, hop->words, 16);
		sin6.sin6_scope_id = opt->ifindex;
		sa = (struct sockaddr *)&sin6;
		sa_len = sizeof(sin6);
	} else {
		sin.sin_addr.s_addr = hop->words[0];
	}
	sock = socket(hop->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return;
	setsockopt(sock, SOL_SOCKET, SO_BINDTODEVICE, opt->ifname,
		   strlen(opt->ifname));
	sendto(sock, "", 0, MSG_DONTWAIT, sa, sa_len);
	close(sock);
}

/* -m left out: the MAC of the real, or of the gateway toward it. */
static int resolve_mac(const struct options *opt, struct real_spec *real)
{
	char dst[INET6_ADDRSTRLEN], via[INET6_ADDRSTRLEN];
	struct ip_addr hop;
	int sock, err, tries;

	inet_ntop(real->daddr.family, real->daddr.words, dst, sizeof(dst));
	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sock < 0)
		return bad_option('d', dst, "cannot open netlink to find its MAC");
	err = next_hop(sock, opt->ifindex, &real->daddr, &hop);
	for (tries = 0; !err && tries < 30; tries++) {
		err = neighbour_mac(sock, opt->ifindex, &hop, real->mac);
		if (err != -EAGAIN && err != -ENOENT)
			break;
		if (!(tries % 10))
			poke_neighbour(opt, &hop);
		usleep(50 * 1000);
		err = 0;
		if (tries == 29)
			err = -EHOSTUNREACH;
	}
	close(sock);
	if (err)
		return bad_option('d', dst,
				  "no MAC known for it or its gateway: give -m");
	inet_ntop(hop.family, hop.words, via, sizeof(via));
	printf("%s: -d %s: MAC %02x:%02x:%02x:%02x:%02x:%02x of %s %s on %s\n",
	       prog_name, dst, real->mac[0], real->mac[1], real->mac[2],
	       real->mac[3], real->mac[4], real->mac[5],
	       memcmp(&hop, &real->daddr, sizeof(hop)) ? "gateway" : "neighbour",
	       via, opt->ifname);
	real->has_mac = true;
	return 0;
}

static int resolve_macs(struct options *opt)
{
	int s, r;

	for (s = 0; s < opt->nr_svc; s++)
		for (r = 0; r < opt->svc[s].nr_reals; r++)
			if (!opt->svc[s].reals[r].has_mac &&
			    resolve_mac(opt, &opt->svc[s].reals[r]))
				return -1;
	return 0;
}

/* ---- config: services -> map entries ---------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Where configuring went: printed once, read by the benchmark. */
static struct {
	int vips, reals, rings;
	double build_s, push_s;
} cfg_time;

struct director {
	struct bpf_object *obj;
	struct bpf_program *prog;
	int link_fd;		/* closing it detaches the program */
	int vip_tables, reals, vip_rings, config_map;
	int vip_stats, real_stats, events;
	int first_table;	/* first_vip_table until it is filled */
	bool pinned;
	bool kept;		/* link pinned: stays after we exit */
};

static void to_real(const struct service *svc, const struct real_spec *spec,
		    struct real *real)
{
	memset(real, 0, sizeof(*real));
	real->family = spec->daddr.family;
	memcpy(real->saddr, svc->saddr.words, sizeof(real->saddr));
	memcpy(real->daddr, spec->daddr.words, sizeof(real->daddr));
	memcpy(real->dmac, spec->mac, sizeof(real->dmac));
}

static void clear_counters(int fd, __u32 id)
{
	int nr_cpus = libbpf_num_possible_cpus();
	struct traffic *zero = calloc(nr_cpus, sizeof(*zero));

	if (zero)
		bpf_map_update_elem(fd, &id, zero, BPF_ANY);
	free(zero);
}

/* The reals array as the kernel has it, read once per configuration. */
struct real_table {
	struct real slot[MAX_REALS];
	bool taken[MAX_REALS];	/* used by the configuration being built */
};

/* The whole array in one system call: one per slot took milliseconds. */
static int read_reals(int fd, struct real *slot)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 *ids = calloc(MAX_REALS, sizeof(*ids));
	struct real *vals = calloc(MAX_REALS, sizeof(*vals));
	__u32 i, count = MAX_REALS, batch_end;
	int err = -ENOMEM;

	if (!ids || !vals)
		goto out;
	err = 0;
	/* ENOENT: the batch reached the end of the array */
	if (bpf_map_lookup_batch(fd, NULL, &batch_end, ids, vals, &count,
				 &opts) && errno != ENOENT)
		err = -errno;
	for (i = 0; i < count && !err; i++) {
		if (ids[i] >= MAX_REALS)
			err = -ERANGE;
		else
			slot[ids[i]] = vals[i];
	}
	if (!err && count != MAX_REALS)
		err = -EIO;
out:
	free(ids);
	free(vals);
	return err;
}

/* The slot of an identical real, or a free one: ids stay stable. */
static int real_slot(struct director *d, struct real_table *tab,
		     const struct real *want)
{
	__u32 id, free_id = MAX_REALS;

	for (id = 0; id < MAX_REALS; id++) {
		if (tab->slot[id].family &&
		    !memcmp(&tab->slot[id], want, sizeof(*want))) {
			tab->taken[id] = true;
			return id;
		}
		if (!tab->slot[id].family && free_id == MAX_REALS)
			free_id = id;
	}
	if (free_id == MAX_REALS)
		return -ENOSPC;
	clear_counters(d->real_stats, free_id);	/* a new real starts at 0 */
	if (bpf_map_update_elem(d->reals, &free_id, want, BPF_ANY))
		return -errno;
	tab->slot[free_id] = *want;
	tab->taken[free_id] = true;
	return free_id;
}

/* ---- Maglev (Eisenbud et al., NSDI 2016) with weights ----------------- */

static __u64 hash64(const void *data, size_t len, __u64 seed)
{
	const __u8 *p = data;
	__u64 h = 0xcbf29ce484222325ULL ^ seed;	/* FNV-1a, then a mixer */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

struct maglev_entry {
	const struct real_spec *spec;
	__u32 real_id;
	__u32 offset;
	__u32 skip;
	__u32 next;		/* how far along its permutation */
	__u64 credit;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct maglev_entry *x = a, *y = b;

	if (x->spec->daddr.family != y->spec->daddr.family)
		return x->spec->daddr.family - y->spec->daddr.family;
	return memcmp(x->spec->daddr.words, y->spec->daddr.words,
		      sizeof(x->spec->daddr.words));
}

/*
 * Fill ring[0..MAGLEV_RING_SIZE) with real ids. Each real walks its own
 * permutation of the slots (offset, skip from its address) and claims the
 * next free one when its credit reaches the largest weight, so slots are
 * shared in proportion to weight. Reals are ordered by address, so the
 * same set of reals always yields the same ring, on any director.
 */
static int maglev_build(struct maglev_entry *e, int n, __u32 *ring)
{
	__u64 max_weight = 0;
	__u32 filled = 0, slot;
	int i;

	qsort(e, n, sizeof(*e), cmp_entry);
	for (i = 0; i < n; i++) {
		const __be32 *addr = e[i].spec->daddr.words;

		e[i].offset = hash64(addr, 16, 0) % MAGLEV_RING_SIZE;
		e[i].skip = hash64(addr, 16, 1) % (MAGLEV_RING_SIZE - 1) + 1;
		e[i].next = 0;
		e[i].credit = 0;
		if (e[i].spec->weight > max_weight)
			max_weight = e[i].spec->weight;
	}
	if (!max_weight)
		return -ENOENT;
	memset(ring, 0xff, MAGLEV_RING_SIZE * sizeof(*ring));
	while (filled < MAGLEV_RING_SIZE) {
		for (i = 0; i < n && filled < MAGLEV_RING_SIZE; i++) {
			e[i].credit += e[i].spec->weight;
			if (e[i].credit < max_weight)
				continue;
			e[i].credit -= max_weight;
			do {
				slot = (e[i].offset + (__u64)e[i].next *
					e[i].skip) % MAGLEV_RING_SIZE;
				e[i].next++;
			} while (ring[slot] != 0xffffffff);
			ring[slot] = e[i].real_id;
			filled++;
		}
	}
	return 0;
}

/* Build the ring aside, then switch it in with one update of vip_rings. */
static int install_ring(struct director *d, __u32 vip_id,
			struct maglev_entry *e, int n)
{
	static __u32 ring[MAGLEV_RING_SIZE], keys[MAGLEV_RING_SIZE];
	__u32 count = MAGLEV_RING_SIZE, i;
	int fd, err;

	double t = now_s();

	err = maglev_build(e, n, ring);
	if (err)
		return err;
	cfg_time.build_s += now_s() - t;
	t = now_s();
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vip_ring", sizeof(__u32),
			    sizeof(__u32), MAGLEV_RING_SIZE, NULL);
	if (fd < 0)
		return -errno;
	for (i = 0; i < MAGLEV_RING_SIZE; i++)
		keys[i] = i;
	err = bpf_map_update_batch(fd, keys, ring, &count, NULL);
	if (!err && bpf_map_update_elem(d->vip_rings, &vip_id, &fd, BPF_ANY))
		err = -errno;
	close(fd);
	cfg_time.push_s += now_s() - t;
	cfg_time.rings++;
	return err;
}

/* Fill vip_range.real_id/flags: one real directly, several by a ring. */
static int configure_reals(struct director *d, const struct service *svc,
			   struct vip_range *range, struct real_table *tab)
{
	struct maglev_entry *e;
	struct real real;
	int i, id, n = 0, err = 0;

	e = calloc(svc->nr_reals, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (i = 0; i < svc->nr_reals; i++) {
		to_real(svc, &svc->reals[i], &real);
		id = real_slot(d, tab, &real);
		if (id < 0) {
			err = id;
			goto out;
		}
		if (!svc->reals[i].weight || svc->reals[i].down)
			continue;
		e[n].spec = &svc->reals[i];
		e[n].real_id = id;
		range->real_id = id;
		n++;
	}
	if (!n) {
		range->real_id = MAX_REALS;	/* no usable real: drop */
	} else if (n > 1) {
		err = install_ring(d, range->vip_id, e, n);
		range->flags |= VIP_F_RING;
	}
	if (svc->flow_src)
		range->flags |= VIP_F_FLOW_SRC;
out:
	free(e);
	return err;
}

/*
 * Where each key is in a list of vip_slot: an open-addressing table of
 * list positions, so that 10,000 VIPs are not compared with each other
 * one by one.
 */
struct key_index {
	int *pos;		/* position in the list + 1; 0: free */
	unsigned int mask;
};

struct vip_change {
	struct vip_slot *old, *new;
	int nr_old, nr_new;
	struct key_index old_index, new_index;
	bool used_id[MAX_VIPS];	/* by the old or the new configuration */
	__u32 next_id;		/* every vip_id below it is used */
	bool new_ring[MAX_VIPS];	/* vip_ids the new configuration rings */
};

static int index_init(struct key_index *index, int entries)
{
	unsigned int size = 16;

	while (size < 2U * entries)
		size *= 2;
	index->pos = calloc(size, sizeof(*index->pos));
	index->mask = size - 1;
	return index->pos ? 0 : -ENOMEM;
}

/* FNV-1a over the key's bytes (padding included: keys are zeroed) */
static unsigned int key_hash(const struct vip_key *key)
{
	const unsigned char *byte = (const unsigned char *)key;
	unsigned int hash = 2166136261U;
	size_t i;

	for (i = 0; i < sizeof(*key); i++)
		hash = (hash ^ byte[i]) * 16777619U;
	return hash;
}

/* The index slot holding key, or the free one where it would go. */
static int *index_slot(const struct key_index *index,
		       const struct vip_slot *list, const struct vip_key *key)
{
	unsigned int i = key_hash(key) & index->mask;

	while (index->pos[i] &&
	       memcmp(&list[index->pos[i] - 1].key, key, sizeof(*key)))
		i = (i + 1) & index->mask;
	return &index->pos[i];
}

/*
 * The VIP table the program searches now, mapped read-only into our
 * memory (*table is NULL before the first), and its map id, which every
 * new table changes.
 */
static int map_vip_table(int vip_tables, struct vip_slot **table,
			 __u32 *table_id)
{
	__u32 zero = 0;
	void *mem;
	int fd;

	*table = NULL;
	if (bpf_map_lookup_elem(vip_tables, &zero, table_id))
		return errno == ENOENT ? 0 : -errno;
	fd = bpf_map_get_fd_by_id(*table_id);
	if (fd < 0)
		return -errno;
	mem = mmap(NULL, VIP_TABLE_BYTES, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (mem == MAP_FAILED)
		return -errno;
	*table = mem;
	return 0;
}

/* The VIP table's keys and values as a list. */
static int read_vips(int vip_tables, struct vip_slot **list, int *nr)
{
	struct vip_slot *table, *e;
	__u32 table_id, i;
	int err;

	*list = NULL;
	*nr = 0;
	err = map_vip_table(vip_tables, &table, &table_id);
	if (err || !table)
		return err;
	for (i = 0; i < VIP_TABLE_SIZE && !err; i++) {
		if (!table[i].key.family)
			continue;
		e = realloc(*list, (*nr + 1) * sizeof(*e));
		if (!e) {
			err = -ENOMEM;
			break;
		}
		e[*nr] = table[i];
		*list = e;
		(*nr)++;
	}
	munmap(table, VIP_TABLE_BYTES);
	return err;
}

/*
 * An empty VIP table, an array the loader writes through mmap(), typed
 * with the BTF of the table the program has now, so that bpftool prints
 * its fields.
 */
static int create_vip_table(int vip_tables)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	struct bpf_map_info info = {};
	__u32 zero = 0, id, len = sizeof(info);
	int fd, btf_fd = -1;

	if (!bpf_map_lookup_elem(vip_tables, &zero, &id)) {
		fd = bpf_map_get_fd_by_id(id);
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    info.btf_id)
			btf_fd = bpf_btf_get_fd_by_id(info.btf_id);
		if (fd >= 0)
			close(fd);
	}
	if (btf_fd >= 0) {
		opts.btf_fd = btf_fd;
		opts.btf_key_type_id = info.btf_key_type_id;
		opts.btf_value_type_id = info.btf_value_type_id;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vip_table", sizeof(__u32),
			    sizeof(struct vip_slot), VIP_TABLE_SIZE, &opts);
	if (fd < 0)
		fd = -errno;
	if (btf_fd >= 0)
		close(btf_fd);
	return fd;
}

/*
 * Build a new VIP table aside and switch it in with one update of
 * vip_tables: a packet finds either the old table or the new one. Such an
 * update waits until no program runs on the old table (an RCU grace
 * period: 8 to 20 ms on a small VM), so before the program is attached
 * the first table is filled in place instead: nothing runs it yet.
 */
static int install_vips(struct director *d, const struct vip_slot *list,
			int nr)
{
	bool first = d->first_table >= 0;
	struct vip_slot *table;
	__u32 *slot, zero = 0;
	int fd = -1, k, err;

	slot = calloc(nr ? nr : 1, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	err = place_vips(list, nr, slot, &k);	/* check_vip_slots() passed */
	if (err)
		goto out;
	fd = first ? d->first_table : create_vip_table(d->vip_tables);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	table = mmap(NULL, VIP_TABLE_BYTES, PROT_READ | PROT_WRITE,
		     MAP_SHARED, fd, 0);
	if (table == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	for (k = 0; k < nr; k++)
		table[slot[k]] = list[k];
	munmap(table, VIP_TABLE_BYTES);
	if (first)
		d->first_table = -1;	/* the program's from now on */
	else if (bpf_map_update_elem(d->vip_tables, &zero, &fd, BPF_ANY))
		err = -errno;
out:
	if (fd >= 0 && !first)
		close(fd);
	free(slot);
	return err;
}

static __u32 vip_id_for(struct director *d, struct vip_change *vt,
			const struct vip_key *key, __u16 min, __u16 max)
{
	int k = *index_slot(&vt->old_index, vt->old, key) - 1;
	const struct vip_value *v = k >= 0 ? &vt->old[k].value : NULL;
	__u32 r, id;

	for (r = 0; v && r < v->nr_ranges && r < VIP_MAX_RANGES; r++)
		if (v->range[r].port_min == min && v->range[r].port_max == max)
			return v->range[r].vip_id;
	for (id = vt->next_id; id < MAX_VIPS; id++) {
		if (vt->used_id[id])
			continue;
		vt->used_id[id] = true;
		vt->next_id = id + 1;
		clear_counters(d->vip_stats, id);	/* a new VIP starts at 0 */
		return id;
	}
	return MAX_VIPS;
}

/* The new value for key, added empty if the key is new. */
static struct vip_value *vip_value_for(struct vip_change *vt,
				       const struct vip_key *key)
{
	int *slot = index_slot(&vt->new_index, vt->new, key);
	struct vip_slot *e;

	if (*slot)
		return &vt->new[*slot - 1].value;
	e = realloc(vt->new, (vt->nr_new + 1) * sizeof(*e));
	if (!e)
		return NULL;
	vt->new = e;
	e = &vt->new[vt->nr_new++];
	memset(e, 0, sizeof(*e));
	e->key = *key;
	*slot = vt->nr_new;
	return &e->value;
}

static int add_range(struct director *d, struct vip_change *vt,
		     struct real_table *tab, const struct service *svc,
		     __u16 min, __u16 max)
{
	char vip[INET6_ADDRSTRLEN];
	struct vip_range *range;
	struct vip_value *val;
	struct vip_key key;
	__u32 i;

	inet_ntop(svc->vip.family, svc->vip.words, vip, sizeof(vip));
	vip_key_of(svc, &key);
	val = vip_value_for(vt, &key);
	if (!val)
		return -ENOMEM;
	for (i = 0; i < val->nr_ranges; i++) {
		if (min <= val->range[i].port_max &&
		    val->range[i].port_min <= max) {
			fprintf(stderr, "%s: -a '%s': port ranges overlap\n",
				prog_name, vip);
			return -EINVAL;
		}
	}
	if (val->nr_ranges >= VIP_MAX_RANGES) {
		fprintf(stderr, "%s: -a '%s': more than %d port ranges\n",
			prog_name, vip, VIP_MAX_RANGES);
		return -E2BIG;
	}
	range = &val->range[val->nr_ranges++];
	range->port_min = min;
	range->port_max = max;
	range->vip_id = vip_id_for(d, vt, &key, min, max);
	if (range->vip_id >= MAX_VIPS) {
		fprintf(stderr, "%s: -a '%s': more than %d VIPs\n", prog_name,
			vip, MAX_VIPS);
		return -E2BIG;
	}
	return configure_reals(d, svc, range, tab);
}

/* Index the old configuration's keys, and room for the new one's. */
static int index_vips(struct vip_change *vt, int nr_svc)
{
	int k;

	if (index_init(&vt->old_index, vt->nr_old) ||
	    index_init(&vt->new_index, nr_svc))
		return -ENOMEM;
	for (k = 0; k < vt->nr_old; k++)
		*index_slot(&vt->old_index, vt->old, &vt->old[k].key) = k + 1;
	return 0;
}

/*
 * Make the maps describe opt's services, whatever they held before. New
 * reals and rings are written aside first, then a new VIP table is
 * switched in, and only then is what nothing uses removed, so a packet
 * sees either the old service or the new one.
 */
static int apply_services(struct director *d, struct options *opt)
{
	struct real_table *tab = calloc(1, sizeof(*tab));
	struct vip_change *vt = calloc(1, sizeof(*vt));
	int s, k, r, err = -ENOMEM;
	__u32 id, i;

	if (!tab || !vt)
		goto out;
	err = read_reals(d->reals, tab->slot);
	if (!err && d->first_table < 0)	/* else the old table is empty */
		err = read_vips(d->vip_tables, &vt->old, &vt->nr_old);
	for (k = 0; k < vt->nr_old && !err; k++)
		for (i = 0; i < vt->old[k].value.nr_ranges &&
		     i < VIP_MAX_RANGES; i++)
			if (vt->old[k].value.range[i].vip_id < MAX_VIPS)
				vt->used_id[vt->old[k].value.range[i].vip_id] = true;
	if (!err)
		err = index_vips(vt, opt->nr_svc);
	for (s = 0; s < opt->nr_svc && !err; s++) {
		const struct service *svc = &opt->svc[s];

		if (!svc->nr_ports)
			err = add_range(d, vt, tab, svc, 0, 0);
		for (r = 0; r < svc->nr_ports && !err; r++)
			err = add_range(d, vt, tab, svc, svc->ports[r].min,
					svc->ports[r].max);
	}
	if (!err)
		err = install_vips(d, vt->new, vt->nr_new);
	if (err)
		goto out;

	/* what the new configuration no longer uses */
	for (k = 0; k < vt->nr_new; k++)
		for (i = 0; i < vt->new[k].value.nr_ranges; i++)
			if (vt->new[k].value.range[i].flags & VIP_F_RING)
				vt->new_ring[vt->new[k].value.range[i].vip_id] = true;
	for (k = 0; k < vt->nr_old; k++) {
		for (i = 0; i < vt->old[k].value.nr_ranges &&
		     i < VIP_MAX_RANGES; i++) {
			id = vt->old[k].value.range[i].vip_id;
			if (id < MAX_VIPS && !vt->new_ring[id])
				bpf_map_delete_elem(d->vip_rings, &id);
		}
	}
	for (id = 0; id < MAX_REALS; id++) {
		if (tab->slot[id].family && !tab->taken[id]) {
			struct real none = {};

			bpf_map_update_elem(d->reals, &id, &none, BPF_ANY);
		}
		cfg_time.reals += tab->taken[id];
	}
	for (k = 0; k < vt->nr_new; k++)
		cfg_time.vips += vt->new[k].value.nr_ranges;
out:
	if (err)
		fprintf(stderr, "%s: cannot configure the VIPs: %s\n",
			prog_name, strerror(-err));
	if (vt) {
		free(vt->old);
		free(vt->new);
		free(vt->old_index.pos);
		free(vt->new_index.pos);
	}
	free(vt);
	free(tab);
	return err;
}

/* A prefix of len bits over nwords big-endian words: address and mask. */
static void prefix_mask(const __be32 *addr, int len, int nwords, __be32 *prefix,
			__be32 *mask)
{
	int i, bits;

	for (i = 0; i < nwords; i++) {
		bits = len - 32 * i;
		bits = bits < 0 ? 0 : bits > 32 ? 32 : bits;
		mask[i] = bits ? htonl(~0U << (32 - bits)) : 0;
		prefix[i] = addr[i] & mask[i];
	}
}

/* The interface's MAC and MTU: the outer source and the size limit. */
static int configure_interface(struct director *d, const struct options *opt)
{
	struct config cfg = {};
	struct ifreq ifr = {};
	__u32 zero = 0;
	int sock, err = 0;

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	memcpy(ifr.ifr_name, opt->ifname, IF_NAMESIZE);
	if (ioctl(sock, SIOCGIFHWADDR, &ifr)) {
		err = -errno;
		goto out;
	}
	memcpy(cfg.smac, ifr.ifr_hwaddr.sa_data, sizeof(cfg.smac));
	if (ioctl(sock, SIOCGIFMTU, &ifr)) {
		err = -errno;
		goto out;
	}
	cfg.mtu = ifr.ifr_mtu > 0xffff ? 0 : ifr.ifr_mtu;
	prefix_mask(opt->flow_src[0].words, opt->flow_src_len[0], 1,
		    &cfg.flow_src4, &cfg.flow_src4_mask);
	prefix_mask(opt->flow_src[1].words, opt->flow_src_len[1], 4,
		    cfg.flow_src6, cfg.flow_src6_mask);
	if (bpf_map_update_elem(d->config_map, &zero, &cfg, BPF_ANY))
		err = -errno;
out:
	close(sock);
	return err;
}

/* ---- load ------------------------------------------------------------- */

static bool verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (!verbose && level != LIBBPF_WARN)
		return 0;
	if (!verbose)
		return 0;	/* our own one-line message follows */
	return vfprintf(stderr, fmt, args);
}

/* <argv0>_kern.o as the kernel samples do, else next to the executable. */
static int find_object(const char *argv0, char *path, size_t size)
{
	char exe[PATH_MAX - 32];
	ssize_t len;
	char *slash;

	snprintf(path, size, "%s_kern.o", argv0);
	if (!access(path, R_OK))
		return 0;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(path, size, "%s/%s_kern.o", exe, PROG_NAME);
		if (!access(path, R_OK))
			return 0;
	}
	fprintf(stderr, "%s: cannot find the BPF object %s_kern.o\n",
		prog_name, argv0);
	return -1;
}

static int map_fd(struct director *d, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(d->obj, name);

	return map ? bpf_map__fd(map) : -1;
}

/* Only root may touch a director: say so, not that there is none. */
static bool not_permitted(int err, const char *what)
{
	if (err != EPERM && err != EACCES)
		return false;
	fprintf(stderr,
		"%s: not permitted to %s: run as root (CAP_BPF and CAP_NET_ADMIN)\n",
		prog_name, what);
	return true;
}

static int load_director(struct director *d, const char *path)
{
	int err;

	char msg[128];

	d->obj = bpf_object__open_file(path, NULL);
	err = libbpf_get_error(d->obj);
	if (err) {
		d->obj = NULL;
		libbpf_strerror(err, msg, sizeof(msg));
		fprintf(stderr, "%s: %s: not a usable BPF object: %s\n",
			prog_name, path, msg);
		return -1;
	}
	d->prog = bpf_object__find_program_by_name(d->obj, PROG_NAME);
	if (!d->prog) {
		fprintf(stderr, "%s: %s: has no program %s\n", prog_name, path,
			PROG_NAME);
		return -1;
	}
	err = bpf_object__load(d->obj);
	if (err) {
		if (!not_permitted(-err, "load BPF programs"))
			fprintf(stderr, "%s: %s: cannot load it: %s (-v shows why)\n",
				prog_name, path,
				(libbpf_strerror(err, msg, sizeof(msg)), msg));
		return -1;
	}
	d->vip_tables = map_fd(d, "vip_tables");
	d->first_table = map_fd(d, "first_vip_table");
	d->reals = map_fd(d, "reals");
	d->vip_rings = map_fd(d, "vip_rings");
	d->config_map = map_fd(d, "config_map");
	d->vip_stats = map_fd(d, "vip_stats");
	d->real_stats = map_fd(d, "real_stats");
	d->events = map_fd(d, "events");
	if (d->vip_tables < 0 || d->first_table < 0 || d->reals < 0 ||
	    d->vip_rings < 0 || d->config_map < 0 || d->vip_stats < 0 ||
	    d->real_stats < 0 || d->events < 0) {
		fprintf(stderr, "%s: %s: lacks the maps of %s\n", prog_name,
			path, PROG_NAME);
		return -1;
	}
	return 0;
}

/*
 * Maps are pinned under opt->pin_dir while the director runs, so
 * that `xdp_iptunnel --update` and bpftool can reach them; with --keep the
 * link is pinned there too and outlives the loader.
 */
static int pin_path(char *buf, size_t size, const struct options *opt,
		    const char *name)
{
	int n = snprintf(buf, size, "%s%s%s", opt->pin_dir, name ? "/" : "",
			 name ? name : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Interface names repeat across network namespaces: a director in a
 * namespace named in /run/netns (as `ip netns` names them) pins under
 * that name.
 */
static void find_pin_dir(struct options *opt)
{
	struct stat self, st;
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	opt->pin_netns[0] = '\0';
	dir = opendir("/run/netns");
	while (dir && !stat("/proc/self/ns/net", &self) &&
	       (e = readdir(dir))) {
		snprintf(path, sizeof(path), "/run/netns/%s", e->d_name);
		if (e->d_name[0] != '.' && !stat(path, &st) &&
		    st.st_ino == self.st_ino && st.st_dev == self.st_dev &&
		    strlen(e->d_name) < sizeof(opt->pin_netns)) {
			strcpy(opt->pin_netns, e->d_name);
			break;
		}
	}
	if (dir)
		closedir(dir);
	snprintf(opt->pin_dir, sizeof(opt->pin_dir), "%s/%s%s%s", PIN_ROOT,
		 opt->pin_netns, opt->pin_netns[0] ? "/" : "", opt->ifname);
}

/* PIN_ROOT and the namespace's directory, root only */
static int make_pin_parents(const struct options *opt)
{
	char path[PATH_MAX];

	if (mkdir(PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	if (!opt->pin_netns[0])
		return 0;
	snprintf(path, sizeof(path), "%s/%s", PIN_ROOT, opt->pin_netns);
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int mount_bpffs(void)
{
	struct statfs fs;

	/* `ip netns exec` mounts a fresh /sys without the BPF filesystem */
	if (!statfs(BPFFS, &fs) && fs.f_type == BPFFS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

static bool xdp_attached(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);

	return !bpf_xdp_query(ifindex, 0, &query) &&
	       query.attach_mode != XDP_ATTACHED_NONE;
}

/* Remove the pins of a director; with the link pin, that detaches it. */
static void remove_pins(const struct options *opt)
{
	static const char *const names[] = {
		"link", "vip_tables", "reals", "vip_rings", "config_map",
		"vip_stats", "real_stats", "events",
		"trace_ctl", "trace_buckets", "trace_ring",
	};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!pin_path(path, sizeof(path), opt, names[i]))
			unlink(path);
	rmdir(opt->pin_dir);
	/* the parents only when no other director uses them */
	snprintf(path, sizeof(path), "%s/%s", PIN_ROOT, opt->pin_netns);
	if (opt->pin_netns[0])
		rmdir(path);
	rmdir(PIN_ROOT);
}

/*
 * A second loader starting on the interface would take the first's pins,
 * not attached yet, for stale ones and remove them: starting, from the
 * pins to the attachment, is serialised on the BPF filesystem's root,
 * which is never removed. Best effort: -1 when it cannot be locked.
 */
static int start_lock(void)
{
	int fd;

	if (mount_bpffs())
		return -1;
	fd = open(BPFFS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int pin_maps(struct director *d, const struct options *opt)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	err = mount_bpffs();
	if (!err)
		err = make_pin_parents(opt);
	if (!err && mkdir(opt->pin_dir, 0700)) {
		err = -errno;
		if (err == -EEXIST && !xdp_attached(opt->ifindex)) {
			/* left by a director that was killed */
			printf("%s: removing stale pins in %s\n", prog_name,
			       opt->pin_dir);
			remove_pins(opt);
			err = make_pin_parents(opt);
			if (!err && mkdir(opt->pin_dir, 0700))
				err = -errno;
		} else if (err == -EEXIST) {
			fprintf(stderr,
				"%s: -i '%s': a director already runs there (%s)\n",
				prog_name, opt->ifname, opt->pin_dir);
			return -1;
		}
	}
	if (err)
		goto fail;
	d->pinned = true;
	bpf_object__for_each_map(map, d->obj) {
		if (strchr(bpf_map__name(map), '.'))
			continue;	/* internal maps */
		/* through vip_tables: a pin would keep it once replaced */
		if (bpf_map__fd(map) == d->first_table)
			continue;
		err = pin_path(path, sizeof(path), opt, bpf_map__name(map));
		if (!err)
			err = bpf_map__pin(map, path);
		if (err)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "%s: cannot pin maps under %s: %s\n", prog_name,
		opt->pin_dir, strerror(-err));
	return -1;
}

static void unpin_maps(struct director *d, const struct options *opt)
{
	if (!d->pinned)
		return;
	remove_pins(opt);
	d->pinned = false;
}

/* --update: the maps of the director that runs on -i. */
static int open_pinned(struct director *d, const struct options *opt)
{
	struct {
		const char *name;
		int *fd;
	} maps[] = {
		{ "vip_tables", &d->vip_tables }, { "reals", &d->reals },
		{ "vip_rings", &d->vip_rings }, { "vip_stats", &d->vip_stats },
		{ "real_stats", &d->real_stats },
	};
	char path[PATH_MAX];
	size_t i;

	if (mount_bpffs())
		return -1;
	for (i = 0; i < ARRAY_SIZE(maps); i++) {
		if (pin_path(path, sizeof(path), opt, maps[i].name))
			return -1;
		*maps[i].fd = bpf_obj_get(path);
		if (*maps[i].fd < 0) {
			if (not_permitted(errno, "change the director"))
				return -1;
			fprintf(stderr,
				"%s: -i '%s': no director runs there (%s: %s)\n",
				prog_name, opt->ifname, path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* ---- attach ----------------------------------------------------------- */

static const char *mode_name(__u32 mode)
{
	switch (mode) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "generic";
	case XDP_ATTACHED_HW:
		return "offload";
	}
	return "unknown";
}

static int attach_director(struct director *d, const struct options *opt)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	LIBBPF_OPTS(bpf_link_create_opts, link_opts);
	int fd, err;

	err = bpf_xdp_query(opt->ifindex, 0, &query);
	if (!err && query.attach_mode != XDP_ATTACHED_NONE) {
		__u32 id = query.prog_id ? query.prog_id :
			   query.skb_prog_id ? query.skb_prog_id :
			   query.drv_prog_id;

		if (!opt->force) {
			fprintf(stderr,
				"%s: -i '%s': XDP program %u is already attached (-F replaces it)\n",
				prog_name, opt->ifname, id);
			return -1;
		}
		/* each mode the query found a program in */
		if (query.skb_prog_id)
			err = bpf_xdp_detach(opt->ifindex, XDP_FLAGS_SKB_MODE,
					     NULL);
		if (!err && query.drv_prog_id)
			err = bpf_xdp_detach(opt->ifindex, XDP_FLAGS_DRV_MODE,
					     NULL);
		if (!err && query.hw_prog_id)
			err = bpf_xdp_detach(opt->ifindex, XDP_FLAGS_HW_MODE,
					     NULL);
		if (err) {
			fprintf(stderr,
				"%s: -F: cannot detach XDP program %u from '%s': %s (a bpf_link holds it?)\n",
				prog_name, id, opt->ifname, strerror(-err));
			return -1;
		}
	}

	link_opts.flags = opt->xdp_flags;
	fd = bpf_link_create(bpf_program__fd(d->prog), opt->ifindex, BPF_XDP,
			     &link_opts);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "%s: -i '%s': cannot attach in %s mode: %s\n",
			prog_name, opt->ifname,
			opt->xdp_flags & XDP_FLAGS_SKB_MODE ? "generic" :
			opt->xdp_flags & XDP_FLAGS_DRV_MODE ? "native" :
			"default", strerror(-err));
		return -1;
	}
	d->link_fd = fd;
	if (opt->keep) {
		char path[PATH_MAX];

		err = pin_path(path, sizeof(path), opt, "link");
		if (!err && bpf_obj_pin(fd, path))
			err = -errno;
		if (err) {
			fprintf(stderr, "%s: --keep: cannot pin the link: %s\n",
				prog_name, strerror(-err));
			return -1;
		}
		d->kept = true;
	}
	err = bpf_xdp_query(opt->ifindex, 0, &query);
	printf("%s: attached to %s (ifindex %d) in %s mode\n", prog_name,
	       opt->ifname, opt->ifindex,
	       err ? "unknown" : mode_name(query.attach_mode));
	return 0;
}

/* ---- stats ------------------------------------------------------------ */

/* SIGINT, SIGTERM and SIGHUP stay blocked and are taken by the stats loop */
static sigset_t stop_signals;

static bool stop_requested(long wait_ns)
{
	struct timespec ts = { .tv_nsec = wait_ns };

	return sigtimedwait(&stop_signals, NULL, &ts) > 0;
}

static const char *const event_names[EV_MAX] = {
	[EV_FRAGMENT] = "fragment",
	[EV_TOO_BIG] = "too_big",
	[EV_NO_REAL] = "no_real",
	[EV_EXT_HDR] = "ext_hdr",
	[EV_ADJUST_HEAD] = "adjust_head",
};

struct stats {
	int nr_cpus;
	struct traffic *percpu;
	struct traffic vip[MAX_VIPS], vip_prev[MAX_VIPS];
	struct real real_slot[MAX_REALS];
	struct traffic real[MAX_REALS], real_prev[MAX_REALS];
	struct traffic proto[256], proto_prev[256];
	__u64 events[EV_MAX];
	struct vip_slot *vips;	/* the VIP table, read again when replaced */
	int nr_vips;
	__u32 table_id;
};

static int read_traffic(struct stats *st, int fd, __u32 id, struct traffic *t)
{
	int cpu;

	if (bpf_map_lookup_elem(fd, &id, st->percpu))
		return -errno;
	memset(t, 0, sizeof(*t));
	for (cpu = 0; cpu < st->nr_cpus; cpu++) {
		t->packets += st->percpu[cpu].packets;
		t->bytes += st->percpu[cpu].bytes;
	}
	return 0;
}

static __u64 rate(__u64 now, __u64 before, double secs)
{
	return now > before ? (now - before) / secs : 0;
}

static void print_addr(const __be32 *addr, int family, char *buf, size_t size)
{
	inet_ntop(family, addr, buf, size);
}

static void print_traffic(const char *kind, const char *name,
			  const struct traffic *t, const struct traffic *prev,
			  double secs, bool json, bool *first)
{
	__u64 pps = rate(t->packets, prev->packets, secs);
	__u64 bps = rate(t->bytes, prev->bytes, secs);

	if (json) {
		printf("%s{\"kind\":\"%s\",\"name\":\"%s\",",
		       *first ? "" : ",", kind, name);
		printf("\"packets\":%llu,\"bytes\":%llu,\"pps\":%llu,\"Bps\":%llu}",
		       t->packets, t->bytes, pps, bps);
		*first = false;
		return;
	}
	printf("%s %s: %llu pkts, %llu bytes, rate: %llu pkts/s, %llu bytes/s\n",
	       kind, name, t->packets, t->bytes, pps, bps);
}

/* Statistics come from the maps alone, so they follow live changes. */
static void print_stats(struct director *d, struct stats *st, double secs,
			bool json)
{
	bool first = true;
	char name[128], addr[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	__u32 id, i, zero = 0, table_id = 0;
	struct vip_key *key;
	struct real *real;
	int k;

	memset(st->proto, 0, sizeof(st->proto));
	bpf_map_lookup_elem(d->vip_tables, &zero, &table_id);
	if (table_id != st->table_id) {
		free(st->vips);
		if (read_vips(d->vip_tables, &st->vips, &st->nr_vips))
			st->nr_vips = 0;
		st->table_id = table_id;
	}
	if (json)
		printf("{\"time\":%ld,\"stats\":[", (long)time(NULL));
	for (k = 0; k < st->nr_vips; k++) {
		key = &st->vips[k].key;
		print_addr(key->addr, key->family, addr, sizeof(addr));
		for (i = 0; i < st->vips[k].value.nr_ranges &&
		     i < VIP_MAX_RANGES; i++) {
			struct vip_range *r = &st->vips[k].value.range[i];

			id = r->vip_id;
			if (id >= MAX_VIPS || read_traffic(st, d->vip_stats, id,
							   &st->vip[id]))
				continue;
			st->proto[key->protocol].packets += st->vip[id].packets;
			st->proto[key->protocol].bytes += st->vip[id].bytes;
			if (key->family == AF_INET6)
				snprintf(name, sizeof(name), "[%s]:%u-%u/%u",
					 addr, r->port_min, r->port_max,
					 key->protocol);
			else
				snprintf(name, sizeof(name), "%s:%u-%u/%u",
					 addr, r->port_min, r->port_max,
					 key->protocol);
			print_traffic("vip", name, &st->vip[id],
				      &st->vip_prev[id], secs, json, &first);
			st->vip_prev[id] = st->vip[id];
		}
	}
	if (read_reals(d->reals, st->real_slot))
		memset(st->real_slot, 0, sizeof(st->real_slot));
	for (id = 0; id < MAX_REALS; id++) {
		real = &st->real_slot[id];
		if (!real->family ||
		    read_traffic(st, d->real_stats, id, &st->real[id]))
			continue;
		print_addr(real->saddr, real->family, addr, sizeof(addr));
		print_addr(real->daddr, real->family, dst, sizeof(dst));
		snprintf(name, sizeof(name), "%s->%s", addr, dst);
		print_traffic("real", name, &st->real[id], &st->real_prev[id],
			      secs, json, &first);
		st->real_prev[id] = st->real[id];
	}
	/* the upstream sample's per-protocol view */
	for (i = 0; i < 256; i++) {
		if (!st->proto[i].packets)
			continue;
		if (json) {
			snprintf(name, sizeof(name), "%u", i);
			print_traffic("proto", name, &st->proto[i],
				      &st->proto_prev[i], secs, json, &first);
		} else {
			printf("proto %u: sum:%10llu pkts, rate:%10llu pkts/s\n",
			       i, st->proto[i].packets,
			       rate(st->proto[i].packets,
				    st->proto_prev[i].packets, secs));
		}
		st->proto_prev[i] = st->proto[i];
	}
	for (i = 0; i < EV_MAX; i++) {
		__u64 *percpu = (__u64 *)st->percpu;
		int cpu;

		st->events[i] = 0;
		if (bpf_map_lookup_elem(d->events, &i, percpu))
			continue;
		for (cpu = 0; cpu < st->nr_cpus; cpu++)
			st->events[i] += percpu[cpu];
	}
	if (json) {
		printf("],\"events\":{");
		for (i = 0; i < EV_MAX; i++)
			printf("%s\"%s\":%llu", i ? "," : "", event_names[i],
			       st->events[i]);
		printf("}}\n");
	} else {
		printf("events:");
		for (i = 0; i < EV_MAX; i++)
			printf(" %s %llu", event_names[i], st->events[i]);
		printf("\n\n");
	}
	fflush(stdout);
}

/* ---- health checks, as keepalived does for IPVS ------------------------ */

struct real_health {
	struct ip_addr addr;
	__u16 port;
	unsigned int good, bad;	/* consecutive results */
	int err;		/* of the last probe */
	bool up;
	bool changed;		/* by the last round */
};

/* One TCP connect (and for http one GET) with a one second limit. */
static int probe(const struct health_check *check, const struct ip_addr *addr,
		 __u16 port)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(port) };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port) };
	struct sockaddr *sa = (struct sockaddr *)&sin;
	socklen_t sa_len = sizeof(sin), len = sizeof(int);
	struct pollfd pfd = { .events = POLLOUT };
	char req[160], reply[16] = "";
	int err = 0;

	if (addr->family == AF_INET6) {
		memcpy(&sin6.sin6_addr, addr->words, 16);
		sa = (struct sockaddr *)&sin6;
		sa_len = sizeof(sin6);
	} else {
		sin.sin_addr.s_addr = addr->words[0];
	}
	pfd.fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (pfd.fd < 0)
		return -errno;
	if (connect(pfd.fd, sa, sa_len) && errno != EINPROGRESS)
		err = -errno;
	else if (poll(&pfd, 1, 1000) != 1)
		err = -ETIMEDOUT;
	else if (getsockopt(pfd.fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		err = -(err ?: errno);
	if (!err && check->kind == CHECK_HTTP) {
		snprintf(req, sizeof(req),
			 "GET %s HTTP/1.0\r\nUser-Agent: xdp_iptunnel\r\n\r\n",
			 check->path);
		pfd.events = POLLIN;
		if (send(pfd.fd, req, strlen(req), MSG_NOSIGNAL) < 0 ||
		    poll(&pfd, 1, 1000) != 1 ||
		    recv(pfd.fd, reply, sizeof(reply) - 1, 0) < 12 ||
		    strncmp(reply, "HTTP/1.", 7) ||
		    (reply[9] != '2' && reply[9] != '3'))
			err = -EPROTO;
	}
	close(pfd.fd);
	return err;
}

static int health_init(const struct options *opt, struct real_health **out)
{
	struct real_health *h = NULL, *tmp;
	int s, r, k, n = 0;

	for (s = 0; s < opt->nr_svc; s++) {
		const struct service *svc = &opt->svc[s];

		for (r = 0; r < svc->nr_reals; r++) {
			const struct ip_addr *a = &svc->reals[r].daddr;

			for (k = 0; k < n; k++)
				if (!memcmp(&h[k].addr, a, sizeof(*a)))
					break;
			if (k < n)
				continue;
			tmp = realloc(h, (n + 1) * sizeof(*h));
			if (!tmp) {
				free(h);
				return -ENOMEM;
			}
			h = tmp;
			memset(&h[n], 0, sizeof(h[n]));
			h[n].addr = *a;
			h[n].port = opt->check.port ? opt->check.port :
				    svc->nr_ports ? svc->ports[0].min : 80;
			h[n].up = true;
			n++;
		}
	}
	*out = h;
	return n;
}

/* Probe every real once; a change of state rewrites the VIPs. */
static void health_round(struct director *d, struct options *opt,
			 struct real_health *h, int n)
{
	char name[INET6_ADDRSTRLEN];
	int k, s, r, changed = 0;

	for (k = 0; k < n; k++) {
		h[k].err = probe(&opt->check, &h[k].addr, h[k].port);
		h[k].good = h[k].err ? 0 : h[k].good + 1;
		h[k].bad = h[k].err ? h[k].bad + 1 : 0;
		h[k].changed = h[k].up == !!h[k].err &&
			       (h[k].err ? h[k].bad >= opt->check.fall :
					   h[k].good >= opt->check.rise);
		if (h[k].changed)
			h[k].up = !h[k].err;
		changed += h[k].changed;
	}
	if (!changed)
		return;
	for (k = 0; k < n; k++)
		for (s = 0; s < opt->nr_svc; s++)
			for (r = 0; r < opt->svc[s].nr_reals; r++)
				if (!memcmp(&opt->svc[s].reals[r].daddr,
					    &h[k].addr, sizeof(h[k].addr)))
					opt->svc[s].reals[r].down = !h[k].up;
	apply_services(d, opt);
	/* logged once the VIPs say so */
	for (k = 0; k < n; k++) {
		if (!h[k].changed)
			continue;
		inet_ntop(h[k].addr.family, h[k].addr.words, name, sizeof(name));
		printf("%s: real %s port %u is %s%s%s\n", prog_name, name,
		       h[k].port, h[k].up ? "up" : "down",
		       h[k].err ? ": " : "",
		       h[k].err ? strerror(-h[k].err) : "");
	}
	fflush(stdout);
}

/* Print every STATS_INTERVAL_S until a signal, -T or the interface goes. */
static int poll_stats(struct director *d, struct options *opt)
{
	struct stats *st = calloc(1, sizeof(*st));
	double start = now_s(), last = start, checked = 0, t;
	struct real_health *health = NULL;
	char ifname[IF_NAMESIZE];
	int ret = 0, nr_health = 0;

	if (!st)
		return -ENOMEM;
	if (opt->check.kind != CHECK_NONE)
		nr_health = health_init(opt, &health);
	st->nr_cpus = libbpf_num_possible_cpus();
	st->percpu = calloc(st->nr_cpus, sizeof(*st->percpu));
	if (!st->percpu) {
		free(st);
		return -ENOMEM;
	}
	for (;;) {
		t = now_s();
		if (opt->duration && t - start >= opt->duration)
			break;
		if (nr_health > 0 && t - checked >= opt->check.interval) {
			health_round(d, opt, health, nr_health);
			checked = t;
		}
		if (t - last >= STATS_INTERVAL_S) {
			if (!if_indextoname(opt->ifindex, ifname)) {
				fprintf(stderr, "%s: -i '%s': the interface is gone\n",
					prog_name, opt->ifname);
				ret = -ENODEV;
				break;
			}
			configure_interface(d, opt);	/* MTU may change */
			print_stats(d, st, t - last, opt->json);
			last = t;
		}
		if (stop_requested(100 * 1000 * 1000))
			break;
	}
	print_stats(d, st, now_s() - last, opt->json);
	free(health);
	free(st->vips);
	free(st->percpu);
	free(st);
	return ret;
}

/* ---- detach ----------------------------------------------------------- */

static void close_director(struct director *d, const struct options *opt)
{
	if (d->link_fd >= 0)
		close(d->link_fd);	/* detaches unless pinned by --keep */
	d->link_fd = -1;
	if (!d->kept)
		unpin_maps(d, opt);
	bpf_object__close(d->obj);
}

static void free_options(struct options *opt)
{
	int i;

	for (i = 0; i < opt->nr_svc; i++)
		free(opt->svc[i].reals);
	free(opt->svc);
}

int main(int argc, char **argv)
{
	struct director d = { .link_fd = -1, .first_table = -1 };
	char path[PATH_MAX];
	struct options opt;
	int ret = 1, lock_fd = -1;
	double t;

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);
	/* a line at a time, also into a file: scripts wait for "attached" */
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print);
	if (parse_options(argc, argv, &opt))
		goto out;
	verbose = opt.verbose;
	find_pin_dir(&opt);
	if (opt.mode == STOP) {
		if (mount_bpffs() || pin_path(path, sizeof(path), &opt, NULL) ||
		    access(path, F_OK)) {
			if (!not_permitted(errno, "stop the director"))
				fprintf(stderr,
					"%s: -i '%s': no director to stop\n",
					prog_name, opt.ifname);
			goto out;
		}
		remove_pins(&opt);
		printf("%s: stopped the director on %s\n", prog_name,
		       opt.ifname);
		ret = 0;
		goto out;
	}
	if (opt.mode == TRACE) {
		if (!mount_bpffs() &&
		    !trace_run(opt.pin_dir, opt.ifname, &opt.trace, opt.json,
			       opt.duration, &stop_signals))
			ret = 0;
		goto out;
	}
	if (resolve_macs(&opt))
		goto out;
	if (opt.mode == UPDATE) {
		if (open_pinned(&d, &opt) || apply_services(&d, &opt))
			goto out;
		printf("%s: updated the director on %s: %d VIPs, %d reals\n",
		       prog_name, opt.ifname, cfg_time.vips, cfg_time.reals);
		ret = 0;
		goto out;
	}
	if (find_object(argv[0], path, sizeof(path)))
		goto out;
	if (load_director(&d, path))
		goto out;
	if (configure_interface(&d, &opt)) {
		fprintf(stderr, "%s: -i '%s': cannot read MAC and MTU: %s\n",
			prog_name, opt.ifname, strerror(errno));
		goto out;
	}
	lock_fd = start_lock();
	if (pin_maps(&d, &opt))
		goto out;
	t = now_s();
	if (apply_services(&d, &opt))
		goto out;
	printf("%s: configured %d VIPs, %d reals in %.3f ms; ", prog_name,
	       cfg_time.vips, cfg_time.reals, (now_s() - t) * 1e3);
	printf("%d Maglev rings built in %.3f ms, pushed in %.3f ms\n",
	       cfg_time.rings, cfg_time.build_s * 1e3, cfg_time.push_s * 1e3);
	if (attach_director(&d, &opt))
		goto out;
	close(lock_fd);
	lock_fd = -1;
	ret = poll_stats(&d, &opt) ? 1 : 0;
	printf("%s: %s %s\n", prog_name,
	       d.kept ? "left attached and pinned (--stop removes it):" :
	       "detached from", opt.ifname);
out:
	close_director(&d, &opt);
	if (lock_fd >= 0)
		close(lock_fd);
	free_options(&opt);
	return ret;
}
