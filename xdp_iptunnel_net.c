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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

/* ---- config: next-hop MACs from the kernel's tables -------------------- */

/*
 * Before the director starts, the reals without -m wait for their
 * neighbour entries: NEIGH_TRIES looks NEIGH_WAIT_MS apart (1.5 s, longer
 * than an ARP or ND exchange), a datagram every NEIGH_POKE_EVERY looks in
 * case one was lost. The discard port: nothing is meant to answer the datagram.
 */
#define NEIGH_TRIES		30
#define NEIGH_WAIT_MS		50
#define NEIGH_POKE_EVERY	10
#define DISCARD_PORT		9
#define NL_ANSWER_SIZE		4096	/* one route or neighbour */

static int addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* A real's address for its family's socket calls. */
static socklen_t real_sockaddr(const struct ip_addr *addr, __u16 port,
			       int ifindex, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (addr->family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr->words, sizeof(sin6->sin6_addr));
		sin6->sin6_scope_id = ifindex;
		return sizeof(*sin6);
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = addr->words[0];
	return sizeof(*sin);
}

/* An rtnetlink request: its fixed header, then room for attributes. */
struct nl_request {
	struct nlmsghdr nh;
	union {
		struct rtmsg rt;
		struct ndmsg nd;
	};
	char attrs[64];
};

/* A request of type whose fixed header, to fill next, has hdr_len bytes. */
static void nl_request_init(struct nl_request *req, int type, size_t hdr_len)
{
	memset(req, 0, sizeof(*req));
	req->nh.nlmsg_len = NLMSG_LENGTH(hdr_len);
	req->nh.nlmsg_type = type;
	req->nh.nlmsg_flags = NLM_F_REQUEST;
}

static void nl_add_attr(struct nl_request *req, int type, const void *data,
			int len)
{
	struct rtattr *rta = (void *)req + NLMSG_ALIGN(req->nh.nlmsg_len);

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->nh.nlmsg_len = NLMSG_ALIGN(req->nh.nlmsg_len) +
			    RTA_ALIGN(rta->rta_len);
}

/*
 * Send one request whose fixed header has hdr_len bytes; the answer goes
 * into buf: *fixed points at its fixed header, *rta at its attributes,
 * *len bytes of them.
 */
static int nl_ask(int sock, struct nl_request *req, size_t hdr_len,
		  char *buf, size_t size, void **fixed, struct rtattr **rta,
		  int *len)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	ssize_t got;

	if (send(sock, req, req->nh.nlmsg_len, 0) < 0)
		return -errno;
	got = recv(sock, buf, size, 0);
	if (got < 0)
		return -errno;
	if (!NLMSG_OK(nh, (size_t)got))
		return -EIO;
	if (nh->nlmsg_type == NLMSG_ERROR)
		return ((struct nlmsgerr *)NLMSG_DATA(nh))->error ?: -ENOENT;
	*fixed = NLMSG_DATA(nh);
	*rta = *fixed + NLMSG_ALIGN(hdr_len);
	*len = NLMSG_PAYLOAD(nh, hdr_len);
	return 0;
}

/* The next hop toward dst out of ifindex: a gateway, or dst itself. */
static int next_hop(int sock, int ifindex, const struct ip_addr *dst,
		    struct ip_addr *hop)
{
	struct nl_request req;
	char buf[NL_ANSWER_SIZE];
	struct rtattr *rta;
	void *rt;
	int len = 0, err;

	nl_request_init(&req, RTM_GETROUTE, sizeof(req.rt));
	req.rt.rtm_family = dst->family;
	req.rt.rtm_dst_len = addr_len(dst->family) * 8;
	nl_add_attr(&req, RTA_DST, dst->words, addr_len(dst->family));
	nl_add_attr(&req, RTA_OIF, &ifindex, sizeof(ifindex));
	err = nl_ask(sock, &req, sizeof(req.rt), buf, sizeof(buf), &rt, &rta,
		     &len);
	if (err)
		return err;
	*hop = *dst;
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == RTA_GATEWAY)
			memcpy(hop->words, RTA_DATA(rta), addr_len(dst->family));
	return 0;
}

