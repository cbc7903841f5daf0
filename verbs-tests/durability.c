// SPDX-License-Identifier: GPL-2.0
/*
 * Data written by RDMA into a file-backed MR must reach the disk when the
 * file is synced, every time, not only the first time after registration.
 *
 * A 1 MiB file with allocated blocks is mapped shared and registered once.
 * Each round writes a new pattern into it by RDMA WRITE, syncs by the
 * variant's method and reads the file back with O_DIRECT.  The stock kernel
 * writes the pinned pages back once; later rounds find nothing on disk.
 */
#include <fcntl.h>
#include <limits.h>
#include "vt_harness.h"

#define FILE_LEN	((size_t)1 << 20)
#define ROUNDS		4

FIXTURE(durability) {
	struct vt_ctx ctx;
	char path[PATH_MAX];
	int fd, dfd;
	void *map, *src, *buf;
	struct ibv_mr *map_mr, *src_mr;
};

FIXTURE_VARIANT(durability) {
	const char *fs;
	const char *sync;
};

#define DUR_VARIANT(_fs, _sync)						\
	FIXTURE_VARIANT_ADD(durability, _fs##_##_sync) {		\
		.fs = #_fs, .sync = #_sync,				\
	}

DUR_VARIANT(ext4, fsync);
DUR_VARIANT(ext4, fdatasync);
DUR_VARIANT(ext4, msync);
DUR_VARIANT(ext4, syncfs);
DUR_VARIANT(xfs, fsync);
DUR_VARIANT(xfs, fdatasync);
DUR_VARIANT(xfs, msync);
DUR_VARIANT(xfs, syncfs);
DUR_VARIANT(btrfs, fsync);
DUR_VARIANT(btrfs, fdatasync);
DUR_VARIANT(btrfs, msync);
DUR_VARIANT(btrfs, syncfs);

static int sync_file(const char *method, int fd, void *map)
{
	if (!strcmp(method, "fsync"))
		return fsync(fd);
	if (!strcmp(method, "fdatasync"))
		return fdatasync(fd);
	if (!strcmp(method, "msync"))
		return msync(map, FILE_LEN, MS_SYNC);
	return syncfs(fd);
}

FIXTURE_SETUP(durability)
{
	char dir[32];

	self->fd = -1;
	self->dfd = -1;
	snprintf(dir, sizeof(dir), "/mnt/%s", variant->fs);
	if (!vt_fs_is(dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", dir, variant->fs);
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));

	self->fd = vt_make_file(dir, FILE_LEN, 0, self->path);
	ASSERT_LE(0, self->fd);
	self->dfd = open(self->path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->dfd) TH_LOG("open O_DIRECT: %s", strerror(errno));
	self->buf = aligned_alloc(4096, FILE_LEN);
	ASSERT_NE(NULL, self->buf);

	self->map = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
	self->map_mr = ibv_reg_mr(self->ctx.pd, self->map, FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->map_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));

	self->src = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, self->src);
	self->src_mr = ibv_reg_mr(self->ctx.pd, self->src, FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->src_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(durability)
{
	EXPECT_EQ(0, vt_dereg_mr(self->map_mr));
	EXPECT_EQ(0, vt_dereg_mr(self->src_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->map, FILE_LEN);
	vt_free(self->src, FILE_LEN);
	free(self->buf);
	if (self->dfd >= 0)
		close(self->dfd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
}

/* Every round runs even after a failed one: the table wants all of them */
TEST_F_TIMEOUT(durability, rdma_write_sync_rounds, 120)
{
	unsigned int round;
	size_t on_disk;

	VT_RETURN_IF_SKIPPED();
	for (round = 1; round <= ROUNDS; round++) {
		vt_fill(self->src, FILE_LEN, round);
		EXPECT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr,
					   self->map_mr, FILE_LEN));
		EXPECT_EQ(0, sync_file(variant->sync, self->fd, self->map))
			TH_LOG("%s: %s", variant->sync, strerror(errno));
		on_disk = 0;
		if (!vt_read_file(self->dfd, self->buf, FILE_LEN))
			on_disk = vt_count(self->buf, FILE_LEN, round);
		printf("# DUR fs=%s sync=%s round=%u on_disk=%zu/%zu\n",
		       variant->fs, variant->sync, round, on_disk, FILE_LEN);
		fflush(stdout);
		EXPECT_EQ(FILE_LEN, on_disk) TH_LOG("round %u", round);
	}
}

VT_HARNESS_MAIN
