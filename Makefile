# SPDX-License-Identifier: GPL-2.0
#
# Standalone build of xdp_iptunnel with the system's clang and libbpf:
#   make              build ./xdp_iptunnel and ./xdp_iptunnel_kern.o
#   make check        run every test (installs missing Debian packages)
#   make demo         the virtual lab: client, director, real servers
# Inside a kernel tree the same directory is built by Kbuild (see README).

CLANG ?= clang
CC ?= gcc
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS := -O2 -g -Wall -target bpf -I/usr/include/$(MULTIARCH)
USER_CFLAGS := -O2 -g -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes
USER_LDLIBS := -lbpf -lelf -lz

.DELETE_ON_ERROR:
.PHONY: all clean check demo

all: xdp_iptunnel xdp_iptunnel_kern.o

xdp_iptunnel_kern.o: xdp_iptunnel_kern.c xdp_iptunnel_common.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

xdp_iptunnel: xdp_iptunnel_user.c xdp_iptunnel_common.h
	$(CC) $(USER_CFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(USER_LDLIBS)

clean:
	rm -f xdp_iptunnel xdp_iptunnel_kern.o
