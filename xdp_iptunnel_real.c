// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel --real: the real server's program (xdp_iptunnel_real_kern.c)
 * and its maps. The host's addresses are its tunnel endpoints; the
 * previous reals the program forwards to get their MACs from the kernel's
 * neighbour table, resolved on demand. It runs in the event loop of
 * xdp_iptunnel_user.c, pinned and attached as the director is.
 *
 * --real --tc: the same check as a filter at the interface's clsact
 * ingress, for a real whose kernel tunnel device decapsulates; the kernel
 * resolves the previous reals itself. A filter is no bpf_link: one left
 * by a loader killed with SIGKILL is removed by the next start or --stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

/*
 * --tc: the filter's place on the ingress hook. Near the end of the chain:
 * its TC_ACT_OK ends it, so the interface's other filters come first.
 */
#define REAL_TC_HANDLE		1
#define REAL_TC_PRIORITY	65000
#define REAL_TC_PROG		PROG_NAME "_real_tc"

static const char *const real_event_names[RS_MAX] = {
	[RS_PLAIN] = "plain",
	[RS_SYN] = "syn",
	[RS_KNOWN] = "known",
	[RS_COOKIE] = "cookie",
	[RS_LAST_RESORT] = "last_resort",
	[RS_FORWARDED] = "forwarded",
	[RS_NO_PEER] = "no_peer",
};

int real_open_maps(struct real_server *rs, struct bpf_object *obj)
{
	rs->local_addrs = bpf_object__find_map_fd_by_name(obj, "local_addrs");
	rs->peers = bpf_object__find_map_fd_by_name(obj, "peers");
	rs->events = bpf_object__find_map_fd_by_name(obj, "real_events");
	return rs->local_addrs < 0 || rs->peers < 0 || rs->events < 0 ?
	       -ENOENT : 0;
}

/*
 * Every address of the host, on any interface: a VIP on lo is harmless
 * (nothing tunnels to it), and a tunnel address may live anywhere.
 * IPv6 link-local addresses are left out: no director tunnels to them.
 */
int real_fill_addrs(struct real_server *rs)
{
	struct ifaddrs *list, *ifa;
	struct tunnel_addr key;
	char buf[INET6_ADDRSTRLEN];
	int n = 0, err = 0;
	__u8 yes = 1;

	if (getifaddrs(&list))
		return -errno;
	for (ifa = list; ifa && !err; ifa = ifa->ifa_next) {
		const struct sockaddr *sa = ifa->ifa_addr;

		if (!sa || (sa->sa_family != AF_INET &&
			    sa->sa_family != AF_INET6))
			continue;
		memset(&key, 0, sizeof(key));
		key.family = sa->sa_family;
		if (sa->sa_family == AF_INET) {
			key.addr[0] = ((struct sockaddr_in *)sa)->sin_addr.s_addr;
		} else {
			const struct in6_addr *a6 =
				&((struct sockaddr_in6 *)sa)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a6))
				continue;
			memcpy(key.addr, a6, sizeof(key.addr));
		}
		if (bpf_map_update_elem(rs->local_addrs, &key, &yes, BPF_ANY)) {
			err = -errno;
			break;
		}
		inet_ntop(key.family, key.addr, buf, sizeof(buf));
		printf("%s: --real: tunnels to %s (%s) end here\n", prog_name,
		       buf, ifa->ifa_name);
		n++;
	}
	freeifaddrs(list);
	return err ? err : n;
}