/* The MAC of the neighbour hop on ifindex; -EAGAIN while unresolved. */
static int neighbour_mac(int sock, int ifindex, const struct ip_addr *hop,
			 __u8 *mac)
{
	struct nl_request req;
	char buf[NL_ANSWER_SIZE];
	struct rtattr *rta;
	struct ndmsg *nd;
	int len = 0, err;

	nl_request_init(&req, RTM_GETNEIGH, sizeof(req.nd));
	req.nd.ndm_family = hop->family;
	req.nd.ndm_ifindex = ifindex;
	nl_add_attr(&req, NDA_DST, hop->words, addr_len(hop->family));
	err = nl_ask(sock, &req, sizeof(req.nd), buf, sizeof(buf),
		     (void **)&nd, &rta, &len);
	if (err)
		return err;
	if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY |
			       NUD_PROBE | NUD_PERMANENT)))
		return -EAGAIN;
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == NDA_LLADDR &&
		    RTA_PAYLOAD(rta) == ETH_ALEN) {
			memcpy(mac, RTA_DATA(rta), ETH_ALEN);
			return 0;
		}
	}
	return -EAGAIN;
}

/*
 * An empty UDP datagram makes the kernel resolve the neighbour. Best
 * effort, its errors unreported: resolve_macs() looks at the neighbour
 * table again either way, and says so when no MAC comes.
 */
static void poke_neighbour(const struct options *opt, const struct ip_addr *hop)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int sock;

	len = real_sockaddr(hop, DISCARD_PORT, opt->ifindex, &ss);
	sock = socket(hop->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return;
	if (!setsockopt(sock, SOL_SOCKET, SO_BINDTODEVICE, opt->ifname,
			strlen(opt->ifname)))
		sendto(sock, "", 0, MSG_DONTWAIT, (struct sockaddr *)&ss, len);
	close(sock);
}

/* A real without -m: the next hop toward it, and that hop's MAC. */
struct mac_query {
	struct real_spec *real;
	struct ip_addr hop;
	int err;		/* -EAGAIN (or -ENOENT) while unresolved */
};

static bool mac_pending(const struct mac_query *q)
{
	return q->err == -EAGAIN || q->err == -ENOENT;
}

/*
 * Ask the neighbour table for every query still pending, poking the
 * kernel to resolve them every NEIGH_POKE_EVERY rounds. Returns how many
 * are still pending.
 */
static int ask_neighbours(int sock, const struct options *opt,
			  struct mac_query *q, int n, int round)
{
	int i, pending = 0;

	for (i = 0; i < n; i++) {
		if (!mac_pending(&q[i]))
			continue;
		q[i].err = neighbour_mac(sock, opt->ifindex, &q[i].hop,
					 q[i].real->mac);
		if (!mac_pending(&q[i]))
			continue;
		if (!(round % NEIGH_POKE_EVERY))
			poke_neighbour(opt, &q[i].hop);
		pending++;
	}
	return pending;
}

/*
 * -m left out: the MAC of the real, or of the gateway toward it, from
 * the kernel's tables. All reals are resolved together, so waiting for
 * ARP or ND takes NEIGH_TRIES * NEIGH_WAIT_MS at most, not that per real.
 * Each is reported in the order given; the first without a MAC is the
 * error.
 */
