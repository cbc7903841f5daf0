// SPDX-License-Identifier: GPL-2.0
/*
 * Writable MRs over file pages: shared mappings of files on ext4, xfs, btrfs
 * and tmpfs, and a private mapping of a file.  Data written into the MR by
 * RDMA WRITE shows in the mapping and, for shared mappings, in the file;
 * RDMA READ returns it; a private mapping leaves the file as it was.
 */
#include <limits.h>
#include "vt_harness.h"

#define FILE_LEN	((size_t)4 << 20)
#define SEED_FILE	1
#define SEED_NEW	2
#define SEED_DST	3

FIXTURE(file_mr) {
	struct vt_ctx ctx;
	char path[PATH_MAX];
	int fd;
	void *map, *src, *dst;
	struct ibv_mr *map_mr, *src_mr, *dst_mr;
};

FIXTURE_VARIANT(file_mr) {
	const char *fs;
	const char *dir;
	int map_flags;
};

FIXTURE_VARIANT_ADD(file_mr, ext4) {
	.fs = "ext4", .dir = "/mnt/ext4", .map_flags = MAP_SHARED,
};

FIXTURE_VARIANT_ADD(file_mr, xfs) {
	.fs = "xfs", .dir = "/mnt/xfs", .map_flags = MAP_SHARED,
};

FIXTURE_VARIANT_ADD(file_mr, btrfs) {
	.fs = "btrfs", .dir = "/mnt/btrfs", .map_flags = MAP_SHARED,
};

FIXTURE_VARIANT_ADD(file_mr, tmpfs) {
	.fs = "tmpfs", .dir = "/tmp", .map_flags = MAP_SHARED,
};

/* Falls back to /tmp without an ext4 disk */
FIXTURE_VARIANT_ADD(file_mr, private) {
	.fs = "ext4", .dir = "/mnt/ext4", .map_flags = MAP_PRIVATE,
};

FIXTURE_SETUP(file_mr)
{
	const char *dir = variant->dir;

	self->fd = -1;
	if (!vt_fs_is(dir, variant->fs)) {
		if (variant->map_flags == MAP_SHARED)
			SKIP(return, "%s is not a mounted %s", dir, variant->fs);
		dir = "/tmp";
	}
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));

	self->fd = vt_make_file(dir, FILE_LEN, SEED_FILE, self->path);
	ASSERT_LE(0, self->fd);
	self->map = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE,
			 variant->map_flags, self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
	self->map_mr = ibv_reg_mr(self->ctx.pd, self->map, FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->map_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));

	self->src = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, self->src);
	vt_fill(self->src, FILE_LEN, SEED_NEW);
	self->src_mr = ibv_reg_mr(self->ctx.pd, self->src, FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->src_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));

	self->dst = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, self->dst);
	self->dst_mr = ibv_reg_mr(self->ctx.pd, self->dst, FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->dst_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(file_mr)
{
	EXPECT_EQ(0, vt_dereg_mr(self->map_mr));
	EXPECT_EQ(0, vt_dereg_mr(self->src_mr));
	EXPECT_EQ(0, vt_dereg_mr(self->dst_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->map, FILE_LEN);
	vt_free(self->src, FILE_LEN);
	vt_free(self->dst, FILE_LEN);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
}

TEST_F_TIMEOUT(file_mr, rdma_write_then_read, 120)
{
	/* A shared mapping is the file; a private one is a copy of it */
	unsigned int file_seed = variant->map_flags == MAP_SHARED ?
				 SEED_NEW : SEED_FILE;

	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->map_mr,
				   FILE_LEN));
	EXPECT_EQ(FILE_LEN, vt_count(self->map, FILE_LEN, SEED_NEW));

	ASSERT_EQ(0, vt_read_file(self->fd, self->dst, FILE_LEN));
	EXPECT_EQ(FILE_LEN, vt_count(self->dst, FILE_LEN, file_seed))
		TH_LOG("read() sees the pattern of seed %u", file_seed);

	vt_fill(self->dst, FILE_LEN, SEED_DST);
	ASSERT_EQ(0, vt_rdma_read(&self->ctx, self->map_mr, self->dst_mr,
				  FILE_LEN));
	EXPECT_EQ(FILE_LEN, vt_count(self->dst, FILE_LEN, SEED_NEW));
}

/*
 * One MR over more shared file VMAs than the kernel records in one pin
 * call (eight): every page mapped on its own, at file offsets in reverse
 * order so that no two VMAs merge.  The registration must pin all of them
 * and RDMA WRITE must land in each page at its own file offset.
 */
#define MANY_VMAS	12

