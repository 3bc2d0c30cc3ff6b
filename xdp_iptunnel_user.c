// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_iptunnel: loader, configuration and statistics for
 * xdp_iptunnel_kern.o, an XDP IP-in-IP tunnelling load balancer.
 *
 * Read it top-down: load -> attach -> stats -> detach; main() at the end
 * tells the whole story. The options are read in xdp_iptunnel_opts.c, the
 * services written into the maps in xdp_iptunnel_maps.c, the network
 * asked in xdp_iptunnel_net.c.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdp_iptunnel_common.h"
#include "xdp_iptunnel_user.h"

#define STATS_INTERVAL_S	2
#define BPFFS			"/sys/fs/bpf"
#define PIN_ROOT		BPFFS "/xdp_iptunnel"

/* ---- load ------------------------------------------------------------- */

static bool verbose;
static bool loading;	/* its warnings: our own line says what failed */

/* libbpf's warnings, but while loading; all its messages with -v */
static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (!verbose && (level != LIBBPF_WARN || loading))
		return 0;
	return vfprintf(stderr, fmt, args);
}

/*
 * <argv0><kind>_kern.o as the kernel samples do, else next to the
 * executable; kind is "" for the director, "_real" for --real.
 */
int find_object(const char *argv0, const char *kind, char *path,
		size_t size)
{
	char exe[PATH_MAX - 32];
	ssize_t len;
	char *slash;

	snprintf(path, size, "%s%s_kern.o", argv0, kind);
	if (!access(path, R_OK))
		return 0;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(path, size, "%s/%s%s_kern.o", exe, PROG_NAME, kind);
		if (!access(path, R_OK))
			return 0;
	}
	fprintf(stderr, "%s: cannot find the BPF object %s%s_kern.o\n",
		prog_name, argv0, kind);
	return -ENOENT;
}

static int map_fd(struct director *d, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(d->obj, name);

	return map ? bpf_map__fd(map) : -ENOENT;
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

static bool has_cap(const struct __user_cap_data_struct *caps, int cap)
{
	return caps[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap);
}

/*
 * Every mode but -h needs CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN):
 * say so first, before a missing object or pin hides the real cause.
 */
static bool privileged(void)
{
	struct __user_cap_header_struct head = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &head, caps))
		return geteuid() == 0;
	return has_cap(caps, CAP_NET_ADMIN) &&
	       (has_cap(caps, CAP_BPF) || has_cap(caps, CAP_SYS_ADMIN));
}

/* Open and load the object at path, with its program prog. */
/* Open the object at path, with its program prog, not loaded yet. */
int open_object(struct director *d, const char *path, const char *prog)
{
	char msg[128];
	int err;

	loading = true;
	d->obj = bpf_object__open_file(path, NULL);
	loading = false;
	err = libbpf_get_error(d->obj);
	if (err) {
		d->obj = NULL;
		libbpf_strerror(err, msg, sizeof(msg));
		fprintf(stderr, "%s: %s: not a usable BPF object: %s\n",
			prog_name, path, msg);
		return err;
	}
	d->prog = bpf_object__find_program_by_name(d->obj, prog);
	if (!d->prog) {
		fprintf(stderr, "%s: %s: has no program %s\n", prog_name, path,
			prog);
		return -ENOENT;
	}
	return 0;
}

static __u32 prog_id_of(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 0 : info.id;
}

int load_object(struct director *d, const char *path)
{
	char msg[128];
	int err;

	loading = true;
	err = bpf_object__load(d->obj);
	loading = false;
	if (err) {
		if (!not_permitted(-err, "load BPF programs"))
			fprintf(stderr, "%s: %s: cannot load it: %s (-v shows why)\n",
				prog_name, path,
				(libbpf_strerror(err, msg, sizeof(msg)), msg));
		return err;
	}
	d->prog_id = prog_id_of(bpf_program__fd(d->prog));
	return 0;
}