int resolve_macs(struct options *opt)
{
	char dst[INET6_ADDRSTRLEN], via[INET6_ADDRSTRLEN];
	struct mac_query *q;
	int s, r, i, n = 0, sock, err = 0, round;
	__u8 *mac;

	for (s = 0; s < opt->nr_svc; s++)
		for (r = 0; r < opt->svc[s].nr_reals; r++)
			n += !opt->svc[s].reals[r].has_mac;
	if (!n)
		return 0;
	q = calloc(n, sizeof(*q));
	if (!q)
		return -ENOMEM;
	n = 0;
	for (s = 0; s < opt->nr_svc; s++)
		for (r = 0; r < opt->svc[s].nr_reals; r++)
			if (!opt->svc[s].reals[r].has_mac)
				q[n++].real = &opt->svc[s].reals[r];
	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sock < 0) {
		inet_ntop(q[0].real->daddr.family, q[0].real->daddr.words, dst,
			  sizeof(dst));
		free(q);
		return bad_option('d', dst, "cannot open netlink to find its MAC");
	}
	for (i = 0; i < n; i++)
		q[i].err = next_hop(sock, opt->ifindex, &q[i].real->daddr,
				    &q[i].hop) ? -EHOSTUNREACH : -EAGAIN;
	for (round = 0; ask_neighbours(sock, opt, q, n, round) &&
	     round < NEIGH_TRIES; round++)
		usleep(NEIGH_WAIT_MS * 1000);
	close(sock);
	for (i = 0; i < n && !err; i++) {
		inet_ntop(q[i].real->daddr.family, q[i].real->daddr.words, dst,
			  sizeof(dst));
		if (q[i].err) {
			err = bad_option('d', dst,
					 "no MAC known for it or its gateway: give -m");
			break;
		}
		mac = q[i].real->mac;
		inet_ntop(q[i].hop.family, q[i].hop.words, via, sizeof(via));
		printf("%s: -d %s: MAC %02x:%02x:%02x:%02x:%02x:%02x of %s %s on %s\n",
		       prog_name, dst, mac[0], mac[1], mac[2], mac[3], mac[4],
		       mac[5], memcmp(&q[i].hop, &q[i].real->daddr,
				      sizeof(q[i].hop)) ? "gateway" : "neighbour",
		       via, opt->ifname);
		q[i].real->has_mac = true;
	}
	free(q);
	return err;
}

/*
 * --real: the MAC toward a previous real now, from the kernel's tables;
 * -EAGAIN after asking the kernel to resolve it, for the next look.
 */
int peer_mac(const struct options *opt, const struct ip_addr *addr, __u8 *mac)
{
	struct ip_addr hop;
	int sock, err;

	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sock < 0)
		return -errno;
	err = next_hop(sock, opt->ifindex, addr, &hop);
	if (!err)
		err = neighbour_mac(sock, opt->ifindex, &hop, mac);
	close(sock);
	if (err == -ENOENT || err == -EAGAIN) {
		poke_neighbour(opt, &hop);
		err = -EAGAIN;
	}
	return err;
}

/* ---- health checks, as keepalived does for IPVS ------------------------ */

/*
 * Every real is probed at once, each probe a non-blocking socket that the
 * loader's one poll() watches (health_pollfds(), health_process()), so a
 * round of 1,000 reals takes as long as the slowest probe, at most
 * PROBE_TIMEOUT_MS, and never holds up a signal or the statistics.
 */
#define PROBE_TIMEOUT_MS	1000	/* slower than this is a failure */
#define CHECK_PORT_DEFAULT	80	/* of a real behind a port-less VIP */
#define HTTP_STATUS_LINE_MIN	12	/* "HTTP/1.x NNN" */
#define HTTP_STATUS_AT		9	/* the status code's first digit */
#define FDS_BESIDE_PROBES	64	/* maps, timers, stdio, netlink */

/* Room for a probe per real beside the loader's own files. */
static int make_room_for_probes(int nr)
{
	rlim_t want = nr + FDS_BESIDE_PROBES;
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim))
		return -errno;
	if (lim.rlim_cur >= want)
		return 0;
	if (lim.rlim_max < want)
		return -EMFILE;
	lim.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &lim) ? -errno : 0;
}

