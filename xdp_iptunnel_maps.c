// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel: services -> maps. The VIP table, the reals, the Maglev
 * rings and the interface's settings, written so that a packet sees
 * either the old configuration or the new one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

/* ---- config: services -> map entries ---------------------------------- */

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void to_real(const struct service *svc, const struct real_spec *spec,
		    struct real *real)
{
	memset(real, 0, sizeof(*real));
	real->family = spec->daddr.family;
	memcpy(real->saddr, svc->saddr.words, sizeof(real->saddr));
	memcpy(real->daddr, spec->daddr.words, sizeof(real->daddr));
	memcpy(real->dmac, spec->mac, sizeof(real->dmac));
}

static int clear_counters(int fd, __u32 id)
{
	int nr_cpus = libbpf_num_possible_cpus();
	struct traffic *zero;
	int err = 0;

	if (nr_cpus < 0)
		return nr_cpus;
	zero = calloc(nr_cpus, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &id, zero, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}

/* The reals array as the kernel has it, read once per configuration. */
struct real_table {
	struct real slot[MAX_REALS];
	bool taken[MAX_REALS];	/* used by the configuration being built */
	const struct health *health;	/* the reals it took out stay out */
	unsigned int grace;	/* --grace */
	__u32 old_real;		/* the range's one real before, or MAX_REALS */
	bool old_ring;		/* the range had a ring before */
	/* rings that replace a ring in a grace period: after the VIP table */
	struct ring_swap {
		__u32 vip_id;
		int fd;
	} *swap;
	int nr_swap;
};

/* The whole array in one system call: one per slot took milliseconds. */
int read_reals(int fd, struct real *slot)
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
	int err;

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
	err = clear_counters(d->real_stats, free_id);	/* a new one: at 0 */
	if (err)
		return err;
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

#define RING_SLOT_FREE	0xffffffff	/* no real id: all bits set */

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
	memset(ring, 0xff, MAGLEV_RING_SIZE * sizeof(*ring));	/* all free */
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
			} while (ring[slot] != RING_SLOT_FREE);
			ring[slot] = e[i].real_id;
			filled++;
		}
	}
	return 0;
}

/* ---- previous owners: connections survive a change ------------------- */

static __u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* An array of MAGLEV_RING_SIZE u32 under key of an array of maps. */
static int read_inner_ring(int outer, __u32 key, __u32 *ring)
{
	static __u32 keys[MAGLEV_RING_SIZE];
	__u32 id, count = MAGLEV_RING_SIZE, batch;
	int fd, err;

	if (bpf_map_lookup_elem(outer, &key, &id))
		return -ENOENT;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	err = bpf_map_lookup_batch(fd, NULL, &batch, keys, ring, &count, NULL);
	if (err && errno == ENOENT && count == MAGLEV_RING_SIZE)
		err = 0;	/* the whole array, and its end */
	else if (!err && count != MAGLEV_RING_SIZE)
		err = -EIO;
	else if (err)
		err = -errno;
	close(fd);
	return err;
}

/* A real that may be named as a previous owner: filled, and not down. */
static bool may_hint(const struct real_table *tab, __u32 id)
{
	struct ip_addr addr = {};

	if (id >= MAX_REALS || !tab->slot[id].family)
		return false;
	addr.family = tab->slot[id].family;
	memcpy(addr.words, tab->slot[id].daddr, sizeof(addr.words));
	return !health_down(tab->health, &addr);
}

/*
 * Each slot's previous owner once ring replaces old: its old owner where
 * the owner changed, or the one an earlier change left while that grace
 * period runs (unless the slot went back to it): a slot moved twice keeps
 * only its last owner. Only the running configuration decides, so every
 * director given the same sequence of configurations agrees. The reals
 * named stay in the reals map. Returns the slots that moved now.
 */
static int previous_owners(struct real_table *tab, const __u32 *old,
			   const __u32 *old_prev, const __u32 *ring,
			   __u32 *prev, int *nr_prev)
{
	__u32 slot, owner;
	int moved = 0;

	*nr_prev = 0;
	for (slot = 0; slot < MAGLEV_RING_SIZE; slot++) {
		owner = PREV_NONE;
		if (old[slot] != ring[slot] && may_hint(tab, old[slot])) {
			owner = old[slot] + 1;
			moved++;
		} else if (old_prev && old_prev[slot] != PREV_NONE &&
			   old_prev[slot] != ring[slot] + 1 &&
			   may_hint(tab, old_prev[slot] - 1)) {
			owner = old_prev[slot];
		}
		prev[slot] = owner;
		if (owner != PREV_NONE) {
			tab->taken[owner - 1] = true;
			(*nr_prev)++;
		}
	}
	return moved;
}