static int load_director(struct director *d, const char *path)
{
	int err = load_object(d, path);

	if (err)
		return err;
	d->vip_tables = map_fd(d, "vip_tables");
	d->first_table = map_fd(d, FIRST_TABLE);
	d->reals = map_fd(d, "reals");
	d->vip_rings = map_fd(d, "vip_rings");
	d->prev_rings = map_fd(d, "prev_rings");
	d->grace_ends = map_fd(d, "grace_ends");
	d->config_map = map_fd(d, "config_map");
	d->vip_stats = map_fd(d, "vip_stats");
	d->real_stats = map_fd(d, "real_stats");
	d->events = map_fd(d, "events");
	/* first_vip_table is not created when vip_tables is taken over */
	if (d->vip_tables < 0 || d->reals < 0 || d->vip_rings < 0 ||
	    d->prev_rings < 0 || d->grace_ends < 0 || d->config_map < 0 ||
	    d->vip_stats < 0 || d->real_stats < 0 || d->events < 0 ||
	    !bpf_object__find_map_by_name(d->obj, FIRST_TABLE)) {
		fprintf(stderr, "%s: %s: lacks the maps of %s\n", prog_name,
			path, PROG_NAME);
		return -ENOENT;
	}
	return 0;
}

/*
 * Maps are pinned under d->pin_dir while the director runs, so
 * that `xdp_iptunnel --update` and bpftool can reach them; with --keep the
 * link is pinned there too and outlives the loader.
 */
