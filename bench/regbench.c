// SPDX-License-Identifier: GPL-2.0
/*
 * regbench - time ibv_reg_mr() and ibv_dereg_mr() per page.
 *
 * For each size, the buffer (anonymous, a MAP_SHARED file, or hugetlb) is
 * mapped and faulted in once, then registered and deregistered N times;
 * each call is timed on its own.  One line per size:
 *
 *   REG backing=anon size=4194304 iters=20 reg_ns_page=med/min/max
 *       dereg_ns_page=med/min/max
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>

#define PAGE		4096UL
#define HPAGE		(2UL << 20)	/* the default hugetlb page size */

struct regbench_ctx {
	struct ibv_context	*context;
	struct ibv_pd		*pd;
	const char		*backing;	/* anon, hugetlb, or a directory */
	int			 fd;
	void			*buf;
	size_t			 size;
	size_t			 map_len;	/* size, in whole huge pages */
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int regbench_init_ctx(struct regbench_ctx *ctx, const char *devname)
{
	struct ibv_device **list, **dev;

	list = ibv_get_device_list(NULL);
	if (!list) {
		perror("Failed to get IB devices list");
		return -1;
	}
	for (dev = list; *dev; dev++)
		if (!strcmp(ibv_get_device_name(*dev), devname))
			break;
	if (!*dev) {
		fprintf(stderr, "IB device %s not found\n", devname);
		goto clean_list;
	}
	ctx->context = ibv_open_device(*dev);
	if (!ctx->context) {
		fprintf(stderr, "Couldn't get context for %s\n", devname);
		goto clean_list;
	}
	ctx->pd = ibv_alloc_pd(ctx->context);
	if (!ctx->pd) {
		fprintf(stderr, "Couldn't allocate PD\n");
		goto clean_device;
	}
	ibv_free_device_list(list);
	return 0;

clean_device:
	ibv_close_device(ctx->context);
clean_list:
	ibv_free_device_list(list);
	return -1;
}

static void regbench_close_ctx(struct regbench_ctx *ctx)
{
	ibv_dealloc_pd(ctx->pd);
	ibv_close_device(ctx->context);
}

/* Map ctx->size bytes of the backing and fault every page in. */
static int map_buffer(struct regbench_ctx *ctx)
{
	char path[4096];
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;

	ctx->fd = -1;
	ctx->map_len = ctx->size;
	if (!strcmp(ctx->backing, "hugetlb")) {
		/* Whole huge pages, or munmap() leaves the tail mapped. */
		flags |= MAP_HUGETLB;
		ctx->map_len = (ctx->size + HPAGE - 1) & ~(HPAGE - 1);
	}
	if (strcmp(ctx->backing, "anon") && strcmp(ctx->backing, "hugetlb")) {
		snprintf(path, sizeof(path), "%s/regbench.%d", ctx->backing,
			 getpid());
		ctx->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (ctx->fd < 0) {
			fprintf(stderr, "Couldn't create %s: %s\n", path,
				strerror(errno));
			return -1;
		}
		unlink(path);
		if (fallocate(ctx->fd, 0, 0, ctx->size) &&
		    ftruncate(ctx->fd, ctx->size)) {
			fprintf(stderr, "Couldn't size %s: %s\n", path,
				strerror(errno));
			goto clean_fd;
		}
		flags = MAP_SHARED | MAP_POPULATE;
	}
	ctx->buf = mmap(NULL, ctx->map_len, PROT_READ | PROT_WRITE, flags,
			ctx->fd, 0);
	if (ctx->buf == MAP_FAILED) {
		fprintf(stderr, "Couldn't map %zu bytes (%s): %s\n", ctx->size,
			ctx->backing, strerror(errno));
		goto clean_fd;
	}
	memset(ctx->buf, 0x5a, ctx->size);	/* every page present, dirty */
	return 0;

clean_fd:
	if (ctx->fd >= 0)
		close(ctx->fd);
	return -1;
}

static void unmap_buffer(struct regbench_ctx *ctx)
{
	munmap(ctx->buf, ctx->map_len);
	if (ctx->fd >= 0)
		close(ctx->fd);
}

static void summary(const char *what, double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf(" %s=%.1f/%.1f/%.1f", what, v[n / 2], v[0], v[n - 1]);
}

static int bench_size(struct regbench_ctx *ctx, int iters)
{
	double *reg, *dereg, pages = ctx->size / PAGE;
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ;
	int i, ret = -1;

	if (map_buffer(ctx))
		return -1;
	reg = calloc(iters, sizeof(*reg));
	dereg = calloc(iters, sizeof(*dereg));
	if (!reg || !dereg) {
		fprintf(stderr, "Couldn't allocate %d samples\n", iters);
		goto clean;
	}
	for (i = 0; i < iters; i++) {
		struct ibv_mr *mr;
		double t0, t1;

		t0 = now_ns();
		mr = ibv_reg_mr(ctx->pd, ctx->buf, ctx->size, access);
		t1 = now_ns();
		if (!mr) {
			fprintf(stderr, "Couldn't register MR of %zu bytes: %s\n",
				ctx->size, strerror(errno));
			goto clean;
		}
		reg[i] = (t1 - t0) / pages;
		t0 = now_ns();
		if (ibv_dereg_mr(mr)) {
			fprintf(stderr, "Couldn't deregister MR\n");
			goto clean;
		}
		dereg[i] = (now_ns() - t0) / pages;
	}
	printf("REG backing=%s size=%zu iters=%d",
	       ctx->fd >= 0 ? "file" : ctx->backing, ctx->size, iters);
	summary("reg_ns_page", reg, iters);
	summary("dereg_ns_page", dereg, iters);
	printf("\n");
	fflush(stdout);
	ret = 0;
clean:
	free(reg);
	free(dereg);
	unmap_buffer(ctx);
	return ret;
}

static void usage(const char *argv0)
{
	printf("Usage: %s [-d dev] [-n iters] [-b backing] SIZE...\n", argv0);
	printf("  -d <dev>      IB device (default rxe0)\n");
	printf("  -n <iters>    registrations per size (default 20)\n");
	printf("  -b <backing>  anon (default), hugetlb, or a directory for a\n");
	printf("                MAP_SHARED file\n");
	printf("  SIZE          bytes, with optional K, M or G suffix\n");
}

int main(int argc, char *argv[])
{
	struct regbench_ctx ctx = { .backing = "anon" };
	const char *devname = "rxe0";
	int iters = 20, c, ret = 0;

	while ((c = getopt(argc, argv, "d:n:b:h")) != -1) {
		switch (c) {
		case 'd':
			devname = optarg;
			break;
		case 'n':
			iters = atoi(optarg);
			break;
		case 'b':
			ctx.backing = optarg;
			break;
		default:
			usage(argv[0]);
			return c == 'h' ? 0 : 1;
		}
	}
	if (optind == argc || iters < 1) {
		usage(argv[0]);
		return 1;
	}
	if (regbench_init_ctx(&ctx, devname))
		return 1;
	for (; optind < argc && !ret; optind++) {
		char *end;

		ctx.size = strtoull(argv[optind], &end, 0);
		switch (*end) {
		case 'G': ctx.size <<= 10;	/* fall through */
		case 'M': ctx.size <<= 10;	/* fall through */
		case 'K': ctx.size <<= 10;
		}
		ret = bench_size(&ctx, iters);
	}
	regbench_close_ctx(&ctx);
	return ret ? 1 : 0;
}
