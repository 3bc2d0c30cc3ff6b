// SPDX-License-Identifier: GPL-2.0
/*
 * livegen: live throughput of an XDP director on a veth pair.
 *
 * The generator is BPF_PROG_TEST_RUN in live-frame mode running xdp_gen
 * (bench_kern.c), which writes a minimal frame (60 bytes, 64 on a wire, for
 * IPv4; 74 or 62 for IPv6 TCP or UDP) afresh each time and redirects it
 * into the generator's veth. The frame arrives at
 * the peer, where the director under test runs in native mode and sends
 * it back with XDP_TX; xdp_sink, attached here to the generator's veth,
 * counts and drops it. What the sink counts per second is what the
 * director transmitted; it counts apart the frames that are IP-in-IP,
 * so a director that does not tunnel shows. When the director's interface and one of its
 * per-CPU maps are named (-D), the director's own count is read too.
 *
 *	livegen -i GENIF -m DSTMAC -k BENCH_KERN.o [-t SECONDS] [-w WARMUP]
 *		[-n THREADS] [-f FLOWS] [-D DIRIF:MAP:KEY | -B DIRIF]
 *		tcp|udp SRC DST DPORT
 *
 * -B attaches xdp_bounce (count, XDP_TX) to DIRIF as the director: the
 * floor.
 *
 * THREADS generators run on CPUs 0 .. THREADS-1; with as many queues on
 * the veth pair, each CPU carries its share through director and sink.
 *
 * Prints one line: sink_mpps= ipip= director_mpps= director_ns=
 * offered_mpps= seconds=; ipip: the share of the sink's frames that were
 * IP-in-IP; director_mpps=- when the director does not use the map named
 * by -D. director_ns: ns per run of the director program by the kernel's
 * run-time statistics (BPF_ENABLE_STATS), taken for SECONDS/2 after the
 * frames are counted.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define GEN_FRAME_MIN	60	/* 64 on a wire, with the FCS */
#define GEN_FRAME_MAX	80
#define GEN_REPEAT	65536	/* frames per BPF_PROG_TEST_RUN call */

/* bench_kern.c's .bss */
struct gen_config {
	__u8 frame[GEN_FRAME_MAX];
	__u32 ifindex;
	__u32 sport_off;
	__u32 flows;
	__u16 sport;
};

struct gen_thread {
	pthread_t thread;
	int prog_fd;
	int len;
	int cpu;
	int stop;		/* __atomic */
	int err;
};

#define MAX_THREADS	64

static int sink_ifindex, bounce_ifindex;

static void detach(void)
{
	if (sink_ifindex)
		bpf_xdp_detach(sink_ifindex, XDP_FLAGS_DRV_MODE, NULL);
	if (bounce_ifindex)
		bpf_xdp_detach(bounce_ifindex, XDP_FLAGS_DRV_MODE, NULL);
	sink_ifindex = 0;
	bounce_ifindex = 0;
}

static void die(const char *what)
{
	fprintf(stderr, "livegen: %s: %s\n", what, strerror(errno));
	detach();
	exit(1);
}

static void on_signal(int sig)
{
	(void)sig;
	detach();
	_exit(1);
}

/*
 * Seconds on the monotonic clock. The loader's now_s() is the same four
 * lines: not worth linking the loader into a packet generator.
 */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sum of the first __u64 of every CPU's value of KEY in map FD. */
static __u64 percpu_sum(int fd, __u32 key, __u32 value_size)
{
	int cpus = libbpf_num_possible_cpus(), i;
	size_t stride = (value_size + 7) & ~7U;
	__u64 sum = 0;
	char *values;

	values = calloc(cpus, stride);
	if (!values)
		die("calloc");
	if (bpf_map_lookup_elem(fd, &key, values))
		die("reading a counter");
	for (i = 0; i < cpus; i++)
		sum += *(__u64 *)(values + i * stride);
	free(values);
	return sum;
}

