// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel --replace: a new loader takes a running director over
 * without a window. Its object takes over the pinned maps whose
 * definitions match, its program goes into the running XDP link with one
 * update, and the loader it replaced sees that and leaves.
 * --replace=cold stops the running director instead.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

#define MAX_KEY_SIZE	64	/* of a map of maps, to find an inner one */

static bool link_of(int link_fd, int ifindex, __u32 prog_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	return !bpf_obj_get_info_by_fd(link_fd, &info, &len) &&
	       info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex == (__u32)ifindex &&
	       info.prog_id == prog_id;
}

/*
 * The link of a director that runs without -K is held only by its
 * loader: look for it among all links. Interface indexes repeat across
 * network namespaces, program ids do not.
 */
static int find_link(int ifindex, __u32 prog_id)
{
	__u32 id = 0;
	int fd;

	while (!bpf_link_get_next_id(id, &id)) {
		fd = bpf_link_get_fd_by_id(id);
		if (fd < 0)
			continue;	/* gone meanwhile */
		if (link_of(fd, ifindex, prog_id))
			return fd;
		close(fd);
	}
	return -ENOENT;
}

void close_running(struct running *r)
{
	if (r->prog_fd >= 0)
		close(r->prog_fd);
	if (r->link_fd >= 0)
		close(r->link_fd);
	r->prog_fd = -1;
	r->link_fd = -1;
}

/* -ENOENT: no director runs on -i; other errors are reported here. */
int find_running(const struct director *d, const struct options *opt,
		 struct running *r)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];

	r->prog_fd = -1;
	r->link_fd = -1;
	if (bpf_xdp_query(opt->ifindex, 0, &query) ||
	    query.attach_mode == XDP_ATTACHED_NONE ||
	    access(d->pin_dir, F_OK))
		return -ENOENT;
	r->prog_id = query.prog_id ? query.prog_id :
		     query.skb_prog_id ? query.skb_prog_id : query.drv_prog_id;
	r->prog_fd = bpf_prog_get_fd_by_id(r->prog_id);
	if (r->prog_fd < 0 ||
	    bpf_obj_get_info_by_fd(r->prog_fd, &info, &len) ||
	    strcmp(info.name, PROG_NAME)) {
		fprintf(stderr,
			"%s: --replace: -i '%s': XDP program %u there is not a director\n",
			prog_name, opt->ifname, r->prog_id);
		close_running(r);
		return -EINVAL;
	}
	if (!pin_path(path, sizeof(path), d, "link"))
		r->link_fd = bpf_obj_get(path);
	r->link_pinned = r->link_fd >= 0;
	if (r->link_fd >= 0 && !link_of(r->link_fd, opt->ifindex, r->prog_id)) {
		close(r->link_fd);
		r->link_fd = -1;
	}
	if (r->link_fd < 0)
		r->link_fd = find_link(opt->ifindex, r->prog_id);
	if (r->link_fd < 0) {
		fprintf(stderr,
			"%s: --replace: -i '%s': program %u is attached without a bpf_link: cannot replace it\n",
			prog_name, opt->ifname, r->prog_id);
		close_running(r);
		return -EINVAL;
	}
	return 0;
}

/*
 * Where a map of the object differs from the running one (of the same
 * name) in what the kernel would reject or the program would misread.
 */
static bool map_differs(const struct bpf_map *map,
			const struct bpf_map_info *run, const char *what,
			char *why, size_t size)
{
	const struct {
		const char *name;
		__u32 now, running;
	} field[] = {
		{ "type", bpf_map__type(map), run->type },
		{ "key size", bpf_map__key_size(map), run->key_size },
		{ "value size", bpf_map__value_size(map), run->value_size },
		{ "max entries", bpf_map__max_entries(map), run->max_entries },
		{ "flags", bpf_map__map_flags(map), run->map_flags },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(field); i++) {
		if (field[i].now == field[i].running)
			continue;
		snprintf(why, size, "%s%s %u now, %u in the running director",
			 what, field[i].name, field[i].now, field[i].running);
		return true;
	}
	return false;
}

/*
 * A running map of maps tells the definition of its inner maps only
 * through one of them: the first it holds. -ENOENT when it holds none.
 */
