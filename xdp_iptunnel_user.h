/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xdp_iptunnel's loader: what its files share. The options as parsed
 * (xdp_iptunnel_opts.c), the director's BPF object and maps
 * (xdp_iptunnel_user.c), the services written into them
 * (xdp_iptunnel_maps.c), and the network asked (xdp_iptunnel_net.c).
 */
#ifndef __XDP_IPTUNNEL_USER_H
#define __XDP_IPTUNNEL_USER_H

#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/if_ether.h>
#include <linux/types.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_trace.h"

#define PROG_NAME		"xdp_iptunnel"
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define MAX_SERVICE_REALS	1024
#define CHECK_INTERVAL_DEFAULT	2	/* --check-interval, seconds */
#define CHECK_FALL_DEFAULT	3
#define CHECK_RISE_DEFAULT	2
#define CHECK_COUNT_MAX		3600	/* the largest of the three */
#define GRACE_DEFAULT_S		60	/* --grace */
#define GRACE_MAX_S		86400

extern const char *prog_name;

struct ip_addr {
	int family;		/* 0 when not given */
	__be32 words[4];
};

struct real_spec {
	struct ip_addr daddr;
	__u8 mac[ETH_ALEN];
	bool has_mac;
	unsigned int weight;
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
	unsigned int grace;	/* seconds moved flows keep a hint; 0: off */
	enum { RUN, UPDATE, STOP, HELP, REAL, TRACE } mode;
	bool tc;		/* --real at tc ingress, for a kernel tunnel */
	struct trace_options trace;	/* --trace [FILTER] */
	bool keep;		/* leave it attached and pinned at exit */
	/* --replace: take over a running director, without or with a window */
	enum { REPLACE_NONE, REPLACE_WARM, REPLACE_COLD } replace;
	struct ip_addr flow_src[2];	/* --flow-src prefixes, v4 and v6 */
	int flow_src_len[2];
	struct health_check {
		enum { CHECK_NONE, CHECK_TCP, CHECK_HTTP } kind;
		unsigned int port;	/* 0: the VIP's first port */
		char path[64];
		unsigned int interval, fall, rise;
	} check;
	struct service *svc;
	int nr_svc;
};

struct bpf_object;

struct director {
	struct bpf_object *obj;
	struct bpf_program *prog;
	int link_fd;		/* closing it detaches the program */
	int vip_tables, reals, vip_rings, config_map;
	int prev_rings, grace_ends;	/* previous owners, grace periods */
	int vip_stats, real_stats, events;
	int first_table;	/* first_vip_table until it is filled */
	char pin_dir[128];	/* PIN_ROOT[/<netns>]/<ifname> */
	char pin_netns[64];	/* "" in the initial network namespace */
	__u32 prog_id;		/* of prog, once loaded */
	int owner_fd;		/* the pin directory, locked while we run it */
	bool pinned;
	bool kept;		/* link pinned: stays after we exit */
	bool replaced;		/* another loader took it over: leave it */
	struct {		/* what apply_services() did; -v shows it */
		int vips, reals, rings;
		double build_s, push_s;	/* the Maglev rings' */
	} applied;
};

/* The director running on -i, as --replace finds it. */
struct running {
	__u32 prog_id;
	int prog_fd;		/* for the link update's compare and swap */
	int link_fd;
	bool link_pinned;	/* by -K */
};

#define FIRST_TABLE		"first_vip_table"
#define HANDOVER_CHECK_MS	200	/* how soon a replaced loader leaves */
#define HANDOVER_WAIT_MS	5000	/* for it to leave, at most */

/* The one event loop's descriptors, in poll()'s array */
enum {
	POLL_SIGNAL,		/* stop */
	POLL_DURATION,		/* -T has passed */
	POLL_STATS,		/* every STATS_INTERVAL_S */
	POLL_CHECK,		/* every --check-interval */
	POLL_HANDOVER,		/* every HANDOVER_CHECK_MS: replaced? */
	POLL_PROBES,		/* from here: the health probes in flight */
};

struct pollfd;

/* xdp_iptunnel_user.c */
int find_object(const char *argv0, const char *kind, char *path,
		size_t size);
int open_object(struct director *d, const char *path, const char *prog);
int load_object(struct director *d, const char *path);
int start_lock(void);
int pin_maps(struct director *d, const struct options *opt);
int attach_director(struct director *d, const struct options *opt);
int open_loop_fds(struct pollfd *pfd, const struct options *opt,
		  bool checks, bool director);
