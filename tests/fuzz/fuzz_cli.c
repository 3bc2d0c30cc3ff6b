// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_cli: libFuzzer harness on the loader's command-line parsers.
 *
 * It is linked with the loader's option, map and network objects
 * (xdp_iptunnel_opts.c, _maps.c, _net.c) and feeds the option parsers.
 * The first input byte picks the target, the rest is the text:
 *
 *   0-3  a whole command line through parse_options(): the arguments are
 *        the rest split at NUL bytes, after argv[0] "xdp_iptunnel"
 *   4    parse_mac()
 *   5    parse_ports()
 *   6    parse_addr(), parse_protocol(), parse_uint()
 *   7    add_real(), set_mac(), parse_flow_src(), parse_check()
 *
 * Besides crashes, leaks and undefined behaviour (ASan, UBSan), each
 * target checks properties against oracles written here; a violation
 * aborts, so libFuzzer keeps the input:
 *
 *   - parse_options(): on success nothing is printed on stderr and the
 *     options describe services the data path can use (a VIP, -s, at
 *     least one -d of -s's family, ports 1-65535 and lo <= hi exactly for
 *     TCP and UDP, at most 8 non-overlapping ranges per address and
 *     protocol), for --real no VIP, --tc only with --real (or --stop)
 *     and without -S, -N or -F; on failure the first line on stderr is
 *     the loader's ("xdp_iptunnel: ..."), and anything after it is the
 *     usage text;
 *   - parse_mac() accepts exactly xx:xx:xx:xx:xx:xx (hex digits), and
 *     returns those bytes;
 *   - parse_ports() accepts only N or LO-HI, decimal, 1-65535, LO <= HI,
 *     and every such string written without leading zeros;
 *   - parse_protocol() accepts tcp/udp/icmp/icmpv6 (any case) and 0-255;
 *   - parse_addr() accepts what inet_pton() does, and round-trips;
 *   - add_real() accepts ADDR[,weight=N][,mac=MAC] (N 0-65535, items in
 *     any order, the last of a kind wins) and keeps those values; -m
 *     before a real goes to the next real;
 *   - parse_flow_src() accepts ADDR/LEN, LEN 1-31 (IPv4) or 1-127 (IPv6);
 *   - parse_check() accepts tcp[:PORT] and http[:PORT][/PATH], PORT
 *     1-65535 (leading zeros may be refused), and reads that kind, port
 *     and path;
 *   - each failure is one message naming the option.
 *
 * Build (tests/fuzz/Makefile): clang -fsanitize=fuzzer,address,undefined
 * -Dfuzz_one_input=LLVMFuzzerTestOneInput, with USER_DIR=path taking the
 * loader's sources from another directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

#define MAX_ARGS	64
#define MAX_TEXT	4096

/* A property does not hold: abort, so that libFuzzer keeps the input */
static void broken(const char *what, const char *input)
{
	fprintf(stderr, "fuzz_cli: property violated: %s: '%s'\n", what,
		input);
	abort();
}

/* stdout and stderr of one call, in memory */
struct capture {
	FILE *saved_out, *saved_err;
	char *out, *err;
	size_t out_len, err_len;
};

static void capture_start(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	fflush(stdout);
	fflush(stderr);
	c->saved_out = stdout;
	c->saved_err = stderr;
	stdout = open_memstream(&c->out, &c->out_len);
	stderr = open_memstream(&c->err, &c->err_len);
	if (!stdout || !stderr)
		abort();
}

static void capture_end(struct capture *c)
{
	fclose(stdout);
	fclose(stderr);
	stdout = c->saved_out;
	stderr = c->saved_err;
}

