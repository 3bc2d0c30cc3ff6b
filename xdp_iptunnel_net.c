// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel: what the loader asks the network. The next hop and its
 * MAC from the kernel's routing and neighbour tables (rtnetlink), and
 * the health checks of the real servers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

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

int resolve_macs(struct options *opt)
{
	int s, r;

	for (s = 0; s < opt->nr_svc; s++)
		for (r = 0; r < opt->svc[s].nr_reals; r++)
			if (!opt->svc[s].reals[r].has_mac &&
			    resolve_mac(opt, &opt->svc[s].reals[r]))
				return -1;
	return 0;
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

int health_init(const struct options *opt, struct real_health **out)
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
void health_round(struct director *d, struct options *opt,
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