void close_loop_fds(struct pollfd *pfd);
bool fired(const struct pollfd *pfd, size_t size);
int pin_path(char *buf, size_t size, const struct director *d,
	     const char *name);
void remove_pins(const struct director *d);
struct bpf_map;
bool pinned_map(const struct bpf_map *map);
int own_pin_dir(struct director *d, int wait_ms);
const char *mode_name(__u32 mode);

/* xdp_iptunnel_stats.c: the counters, summed over the CPUs */
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

void print_stats(struct director *d, struct stats *st, double secs, bool json);

/* xdp_iptunnel_replace.c */
int find_running(const struct director *d, const struct options *opt,
		 struct running *r);
void close_running(struct running *r);
int reuse_maps(struct director *d);
int take_over(struct director *d, const struct options *opt,
	      struct running *r);
int stop_running(struct director *d, const struct options *opt,
		 struct running *r);
bool taken_over(const struct director *d, const struct options *opt);
int replace_director(struct director *d, const struct options *opt,
		     struct running *r);

/* xdp_iptunnel_opts.c; the parsers are tests/fuzz/fuzz_cli.c's targets too */
void print_usage(FILE *out);
int bad_option(char opt, const char *value, const char *why);
int bad_long_option(const char *opt, const char *value, const char *why);
int parse_addr(const char *str, struct ip_addr *addr);
int parse_uint(const char *str, unsigned long min, unsigned long max,
	       unsigned long *val);
int parse_ports(const char *str, __u16 *min, __u16 *max);
int parse_mac(const char *str, __u8 *mac);
int parse_protocol(const char *str, int *protocol);
int add_real(struct service *svc, const char *arg);
int set_mac(struct service *svc, const char *arg);
int parse_flow_src(const char *str, struct options *opt);
int parse_check(const char *str, struct health_check *check);
int parse_options(int argc, char **argv, struct options *opt);
void free_options(struct options *opt);

/* xdp_iptunnel_maps.c */
double now_s(void);
int check_vip_slots(const struct options *opt);
int read_reals(int fd, struct real *slot);
int read_vips(int vip_tables, struct vip_slot **list, int *nr);
struct health;

int apply_services(struct director *d, const struct options *opt,
		   const struct health *health);
int configure_interface(struct director *d, const struct options *opt);
int end_grace(struct director *d);

/* xdp_iptunnel_net.c */
int resolve_macs(struct options *opt);
int peer_mac(const struct options *opt, const struct ip_addr *addr, __u8 *mac);

/* xdp_iptunnel_real.c: the real server's program (--real) */
struct real_server {
	int local_addrs, peers, events;
	bool tc;		/* the tc program: no peers, no no_peer */
	__u64 last[RS_MAX];
};

int real_open_maps(struct real_server *rs, struct bpf_object *obj);
int real_fill_addrs(struct real_server *rs);
void real_resolve_peers(struct real_server *rs, const struct options *opt);
void real_print_stats(struct real_server *rs, bool json);
int real_main(struct director *d, const struct options *opt,
	      const char *argv0);
int real_tc_detach(const struct options *opt);

/* The health checks' run-time state: per real address, its probe. */
struct real_health {
	struct ip_addr addr;
	struct ip_addr src;	/* the tunnel's source (-s): probes' too */
	__u16 port;
	int order;		/* of the real on the command line */
	int fd;			/* the probe in flight, or -1 */
	bool replying;		/* http: connected, the GET sent */
	unsigned int good, bad;	/* consecutive results */
	int err;		/* of the last probe */
	bool up;
	bool changed;		/* by the last round */
};

struct health {
	const struct health_check *check;
	struct real_health *real;	/* sorted by address */
	int nr;
	int in_flight;		/* probes of the round */
	int changed;		/* reals the round changed */
	double deadline;	/* of the round, now_s() */
	int *polled;		/* real of each pollfd health_pollfds() gave */
};

struct pollfd;

int health_init(struct health *h, const struct options *opt);
void health_free(struct health *h);
bool health_down(const struct health *h, const struct ip_addr *addr);
void health_start_round(struct health *h);
void health_end_round(struct health *h);
int health_pollfds(struct health *h, struct pollfd *pfd);
int health_timeout_ms(const struct health *h);
bool health_process(struct health *h, const struct pollfd *pfd, int n);
void health_apply(struct health *h, struct director *d,
		  const struct options *opt);

#endif /* __XDP_IPTUNNEL_USER_H */
