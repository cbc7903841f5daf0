// SPDX-License-Identifier: GPL-2.0
/*
 * pc_writer - the guest half of scripts/powercut: RDMA writes into a
 * registered file, each round fsynced, then a power cut.
 *
 * It creates FILE (SIZE bytes of zeroes, on disk, directory entry included),
 * maps it shared and registers the mapping as a writable MR.  Each round r
 * RDMA-writes pattern r (vt_fill() with seed r) over the whole MR, fsyncs
 * the file and prints "# round=r synced=1" once fsync() has returned.
 * Right after the last round it writes 'b' to /proc/sysrq-trigger: an
 * immediate reset, no sync, no unmount, which QEMU with -no-reboot turns
 * into a power cut.  What fsync() promised must then be in the disk image.
 *
 * With -c it checks a file instead (on the host, after the cut): it prints
 * "# round=r on_disk=X/SIZE" for every round and exits 0 only when
 * the last round's pattern fills the file.
 *
 * Exit status: 0 (-n or -c: all went well; else the cut comes first), 1
 * when -c finds the last round short, 2 on any other error.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/mman.h>

#include "vt.h"

struct pc_ctx {
	struct vt_ctx	vt;
	int		fd;
	void		*map;
	void		*src;
	struct ibv_mr	*map_mr;
	struct ibv_mr	*src_mr;
	size_t		size;
};

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s [options] FILE     write, fsync, power cut\n", argv0);
	printf("  %s -c [options] FILE  count the patterns in FILE\n", argv0);
	printf("\n");
	printf("Options:\n");
	printf("  -r, rounds     rounds of RDMA WRITE + fsync (default 3)\n");
	printf("  -s, size       file and MR size, a multiple of 4096 (default 1048576)\n");
	printf("  -n             no power cut: deregister and exit 0\n");
	printf("  -c             check FILE: bytes of each round's pattern\n");
	printf("Environment: VT_DEV (rxe0), VT_GID (1)\n");
}

/* FILE of @size zero bytes with its blocks and its name on disk */
static int pc_make_file(const char *path, size_t size)
{
	char dir[PATH_MAX];
	int fd, dfd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "Couldn't create %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (vt_write_file(fd, size, 0))
		goto clean_fd;

	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || fsync(dfd)) {
		fprintf(stderr, "Couldn't fsync the directory of %s: %s\n",
			path, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto clean_fd;
	}
	close(dfd);
	return fd;

clean_fd:
	close(fd);
	return -1;
}

static int pc_init_ctx(struct pc_ctx *ctx, const char *path, size_t size)
{
	ctx->size = size;
	if (vt_init_ctx(&ctx->vt))
		return -1;

	ctx->fd = pc_make_file(path, size);
	if (ctx->fd < 0)
		goto clean_vt;

	ctx->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			ctx->fd, 0);
	if (ctx->map == MAP_FAILED) {
		fprintf(stderr, "Couldn't map %s: %s\n", path, strerror(errno));
		goto clean_fd;
	}
	ctx->map_mr = ibv_reg_mr(ctx->vt.pd, ctx->map, size, VT_MR_ACCESS);
	if (!ctx->map_mr) {
		fprintf(stderr, "Couldn't register file MR: %s\n",
			strerror(errno));
		goto clean_map;
	}

	ctx->src = vt_alloc(size, 0);
	if (!ctx->src) {
		fprintf(stderr, "Couldn't allocate work buf\n");
		goto clean_map_mr;
	}
	ctx->src_mr = ibv_reg_mr(ctx->vt.pd, ctx->src, size, VT_MR_ACCESS);
	if (!ctx->src_mr) {
		fprintf(stderr, "Couldn't register MR: %s\n", strerror(errno));
		goto clean_src;
	}
	return 0;

clean_src:
	vt_free(ctx->src, size);
clean_map_mr:
	ibv_dereg_mr(ctx->map_mr);
clean_map:
	munmap(ctx->map, size);
clean_fd:
	close(ctx->fd);
clean_vt:
	vt_close_ctx(&ctx->vt);
	return -1;
}

static int pc_close_ctx(struct pc_ctx *ctx)
{
	int ret = 0;

	if (ibv_dereg_mr(ctx->src_mr)) {
		fprintf(stderr, "Couldn't deregister MR\n");
		ret = -1;
	}
	vt_free(ctx->src, ctx->size);
	if (ibv_dereg_mr(ctx->map_mr)) {
		fprintf(stderr, "Couldn't deregister file MR\n");
		ret = -1;
	}
	munmap(ctx->map, ctx->size);
	close(ctx->fd);
	vt_close_ctx(&ctx->vt);
	return ret;
}

/* Reset now, like the reset button: no sync, no unmount */
static void pc_power_cut(void)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	if (fd < 0 || write(fd, "b", 1) != 1)
		fprintf(stderr, "Couldn't trigger sysrq b: %s\n",
			strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int pc_write(const char *path, size_t size, unsigned int rounds,
		    int cut)
{
	struct pc_ctx ctx = {};
	unsigned int r;

	if (pc_init_ctx(&ctx, path, size))
		return 2;
	for (r = 1; r <= rounds; r++) {
		vt_fill(ctx.src, size, r);
		if (vt_rdma_write(&ctx.vt, ctx.src_mr, ctx.map_mr, size)) {
			fprintf(stderr, "Couldn't RDMA WRITE round %u\n", r);
			goto clean;
		}
		if (fsync(ctx.fd)) {
			fprintf(stderr, "Couldn't fsync %s: %s\n", path,
				strerror(errno));
			goto clean;
		}
		printf("# round=%u synced=1\n", r);
		fflush(stdout);
		tcdrain(STDOUT_FILENO);	/* out of the UART before the cut */
	}
	if (cut) {
		pc_power_cut();
		return 2;	/* still running: the cut failed */
	}
	return pc_close_ctx(&ctx) ? 2 : 0;

clean:
	pc_close_ctx(&ctx);
	return 2;
}

static int pc_check(const char *path, size_t size, unsigned int rounds)
{
	size_t done, n = 0;
	unsigned int r;
	char *buf;

	/* A short file counts as missing bytes, not as an error */
	buf = vt_slurp(path, size, &done);
	if (!buf)
		return 2;
	for (r = 1; r <= rounds; r++) {
		n = vt_count(buf, done & ~(size_t)7, r);
		printf("# round=%u on_disk=%zu/%zu\n", r, n, size);
	}
	free(buf);
	return n == size ? 0 : 1;
}

int main(int argc, char *argv[])
{
	unsigned int rounds = 3;
	size_t size = 1 << 20;
	int cut = 1, check = 0;
	int opt;

	while ((opt = getopt(argc, argv, "r:s:nch")) != -1) {
		switch (opt) {
		case 'r':
			rounds = strtoul(optarg, NULL, 0);
			break;
		case 's':
			size = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			cut = 0;
			break;
		case 'c':
			check = 1;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1 || !rounds || !size || size % 4096) {
		usage(argv[0]);
		return 2;
	}

	if (check)
		return pc_check(argv[optind], size, rounds);
	return pc_write(argv[optind], size, rounds, cut);
}