static int inner_map_info(int outer_fd, __u32 key_size,
			  struct bpf_map_info *info)
{
	char key[MAX_KEY_SIZE], next[MAX_KEY_SIZE];
	__u32 len = sizeof(*info), id;
	void *prev = NULL;
	int fd, err;

	if (key_size > MAX_KEY_SIZE)
		return -E2BIG;
	while (!bpf_map_get_next_key(outer_fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		if (bpf_map_lookup_elem(outer_fd, key, &id))
			continue;	/* an empty slot of an array */
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			return -errno;
		memset(info, 0, sizeof(*info));
		err = bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
		close(fd);
		return err;
	}
	return -ENOENT;
}

/* Whether the running map fd can stand for map: why not, in one line. */
static int same_map(const struct bpf_map *map, int fd, char *why, size_t size)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct bpf_map *inner;
	int err;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (map_differs(map, &info, "", why, size))
		return -EINVAL;
	inner = bpf_map__inner_map((struct bpf_map *)map);
	if (!inner)
		return 0;
	err = inner_map_info(fd, info.key_size, &info);
	if (err == -ENOENT)	/* none to compare: the kernel checks them */
		return 0;
	if (err)
		return err;
	return map_differs(inner, &info, "inner maps' ", why, size) ?
	       -EINVAL : 0;
}

/*
 * --replace: the object takes over every pinned map of the running
 * director whose definition it shares, so what the director holds
 * (tables, counters) carries on; maps new in this version start empty. A
 * map that changed refuses the takeover, before anything is touched:
 * every map is checked before the first is taken.
 */
int reuse_maps(struct director *d)
{
	char path[PATH_MAX], why[128];
	struct bpf_map *map;
	int pass, fd, err;

	for (pass = 0; pass < 2; pass++) {
		bpf_object__for_each_map(map, d->obj) {
			if (!pinned_map(map))
				continue;
			err = pin_path(path, sizeof(path), d,
				       bpf_map__name(map));
			if (err)
				return err;
			fd = bpf_obj_get(path);
			if (fd < 0 && errno == ENOENT)
				continue;	/* new in this version */
			if (fd < 0) {
				err = -errno;
				fprintf(stderr, "%s: --replace: %s: %s\n",
					prog_name, path, strerror(-err));
				return err;
			}
			why[0] = '\0';
			err = pass ? bpf_map__reuse_fd(map, fd) :
			      same_map(map, fd, why, sizeof(why));
			close(fd);
			if (err && why[0])
				fprintf(stderr,
					"%s: --replace: map '%s': %s (--replace=cold restarts it, with a window)\n",
					prog_name, bpf_map__name(map), why);
			else if (err)
				fprintf(stderr,
					"%s: --replace: map '%s': cannot take it over: %s\n",
					prog_name, bpf_map__name(map),
					strerror(-err));
			if (err)
				return err;
		}
	}
	/* the running VIP table comes with vip_tables: no first one */
	map = bpf_object__find_map_by_name(d->obj, FIRST_TABLE);
	if (map && !pin_path(path, sizeof(path), d, "vip_tables") &&
	    !access(path, F_OK))
		return bpf_map__set_autocreate(map, false);
	return 0;
}

/*
 * After the swap: pin the maps this version added, unpin those it
 * dropped, and the link as the new command line's -K says.
 */
static int adopt_pins(struct director *d, const struct options *opt,
		      const struct running *r)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	struct dirent *e;
	DIR *dir;
	int err = 0;

	bpf_object__for_each_map(map, d->obj) {
		if (!pinned_map(map) ||
		    pin_path(path, sizeof(path), d, bpf_map__name(map)) ||
		    !access(path, F_OK))
			continue;
		err = bpf_map__pin(map, path);
		if (err)
			return err;
	}
	dir = opendir(d->pin_dir);
	while (dir && (e = readdir(dir))) {
		map = bpf_object__find_map_by_name(d->obj, e->d_name);
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "link") ||
		    (map && pinned_map(map)))
			continue;
		if (!pin_path(path, sizeof(path), d, e->d_name))
			unlink(path);
	}
	if (dir)
		closedir(dir);
	if (pin_path(path, sizeof(path), d, "link"))
		return -ENAMETOOLONG;
	if (opt->keep && !r->link_pinned && bpf_obj_pin(d->link_fd, path))
		return -errno;
	if (!opt->keep && r->link_pinned)
		unlink(path);
	d->kept = opt->keep;
	return 0;
}