static int cmp_real_health(const void *a, const void *b)
{
	const struct real_health *x = a, *y = b;

	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

static int cmp_real_health_order(const void *a, const void *b)
{
	const struct real_health *x = a, *y = b;

	return cmp_real_health(a, b) ?: x->order - y->order;
}

/*
 * One entry per real address, sorted by address: a real in several VIPs
 * is probed once, on the port of the first VIP it is in.
 */
int health_init(struct health *h, const struct options *opt)
{
	struct real_health *all;
	int s, r, n = 0, k;

	memset(h, 0, sizeof(*h));
	h->check = &opt->check;
	for (s = 0; s < opt->nr_svc; s++)
		n += opt->svc[s].nr_reals;
	all = calloc(n ? n : 1, sizeof(*all));
	h->polled = calloc(n ? n : 1, sizeof(*h->polled));
	if (!all || !h->polled) {
		free(all);
		return -ENOMEM;	/* health_free() frees the rest */
	}
	n = 0;
	for (s = 0; s < opt->nr_svc; s++) {
		const struct service *svc = &opt->svc[s];

		for (r = 0; r < svc->nr_reals; r++, n++) {
			all[n].addr = svc->reals[r].daddr;
			all[n].src = svc->saddr;
			all[n].port = opt->check.port ? opt->check.port :
				      svc->nr_ports ? svc->ports[0].min :
				      CHECK_PORT_DEFAULT;
			all[n].order = n;
			all[n].fd = -1;
			all[n].up = true;
		}
	}
	/* by address, then by order: the first of each address is kept */
	qsort(all, n, sizeof(*all), cmp_real_health_order);
	for (k = 0; k < n; k++)
		if (!h->nr || cmp_real_health(&all[k], &all[h->nr - 1]))
			all[h->nr++] = all[k];
	h->real = all;
	return make_room_for_probes(h->nr);
}

void health_free(struct health *h)
{
	int k;

	for (k = 0; k < h->nr; k++)
		if (h->real[k].fd >= 0)
			close(h->real[k].fd);
	free(h->real);
	free(h->polled);
	memset(h, 0, sizeof(*h));
}

/* Whether the health checks took the real at addr out of its VIPs. */
bool health_down(const struct health *h, const struct ip_addr *addr)
{
	struct real_health key = { .addr = *addr }, *found;

	if (!h || !h->nr)
		return false;
	found = bsearch(&key, h->real, h->nr, sizeof(*h->real),
			cmp_real_health);
	return found && !found->up;
}

/* A probe's result: counted, and the socket closed. */
static void probe_done(struct health *h, struct real_health *r, int err)
{
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
		h->in_flight--;
	}
	r->err = err;
	r->good = err ? 0 : r->good + 1;
	r->bad = err ? r->bad + 1 : 0;
	r->changed = r->up == !!err &&
		     (err ? r->bad >= h->check->fall : r->good >= h->check->rise);
	if (r->changed)
		r->up = !err;
	h->changed += r->changed;
}

/*
 * The probes past their time, or all of them with force: a real that
 * did not connect timed out, one that did not answer its GET failed it.
 */
static void health_expire(struct health *h, bool force)
{
	struct real_health *r;
	int k;

	if (!h->in_flight || (!force && now_s() < h->deadline))
		return;
	for (k = 0; k < h->nr; k++) {
		r = &h->real[k];
		if (r->fd >= 0)
			probe_done(h, r, r->replying ? -EPROTO : -ETIMEDOUT);
	}
}

/* End the round now: the probes still out failed. */
void health_end_round(struct health *h)
{
	health_expire(h, true);
}

/*
 * A probe leaves from the tunnel's source address when the director has
 * it. The kernel's own choice can be a VIP on the reals' prefix (IPv6
 * prefers it), and the real, which holds the VIP, keeps what it answers.
 */
static int bind_source(const struct real_health *r)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (r->src.family != r->addr.family)
		return 0;
	len = real_sockaddr(&r->src, 0, 0, &ss);
	if (bind(r->fd, (struct sockaddr *)&ss, len) &&
	    errno != EADDRNOTAVAIL)
		return -errno;
	return 0;	/* or not ours: the kernel picks */
}