/* The XDP program on IFINDEX, or -1. */
static int director_prog(int ifindex)
{
	__u32 prog_id = 0;

	if (bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &prog_id) || !prog_id)
		return -1;
	return bpf_prog_get_fd_by_id(prog_id);
}

/* Nanoseconds the kernel counted in program FD, and its runs. */
static void run_time(int fd, __u64 *ns, __u64 *runs)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		die("program info");
	*ns = info.run_time_ns;
	*runs = info.run_cnt;
}

/* The map called NAME used by program PROG_FD, or -1. */
static int director_map(int prog_fd, const char *name, __u32 *value_size)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[64], i;
	int fd;

	info.nr_map_ids = 64;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		die("program info");
	for (i = 0; i < info.nr_map_ids && i < 64; i++) {
		struct bpf_map_info map = {};
		__u32 map_len = sizeof(map);

		fd = bpf_map_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &map, &map_len) &&
		    !strcmp(map.name, name)) {
			*value_size = map.value_size;
			return fd;
		}
		close(fd);
	}
	return -1;
}

static void *generate(void *arg)
{
	struct gen_thread *t = arg;
	__u8 frame[GEN_FRAME_MAX] = { 0 };
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(t->cpu, &cpus);
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			    .data_in = frame,
			    .data_size_in = t->len,
			    .repeat = GEN_REPEAT,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		if (bpf_prog_test_run_opts(t->prog_fd, &opts)) {
			t->err = errno;
			break;
		}
	}
	return NULL;
}

/*
 * Ethernet, IPv4 or IPv6, and a TCP SYN or UDP header, zero padded to 60
 * bytes (64 on a wire): the frame's length.
 */
static int build_frame(struct gen_config *g, const __u8 *dmac,
		       const __u8 *smac, const char *proto, const char *src,
		       const char *dst, int dport)
{
	int v6 = !!strchr(dst, ':'), tcp = !strcmp(proto, "tcp"), l4, len;
	__u8 *f = g->frame;
	int l3_len;

	l4 = 14 + (v6 ? 40 : 20);
	len = l4 + (tcp ? 20 : 8);
	if (len < GEN_FRAME_MIN)
		len = GEN_FRAME_MIN;
	l3_len = len - 14;

	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	if (v6) {
		f[12] = 0x86;
		f[13] = 0xdd;
		f[14] = 0x60;
		f[18] = (l3_len - 40) >> 8;
		f[19] = l3_len - 40;
		f[20] = tcp ? IPPROTO_TCP : IPPROTO_UDP;
		f[21] = 64;
		if (inet_pton(AF_INET6, src, f + 22) != 1 ||
		    inet_pton(AF_INET6, dst, f + 38) != 1)
			die("IPv6 address");
	} else {
		__u32 sum = 0;
		int i;

		f[12] = 0x08;
		f[14] = 0x45;
		f[16] = l3_len >> 8;
		f[17] = l3_len;
		f[22] = 64;
		f[23] = tcp ? IPPROTO_TCP : IPPROTO_UDP;
		if (inet_pton(AF_INET, src, f + 26) != 1 ||
		    inet_pton(AF_INET, dst, f + 30) != 1)
			die("IPv4 address");
		for (i = 14; i < 34; i += 2)
			sum += f[i] << 8 | f[i + 1];
		sum = (sum & 0xffff) + (sum >> 16);
		sum = ~(sum + (sum >> 16)) & 0xffff;
		f[24] = sum >> 8;
		f[25] = sum;
	}
	g->sport = 40000;
	g->sport_off = l4;
	f[l4] = g->sport >> 8;
	f[l4 + 1] = g->sport & 0xff;
	f[l4 + 2] = dport >> 8;
	f[l4 + 3] = dport;
	if (tcp) {
		f[l4 + 12] = 0x50;	/* data offset 5 */
		f[l4 + 13] = 0x02;	/* SYN */
		f[l4 + 15] = 0xff;	/* window */
	} else {
		f[l4 + 4] = (len - l4) >> 8;
		f[l4 + 5] = len - l4;
	}
	return len;
}