TEST_F_TIMEOUT(file_mr, many_vmas, 120)
{
	size_t pg = sysconf(_SC_PAGESIZE), len = MANY_VMAS * pg;
	char *orig = NULL, *file = NULL, *area;
	struct ibv_mr *mr;
	int i;

	VT_RETURN_IF_SKIPPED();
	ASSERT_LE(len, FILE_LEN);
	orig = malloc(len);
	file = malloc(len);
	ASSERT_TRUE(orig && file);
	ASSERT_EQ(0, vt_read_file(self->fd, orig, len));

	area = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	for (i = 0; i < MANY_VMAS; i++)
		ASSERT_NE(MAP_FAILED,
			  mmap(area + i * pg, pg, PROT_READ | PROT_WRITE,
			       variant->map_flags | MAP_FIXED, self->fd,
			       (MANY_VMAS - 1 - i) * pg))
			TH_LOG("mmap page %d: %s", i, strerror(errno));

	mr = ibv_reg_mr(self->ctx.pd, area, len, VT_MR_ACCESS);
	ASSERT_NE(NULL, mr)
		TH_LOG("Couldn't register MR over %d VMAs: %s", MANY_VMAS,
		       strerror(errno));
	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, mr, len));
	EXPECT_EQ(0, memcmp(area, self->src, len));

	ASSERT_EQ(0, vt_read_file(self->fd, file, len));
	for (i = 0; i < MANY_VMAS; i++) {
		size_t off = (MANY_VMAS - 1 - i) * pg;
		const char *want = variant->map_flags == MAP_SHARED ?
				   (char *)self->src + i * pg : orig + off;

		EXPECT_EQ(0, memcmp(file + off, want, pg))
			TH_LOG("file page %zu does not hold what mapping page %d got",
			       off / pg, i);
	}
	EXPECT_EQ(0, vt_dereg_mr(mr));
	munmap(area, len);
	free(orig);
	free(file);
}

/*
 * Deregistration while an inbound SEND is still being placed in the MR.
 * The receive holds the memory until the message is placed (siw: the
 * receive path's reference, the last one once the MR is gone; rxe: the
 * lookup of each packet, which fails after deregistration), so the release
 * of the pinned pages may come from the receive path, in atomic context,
 * where unpinning a written file page through the filesystem must not run.
 * Each round registers a fresh file MR, receives a 16 MiB SEND into it and
 * deregisters it as soon as the first bytes land.  A round counts as in
 * flight when the last bytes were still the file's after ibv_dereg_mr()
 * returned.  At least one round must be in flight (else the test tested
 * nothing); no kernel report may follow; the MR's pins must be released
 * within 2 s of the receive's completion, whoever dropped the last
 * reference; and what a completed receive placed must be on disk after
 * fsync() (rxe and siw both fail the receive once the MR is gone, 0/0).
 * The atomic context itself shows only with CONFIG_DEBUG_ATOMIC_SLEEP
 * (make check-debug): might_sleep() in the page lock and the filesystem.
 *
 *   # test=dereg_in_flight fs=F rounds=N in_flight=N completed=N on_disk=X/Y
 *     pins_left=N
 */
#define IN_FLIGHT_LEN		((size_t)16 << 20)
#define IN_FLIGHT_ROUNDS	4