/* Peers the program added unresolved: their MAC, once the kernel knows. */
void real_resolve_peers(struct real_server *rs, const struct options *opt)
{
	struct tunnel_addr key, next;
	char buf[INET6_ADDRSTRLEN];
	struct ip_addr addr;
	struct peer peer;
	void *prev = NULL;

	while (!bpf_map_get_next_key(rs->peers, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(rs->peers, &key, &peer) ||
		    peer.resolved)
			continue;
		addr.family = key.family;
		memcpy(addr.words, key.addr, sizeof(addr.words));
		if (peer_mac(opt, &addr, peer.mac))
			continue;
		peer.resolved = 1;
		if (bpf_map_update_elem(rs->peers, &key, &peer, BPF_EXIST))
			continue;
		inet_ntop(key.family, key.addr, buf, sizeof(buf));
		printf("%s: --real: previous real %s is %02x:%02x:%02x:%02x:%02x:%02x\n",
		       prog_name, buf, peer.mac[0], peer.mac[1], peer.mac[2],
		       peer.mac[3], peer.mac[4], peer.mac[5]);
	}
}

/* The counters since the start, and since the last line. */
void real_print_stats(struct real_server *rs, bool json)
{
	int ncpus = libbpf_num_possible_cpus(), c;
	__u64 total[RS_MAX] = {}, v[ncpus > 0 ? ncpus : 1];
	__u32 i, n = rs->tc ? RS_NO_PEER : RS_MAX;

	/* valgrind takes the kernel to write one CPU's value, not all */
	memset(v, 0, sizeof(v));
	for (i = 0; i < n; i++) {
		if (ncpus > 0 && !bpf_map_lookup_elem(rs->events, &i, v))
			for (c = 0; c < ncpus; c++)
				total[i] += v[c];
	}
	if (json) {
		printf("{\"real\":{");
		for (i = 0; i < n; i++)
			printf("%s\"%s\":%llu", i ? "," : "",
			       real_event_names[i], total[i]);
		printf("}}\n");
	} else {
		printf("real:");
		for (i = 0; i < n; i++)
			printf(" %s %llu (+%llu)", real_event_names[i], total[i],
			       total[i] - rs->last[i]);
		printf("\n");
	}
	memcpy(rs->last, total, sizeof(total));
	fflush(stdout);
}

#define PEERS_INTERVAL_MS	200	/* previous reals resolved this often */

/* Statistics, and previous reals' MACs as the program asks for them. */
static int run_real(struct real_server *rs, const struct options *opt)
{
	struct itimerspec every = {
		.it_value.tv_nsec = PEERS_INTERVAL_MS * 1000000,
		.it_interval.tv_nsec = PEERS_INTERVAL_MS * 1000000,
	};
	struct pollfd pfd[POLL_PROBES + 1];
	int err;

	err = open_loop_fds(pfd, opt, false, false);
	pfd[POLL_PROBES].fd = timerfd_create(CLOCK_MONOTONIC,
					     TFD_NONBLOCK | TFD_CLOEXEC);
	pfd[POLL_PROBES].events = POLLIN;
	if (!err && (pfd[POLL_PROBES].fd < 0 ||
		     timerfd_settime(pfd[POLL_PROBES].fd, 0, &every, NULL)))
		err = -errno;
	while (!err) {
		if (poll(pfd, POLL_PROBES + 1, -1) < 0) {
			err = errno == EINTR ? 0 : -errno;
			continue;
		}
		if (fired(&pfd[POLL_SIGNAL], sizeof(struct signalfd_siginfo)) ||
		    fired(&pfd[POLL_DURATION], sizeof(__u64)))
			break;
		if (fired(&pfd[POLL_PROBES], sizeof(__u64)) && !rs->tc)
			real_resolve_peers(rs, opt);
		if (fired(&pfd[POLL_STATS], sizeof(__u64)))
			real_print_stats(rs, opt->json);
	}
	real_print_stats(rs, opt->json);
	close_loop_fds(pfd);
	if (pfd[POLL_PROBES].fd >= 0)
		close(pfd[POLL_PROBES].fd);
	return err;
}

