// SPDX-License-Identifier: GPL-2.0
/*
 * fsyncbench - what fsync() costs for pages a device rewrote.
 *
 * For each size N: a MAP_SHARED file of N bytes in DIR is registered as a
 * writable MR.  Each round rewrites all of it, either by the CPU through
 * the mapping ("cpu") or by an RDMA WRITE into the MR ("rdma"), and then
 * times fsync() alone.  One line per size and mode:
 *
 *   FSYNC size=16777216 mode=rdma rounds=5 ms=med/min/max
 *
 * On a kernel that does not write back pinned pages the rdma fsync is
 * nearly free because it writes nothing: compare the bytes on disk
 * (verbs-tests/durability) before reading anything into the times.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "vt.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int bench(struct vt_ctx *ctx, const char *dir, size_t len, int rounds)
{
	double t[2][rounds];
	struct ibv_mr *src_mr = NULL, *file_mr = NULL;
	char path[PATH_MAX];
	void *src, *map = MAP_FAILED;
	int fd, r, m, ret = -1;

	fd = vt_make_file(dir, len, 0, path);
	if (fd < 0)
		return -1;
	src = vt_alloc(len, 0);
	if (!src) {
		fprintf(stderr, "Couldn't allocate %zu bytes\n", len);
		goto clean_file;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "Couldn't map %s: %s\n", path, strerror(errno));
		goto clean_src;
	}
	src_mr = ibv_reg_mr(ctx->pd, src, len, VT_MR_ACCESS);
	file_mr = ibv_reg_mr(ctx->pd, map, len, VT_MR_ACCESS);
	if (!src_mr || !file_mr) {
		fprintf(stderr, "Couldn't register MR: %s\n", strerror(errno));
		goto clean_mr;
	}
	/* Alternate the modes so drift hits both alike. */
	for (r = 0; r < rounds; r++) {
		for (m = 0; m < 2; m++) {
			double t0;

			if (m == 0) {
				vt_fill(map, len, 2 * r + 1);
			} else {
				vt_fill(src, len, 2 * r + 2);
				if (vt_rdma_write(ctx, src_mr, file_mr, len))
					goto clean_mr;
			}
			t0 = now_ms();
			if (fsync(fd)) {
				perror("fsync");
				goto clean_mr;
			}
			t[m][r] = now_ms() - t0;
		}
	}
	for (m = 0; m < 2; m++) {
		qsort(t[m], rounds, sizeof(double), cmp_double);
		printf("FSYNC size=%zu mode=%s rounds=%d ms=%.2f/%.2f/%.2f\n",
		       len, m ? "rdma" : "cpu", rounds, t[m][rounds / 2],
		       t[m][0], t[m][rounds - 1]);
	}
	fflush(stdout);
	ret = 0;
clean_mr:
	if (file_mr)
		vt_dereg_mr(file_mr);
	if (src_mr)
		vt_dereg_mr(src_mr);
	munmap(map, len);
clean_src:
	vt_free(src, len);
clean_file:
	close(fd);
	unlink(path);
	return ret;
}

int main(int argc, char *argv[])
{
	struct vt_ctx ctx;
	int i, rounds = 5, ret = 0;

	if (argc < 3) {
		fprintf(stderr, "Usage: %s DIR MIB... (5 rounds per size)\n",
			argv[0]);
		return 1;
	}
	if (vt_init_ctx(&ctx))
		return 1;
	for (i = 2; i < argc && !ret; i++)
		ret = bench(&ctx, argv[1], strtoul(argv[i], NULL, 0) << 20,
			    rounds);
	vt_close_ctx(&ctx);
	return ret ? 1 : 0;
}
