// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel: the command line, read into struct options, every bad
 * input answered with one line naming the option and the value.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

const char *prog_name = PROG_NAME;

void print_usage(FILE *out)
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
		"    -v print libbpf messages, and the Maglev rings' build and push times\n"
		"    -h Display this help\n"
		"    -U, --update   change the VIPs of the director running on -i\n"
		"    -K, --keep     leave the director attached and pinned at exit\n"
		"    --stop         detach a director left by --keep\n"
		"    --trace [FILTER] print the decision on each packet of the director\n"
		"       running on -i; FILTER: vip ADDR, client ADDR, port N, passed,\n"
		"       dropped, sent, limit N (per second, 1000), joined by 'and'\n"
		"    --replace[=cold] take over the director running on -i: its maps,\n"
		"       its link, no window; cold: stop it, then start (a window)\n"
		"    --flow-src <prefix> outer source per flow inside prefix (RSS)\n"
		"    --check tcp[:port] | http[:port][/path]  health-check reals\n"
		"    --check-interval <s> (2), --check-fall <n> (3), --check-rise <n> (2)\n"
		"    --grace <s>    moved TCP flows reach their previous real for s\n"
		"       seconds after a change of the reals (60; 0: off)\n"
		"    --real         on a real server: decapsulate, and hand moved\n"
		"       connections it does not know to their previous real\n"
		"    --tc           with --real: at -i's tc ingress, and leave the\n"
		"       decapsulation to the kernel's tunl0 / ip6tnl0\n"
		"-p, -P, -s, -d and -m describe the VIP of the last -a (or the first\n"
		"VIP when given before any -a); a VIP without -s or -d uses those of\n"
		"the VIP before it.\n",
		prog_name);
}

/* One line naming the option and the value, as for every bad input. */
int bad_option(char opt, const char *value, const char *why)
{
	fprintf(stderr, "%s: -%c '%s': %s\n", prog_name, opt, value, why);
	return -EINVAL;
}

int bad_long_option(const char *opt, const char *value, const char *why)
{
	fprintf(stderr, "%s: --%s '%s': %s\n", prog_name, opt, value, why);
	return -EINVAL;
}

int parse_addr(const char *str, struct ip_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, str, addr->words) == 1)
		addr->family = AF_INET;
	else if (inet_pton(AF_INET6, str, addr->words) == 1)
		addr->family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

/* A whole decimal number in [min, max]: no sign, no junk after it. */
int parse_uint(const char *str, unsigned long min, unsigned long max,
	       unsigned long *val)
{
	char *end;

	if (*str < '0' || *str > '9')
		return -EINVAL;
	errno = 0;
	*val = strtoul(str, &end, 10);
	if (errno || *end || *val < min || *val > max)
		return -EINVAL;
	return 0;
}

int parse_ports(const char *str, __u16 *min, __u16 *max)
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

int parse_mac(const char *str, __u8 *mac)
{
	unsigned int b[ETH_ALEN];
	char tail;
	int i;

	/* sscanf alone would read " 8" or "-1" as a byte */
	if (strlen(str) != 17 ||
	    strspn(str, "0123456789abcdefABCDEF:") != 17 ||
	    sscanf(str, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
		   &b[3], &b[4], &b[5], &tail) != ETH_ALEN)
		return -EINVAL;
	for (i = 0; i < ETH_ALEN; i++)
		mac[i] = b[i];
	return 0;
}

int parse_protocol(const char *str, int *protocol)
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
int add_real(struct service *svc, const char *arg)
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

int set_mac(struct service *svc, const char *arg)
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
	int err;

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
		err = parse_ports(arg, &svc->ports[svc->nr_ports].min,
				  &svc->ports[svc->nr_ports].max);
		if (!err)
			svc->nr_ports++;
		return err;
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
	return -EINVAL;
}

static int missing_option(const char *what)
{
	fprintf(stderr, "%s: missing %s\n", prog_name, what);
	print_usage(stderr);
	return -EINVAL;
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
int parse_flow_src(const char *str, struct options *opt)
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
int parse_check(const char *str, struct health_check *check)
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
	OPT_REPLACE,
	OPT_FLOW_SRC,
	OPT_CHECK,
	OPT_CHECK_INTERVAL,
	OPT_CHECK_FALL,
	OPT_CHECK_RISE,
	OPT_GRACE,
	OPT_REAL,
	OPT_TC,
	OPT_TRACE,
};

static const struct option long_options[] = {
	{ "update", no_argument, NULL, 'U' },
	{ "keep", no_argument, NULL, 'K' },
	{ "stop", no_argument, NULL, OPT_STOP },
	{ "replace", optional_argument, NULL, OPT_REPLACE },
	{ "flow-src", required_argument, NULL, OPT_FLOW_SRC },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "check-interval", required_argument, NULL, OPT_CHECK_INTERVAL },
	{ "check-fall", required_argument, NULL, OPT_CHECK_FALL },
	{ "check-rise", required_argument, NULL, OPT_CHECK_RISE },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "real", no_argument, NULL, OPT_REAL },
	{ "tc", no_argument, NULL, OPT_TC },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "help", no_argument, NULL, 'h' },
	{}
};