/*
 * The swap without a window: one update of the running link, only if it
 * still holds the program we found (BPF_F_REPLACE). The loader we
 * replaced sees its link hold another program and leaves, detaching and
 * unpinning nothing.
 */
int take_over(struct director *d, const struct options *opt,
	      struct running *r)
{
	LIBBPF_OPTS(bpf_link_update_opts, update, .flags = BPF_F_REPLACE,
		    .old_prog_fd = r->prog_fd);
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	int err;

	if (bpf_link_update(r->link_fd, bpf_program__fd(d->prog), &update)) {
		err = -errno;
		fprintf(stderr, "%s: --replace: -i '%s': cannot swap program %u for %u: %s\n",
			prog_name, opt->ifname, r->prog_id, d->prog_id,
			strerror(-err));
		return err;
	}
	d->link_fd = r->link_fd;
	r->link_fd = -1;
	d->pinned = true;
	err = adopt_pins(d, opt, r);
	if (err)
		fprintf(stderr, "%s: --replace: cannot update the pins in %s: %s\n",
			prog_name, d->pin_dir, strerror(-err));
	if (!err && own_pin_dir(d, HANDOVER_WAIT_MS))
		fprintf(stderr, "%s: --replace: program %u's loader still runs after %d ms\n",
			prog_name, r->prog_id, HANDOVER_WAIT_MS);
	bpf_xdp_query(opt->ifindex, 0, &query);
	printf("%s: took over %s (ifindex %d) in %s mode: program %u -> %u, attached throughout\n",
	       prog_name, opt->ifname, opt->ifindex, mode_name(query.attach_mode),
	       r->prog_id, d->prog_id);
	return err;
}

/*
 * --replace=cold: stop the running director (its loader, if any, sees
 * its link detached and leaves), then start as if none had run.
 */
int stop_running(struct director *d, const struct options *opt,
		 struct running *r)
{
	int err = 0;

	if (bpf_link_detach(r->link_fd)) {
		err = -errno;
		fprintf(stderr, "%s: --replace=cold: -i '%s': cannot detach program %u: %s\n",
			prog_name, opt->ifname, r->prog_id, strerror(-err));
		return err;
	}
	if (own_pin_dir(d, HANDOVER_WAIT_MS))
		fprintf(stderr, "%s: --replace=cold: program %u's loader still runs after %d ms\n",
			prog_name, r->prog_id, HANDOVER_WAIT_MS);
	remove_pins(d);
	if (d->owner_fd >= 0)
		close(d->owner_fd);
	d->owner_fd = -1;
	printf("%s: --replace=cold: stopped program %u on %s\n", prog_name,
	       r->prog_id, opt->ifname);
	return 0;
}

/*
 * Whether another loader took our director over: our link holds its
 * program (--replace), or was detached (--replace=cold) from an
 * interface that is still there (a deleted one detaches it too).
 */
bool taken_over(const struct director *d, const struct options *opt)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char ifname[IF_NAMESIZE];

	if (d->link_fd < 0 || bpf_obj_get_info_by_fd(d->link_fd, &info, &len))
		return false;
	return info.prog_id != d->prog_id ||
	       (!info.xdp.ifindex && if_indextoname(opt->ifindex, ifname));
}

/*
 * --replace: the running director's program swapped for ours, then the
 * new command line's configuration applied as --update applies it. If
 * that fails, the director runs on with the configuration it had.
 */
int replace_director(struct director *d, const struct options *opt,
		     struct running *r)
{
	char path[PATH_MAX];
	int err;

	err = take_over(d, opt, r);
	if (!err)
		err = configure_interface(d, opt);
	if (!err)
		err = apply_services(d, opt, NULL);
	if (!err) {
		printf("%s: configured %d VIPs, %d reals\n", prog_name,
		       d->applied.vips, d->applied.reals);
		return 0;
	}
	if (d->link_fd < 0)	/* not swapped: the running one untouched */
		return err;
	if (!d->kept && !pin_path(path, sizeof(path), d, "link") &&
	    !bpf_obj_pin(d->link_fd, path))
		d->kept = true;
	fprintf(stderr, "%s: --replace: program %u runs on %s with its previous configuration%s\n",
		prog_name, d->prog_id, opt->ifname,
		d->kept ? " (--stop removes it)" : "");
	return err;
}