/*
 * With --grace, the previous owners of vip_id's slots when ring replaces
 * its ring, written with the end of the grace period before the new VIP
 * table flags the VIP. A change that moves no slot keeps the grace period
 * it is in. Returns 1 when the VIP is in a grace period, 0 when not.
 */
static int install_prev(struct director *d, struct real_table *tab,
			__u32 vip_id, const __u32 *ring)
{
	static __u32 old[MAGLEV_RING_SIZE], old_prev[MAGLEV_RING_SIZE];
	static __u32 prev[MAGLEV_RING_SIZE], keys[MAGLEV_RING_SIZE];
	__u64 now = monotonic_ns(), end = 0;
	__u32 count = MAGLEV_RING_SIZE, i;
	int nr_prev, moved, fd, err;
	bool in_grace;

	if (!tab->grace)
		return 0;
	if (read_inner_ring(d->vip_rings, vip_id, old)) {
		if (tab->old_real >= MAX_REALS)
			return 0;	/* a new range: nothing moves */
		for (i = 0; i < MAGLEV_RING_SIZE; i++)
			old[i] = tab->old_real;	/* one real before */
	}
	bpf_map_lookup_elem(d->grace_ends, &vip_id, &end);
	in_grace = end > now &&
		   !read_inner_ring(d->prev_rings, vip_id, old_prev);
	moved = previous_owners(tab, old, in_grace ? old_prev : NULL, ring,
				prev, &nr_prev);
	if (!nr_prev)
		return 0;
	if (moved)
		end = now + tab->grace * 1000000000ULL;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "prev_ring", sizeof(__u32),
			    sizeof(__u32), MAGLEV_RING_SIZE, NULL);
	if (fd < 0)
		return -errno;
	for (i = 0; i < MAGLEV_RING_SIZE; i++)
		keys[i] = i;
	err = bpf_map_update_batch(fd, keys, prev, &count, NULL);
	if (!err && (bpf_map_update_elem(d->grace_ends, &vip_id, &end,
					 BPF_ANY) ||
		     bpf_map_update_elem(d->prev_rings, &vip_id, &fd, BPF_ANY)))
		err = -errno;
	close(fd);
	return err ? err : 1;
}

/*
 * Build the ring aside, then switch it in with one update of vip_rings;
 * in a grace period only after the new VIP table, which flags the VIP:
 * a moved flow is never without its hint. Until then the hint names the
 * real the old ring gives, which keeps what it receives.
 */
static int install_ring(struct director *d, struct real_table *tab,
			struct vip_range *range, struct maglev_entry *e, int n)
{
	static __u32 ring[MAGLEV_RING_SIZE], keys[MAGLEV_RING_SIZE];
	__u32 count = MAGLEV_RING_SIZE, i, vip_id = range->vip_id;
	struct ring_swap *swap;
	double t = now_s();
	int fd, err, grace;

	err = maglev_build(e, n, ring);
	if (err)
		return err;
	d->applied.build_s += now_s() - t;
	grace = install_prev(d, tab, vip_id, ring);
	if (grace < 0)
		return grace;
	t = now_s();
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vip_ring", sizeof(__u32),
			    sizeof(__u32), MAGLEV_RING_SIZE, NULL);
	if (fd < 0)
		return -errno;
	for (i = 0; i < MAGLEV_RING_SIZE; i++)
		keys[i] = i;
	err = bpf_map_update_batch(fd, keys, ring, &count, NULL);
	if (!err && grace) {
		range->flags |= VIP_F_GRACE;
		swap = realloc(tab->swap, (tab->nr_swap + 1) * sizeof(*swap));
		if (!swap) {
			err = -ENOMEM;
		} else {
			tab->swap = swap;
			swap[tab->nr_swap].vip_id = vip_id;
			swap[tab->nr_swap++].fd = fd;
			fd = -1;	/* swapped in by apply_services() */
		}
	} else if (!err &&
		   bpf_map_update_elem(d->vip_rings, &vip_id, &fd, BPF_ANY)) {
		err = -errno;
	}
	if (fd >= 0)
		close(fd);
	d->applied.push_s += now_s() - t;
	d->applied.rings++;
	return err;
}

