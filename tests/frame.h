/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Frame writers of the unit tests (test_kern.c, test_real.c): big-endian
 * fields, addresses and the Internet checksum (RFC 1071), written here and
 * not taken from the programs under test, so that the frames the tests
 * expect stay their own.
 *
 * The includer defines struct frame before it includes this file, with at
 * least __u8 b[] and unsigned int len: each test keeps its own size and
 * what its builders note about a frame.
 */
#ifndef XDP_IPTUNNEL_TESTS_FRAME_H
#define XDP_IPTUNNEL_TESTS_FRAME_H

#include <arpa/inet.h>
#include <string.h>
#include <linux/types.h>

static inline int is_ipv6(const char *addr)
{
	return !!strchr(addr, ':');
}

/* addr (16 bytes) from s, zero-filled; returns the address's length */
static inline unsigned int parse_addr(const char *s, __be32 *addr)
{
	memset(addr, 0, 16);
	if (is_ipv6(s)) {
		inet_pton(AF_INET6, s, addr);
		return 16;
	}
	inet_pton(AF_INET, s, addr);
	return 4;
}

static inline void put(struct frame *f, const void *p, unsigned int n)
{
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static inline void put_zeros(struct frame *f, unsigned int n)
{
	memset(f->b + f->len, 0, n);
	f->len += n;
}

static inline void put8(struct frame *f, __u8 v)
{
	f->b[f->len++] = v;
}

static inline void put16(struct frame *f, __u16 v)
{
	put8(f, v >> 8);
	put8(f, v);
}

static inline void put32(struct frame *f, __u32 v)
{
	put16(f, v >> 16);
	put16(f, v);
}

static inline void put_addr(struct frame *f, const char *s)
{
	__be32 addr[4];

	put(f, addr, parse_addr(s, addr));
}

static inline __u16 get16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

static inline void set16(struct frame *f, unsigned int off, __u16 v)
{
	f->b[off] = v >> 8;
	f->b[off + 1] = v;
}

/* Sum of n bytes as big-endian words, an odd last byte padded; unfolded. */
static inline __u32 sum_words(const __u8 *p, unsigned int n, __u32 sum)
{
	unsigned int i;

	for (i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += p[n - 1] << 8;
	return sum;
}

static inline __u16 fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* Ones' complement sum of n bytes, folded. */
static inline __u16 sum16(const __u8 *p, unsigned int n)
{
	return fold(sum_words(p, n, 0));
}

/* The checksum of the IPv4 header at offset l3, over its IHL. */
static inline void ipv4_csum(struct frame *f, unsigned int l3)
{
	set16(f, l3 + 10, 0);
	set16(f, l3 + 10, ~sum16(f->b + l3, (f->b[l3] & 0xf) * 4));
}

#endif /* XDP_IPTUNNEL_TESTS_FRAME_H */