static void capture_free(struct capture *c)
{
	free(c->out);
	free(c->err);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static int hex_val(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* xx:xx:xx:xx:xx:xx, nothing else */
static bool mac_oracle(const char *s, __u8 *mac)
{
	int i;

	if (strlen(s) != 17)
		return false;
	for (i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !is_hex(s[i]))
			return false;
	for (i = 0; i < ETH_ALEN; i++)
		mac[i] = hex_val(s[3 * i]) << 4 | hex_val(s[3 * i + 1]);
	return true;
}

/*
 * Decimal digits [s, e) as a number (saturated), or -1 when not digits;
 * *canonical: no leading zero.
 */
static long digits(const char *s, const char *e, bool *canonical)
{
	long v = 0;

	if (s == e)
		return -1;
	*canonical = *s != '0' || e - s == 1;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v > 1000000 ? v : v * 10 + *s - '0';
	}
	return v;
}

static void check_ports(const char *s)
{
	const char *dash = strchr(s, '-'), *end = s + strlen(s);
	bool c1 = true, c2 = true, valid;
	__u16 min = 0, max = 0;
	struct capture cap;
	long lo, hi;
	int ret;

	lo = digits(s, dash ? dash : end, &c1);
	hi = dash ? digits(dash + 1, end, &c2) : lo;
	valid = lo >= 1 && lo <= 65535 && hi >= 1 && hi <= 65535 && lo <= hi;
	capture_start(&cap);
	ret = parse_ports(s, &min, &max);
	capture_end(&cap);
	if (!ret && (!valid || min != lo || max != hi))
		broken("parse_ports accepted a bad port or range", s);
	if (ret && valid && c1 && c2)
		broken("parse_ports refused a good port or range", s);
	if (ret && (!cap.err_len || strncmp(cap.err, "xdp_iptunnel: -p '", 18)))
		broken("parse_ports failed without naming -p", s);
	capture_free(&cap);
}

static void check_mac(const char *s)
{
	__u8 got[ETH_ALEN], want[ETH_ALEN];
	bool valid = mac_oracle(s, want);
	int ret = parse_mac(s, got);

	if (!ret && !valid)
		broken("parse_mac accepted what is not xx:xx:xx:xx:xx:xx", s);
	if (ret && valid)
		broken("parse_mac refused a MAC address", s);
	if (!ret && memcmp(got, want, ETH_ALEN))
		broken("parse_mac read other bytes", s);
}

static void check_addr_protocol(const char *s)
{
	static const char *const names[] = { "tcp", "udp", "icmp", "icmpv6" };
	static const int numbers[] = { IPPROTO_TCP, IPPROTO_UDP,
		IPPROTO_ICMP, IPPROTO_ICMPV6 };
	struct ip_addr a, b;
	char text[INET6_ADDRSTRLEN];
	__u8 raw[16];
	struct capture cap;
	unsigned long v;
	int proto = -1, want = -1, ret;
	bool canon, valid;
	long n;
	size_t i;

	ret = parse_addr(s, &a);
	if (!ret != (inet_pton(AF_INET, s, raw) == 1 ||
		     inet_pton(AF_INET6, s, raw) == 1))
		broken("parse_addr and inet_pton disagree", s);
	if (!ret) {
		if (!inet_ntop(a.family, a.words, text, sizeof(text)) ||
		    parse_addr(text, &b) || memcmp(&a, &b, sizeof(a)))
			broken("parse_addr does not round-trip", s);
	}

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcasecmp(s, names[i]))
			want = numbers[i];
	n = digits(s, s + strlen(s), &canon);
	if (want < 0 && n >= 0 && n <= 255)
		want = n;
	capture_start(&cap);
	ret = parse_protocol(s, &proto);
	capture_end(&cap);
	valid = want >= 0;
	if (!ret != valid || (!ret && proto != want))
		broken("parse_protocol disagrees with the oracle", s);
	if (ret && strncmp(cap.err, "xdp_iptunnel: -P '", 18))
		broken("parse_protocol failed without naming -P", s);
	capture_free(&cap);

	ret = parse_uint(s, 0, 3600, &v);
	if (!ret != (n >= 0 && n <= 3600) || (!ret && (long)v != n))
		broken("parse_uint disagrees with the oracle", s);
}