/* The rings held back for the new VIP table, switched in now (or not). */
static int swap_rings(struct director *d, struct real_table *tab, bool apply)
{
	int k, err = 0;

	for (k = 0; k < tab->nr_swap; k++) {
		if (apply && !err &&
		    bpf_map_update_elem(d->vip_rings, &tab->swap[k].vip_id,
					&tab->swap[k].fd, BPF_ANY))
			err = -errno;
		close(tab->swap[k].fd);
	}
	free(tab->swap);
	tab->swap = NULL;
	tab->nr_swap = 0;
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
		if (!svc->reals[i].weight ||
		    health_down(tab->health, &svc->reals[i].daddr))
			continue;
		e[n].spec = &svc->reals[i];
		e[n].real_id = id;
		range->real_id = id;
		n++;
	}
	/*
	 * Several reals take a ring. So does one left by a change in a grace
	 * period: the slots it takes over must name their previous owners.
	 */
	if (!n) {
		range->real_id = MAX_REALS;	/* no usable real: drop */
	} else if (n > 1 || (tab->grace && tab->old_ring)) {
		err = install_ring(d, tab, range, e, n);
		range->flags |= VIP_F_RING;
	}
	if (svc->flow_src)
		range->flags |= VIP_F_FLOW_SRC;
out:
	free(e);
	return err;
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
int check_vip_slots(const struct options *opt)
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
		return err;
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
int read_vips(int vip_tables, struct vip_slot **list, int *nr)
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

/* The running configuration's range key:min-max, or NULL. */
static const struct vip_range *old_range(struct vip_change *vt,
					 const struct vip_key *key,
					 __u16 min, __u16 max)
{
	int k = *index_slot(&vt->old_index, vt->old, key) - 1;
	const struct vip_value *v = k >= 0 ? &vt->old[k].value : NULL;
	__u32 r;

	for (r = 0; v && r < v->nr_ranges && r < VIP_MAX_RANGES; r++)
		if (v->range[r].port_min == min && v->range[r].port_max == max)
			return &v->range[r];
	return NULL;
}