int pin_path(char *buf, size_t size, const struct director *d,
	     const char *name)
{
	int n = snprintf(buf, size, "%s%s%s", d->pin_dir, name ? "/" : "",
			 name ? name : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Interface names repeat across network namespaces: a director in a
 * namespace named in /run/netns (as `ip netns` names them) pins under
 * that name.
 */
static void find_pin_dir(struct director *d, const char *ifname)
{
	struct stat self, st;
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	d->pin_netns[0] = '\0';
	dir = opendir("/run/netns");
	while (dir && !stat("/proc/self/ns/net", &self) &&
	       (e = readdir(dir))) {
		snprintf(path, sizeof(path), "/run/netns/%s", e->d_name);
		if (e->d_name[0] != '.' && !stat(path, &st) &&
		    st.st_ino == self.st_ino && st.st_dev == self.st_dev &&
		    strlen(e->d_name) < sizeof(d->pin_netns)) {
			strcpy(d->pin_netns, e->d_name);
			break;
		}
	}
	if (dir)
		closedir(dir);
	snprintf(d->pin_dir, sizeof(d->pin_dir), "%s/%s%s%s", PIN_ROOT,
		 d->pin_netns, d->pin_netns[0] ? "/" : "", ifname);
}

/* PIN_ROOT and the namespace's directory, root only */
static int make_pin_parents(const struct director *d)
{
	char path[PATH_MAX];

	if (mkdir(PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	if (!d->pin_netns[0])
		return 0;
	snprintf(path, sizeof(path), "%s/%s", PIN_ROOT, d->pin_netns);
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int mount_bpffs(void)
{
	struct statfs fs;

	/* `ip netns exec` mounts a fresh /sys without the BPF filesystem */
	if (!statfs(BPFFS, &fs) && fs.f_type == BPF_FS_MAGIC)
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

/*
 * Remove the pins of a director, whichever maps its version had; with the
 * link pin, that detaches it.
 */
void remove_pins(const struct director *d)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	dir = opendir(d->pin_dir);
	while (dir && (e = readdir(dir)))
		if (e->d_name[0] != '.' &&
		    !pin_path(path, sizeof(path), d, e->d_name))
			unlink(path);
	if (dir)
		closedir(dir);
	rmdir(d->pin_dir);
	/* the parents only when no other director uses them */
	snprintf(path, sizeof(path), "%s/%s", PIN_ROOT, d->pin_netns);
	if (d->pin_netns[0])
		rmdir(path);
	rmdir(PIN_ROOT);
}

/*
 * A second loader starting on the interface would take the first's pins,
 * not attached yet, for stale ones and remove them: starting, from the
 * pins to the attachment, is serialised on the BPF filesystem's root,
 * which is never removed. Returns the locked descriptor, or -errno.
 */
int start_lock(void)
{
	int fd, err;

	err = mount_bpffs();
	if (err)
		return err;
	fd = open(BPFFS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/*
 * The maps a director pins: not the object's internal ones, and not
 * first_vip_table, reached through vip_tables (a pin would keep it once
 * replaced).
 */
bool pinned_map(const struct bpf_map *map)
{
	return !strchr(bpf_map__name(map), '.') &&
	       strcmp(bpf_map__name(map), FIRST_TABLE);
}

/* A loader runs what is pinned there: it holds the lock own_pin_dir() takes */
static bool pin_dir_held(const struct director *d)
{
	int fd = open(d->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

int pin_maps(struct director *d, const struct options *opt)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	err = mount_bpffs();
	if (!err)
		err = make_pin_parents(d);
	if (!err && mkdir(d->pin_dir, 0700)) {
		err = -errno;
		if (err == -EEXIST && !xdp_attached(opt->ifindex) &&
		    !pin_dir_held(d)) {
			/* left by a director that was killed */
			printf("%s: removing stale pins in %s\n", prog_name,
			       d->pin_dir);
			remove_pins(d);
			err = make_pin_parents(d);
			if (!err && mkdir(d->pin_dir, 0700))
				err = -errno;
		} else if (err == -EEXIST) {
			fprintf(stderr,
				"%s: -i '%s': a director already runs there (%s; --replace takes it over)\n",
				prog_name, opt->ifname, d->pin_dir);
			return err;
		}
	}
	if (err)
		goto fail;
	d->pinned = true;
	bpf_object__for_each_map(map, d->obj) {
		if (!pinned_map(map))
			continue;
		err = pin_path(path, sizeof(path), d, bpf_map__name(map));
		if (!err)
			err = bpf_map__pin(map, path);
		if (err)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "%s: cannot pin maps under %s: %s\n", prog_name,
		d->pin_dir, strerror(-err));
	return err;
}

static void unpin_maps(struct director *d)
{
	if (!d->pinned)
		return;
	remove_pins(d);
	d->pinned = false;
}

/*
 * While a loader runs a director it holds a lock on the pin directory: a
 * loader that takes the director over waits on it until the one it
 * replaced has seen that and left (at once if that one was killed).
 */
int own_pin_dir(struct director *d, int wait_ms)
{
	int fd, waited = 0;

	fd = open(d->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;

		if (err != -ETIMEDOUT || waited >= wait_ms) {
			close(fd);
			return err;
		}
		usleep(HANDOVER_CHECK_MS / 4 * 1000);
		waited += HANDOVER_CHECK_MS / 4;
	}
	d->owner_fd = fd;
	return 0;
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
		{ "prev_rings", &d->prev_rings }, { "grace_ends", &d->grace_ends },
	};
	char path[PATH_MAX] = BPFFS;
	size_t i;
	int err;

	err = mount_bpffs();
	for (i = 0; i < ARRAY_SIZE(maps) && !err; i++) {
		err = pin_path(path, sizeof(path), d, maps[i].name);
		if (err)
			break;
		*maps[i].fd = bpf_obj_get(path);
		if (*maps[i].fd < 0)
			err = -errno;
	}
	if (err && !not_permitted(-err, "change the director"))
		fprintf(stderr, "%s: -i '%s': no director runs there (%s: %s)\n",
			prog_name, opt->ifname, path, strerror(-err));
	return err;
}

/* ---- attach ----------------------------------------------------------- */

const char *mode_name(__u32 mode)
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

int attach_director(struct director *d, const struct options *opt)
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
			return -EEXIST;
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
			return err;
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
		return err;
	}
	d->link_fd = fd;
	if (opt->keep) {
		char path[PATH_MAX];

		err = pin_path(path, sizeof(path), d, "link");
		if (!err && bpf_obj_pin(fd, path))
			err = -errno;
		if (err) {
			fprintf(stderr, "%s: --keep: cannot pin the link: %s\n",
				prog_name, strerror(-err));
			return err;
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

/* ---- run: signals, timers and health probes in one poll() -------------- */

/* SIGINT, SIGTERM and SIGHUP stay blocked and are read from a signalfd */
static sigset_t stop_signals;

/* A timer that fires after after_ms (at once for 0), then every every_ms. */
static int timer_open(unsigned int after_ms, unsigned int every_ms)
{
	struct itimerspec when = {
		.it_value.tv_sec = after_ms / 1000,
		.it_value.tv_nsec = after_ms ? after_ms % 1000 * 1000000L : 1,
		.it_interval.tv_sec = every_ms / 1000,
		.it_interval.tv_nsec = every_ms % 1000 * 1000000L,
	};
	int fd;

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &when, NULL)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Whether the timer or signalfd polled has fired; reading rearms it. */
bool fired(const struct pollfd *pfd, size_t size)
{
	char buf[sizeof(struct signalfd_siginfo)];

	return pfd->fd >= 0 && (pfd->revents & POLLIN) &&
	       read(pfd->fd, buf, size) == (ssize_t)size;
}

/* checks: the health checks' timer; director: the handover's */
int open_loop_fds(struct pollfd *pfd, const struct options *opt,
		  bool checks, bool director)
{
	int i;

	for (i = 0; i < POLL_PROBES; i++) {
		pfd[i].fd = -1;
		pfd[i].events = POLLIN;
	}
	pfd[POLL_SIGNAL].fd = signalfd(-1, &stop_signals,
				       SFD_NONBLOCK | SFD_CLOEXEC);
	if (pfd[POLL_SIGNAL].fd < 0)
		return -errno;
	/* before the statistics' timer: -T 2 ends without a second line */
	if (opt->duration) {
		pfd[POLL_DURATION].fd = timer_open(opt->duration * 1000, 0);
		if (pfd[POLL_DURATION].fd < 0)
			return pfd[POLL_DURATION].fd;
	}
	pfd[POLL_STATS].fd = timer_open(STATS_INTERVAL_S * 1000,
					STATS_INTERVAL_S * 1000);
	if (pfd[POLL_STATS].fd < 0)
		return pfd[POLL_STATS].fd;
	if (director) {
		pfd[POLL_HANDOVER].fd = timer_open(HANDOVER_CHECK_MS,
						   HANDOVER_CHECK_MS);
		if (pfd[POLL_HANDOVER].fd < 0)
			return pfd[POLL_HANDOVER].fd;
	}
	if (checks) {
		pfd[POLL_CHECK].fd = timer_open(0, opt->check.interval * 1000);
		if (pfd[POLL_CHECK].fd < 0)
			return pfd[POLL_CHECK].fd;
	}
	return 0;
}

void close_loop_fds(struct pollfd *pfd)
{
	int i;

	for (i = 0; i < POLL_PROBES; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
}

/* The statistics tick: the interface must still be there. */
static int stats_tick(struct director *d, const struct options *opt,
		      struct stats *st, double *last)
{
	char ifname[IF_NAMESIZE];
	double now = now_s();
	int err;

	if (!if_indextoname(opt->ifindex, ifname)) {
		fprintf(stderr, "%s: -i '%s': the interface is gone\n",
			prog_name, opt->ifname);
		return -ENODEV;
	}
	err = configure_interface(d, opt);	/* the MTU may change */
	if (err) {
		fprintf(stderr, "%s: -i '%s': cannot read MAC and MTU: %s\n",
			prog_name, opt->ifname, strerror(-err));
		return err;
	}
	end_grace(d);	/* --update starts them; the director ends them */
	print_stats(d, st, now - *last, opt->json);
	*last = now;
	return 0;
}

/*
 * Statistics every STATS_INTERVAL_S and health checks every
 * --check-interval, until a signal, -T or the interface goes. One poll()
 * waits for all of it, so none waits for another.
 */
static int run(struct director *d, const struct options *opt)
{
	struct stats *st = calloc(1, sizeof(*st));
	struct health health = {};
	struct pollfd *pfd = NULL;
	double last = now_s();
	int err = -ENOMEM, n;

	if (!st)
		return -ENOMEM;
	st->nr_cpus = libbpf_num_possible_cpus();
	if (st->nr_cpus < 0) {
		err = st->nr_cpus;
		goto out;
	}
	st->percpu = calloc(st->nr_cpus, sizeof(*st->percpu));
	if (!st->percpu)
		goto out;
	if (opt->check.kind != CHECK_NONE) {
		err = health_init(&health, opt);
		if (err) {
			fprintf(stderr, "%s: --check: cannot start: %s\n",
				prog_name, strerror(-err));
			goto out;
		}
	}
	err = -ENOMEM;
	pfd = calloc(POLL_PROBES + health.nr, sizeof(*pfd));
	if (!pfd)
		goto out;
	err = open_loop_fds(pfd, opt, health.nr, true);
	if (err) {
		fprintf(stderr, "%s: cannot set up signals and timers: %s\n",
			prog_name, strerror(-err));
		goto out;
	}
	while (!err) {
		n = health_pollfds(&health, pfd + POLL_PROBES);
		if (poll(pfd, POLL_PROBES + n, health_timeout_ms(&health)) < 0) {
			err = errno == EINTR ? 0 : -errno;
			continue;
		}
		if (fired(&pfd[POLL_SIGNAL], sizeof(struct signalfd_siginfo)) ||
		    fired(&pfd[POLL_DURATION], sizeof(__u64)))
			break;
		/* before the health checks could write the maps again */
		if (fired(&pfd[POLL_HANDOVER], sizeof(__u64)) &&
		    taken_over(d, opt)) {
			d->replaced = true;
			break;
		}
		if (health_process(&health, pfd + POLL_PROBES, n))
			health_apply(&health, d, opt);
		if (fired(&pfd[POLL_CHECK], sizeof(__u64))) {
			health_end_round(&health);	/* as old as the interval */
			health_apply(&health, d, opt);
			health_start_round(&health);
			if (!health.in_flight)	/* every probe failed at once */
				health_apply(&health, d, opt);
		}
		if (fired(&pfd[POLL_STATS], sizeof(__u64)))
			err = stats_tick(d, opt, st, &last);
	}
	print_stats(d, st, now_s() - last, opt->json);
out:
	if (pfd)
		close_loop_fds(pfd);
	free(pfd);
	health_free(&health);
	free(st->vips);
	free(st->percpu);
	free(st);
	return err;
}

/* ---- detach ----------------------------------------------------------- */

static void close_director(struct director *d)
{
	/* detaches unless pinned by --keep, or held by who replaced us */
	if (d->link_fd >= 0)
		close(d->link_fd);
	d->link_fd = -1;
	if (!d->kept && !d->replaced)
		unpin_maps(d);
	if (d->owner_fd >= 0)
		close(d->owner_fd);	/* last: a successor waits for it */
	d->owner_fd = -1;
	bpf_object__close(d->obj);
}

/* A new director: the maps pinned, configured, then attached. */
static int start_director(struct director *d, const struct options *opt)
{
	double t;
	int err;

	err = configure_interface(d, opt);
	if (err) {
		fprintf(stderr, "%s: -i '%s': cannot read MAC and MTU: %s\n",
			prog_name, opt->ifname, strerror(-err));
		return err;
	}
	err = pin_maps(d, opt);
	if (err)
		return err;
	err = own_pin_dir(d, 0);
	if (err) {
		fprintf(stderr, "%s: cannot lock %s: %s\n", prog_name,
			d->pin_dir, strerror(-err));
		return err;
	}
	t = now_s();
	err = apply_services(d, opt, NULL);
	if (err)
		return err;
	printf("%s: configured %d VIPs, %d reals in %.3f ms", prog_name,
	       d->applied.vips, d->applied.reals, (now_s() - t) * 1e3);
	if (verbose)	/* where the time went, for bench/run.sh */
		printf("; %d Maglev rings built in %.3f ms, pushed in %.3f ms",
		       d->applied.rings, d->applied.build_s * 1e3,
		       d->applied.push_s * 1e3);
	printf("\n");
	return attach_director(d, opt);
}

int main(int argc, char **argv)
{
	struct director d = { .link_fd = -1, .first_table = -1, .owner_fd = -1 };
	struct running old = { .prog_fd = -1, .link_fd = -1 };
	char path[PATH_MAX];
	struct options opt;
	int ret = 1, lock_fd = -1, err;

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) ||
	    /* a line at a time, also into a file: scripts wait for "attached" */
	    setvbuf(stdout, NULL, _IOLBF, 0)) {
		fprintf(stderr, "%s: cannot set up signals and output: %s\n",
			prog_name, strerror(errno));
		return 1;
	}
	libbpf_set_print(libbpf_print);
	if (parse_options(argc, argv, &opt))
		goto out;
	if (opt.mode == HELP) {
		ret = 0;
		goto out;
	}
	verbose = opt.verbose;
	if (!privileged()) {
		not_permitted(EPERM, opt.mode == STOP ? "stop the director" :
			      opt.mode == UPDATE ? "update the director" :
			      opt.mode == TRACE ? "trace the director" :
			      "start a director");
		goto out;
	}
	find_pin_dir(&d, opt.ifname);
	if (opt.mode == STOP) {
		err = mount_bpffs() || pin_path(path, sizeof(path), &d, NULL) ||
		      access(path, F_OK) ? -errno : 0;
		/* a real's tc program outlives its loader killed with SIGKILL */
		if (real_tc_detach(&opt) <= 0 && err) {
			if (!not_permitted(-err, "stop the director"))
				fprintf(stderr,
					"%s: -i '%s': no director to stop\n",
					prog_name, opt.ifname);
			goto out;
		}
		if (!err)
			remove_pins(&d);
		printf("%s: stopped the director on %s\n", prog_name,
		       opt.ifname);
		ret = 0;
		goto out;
	}
	if (opt.mode == REAL) {
		ret = real_main(&d, &opt, argv[0]) ? 1 : 0;
		goto out;
	}
	if (opt.mode == TRACE) {
		ret = mount_bpffs() ||
		      trace_run(d.pin_dir, opt.ifname, &opt.trace, opt.json,
				opt.duration, &stop_signals) ? 1 : 0;
		goto out;
	}
	if (resolve_macs(&opt))
		goto out;
	if (opt.mode == UPDATE) {
		if (open_pinned(&d, &opt) || apply_services(&d, &opt, NULL))
			goto out;
		printf("%s: updated the director on %s: %d VIPs, %d reals\n",
		       prog_name, opt.ifname, d.applied.vips, d.applied.reals);
		ret = 0;
		goto out;
	}
	if (find_object(argv[0], "", path, sizeof(path)) ||
	    open_object(&d, path, PROG_NAME))
		goto out;
	/* from the maps taken over to the swap, no other start */
	lock_fd = start_lock();
	if (lock_fd < 0) {
		fprintf(stderr, "%s: cannot lock %s to start: %s\n", prog_name,
			BPFFS, strerror(-lock_fd));
		goto out;
	}
	if (opt.replace) {
		err = find_running(&d, &opt, &old);
		if (err == -ENOENT)
			printf("%s: --replace: no director runs on %s: starting one\n",
			       prog_name, opt.ifname);
		else if (err)
			goto out;
		if (!err && opt.replace == REPLACE_WARM && reuse_maps(&d))
			goto out;
	}
	if (load_director(&d, path))
		goto out;
	if (old.link_fd >= 0 && opt.replace == REPLACE_WARM) {
		err = replace_director(&d, &opt, &old);
	} else {
		err = old.link_fd >= 0 ? stop_running(&d, &opt, &old) : 0;
		if (!err)
			err = start_director(&d, &opt);
	}
	if (err)
		goto out;
	close(lock_fd);
	lock_fd = -1;
	ret = run(&d, &opt) ? 1 : 0;
	if (d.replaced)
		printf("%s: replaced on %s by another loader: left it attached and pinned\n",
		       prog_name, opt.ifname);
	else
		printf("%s: %s %s\n", prog_name,
		       d.kept ? "left attached and pinned (--stop removes it):" :
		       "detached from", opt.ifname);
out:
	close_running(&old);
	close_director(&d);
	if (lock_fd >= 0)
		close(lock_fd);
	free_options(&opt);
	return ret;
}