/* s matches POSIX extended regex re (a literal), groups in m */
static bool matches(const char *re, const char *s, regmatch_t *m, int n)
{
	static struct {
		const char *re;
		regex_t r;
	} cache[8];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cache) && cache[i].re != re; i++)
		if (!cache[i].re) {
			if (regcomp(&cache[i].r, re, REG_EXTENDED))
				abort();
			cache[i].re = re;
			break;
		}
	if (i == ARRAY_SIZE(cache))
		abort();
	return !regexec(&cache[i].r, s, n, m, 0);
}

/* The decimal number in group g of s, saturated */
static long group_num(const char *s, const regmatch_t *g)
{
	bool canonical;

	return digits(s + g->rm_so, s + g->rm_eo, &canonical);
}

/*
 * -d ADDR[,weight=N][,mac=MAC]: items in any order, the last of a kind
 * wins; empty items between commas are skipped (strtok).
 */
static void check_real(const char *s)
{
	struct service svc = { .protocol = -1 };
	bool valid = strlen(s) < 128, has_mac = false, first = true;
	char buf[MAX_TEXT + 1], *item, *save;
	__u8 mac[ETH_ALEN] = {}, raw[16];
	struct ip_addr addr = {};
	struct capture cap;
	regmatch_t m[2];
	long weight = 1;
	int ret;

	strcpy(buf, s);
	for (item = strtok_r(buf, ",", &save); item && valid;
	     item = strtok_r(NULL, ",", &save), first = false) {
		if (first) {
			valid = inet_pton(AF_INET, item, raw) == 1 ||
				inet_pton(AF_INET6, item, raw) == 1;
			if (valid)
				parse_addr(item, &addr);
		} else if (matches("^weight=([0-9]+)$", item, m, 2)) {
			weight = group_num(item, &m[1]);
			valid = weight <= 65535;
		} else if (!strncmp(item, "mac=", 4)) {
			valid = mac_oracle(item + 4, mac);
			has_mac = true;
		} else {
			valid = false;
		}
	}
	valid &= !first;

	capture_start(&cap);
	ret = add_real(&svc, s);
	capture_end(&cap);
	if (!ret != valid)
		broken(valid ? "add_real refused a good real" :
			       "add_real accepted a bad real", s);
	if (ret && (svc.nr_reals ||
		    strncmp(cap.err ?: "", "xdp_iptunnel: -d '", 18)))
		broken("add_real failed without naming -d, or kept the real",
		       s);
	if (!ret && (svc.nr_reals != 1 ||
		     memcmp(&svc.reals[0].daddr, &addr, sizeof(addr)) ||
		     svc.reals[0].weight != weight ||
		     svc.reals[0].has_mac != has_mac ||
		     (has_mac && memcmp(svc.reals[0].mac, mac, ETH_ALEN))))
		broken("add_real read another address, weight or MAC", s);
	capture_free(&cap);
	free(svc.reals);
}

/* --flow-src ADDR/LEN: 1-31 bits for IPv4, 1-127 for IPv6 */
static void check_flow_src(const char *s)
{
	char buf[MAX_TEXT + 1];
	struct options opt = {};
	struct ip_addr addr = {};
	struct capture cap;
	regmatch_t m[3];
	bool valid;
	long len = 0;
	int ret, f;

	valid = strlen(s) < INET6_ADDRSTRLEN + 4 &&
		matches("^([^/]*)/([0-9]+)$", s, m, 3);
	if (valid) {
		snprintf(buf, sizeof(buf), "%.*s", (int)m[1].rm_eo, s);
		len = group_num(s, &m[2]);
		valid = !parse_addr(buf, &addr) && len >= 1 &&
			len <= (addr.family == AF_INET ? 31 : 127);
	}
	capture_start(&cap);
	ret = parse_flow_src(s, &opt);
	capture_end(&cap);
	f = addr.family == AF_INET6;
	if (!ret != valid)
		broken(valid ? "parse_flow_src refused a good prefix" :
			       "parse_flow_src accepted a bad prefix", s);
	if (!ret && (memcmp(&opt.flow_src[f], &addr, sizeof(addr)) ||
		     opt.flow_src_len[f] != len || opt.flow_src_len[!f]))
		broken("parse_flow_src read another prefix", s);
	if (ret && strncmp(cap.err ?: "", "xdp_iptunnel: --flow-src '", 26))
		broken("parse_flow_src failed without naming --flow-src", s);
	capture_free(&cap);
}