/* The range's vip_id: the one it had, or a free one; -E2BIG if none. */
static int vip_id_for(struct director *d, struct vip_change *vt,
		      const struct vip_key *key, struct vip_range *range)
{
	const struct vip_range *old = old_range(vt, key, range->port_min,
						range->port_max);
	__u32 id;

	if (old) {
		range->vip_id = old->vip_id;
		return 0;
	}
	for (id = vt->next_id; id < MAX_VIPS; id++) {
		if (vt->used_id[id])
			continue;
		vt->used_id[id] = true;
		vt->next_id = id + 1;
		range->vip_id = id;
		return clear_counters(d->vip_stats, id);	/* new: at 0 */
	}
	return -E2BIG;
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
	const struct vip_range *old;
	char vip[INET6_ADDRSTRLEN];
	struct vip_range *range;
	struct vip_value *val;
	struct vip_key key;
	int err;

	inet_ntop(svc->vip.family, svc->vip.words, vip, sizeof(vip));
	vip_key_of(svc, &key);
	val = vip_value_for(vt, &key);
	if (!val)
		return -ENOMEM;
	/*
	 * parse_options()' check_ranges() refused overlapping ranges and
	 * more than VIP_MAX_RANGES on a key: this only guards the array.
	 */
	if (val->nr_ranges >= VIP_MAX_RANGES)
		return -E2BIG;
	range = &val->range[val->nr_ranges++];
	range->port_min = min;
	range->port_max = max;
	err = vip_id_for(d, vt, &key, range);
	if (err == -E2BIG)
		fprintf(stderr, "%s: -a '%s': more than %d VIPs\n", prog_name,
			vip, MAX_VIPS);
	if (err)
		return err;
	/* a range that had one real: every slot moves from it */
	old = old_range(vt, &key, min, max);
	tab->old_ring = old && old->flags & VIP_F_RING;
	tab->old_real = old && !tab->old_ring ? old->real_id : MAX_REALS;
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
int apply_services(struct director *d, const struct options *opt,
		   const struct health *health)
{
	struct real_table *tab = calloc(1, sizeof(*tab));
	struct vip_change *vt = calloc(1, sizeof(*vt));
	int s, k, r, err = -ENOMEM;
	__u32 id, i;

	memset(&d->applied, 0, sizeof(d->applied));
	if (!tab || !vt)
		goto out;
	tab->health = health;
	tab->grace = opt->grace;
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
	if (tab)
		err = swap_rings(d, tab, !err) ?: err;
	if (err)
		goto out;

	/* what the new configuration no longer uses */
	for (k = 0; k < vt->nr_new; k++)
		for (i = 0; i < vt->new[k].value.nr_ranges; i++)
			if (vt->new[k].value.range[i].flags & VIP_F_RING)
				vt->new_ring[vt->new[k].value.range[i].vip_id] = true;
	for (k = 0; k < vt->nr_old && !err; k++) {
		for (i = 0; i < vt->old[k].value.nr_ranges &&
		     i < VIP_MAX_RANGES && !err; i++) {
			id = vt->old[k].value.range[i].vip_id;
			/* ENOENT: a range with one real had no ring */
			if (id < MAX_VIPS && !vt->new_ring[id] &&
			    ((bpf_map_delete_elem(d->vip_rings, &id) &&
			      errno != ENOENT) ||
			     (bpf_map_delete_elem(d->prev_rings, &id) &&
			      errno != ENOENT)))
				err = -errno;
		}
	}
	for (id = 0; id < MAX_REALS && !err; id++) {
		if (tab->slot[id].family && !tab->taken[id]) {
			struct real none = {};

			if (bpf_map_update_elem(d->reals, &id, &none, BPF_ANY))
				err = -errno;
		}
		d->applied.reals += tab->taken[id];
	}
	for (k = 0; k < vt->nr_new; k++)
		d->applied.vips += vt->new[k].value.nr_ranges;
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

/* ---- the end of grace periods ---------------------------------------- */

/* Mark the reals named in vip_id's array of outer, values less bias. */
static void mark_named(int outer, __u32 vip_id, __u32 bias, bool *named)
{
	static __u32 ring[MAGLEV_RING_SIZE];
	__u32 slot;

	if (read_inner_ring(outer, vip_id, ring))
		return;
	for (slot = 0; slot < MAGLEV_RING_SIZE; slot++)
		if (ring[slot] - bias < MAX_REALS)
			named[ring[slot] - bias] = true;
}

/*
 * The reals kept only as previous owners of ended grace periods: those
 * the ended arrays name (kept) that no ring, range or running grace
 * period names (used) any more.
 */
static void forget_kept_reals(struct director *d, const struct vip_slot *list,
			      int nr, const bool *ended)
{
	static bool kept[MAX_REALS], used[MAX_REALS];
	const struct vip_range *range;
	struct real none = {};
	__u32 id, i;
	int k;

	memset(kept, 0, sizeof(kept));
	memset(used, 0, sizeof(used));
	for (id = 0; id < MAX_VIPS; id++)
		if (ended[id])
			mark_named(d->prev_rings, id, 1, kept);
	for (k = 0; k < nr; k++) {
		for (i = 0; i < list[k].value.nr_ranges &&
		     i < VIP_MAX_RANGES; i++) {
			range = &list[k].value.range[i];
			if (range->real_id < MAX_REALS)
				used[range->real_id] = true;
			if (range->vip_id >= MAX_VIPS)
				continue;
			if (range->flags & VIP_F_RING)
				mark_named(d->vip_rings, range->vip_id, 0,
					   used);
			if (range->flags & VIP_F_GRACE)
				mark_named(d->prev_rings, range->vip_id, 1,
					   used);
		}
	}
	for (id = 0; id < MAX_REALS; id++)
		if (kept[id] && !used[id])
			bpf_map_update_elem(d->reals, &id, &none, BPF_ANY);
}

/*
 * Called by the running director: the VIPs whose grace period has ended
 * lose their flag (a new VIP table), then their previous owners, then
 * the reals kept only for them. Returns how many ended, or an error.
 */
int end_grace(struct director *d)
{
	static __u64 ends[MAX_VIPS];
	static __u32 keys[MAX_VIPS];
	static bool ended[MAX_VIPS];
	__u32 count = MAX_VIPS, batch, id, i;
	__u64 now = monotonic_ns(), zero = 0;
	struct vip_slot *list = NULL;
	int nr = 0, n = 0, k, err;

	err = bpf_map_lookup_batch(d->grace_ends, NULL, &batch, keys, ends,
				   &count, NULL);
	if (err && errno != ENOENT)
		return -errno;
	memset(ended, 0, sizeof(ended));
	for (i = 0; i < count; i++) {
		if (keys[i] < MAX_VIPS && ends[i] && ends[i] <= now) {
			ended[keys[i]] = true;
			n++;
		}
	}
	if (!n)
		return 0;
	err = read_vips(d->vip_tables, &list, &nr);
	for (k = 0; k < nr; k++)
		for (i = 0; i < list[k].value.nr_ranges &&
		     i < VIP_MAX_RANGES; i++)
			if (list[k].value.range[i].vip_id < MAX_VIPS &&
			    ended[list[k].value.range[i].vip_id])
				list[k].value.range[i].flags &= ~VIP_F_GRACE;
	if (!err)
		err = install_vips(d, list, nr);
	if (!err) {
		forget_kept_reals(d, list, nr, ended);
		for (id = 0; id < MAX_VIPS; id++) {
			if (!ended[id])
				continue;
			bpf_map_delete_elem(d->prev_rings, &id);
			bpf_map_update_elem(d->grace_ends, &id, &zero, BPF_ANY);
		}
		printf("%s: grace period over for %d VIP range%s\n", prog_name,
		       n, n > 1 ? "s" : "");
		fflush(stdout);
	}
	free(list);
	return err ? err : n;
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
int configure_interface(struct director *d, const struct options *opt)
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