/* The id of our program at our place on -i's ingress, or 0. */
static __u32 real_tc_query(const struct options *opt)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = opt->ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = REAL_TC_HANDLE,
		    .priority = REAL_TC_PRIORITY);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	libbpf_print_fn_t print;
	int fd, err;

	/* no clsact qdisc yet is no error: libbpf would warn */
	print = libbpf_set_print(NULL);
	err = bpf_tc_query(&hook, &tc);
	libbpf_set_print(print);
	if (err)
		return 0;
	fd = bpf_prog_get_fd_by_id(tc.prog_id);
	if (fd < 0)
		return 0;
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	/* the kernel keeps BPF_OBJ_NAME_LEN - 1 characters of the name */
	return !err && !strncmp(info.name, REAL_TC_PROG,
				sizeof(info.name) - 1) ? tc.prog_id : 0;
}

/* Our program off -i's ingress: 1, 0 if it was not there, or -errno. */
int real_tc_detach(const struct options *opt)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = opt->ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = REAL_TC_HANDLE,
		    .priority = REAL_TC_PRIORITY);
	int err;

	if (!real_tc_query(opt))
		return 0;
	err = bpf_tc_detach(&hook, &tc);
	return err ? err : 1;
}

/*
 * With the pins made (a running loader refused, a killed one's pins
 * removed), a filter still at our place is a killed loader's: replaced.
 * The clsact qdisc is made when missing and stays: other filters may
 * come to use it.
 */
static int real_tc_attach(struct director *d, const struct options *opt)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = opt->ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = REAL_TC_HANDLE,
		    .priority = REAL_TC_PRIORITY,
		    .prog_fd = bpf_program__fd(d->prog));
	int err;

	err = own_pin_dir(d, 0);
	if (err) {
		fprintf(stderr, "%s: cannot lock %s: %s\n", prog_name,
			d->pin_dir, strerror(-err));
		return err;
	}
	if (real_tc_detach(opt) > 0)
		printf("%s: removed a stale tc program from %s\n", prog_name,
		       opt->ifname);
	err = bpf_tc_hook_create(&hook);
	if (!err || err == -EEXIST)
		err = bpf_tc_attach(&hook, &tc);
	if (err) {
		fprintf(stderr, "%s: -i '%s': cannot attach at tc ingress: %s\n",
			prog_name, opt->ifname, strerror(-err));
		return err;
	}
	d->kept = opt->keep;
	printf("%s: attached to %s (ifindex %d) at tc ingress, pref %d\n",
	       prog_name, opt->ifname, opt->ifindex, REAL_TC_PRIORITY);
	return 0;
}

/*
 * --real -i IFNAME: the host's addresses into local_addrs, the program
 * pinned and attached like the director's (--tc: at tc ingress), then
 * run_real().
 */
int real_main(struct director *d, const struct options *opt,
	      const char *argv0)
{
	struct real_server rs = { .tc = opt->tc };
	char path[PATH_MAX];
	int lock_fd, err, n;

	if (find_object(argv0, "_real", path, sizeof(path)) ||
	    open_object(d, path, opt->tc ? REAL_TC_PROG : PROG_NAME "_real") ||
	    load_object(d, path))
		return -1;
	if (real_open_maps(&rs, d->obj)) {
		fprintf(stderr, "%s: %s: lacks the maps of %s_real\n",
			prog_name, path, PROG_NAME);
		return -1;
	}
	n = real_fill_addrs(&rs);
	if (n <= 0) {
		fprintf(stderr, "%s: --real: cannot list the host's addresses: %s\n",
			prog_name, n ? strerror(-n) : "none");
		return -1;
	}
	lock_fd = start_lock();
	err = pin_maps(d, opt) ||
	      (opt->tc ? real_tc_attach(d, opt) : attach_director(d, opt));
	if (lock_fd >= 0)
		close(lock_fd);
	if (err)
		return -1;
	err = run_real(&rs, opt);
	if (opt->tc && !d->kept && real_tc_detach(opt) < 0)
		fprintf(stderr, "%s: -i '%s': cannot detach the tc program\n",
			prog_name, opt->ifname);
	printf("%s: %s %s\n", prog_name,
	       d->kept ? "left attached and pinned (--stop removes it):" :
	       "detached from", opt->ifname);
	return err;
}