static struct bpf_map *find_map_suffix(struct bpf_object *obj,
				       const char *suffix)
{
	size_t n = strlen(suffix);
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);

		if (strlen(name) >= n && !strcmp(name + strlen(name) - n, suffix))
			return map;
	}
	return NULL;
}

static void print_usage(void)
{
	fprintf(stderr,
		"usage: livegen -i GENIF -m DSTMAC -k BENCH_KERN.o [-t SECONDS] [-w WARMUP]\n"
		"               [-n THREADS] [-f FLOWS] [-D DIRIF:MAP:KEY | -B DIRIF]\n"
		"               tcp|udp SRC DST DPORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *genif = NULL, *kern = NULL, *dir_spec = NULL, *bounce = NULL;
	double seconds = 2, warmup = 0.5, t0, t1;
	__u64 sink0, sink1, ipip0, ipip1, gen0, gen1, dir0 = 0, dir1 = 0;
	int opt, sink_fd, gen_fd, dir_fd = -1, flows = 1, threads = 1, i, err;
	int prog_fd_dir = -1, stats_fd = -1;
	__u64 ns0 = 0, ns1 = 0, runs0 = 0, runs1 = 0;
	static struct gen_thread t[MAX_THREADS];
	int prog_fd, len;
	__u32 zero = 0, dir_key = 0, dir_vsize = 0;
	struct ether_addr dmac, smac;
	struct gen_config g = { 0 };
	struct bpf_object *obj;
	struct bpf_map *bss;
	char path[64];
	FILE *f;

	while ((opt = getopt(argc, argv, "i:m:k:t:w:n:f:D:B:")) != -1) {
		switch (opt) {
		case 'i':
			genif = optarg;
			break;
		case 'm':
			if (!ether_aton_r(optarg, &dmac))
				print_usage();
			break;
		case 'k':
			kern = optarg;
			break;
		case 't':
			seconds = atof(optarg);
			break;
		case 'w':
			warmup = atof(optarg);
			break;
		case 'n':
			threads = atoi(optarg);
			break;
		case 'f':
			flows = atoi(optarg);
			break;
		case 'D':
			dir_spec = optarg;
			break;
		case 'B':
			bounce = optarg;
			break;
		default:
			print_usage();
		}
	}
	if (!genif || !kern || argc - optind != 4 || seconds <= 0 ||
	    flows < 1 || threads < 1 || threads > MAX_THREADS ||
	    (dir_spec && bounce))
		print_usage();
	libbpf_set_print(NULL);

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", genif);
	f = fopen(path, "r");
	if (!f || !fgets(path, sizeof(path), f) || !ether_aton_r(path, &smac))
		die(genif);
	fclose(f);
	len = build_frame(&g, dmac.ether_addr_octet, smac.ether_addr_octet,
			  argv[optind], argv[optind + 1], argv[optind + 2],
			  atoi(argv[optind + 3]));
	g.flows = flows;
	g.ifindex = if_nametoindex(genif);
	if (!g.ifindex)
		die(genif);

	obj = bpf_object__open_file(kern, NULL);
	if (!obj || bpf_object__load(obj))
		die(kern);
	bss = find_map_suffix(obj, ".bss");
	if (!bss || bpf_map_update_elem(bpf_map__fd(bss), &zero, &g, 0))
		die("gen_config");
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj,
								   "xdp_gen"));
	gen_fd = bpf_object__find_map_fd_by_name(obj, "gen_count");
	sink_fd = bpf_object__find_map_fd_by_name(obj, "sink_count");
	if (prog_fd < 0 || gen_fd < 0 || sink_fd < 0)
		die("bench_kern.o programs");

	if (dir_spec) {
		char ifname[IF_NAMESIZE + 1], map[32];
		int dir_ifindex;

		if (sscanf(dir_spec, "%16[^:]:%31[^:]:%u", ifname, map,
			   &dir_key) != 3)
			print_usage();
		dir_ifindex = if_nametoindex(ifname);
		if (!dir_ifindex)
			die(ifname);
		prog_fd_dir = director_prog(dir_ifindex);
		if (prog_fd_dir < 0)
			die("no XDP program on the director's interface");
		dir_fd = director_map(prog_fd_dir, map, &dir_vsize);
		if (dir_fd < 0)
			fprintf(stderr, "livegen: %s: no such map in use\n",
				dir_spec);
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (bounce) {
		int ifindex = if_nametoindex(bounce);

		prog_fd_dir = bpf_program__fd(bpf_object__find_program_by_name(obj,
									       "xdp_bounce"));
		dir_fd = bpf_object__find_map_fd_by_name(obj, "bounce_count");
		dir_vsize = 8;
		if (!ifindex || prog_fd_dir < 0 || dir_fd < 0 ||
		    bpf_xdp_attach(ifindex, prog_fd_dir, XDP_FLAGS_DRV_MODE,
				   NULL))
			die(bounce);
		bounce_ifindex = ifindex;
	}
	if (bpf_xdp_attach(g.ifindex,
			   bpf_program__fd(bpf_object__find_program_by_name(obj,
									    "xdp_sink")),
			   XDP_FLAGS_DRV_MODE, NULL))
		die("attaching xdp_sink");
	sink_ifindex = g.ifindex;

	for (i = 0; i < threads; i++) {
		t[i].prog_fd = prog_fd;
		t[i].len = len;
		t[i].cpu = i;
		if (pthread_create(&t[i].thread, NULL, generate, &t[i]))
			die("pthread_create");
	}
	usleep(warmup * 1e6);
	t0 = now();
	sink0 = percpu_sum(sink_fd, 0, 8);
	ipip0 = percpu_sum(sink_fd, 1, 8);
	gen0 = percpu_sum(gen_fd, 0, 8);
	if (dir_fd >= 0)
		dir0 = percpu_sum(dir_fd, dir_key, dir_vsize);
	usleep(seconds * 1e6);
	t1 = now();
	sink1 = percpu_sum(sink_fd, 0, 8);
	ipip1 = percpu_sum(sink_fd, 1, 8);
	gen1 = percpu_sum(gen_fd, 0, 8);
	if (dir_fd >= 0)
		dir1 = percpu_sum(dir_fd, dir_key, dir_vsize);
	if (prog_fd_dir >= 0) {
		/*
		 * Then the director's own time: the kernel times every run
		 * (of every program) while this fd is open, which slows
		 * everything down a little, so not while counting frames.
		 */
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		run_time(prog_fd_dir, &ns0, &runs0);
		usleep(seconds * 1e6 / 2);
		run_time(prog_fd_dir, &ns1, &runs1);
		if (stats_fd >= 0)
			close(stats_fd);
	}
	err = 0;
	for (i = 0; i < threads; i++)
		__atomic_store_n(&t[i].stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < threads; i++) {
		pthread_join(t[i].thread, NULL);
		if (t[i].err)
			err = t[i].err;
	}
	detach();
	if (err) {
		errno = err;
		die("BPF_PROG_TEST_RUN live frames");
	}

	printf("sink_mpps=%.3f ipip=%.3f ", (sink1 - sink0) / (t1 - t0) / 1e6,
	       sink1 > sink0 ? (double)(ipip1 - ipip0) / (sink1 - sink0) : 0);
	if (dir_fd >= 0)
		printf("director_mpps=%.3f ", (dir1 - dir0) / (t1 - t0) / 1e6);
	else
		printf("director_mpps=- ");
	if (stats_fd >= 0 && runs1 > runs0)
		printf("director_ns=%.1f ", (double)(ns1 - ns0) / (runs1 - runs0));
	else
		printf("director_ns=- ");
	printf("offered_mpps=%.3f seconds=%.2f\n",
	       (gen1 - gen0) / (t1 - t0) / 1e6, t1 - t0);
	bpf_object__close(obj);
	return 0;
}