/* --check tcp[:PORT] or http[:PORT][/PATH] */
static void check_check(const char *s)
{
	struct health_check hc = {};
	bool valid, canonical = true;
	struct capture cap;
	regmatch_t m[5];
	long port = 0;
	int ret;

	valid = matches("^(tcp|http)(:([0-9]+))?(/.*)?$", s, m, 5) &&
		(s[0] == 'h' || m[4].rm_so < 0) &&
		(m[4].rm_so < 0 ||
		 m[4].rm_eo - m[4].rm_so < (int)sizeof(hc.path));
	if (valid && m[3].rm_so >= 0) {
		port = digits(s + m[3].rm_so, s + m[3].rm_eo, &canonical);
		valid = port >= 1 && port <= 65535;
	}
	capture_start(&cap);
	ret = parse_check(s, &hc);
	capture_end(&cap);
	if (!ret && !valid)
		broken("parse_check accepted a bad check", s);
	/* a port with leading zeros may be refused as too long */
	if (ret && valid && canonical)
		broken("parse_check refused a good check", s);
	if (!ret && (hc.kind != (s[0] == 't' ? CHECK_TCP : CHECK_HTTP) ||
		     hc.port != port ||
		     strcmp(hc.path, m[4].rm_so < 0 ? "/" : s + m[4].rm_so)))
		broken("parse_check read another kind, port or path", s);
	if (ret && strncmp(cap.err ?: "", "xdp_iptunnel: --check '", 23))
		broken("parse_check failed without naming --check", s);
	capture_free(&cap);
}

/* -m after no -d: kept for the next real; after one: that real's */
static void check_set_mac(const char *s)
{
	struct service svc = { .protocol = -1 };
	__u8 want[ETH_ALEN];
	struct capture cap;
	bool valid = mac_oracle(s, want);

	capture_start(&cap);
	if (!set_mac(&svc, s) != valid ||
	    (valid && (!svc.has_early_mac ||
		       memcmp(svc.early_mac, want, ETH_ALEN))))
		broken("set_mac before a real disagrees with the oracle", s);
	if (add_real(&svc, "192.0.2.1") || svc.reals[0].has_mac != valid ||
	    (valid && memcmp(svc.reals[0].mac, want, ETH_ALEN)))
		broken("a real after -m does not take its MAC", s);
	capture_end(&cap);
	capture_free(&cap);
	free(svc.reals);
}

/* What a successful parse_options() must have produced */
static void check_options(const struct options *o, const char *input)
{
	const struct service *a, *b;
	int i, j, x, y, n;
	bool ports;

	if (o->ifindex <= 0 || !o->ifname[0])
		broken("no interface after a successful parse", input);
	if (o->tc && ((o->mode != REAL && o->mode != STOP) ||
		      o->xdp_flags || o->force))
		broken("--tc without --real, or with -S, -N or -F", input);
	if (o->mode == STOP || o->mode == TRACE)
		return;
	if (o->mode == REAL) {
		if (o->nr_svc)
			broken("--real with a VIP", input);
		return;
	}
	if (o->nr_svc < 1)
		broken("no VIP after a successful parse", input);
	for (i = 0; i < o->nr_svc; i++) {
		a = &o->svc[i];
		if (a->vip.family != AF_INET && a->vip.family != AF_INET6)
			broken("a VIP without an address", input);
		if (a->protocol < 0 || a->protocol > 255)
			broken("a VIP with a bad protocol", input);
		if (a->saddr.family != AF_INET && a->saddr.family != AF_INET6)
			broken("a VIP without -s", input);
		if (a->nr_reals < 1)
			broken("a VIP without -d", input);
		for (j = 0; j < a->nr_reals; j++)
			if (a->reals[j].daddr.family != a->saddr.family ||
			    a->reals[j].weight > 65535)
				broken("a real of another family than -s",
				       input);
		ports = a->nr_ports > 0;
		if ((a->protocol == IPPROTO_TCP ||
		     a->protocol == IPPROTO_UDP) != ports ||
		    a->nr_ports > VIP_MAX_RANGES)
			broken("ports given for a port-less protocol, or none for TCP/UDP",
			       input);
		for (j = 0; j < a->nr_ports; j++)
			if (!a->ports[j].min || a->ports[j].min > a->ports[j].max)
				broken("a bad port range", input);
		n = 0;
		for (j = 0; j < o->nr_svc; j++) {
			b = &o->svc[j];
			if (memcmp(&a->vip, &b->vip, sizeof(a->vip)) ||
			    a->protocol != b->protocol)
				continue;
			n += b->nr_ports ? b->nr_ports : 1;
			if (i != j && (!a->nr_ports || !b->nr_ports))
				broken("a port-less VIP given twice", input);
			for (x = 0; x < a->nr_ports; x++)
				for (y = 0; y < b->nr_ports; y++)
					if ((i != j || x != y) &&
					    a->ports[x].min <= b->ports[y].max &&
					    b->ports[y].min <= a->ports[x].max)
						broken("overlapping port ranges",
						       input);
		}
		if (n > VIP_MAX_RANGES)
			broken("more than 8 ranges on an address", input);
	}
}

