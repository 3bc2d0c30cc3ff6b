# SPDX-License-Identifier: GPL-2.0
#
# xdp_iptunnel, standalone, with the system's clang and libbpf:
#   make              build ./xdp_iptunnel and ./xdp_iptunnel_kern.o
#   make demo         the virtual lab: client, director, real servers
#   make check        every test (installs missing Debian packages)
#   make demo-ecmp    directors behind a BGP router (ECMP) in a lab; also
#                     make demo DEMO=--ecmp (DEMO: lab/lab.sh's options)
#   make bench        benchmarks: table and plot in bench/
#   make fuzz         the long fuzzing runs (tests/fuzz/Makefile)
#   make patch        the upstream patch: kernel/out/*.patch [KDIR= OUT=]
#   make check-kernel the in-tree build and patch checks alone
# Against a kernel tree, through kbuild (rules in Kbuild):
#   make KDIR=/path/to/linux   from this directory, anywhere
#   make M=samples/bpf         at the tree top, this directory being the
#                              tree's samples/bpf (there, a plain make or
#                              make -C samples/bpf does the same; KDIR=
#                              forces the standalone build)
# (see README, "In a kernel tree")

ifneq ($(and $(KERNELRELEASE),$(src)),)
# Read by kbuild. It reads Kbuild in preference to this file, so this
# only guards against a kbuild that would not: hand over to Kbuild.
include $(if $(filter /%,$(src)),$(src),$(srctree)/$(src))/Kbuild
else

# Placed as <linux>/samples/bpf: build in-tree unless KDIR= says not to.
KDIR ?= $(if $(and $(filter samples,$(notdir $(abspath $(CURDIR)/..))), \
		$(wildcard $(CURDIR)/../../scripts/Kbuild.include)), \
	$(abspath $(CURDIR)/../..))

CLANG ?= clang
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS := -O2 -g -Wall -target bpf -I/usr/include/$(MULTIARCH)
USER_CFLAGS := -O2 -g -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes
USER_LDLIBS := -lbpf -lelf -lz
# the loader: the story (user), options, services -> maps, the network,
# the real server's mode, the trace, taking a running director over
USER_SRCS := xdp_iptunnel_user.c xdp_iptunnel_opts.c xdp_iptunnel_maps.c \
	xdp_iptunnel_net.c xdp_iptunnel_real.c xdp_iptunnel_trace.c \
	xdp_iptunnel_replace.c xdp_iptunnel_stats.c

.DELETE_ON_ERROR:
.PHONY: all clean check check-kernel demo demo-ecmp bench fuzz deps patch

ifneq ($(KDIR),)
# In-tree build. Variables given on the command line (CLANG, V,
# LIBBPF_OUTPUT=<tree>/libbpf to reuse a prebuilt libbpf) reach kbuild
# through MAKEFLAGS.
all:
	$(MAKE) -C $(KDIR) M=$(CURDIR)

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -f tests/flowpick
	$(MAKE) -C tests clean
	$(MAKE) -C tests/fuzz clean
else
all: xdp_iptunnel xdp_iptunnel_kern.o xdp_iptunnel_real_kern.o

# linux/icmp.h brings in glibc's sys/socket.h, which a bpf target reads
# as a 32-bit one: on x86_64 that takes libc6-dev-i386's gnu/stubs-32.h.
NO_STUBS32 := $(and $(filter x86_64-linux-gnu,$(MULTIARCH)), \
	$(if $(wildcard /usr/include/$(MULTIARCH)/gnu/stubs-32.h),,y))

# the director's program, and the real server's (xdp_iptunnel --real)
xdp_iptunnel_kern.o xdp_iptunnel_real_kern.o: %.o: %.c xdp_iptunnel_common.h
	$(if $(NO_STUBS32),@echo "$@: gnu/stubs-32.h is missing:" \
		"install libc6-dev-i386 (tests/deps.sh build)" >&2; exit 1)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

xdp_iptunnel: $(USER_SRCS) xdp_iptunnel_user.h xdp_iptunnel_common.h \
		xdp_iptunnel_trace.h
	$(CC) $(USER_CFLAGS) $(CFLAGS) $(USER_SRCS) -o $@ $(LDFLAGS) $(USER_LDLIBS)

clean:
	rm -f xdp_iptunnel xdp_iptunnel_kern.o xdp_iptunnel_real_kern.o \
		tests/flowpick
	$(MAKE) -C tests clean
	$(MAKE) -C tests/fuzz clean
endif

lab/xdp_pass_kern.o: lab/xdp_pass_kern.c
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

tests/flowpick: tests/flowpick.c
	$(CC) $(USER_CFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(USER_LDLIBS)

deps:
	tests/deps.sh check

check: deps
	$(MAKE) all tests/flowpick lab/xdp_pass_kern.o
	$(MAKE) -C tests test_kern test_real
	$(MAKE) -C tests/fuzz all
	tests/run.sh \
		"unit=tests/test_kern ./xdp_iptunnel_kern.o" \
		"unit-real=tests/test_real ./xdp_iptunnel_real_kern.o" \
		"real-tc=tests/test_real_tc.sh" \
		"cli=tests/test_cli.sh" \
		"faults=tests/test_faults.sh" \
		"fuzz=tests/fuzz/fuzz_datapath -n 20000 -s 1 ./xdp_iptunnel_kern.o" \
		"fuzz-cli=tests/fuzz/run_cli.sh 20" \
		"sanitize=tests/test_sanitize.sh" \
		"lb=tests/test_lb.sh" \
		"grace=tests/test_grace.sh" \
		"health=tests/test_health.sh" \
		"trace=tests/test_trace.sh" \
		"e2e=tests/e2e/run.sh" \
		"pmtu=tests/e2e/test_pmtu.sh" \
		"e2e-lb=tests/e2e/test_lb_lab.sh" \
		"survive=tests/e2e/test_survive.sh" \
		"replace=tests/e2e/test_replace.sh" \
		"ecmp=tests/e2e/test_ecmp.sh" \
		"survive-ecmp=tests/e2e/test_survive_ecmp.sh" \
		"first-run=tests/test_first_run.sh" \
		"bench=bench/run.sh --smoke" \
		"intree=tests/intree/run.sh"

demo:
	lab/lab.sh $(DEMO)

demo-ecmp:
	lab/ecmp.sh

bench:
	bench/run.sh

patch:
	kernel/make-patch.sh

check-kernel:
	tests/intree/run.sh

fuzz: all
	$(MAKE) -C tests/fuzz fuzz

endif