static int parse_count(const char *name, const char *str, unsigned int *val)
{
	unsigned long v;
	char why[32];

	if (parse_uint(str, 1, CHECK_COUNT_MAX, &v)) {
		snprintf(why, sizeof(why), "not a number 1-%d", CHECK_COUNT_MAX);
		return bad_long_option(name, str, why);
	}
	*val = v;
	return 0;
}

/* Ranges of VIPs on one address and protocol must not overlap. */
static int check_ranges(const struct options *opt)
{
	const struct service *a, *b;
	char vip[INET6_ADDRSTRLEN], why[64];
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
		if (n > VIP_MAX_RANGES) {
			snprintf(why, sizeof(why),
				 "more than %d port ranges for this protocol",
				 VIP_MAX_RANGES);
			return bad_option('a', vip, why);
		}
	}
	return 0;
}

/*
 * The command line into opt, checked whole. -h prints the usage and sets
 * opt->mode to HELP: nothing more to do.
 */
int parse_options(int argc, char **argv, struct options *opt)
{
	unsigned long val;
	int c, i, err = 0;

	memset(opt, 0, sizeof(*opt));
	opt->check.interval = CHECK_INTERVAL_DEFAULT;
	opt->check.fall = CHECK_FALL_DEFAULT;
	opt->check.rise = CHECK_RISE_DEFAULT;
	opt->grace = GRACE_DEFAULT_S;
	while (!err && (c = getopt_long(argc, argv, "i:a:p:s:d:m:T:P:SNFjvhUK",
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
		case OPT_REPLACE:
			if (optarg && strcmp(optarg, "cold"))
				return bad_long_option("replace", optarg,
						       "expected --replace or --replace=cold");
			opt->replace = optarg ? REPLACE_COLD : REPLACE_WARM;
			break;
		case OPT_FLOW_SRC:
			err = parse_flow_src(optarg, opt);
			break;
		case OPT_CHECK:
			err = parse_check(optarg, &opt->check);
			break;
		case OPT_CHECK_INTERVAL:
			err = parse_count("check-interval", optarg,
					  &opt->check.interval);
			break;
		case OPT_CHECK_FALL:
			err = parse_count("check-fall", optarg, &opt->check.fall);
			break;
		case OPT_CHECK_RISE:
			err = parse_count("check-rise", optarg, &opt->check.rise);
			break;
		case OPT_REAL:
			opt->mode = REAL;
			break;
		case OPT_TC:
			opt->tc = true;
			break;
		case OPT_TRACE:
			opt->mode = TRACE;
			break;
		case OPT_GRACE:
			if (parse_uint(optarg, 0, GRACE_MAX_S, &val))
				return bad_long_option("grace", optarg,
						       "not a number of seconds 0-86400");
			opt->grace = val;
			break;
		case 'i':
			err = parse_ifname(optarg, opt);
			break;
		case 'a':
		case 'p':
		case 'P':
		case 's':
		case 'd':
		case 'm':
			err = parse_service_option(opt, c, optarg);
			break;
		case 'T':
			if (parse_uint(optarg, 0, UINT_MAX, &val))
				err = bad_option(c, optarg,
						 "not a number of seconds >= 0");
			else
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
			opt->mode = HELP;
			return 0;
		default:
			print_usage(stderr);
			err = -EINVAL;
		}
	}
	if (err)
		return err;
	/* the words after the options are the trace's filter */
	if (opt->mode == TRACE)
		err = trace_parse_filter(argc - optind, argv + optind,
					 &opt->trace);
	else if (optind < argc)
		err = bad_option('?', argv[optind], "unexpected argument");
	if (err)
		return err;
	if ((opt->xdp_flags & XDP_FLAGS_SKB_MODE) &&
	    (opt->xdp_flags & XDP_FLAGS_DRV_MODE))
		return bad_option('N', "-S", "-S and -N exclude each other");
	if (opt->tc && opt->mode != REAL && opt->mode != STOP) {
		fprintf(stderr, "%s: --tc: only with --real\n", prog_name);
		return -EINVAL;
	}
	if (opt->tc && opt->xdp_flags)
		return bad_option(opt->xdp_flags & XDP_FLAGS_SKB_MODE ? 'S' :
				  'N', "--tc", "an XDP mode: the tc program has none");
	if (opt->tc && opt->force)
		return bad_option('F', "--tc",
				  "replaces XDP programs only (--stop removes a tc one)");
	if (!opt->ifindex)
		return missing_option("-i <ifname|ifindex>");
	if (opt->replace && opt->mode != RUN)
		return bad_long_option("replace", opt->mode == STOP ? "--stop" :
				       "--update", "not together: --replace starts a director");
	if (opt->mode == STOP || opt->mode == TRACE)
		return 0;
	if (opt->mode == REAL)	/* a real server has no VIP table */
		return opt->nr_svc ? bad_long_option("real", "-a",
						     "takes no VIP") : 0;
	if (!opt->nr_svc)
		return missing_option("-a <vip-service-address>");
	for (i = 0; i < opt->nr_svc && !err; i++) {
		struct service *svc = &opt->svc[i];

		err = check_service(svc, i ? &opt->svc[i - 1] : NULL);
		svc->flow_src = opt->flow_src_len[svc->saddr.family == AF_INET6];
	}
	return err ?: check_ranges(opt) ?: check_vip_slots(opt);
}

void free_options(struct options *opt)
{
	int i;

	for (i = 0; i < opt->nr_svc; i++)
		free(opt->svc[i].reals);
	free(opt->svc);
}