static void check_command_line(const char *text, size_t len)
{
	char *argv[MAX_ARGS + 2], joined[MAX_TEXT + MAX_ARGS];
	bool newline = false;
	struct options opt;
	struct capture cap;
	int argc = 1, ret = 0;
	size_t i, start = 0;
	char *nl;

	argv[0] = "xdp_iptunnel";
	for (i = 0; i <= len && argc <= MAX_ARGS; i++) {
		if (i < len && text[i]) {
			newline |= text[i] == '\n' || text[i] == '\r';
			continue;
		}
		argv[argc++] = (char *)text + start;
		start = i + 1;
	}
	argv[argc] = NULL;
	/* the arguments, for messages */
	joined[0] = '\0';
	for (i = 1; i < (size_t)argc; i++) {
		strncat(joined, argv[i], sizeof(joined) - strlen(joined) - 2);
		strcat(joined, " ");
	}

	capture_start(&cap);
	optind = 0;		/* glibc: start getopt afresh */
	opterr = 1;
	ret = parse_options(argc, argv, &opt);
	capture_end(&cap);

	if (!ret && opt.mode == HELP) {
		if (strncmp(cap.out ?: "", "usage: ", 7) || cap.err_len)
			broken("-h without the usage on stdout alone", joined);
	} else if (!ret) {
		if (cap.err_len)
			broken("a successful parse printed on stderr", joined);
		check_options(&opt, joined);
	} else if (!newline) {
		/* one line of ours, then only the usage */
		nl = strchr(cap.err ?: "", '\n');
		if (!cap.err_len || strncmp(cap.err, "xdp_iptunnel: ", 14) ||
		    !nl || (nl[1] && strncmp(nl + 1, "usage: ", 7)))
			broken("a bad command line without one line naming it",
			       joined);
	}
	capture_free(&cap);
	free_options(&opt);
}

/* LLVMFuzzerTestOneInput, named so by the build (-Dfuzz_one_input=...) */
int fuzz_one_input(const __u8 *data, size_t size);

int fuzz_one_input(const __u8 *data, size_t size)
{
	static char text[MAX_TEXT + 1];
	size_t len;

	if (size < 1 || size - 1 > MAX_TEXT)
		return 0;
	len = size - 1;
	memcpy(text, data + 1, len);
	text[len] = '\0';
	switch (data[0] % 8) {
	case 4:
		check_mac(text);
		break;
	case 5:
		check_ports(text);
		break;
	case 6:
		check_addr_protocol(text);
		break;
	case 7:
		check_real(text);
		check_flow_src(text);
		check_check(text);
		check_set_mac(text);
		break;
	default:
		check_command_line(text, len);
		break;
	}
	return 0;
}
