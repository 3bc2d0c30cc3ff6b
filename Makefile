# SPDX-License-Identifier: GPL-2.0
#
# xdp_iptunnel, standalone, with the system's clang and libbpf:
#   make              build ./xdp_iptunnel and ./xdp_iptunnel_kern.o
#   make demo         the virtual lab: client, director, real servers
#   make check        every test (installs missing Debian packages)
#   make bench        benchmarks: table and plot in bench/
#   make fuzz         the long differential fuzzing run
# Inside a kernel tree the same directory builds through Kbuild:
#   make KDIR=/path/to/linux   (see README, "In a kernel tree")

CLANG ?= clang
CC ?= gcc
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS := -O2 -g -Wall -target bpf -I/usr/include/$(MULTIARCH)
USER_CFLAGS := -O2 -g -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes
USER_LDLIBS := -lbpf -lelf -lz

.DELETE_ON_ERROR:
.PHONY: all clean check demo bench fuzz deps

all: xdp_iptunnel xdp_iptunnel_kern.o

xdp_iptunnel_kern.o: xdp_iptunnel_kern.c xdp_iptunnel_common.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

xdp_iptunnel: xdp_iptunnel_user.c xdp_iptunnel_common.h
	$(CC) $(USER_CFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(USER_LDLIBS)

tests/flowpick: tests/flowpick.c
	$(CC) $(USER_CFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(USER_LDLIBS)

deps:
	tests/deps.sh check

check: deps
	$(MAKE) all tests/flowpick
	$(MAKE) -C tests test_kern
	tests/run.sh \
		"unit=tests/test_kern ./xdp_iptunnel_kern.o" \
		"lb=tests/test_lb.sh"

demo:
	tests/deps.sh demo
	$(MAKE) all
	lab/lab.sh

clean:
	rm -f xdp_iptunnel xdp_iptunnel_kern.o tests/flowpick
	$(MAKE) -C tests clean
