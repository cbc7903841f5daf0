// SPDX-License-Identifier: GPL-2.0
/*
 * fsyncbench - what fsync() costs for pages a device rewrote.
 *
 * For each size N: a MAP_SHARED file of N bytes in DIR is registered as a
 * writable MR.  Each round rewrites all of it, either by the CPU through
 * the mapping ("cpu") or by an RDMA WRITE into the MR ("rdma"), and then
 * times fsync() alone.  One line per size and mode:
 *
 *   FSYNC size=16777216 mode=rdma rounds=5 ms=med/min/max cpu_ms=med/min/max
 *
 * cpu_ms is the CPU time of the calling thread during fsync()
 * (CLOCK_THREAD_CPUTIME_ID): what the kernel did on the caller's behalf,
 * without the wait for the disk nor the work of jbd2 and the flusher.  In
 * QEMU's icount mode it counts guest instructions (1 ms: 10^6), so it
 * compares kernels without the I/O timing of the host.
 *
 * On a kernel that does not write back pinned pages the rdma fsync is
 * nearly free because it writes nothing: compare the bytes on disk
 * (verbs-tests/durability) before reading anything into the times.
 *
 * With --mr MIB, the file and its MR are MIB large and each round rewrites
 * only the first N MiB of it; each line also gives the KiB the disk
 * received during the fsync (/sys/class/block/DEV/stat):
 *
 *   FSYNCMR mr=1073741824 size=1048576 mode=rdma rounds=5 ms=m/m/m kib=m/m/m
 *       wms=m/m/m
 *
 * wms is the time of the stores before the fsync: the CPU's (page faults
 * included) or the RDMA WRITE's (until its completion).
 *
 * and with --idle SEC, after the sizes, the disk writes while the MR sits
 * idle for SEC seconds with dirty_expire_centisecs and
 * dirty_writeback_centisecs at 100, after one fsync:
 *
 *   IDLE mr=1073741824 seconds=20 kib=N redirtied=N
 */
#include <errno.h>
#include <getopt.h>
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