/* Start a round: a non-blocking connect to every real. */
void health_start_round(struct health *h)
{
	struct sockaddr_storage ss;
	struct real_health *r;
	socklen_t len;
	int k, err;

	h->deadline = now_s() + PROBE_TIMEOUT_MS / 1e3;
	for (k = 0; k < h->nr; k++) {
		r = &h->real[k];
		r->changed = false;
		r->replying = false;
		r->fd = socket(r->addr.family,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (r->fd < 0) {
			probe_done(h, r, -errno);
			continue;
		}
		h->in_flight++;
		err = bind_source(r);
		if (err) {
			probe_done(h, r, err);
			continue;
		}
		len = real_sockaddr(&r->addr, r->port, 0, &ss);
		if (connect(r->fd, (struct sockaddr *)&ss, len) &&
		    errno != EINPROGRESS)
			probe_done(h, r, -errno);
	}
}

/* The probes in flight, to poll: POLLOUT until connected, then POLLIN. */
int health_pollfds(struct health *h, struct pollfd *pfd)
{
	int k, n = 0;

	for (k = 0; k < h->nr; k++) {
		if (h->real[k].fd < 0)
			continue;
		pfd[n].fd = h->real[k].fd;
		pfd[n].events = h->real[k].replying ? POLLIN : POLLOUT;
		pfd[n].revents = 0;
		h->polled[n++] = k;
	}
	return n;
}

/* Milliseconds poll() may wait for the probes: -1 when none is out. */
int health_timeout_ms(const struct health *h)
{
	double left = h->deadline - now_s();

	if (!h->in_flight)
		return -1;
	return left > 0 ? (int)(left * 1e3) + 1 : 0;
}

/* Connected: a TCP check has passed, an HTTP one sends its GET. */
static void probe_connected(struct health *h, struct real_health *r)
{
	socklen_t len = sizeof(int);
	char req[160];
	int err = 0;

	if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err || h->check->kind != CHECK_HTTP) {
		probe_done(h, r, -err);
		return;
	}
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.0\r\nUser-Agent: xdp_iptunnel\r\n\r\n",
		 h->check->path);
	if (send(r->fd, req, strlen(req), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		probe_done(h, r, -EPROTO);
	else
		r->replying = true;
}

/* A 2xx or 3xx status line passes an HTTP check. */
static void probe_replied(struct health *h, struct real_health *r)
{
	char reply[16] = "";
	ssize_t len;

	len = recv(r->fd, reply, sizeof(reply) - 1, MSG_DONTWAIT);
	if (len < HTTP_STATUS_LINE_MIN || strncmp(reply, "HTTP/1.", 7) ||
	    (reply[HTTP_STATUS_AT] != '2' && reply[HTTP_STATUS_AT] != '3'))
		probe_done(h, r, -EPROTO);
	else
		probe_done(h, r, 0);
}

/*
 * What poll() said of the n probes health_pollfds() gave it. Returns
 * true when that ended the round.
 */
bool health_process(struct health *h, const struct pollfd *pfd, int n)
{
	struct real_health *r;
	int i;

	if (!h->in_flight)
		return false;
	for (i = 0; i < n; i++) {
		r = &h->real[h->polled[i]];
		if (!pfd[i].revents || r->fd != pfd[i].fd)
			continue;
		if (r->replying)
			probe_replied(h, r);
		else
			probe_connected(h, r);
	}
	health_expire(h, false);
	return !h->in_flight;
}

/*
 * A round has ended: reals that changed state leave or rejoin their
 * VIPs, and are logged once the maps say so. A change the maps could not
 * take is undone, to be tried again by the next round.
 */
void health_apply(struct health *h, struct director *d,
		  const struct options *opt)
{
	char name[INET6_ADDRSTRLEN];
	struct real_health *r;
	int k, err;

	if (!h->changed)
		return;
	err = apply_services(d, opt, h);
	for (k = 0; k < h->nr; k++) {
		r = &h->real[k];
		if (!r->changed)
			continue;
		if (err) {
			r->up = !r->up;
			continue;
		}
		inet_ntop(r->addr.family, r->addr.words, name, sizeof(name));
		printf("%s: real %s port %u is %s%s%s\n", prog_name, name,
		       r->port, r->up ? "up" : "down", r->err ? ": " : "",
		       r->err ? strerror(-r->err) : "");
	}
	h->changed = 0;
	fflush(stdout);
}