static int in_flight_round(const char *dir, unsigned int round, int *in_flight,
			   int *completed, size_t *on_disk, long *left)
{
	size_t last = IN_FLIGHT_LEN - sizeof(uint64_t);
	volatile uint64_t *head, *tail;
	struct ibv_mr *mr = NULL, *src_mr = NULL;
	char path[PATH_MAX] = "";
	void *map = MAP_FAILED, *src = NULL, *back = NULL;
	struct ibv_recv_wr rwr = { .num_sge = 1 }, *bad_rwr;
	struct ibv_send_wr swr = {
		.num_sge = 1, .opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad_swr;
	struct ibv_sge rsge, ssge;
	struct vt_ctx ctx = {};
	struct ibv_wc wc[2];
	long acq, rel, lt_acq = 0, lt_rel = 0, held, lt_held;
	uint64_t old_head, old_tail;
	int fd = -1, dfd = -1, ret = -1, got = 0, ok = 0, n;
	struct timespec t0, t;

	if (vt_init_ctx(&ctx))
		return -1;
	fd = vt_make_file(dir, IN_FLIGHT_LEN, SEED_FILE, path);
	if (fd < 0)
		goto out;
	map = mmap(NULL, IN_FLIGHT_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	src = vt_alloc(IN_FLIGHT_LEN, 0);
	if (map == MAP_FAILED || !src)
		goto out;
	vt_fill(src, IN_FLIGHT_LEN, SEED_NEW + round);
	src_mr = ibv_reg_mr(ctx.pd, src, IN_FLIGHT_LEN, VT_MR_ACCESS);
	if (vt_pins(&acq, &rel))
		goto out;
	vt_lt_pins(&lt_acq, &lt_rel);
	held = acq - rel;
	lt_held = lt_acq - lt_rel;
	mr = ibv_reg_mr(ctx.pd, map, IN_FLIGHT_LEN, VT_MR_ACCESS);
	if (!mr || !src_mr) {
		fprintf(stderr, "Couldn't register MR: %s\n", strerror(errno));
		goto out;
	}
	head = map;
	tail = (uint64_t *)((char *)map + last);
	old_head = *head;
	old_tail = *tail;

	rsge = (struct ibv_sge) { (uintptr_t)map, IN_FLIGHT_LEN, mr->lkey };
	ssge = (struct ibv_sge) { (uintptr_t)src, IN_FLIGHT_LEN, src_mr->lkey };
	rwr.sg_list = &rsge;
	swr.sg_list = &ssge;
	rwr.wr_id = 1;
	swr.wr_id = 2;
	if (ibv_post_recv(ctx.rqp, &rwr, &bad_rwr) ||
	    ibv_post_send(ctx.qp, &swr, &bad_swr)) {
		fprintf(stderr, "Couldn't post: %s\n", strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (*head == old_head) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30) {
			fprintf(stderr, "No byte of the SEND landed in 30 s\n");
			goto out;
		}
	}
	if (ibv_dereg_mr(mr)) {
		fprintf(stderr, "Couldn't deregister MR: %s\n", strerror(errno));
		goto out;
	}
	mr = NULL;
	*in_flight += *tail == old_tail;

	/* Both completions, whatever their status (rxe fails the receive) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < 2) {
		n = ibv_poll_cq(ctx.cq, 2, wc);
		if (n < 0)
			goto out;
		for (; n > 0; n--, got++)
			if (wc[n - 1].wr_id == 1 &&
			    wc[n - 1].status == IBV_WC_SUCCESS)
				ok = 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (got < 2 && t.tv_sec - t0.tv_sec > 30) {
			fprintf(stderr, "%d of 2 completions in 30 s\n", got);
			goto out;
		}
	}
	/* The last reference may have gone in the receive path: a worker's */
	*left += vt_pins_settle(held, lt_held, 2000);
	if (ok) {
		*completed += 1;
		back = vt_alloc(IN_FLIGHT_LEN, 0);
		dfd = open(path, O_RDONLY | O_DIRECT);
		/* tmpfs before 6.6 has no O_DIRECT: its page cache is the file */
		if (dfd < 0 && errno == EINVAL)
			dfd = open(path, O_RDONLY);
		if (!back || dfd < 0 || fsync(fd) ||
		    vt_read_file(dfd, back, IN_FLIGHT_LEN))
			goto out;
		*on_disk += vt_count(back, IN_FLIGHT_LEN, SEED_NEW + round);
	}
	ret = 0;
out:
	vt_dereg_mr(mr);
	vt_dereg_mr(src_mr);
	vt_close_ctx(&ctx);
	if (dfd >= 0)
		close(dfd);
	vt_free(back, IN_FLIGHT_LEN);
	vt_free(src, IN_FLIGHT_LEN);
	if (map != MAP_FAILED)
		munmap(map, IN_FLIGHT_LEN);
	if (fd >= 0)
		close(fd);
	if (path[0])
		unlink(path);
	return ret;
}

TEST_F_TIMEOUT(file_mr, dereg_in_flight, 300)
{
	int round, in_flight = 0, completed = 0, kmsg = vt_kmsg_open();
	size_t on_disk = 0;
	long left = 0;
	char report[1024];

	VT_RETURN_IF_SKIPPED();
	if (variant->map_flags != MAP_SHARED)
		SKIP(return, "a private mapping is not the file");
	for (round = 0; round < IN_FLIGHT_ROUNDS && !in_flight; round++)
		ASSERT_EQ(0, in_flight_round(variant->dir, round, &in_flight,
					     &completed, &on_disk, &left));
	printf("# test=dereg_in_flight fs=%s rounds=%d in_flight=%d completed=%d on_disk=%zu/%zu pins_left=%ld\n",
	       variant->fs, round, in_flight, completed, on_disk,
	       completed * IN_FLIGHT_LEN, left);
	EXPECT_LT(0, in_flight)
		TH_LOG("no deregistration landed while the SEND was placed");
	EXPECT_EQ(0, left)
		TH_LOG("the MR's pins stay 2 s after its receive ended");
	EXPECT_EQ(completed * IN_FLIGHT_LEN, on_disk)
		TH_LOG("a received SEND is not on disk after fsync()");
	EXPECT_EQ(0, vt_kmsg_splats(kmsg, report, sizeof(report)))
		TH_LOG("kernel report: %s", report);
	if (kmsg >= 0)
		close(kmsg);
}

VT_HARNESS_MAIN
