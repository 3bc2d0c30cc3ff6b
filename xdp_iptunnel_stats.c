// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel's statistics: the per-CPU counters of the director's maps
 * summed, and printed every STATS_INTERVAL_S as text or JSON lines, per
 * VIP, per real, per protocol, and the events.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

static const char *const event_names[EV_MAX] = {
	[EV_FRAGMENT] = "fragment",
	[EV_TOO_BIG] = "too_big",
	[EV_NO_REAL] = "no_real",
	[EV_EXT_HDR] = "ext_hdr",
	[EV_ADJUST_HEAD] = "adjust_head",
	[EV_ICMP_QUOTE] = "icmp_quote",
	[EV_ICMP_MTU_LOW] = "icmp_mtu_low",
	[EV_HINT] = "hinted",
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
		t->icmp_errors += st->percpu[cpu].icmp_errors;
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
		printf("\"packets\":%llu,\"bytes\":%llu,\"pps\":%llu,\"Bps\":%llu,",
		       t->packets, t->bytes, pps, bps);
		printf("\"icmp_errors\":%llu}", t->icmp_errors);
		*first = false;
		return;
	}
	printf("%s %s: %llu pkts, %llu bytes, rate: %llu pkts/s, %llu bytes/s",
	       kind, name, t->packets, t->bytes, pps, bps);
	printf(", %llu icmp errors\n", t->icmp_errors);
}

/* Statistics come from the maps alone, so they follow live changes. */
void print_stats(struct director *d, struct stats *st, double secs, bool json)
{
	bool first = true;
	char name[128], addr[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	__u32 id, i, zero = 0, table_id = 0;
	struct vip_key *key;
	struct real *real;
	int k;

	memset(st->proto, 0, sizeof(st->proto));
	if (bpf_map_lookup_elem(d->vip_tables, &zero, &table_id))
		table_id = st->table_id;	/* keep the list we have */
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
			st->proto[key->protocol].icmp_errors +=
				st->vip[id].icmp_errors;
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
