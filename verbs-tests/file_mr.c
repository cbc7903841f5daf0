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

VT_HARNESS_MAIN