/* CPU time of the calling thread, ms */
static double thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int bench(struct vt_ctx *ctx, const char *dir, size_t len, int rounds)
{
	double t[2][rounds], c[2][rounds];
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
			double t0, c0;

			if (m == 0) {
				vt_fill(map, len, 2 * r + 1);
			} else {
				vt_fill(src, len, 2 * r + 2);
				if (vt_rdma_write(ctx, src_mr, file_mr, len))
					goto clean_mr;
			}
			c0 = thread_cpu_ms();
			t0 = now_ms();
			if (fsync(fd)) {
				perror("fsync");
				goto clean_mr;
			}
			t[m][r] = now_ms() - t0;
			c[m][r] = thread_cpu_ms() - c0;
		}
	}
	for (m = 0; m < 2; m++) {
		qsort(t[m], rounds, sizeof(double), cmp_double);
		qsort(c[m], rounds, sizeof(double), cmp_double);
		printf("FSYNC size=%zu mode=%s rounds=%d ms=%.2f/%.2f/%.2f cpu_ms=%.4f/%.4f/%.4f\n",
		       len, m ? "rdma" : "cpu", rounds, t[m][rounds / 2],
		       t[m][0], t[m][rounds - 1], c[m][rounds / 2], c[m][0],
		       c[m][rounds - 1]);
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

static void print_med(const char *what, double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	printf(" %s=%.2f/%.2f/%.2f", what, v[n / 2], v[0], v[n - 1]);
}

/*
 * A @mr_len file MR, of which each round rewrites the first @lens[i] bytes
 * by the CPU or by RDMA; fsync timed, and the disk's writes counted.  Then,
 * with @idle, the disk's writes while the MR sits idle.
 */
static int bench_mr(struct vt_ctx *ctx, const char *dir, size_t mr_len,
		    size_t *lens, int nlens, int rounds, int idle)
{
	double t[2][rounds], kib[2][rounds], w[2][rounds];
	struct ibv_mr *src_mr = NULL, *file_mr = NULL;
	size_t src_len = 0, len;
	char path[PATH_MAX], expire[32] = "", interval[32] = "";
	void *src = NULL, *map = MAP_FAILED;
	int fd, i, r, m, ret = -1;
	long long s0, s1;
	long r0, r1;

	for (i = 0; i < nlens; i++)
		if (lens[i] > src_len)
			src_len = lens[i];
	fd = vt_make_file(dir, mr_len, 0, path);
	if (fd < 0)
		return -1;
	src = vt_alloc(src_len, 0);
	map = mmap(NULL, mr_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!src || map == MAP_FAILED) {
		fprintf(stderr, "Couldn't allocate or map: %s\n", strerror(errno));
		goto out;
	}
	src_mr = ibv_reg_mr(ctx->pd, src, src_len, VT_MR_ACCESS);
	file_mr = ibv_reg_mr(ctx->pd, map, mr_len, VT_MR_ACCESS);
	if (!src_mr || !file_mr) {
		fprintf(stderr, "Couldn't register MR: %s\n", strerror(errno));
		goto out;
	}
	/* Registration dirtied every page: write them first. */
	if (fsync(fd) || vt_dev_sectors_written(dir) < 0) {
		fprintf(stderr, "fsync or disk statistics of %s failed\n", dir);
		goto out;
	}
	for (i = 0; i < nlens; i++) {
		len = lens[i];
		for (r = 0; r < rounds; r++) {
			for (m = 0; m < 2; m++) {
				double t0;

				/* the stores themselves: faults, or RDMA */
				if (m == 0) {
					t0 = now_ms();
					vt_fill(map, len, 2 * r + 1);
				} else {
					vt_fill(src, len, 2 * r + 2);
					t0 = now_ms();
					if (vt_rdma_write(ctx, src_mr, file_mr, len))
						goto out;
				}
				w[m][r] = now_ms() - t0;
				s0 = vt_dev_sectors_written(dir);
				t0 = now_ms();
				if (fsync(fd)) {
					perror("fsync");
					goto out;
				}
				t[m][r] = now_ms() - t0;
				kib[m][r] = (vt_dev_sectors_written(dir) - s0) / 2.0;
			}
		}
		for (m = 0; m < 2; m++) {
			printf("FSYNCMR mr=%zu size=%zu mode=%s rounds=%d", mr_len,
			       len, m ? "rdma" : "cpu", rounds);
			print_med("ms", t[m], rounds);
			print_med("kib", kib[m], rounds);
			print_med("wms", w[m], rounds);
			printf("\n");
		}
		fflush(stdout);
	}
	if (idle > 0) {
		if (vt_vm_sysctl("dirty_expire_centisecs", "100", expire,
				 sizeof(expire)) ||
		    vt_vm_sysctl("dirty_writeback_centisecs", "100", interval,
				 sizeof(interval)))
			goto out;
		vt_fill(src, src_len, 7);
		if (vt_rdma_write(ctx, src_mr, file_mr, src_len) || fsync(fd))
			goto out;
		sleep(2);
		r0 = vt_vmstat("longterm_file_pin_redirtied");
		s0 = vt_dev_sectors_written(dir);
		sleep(idle);
		s1 = vt_dev_sectors_written(dir);
		r1 = vt_vmstat("longterm_file_pin_redirtied");
		printf("IDLE mr=%zu seconds=%d kib=%lld redirtied=%ld\n", mr_len,
		       idle, (s1 - s0) / 2, r0 < 0 ? 0 : r1 - r0);
		fflush(stdout);
	}
	ret = 0;
out:
	if (interval[0])
		vt_vm_sysctl("dirty_writeback_centisecs", interval, NULL, 0);
	if (expire[0])
		vt_vm_sysctl("dirty_expire_centisecs", expire, NULL, 0);
	if (file_mr)
		vt_dereg_mr(file_mr);
	if (src_mr)
		vt_dereg_mr(src_mr);
	if (map != MAP_FAILED)
		munmap(map, mr_len);
	if (src)
		vt_free(src, src_len);
	close(fd);
	unlink(path);
	return ret;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [--mr MIB [--idle SEC]] DIR MIB... (5 rounds per size)\n",
		prog);
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "mr", required_argument, NULL, 'm' },
		{ "idle", required_argument, NULL, 'i' },
		{ }
	};
	size_t mr_len = 0, lens[16];
	int c, i, n = 0, idle = 0, rounds = 5, ret = 0;
	struct vt_ctx ctx;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mr_len = strtoul(optarg, NULL, 0) << 20;
			break;
		case 'i':
			idle = atoi(optarg);
			break;
		default:
			usage(argv[0]);
			return 1;
		}
	}
	if (argc - optind < 2 || argc - optind - 1 > 16) {
		usage(argv[0]);
		return 1;
	}
	for (i = optind + 1; i < argc; i++)
		lens[n++] = strtoul(argv[i], NULL, 0) << 20;
	for (i = 0; i < n; i++) {
		if (!lens[i] || (mr_len && lens[i] > mr_len)) {
			fprintf(stderr, "%s: bad size %s MiB\n", argv[0],
				argv[optind + 1 + i]);
			return 1;
		}
	}
	if (vt_init_ctx(&ctx))
		return 1;
	if (mr_len)
		ret = bench_mr(&ctx, argv[optind], mr_len, lens, n, rounds, idle);
	for (i = 0; !mr_len && i < n && !ret; i++)
		ret = bench(&ctx, argv[optind], lens[i], rounds);
	vt_close_ctx(&ctx);
	return ret ? 1 : 0;
}
