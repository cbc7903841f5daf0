// SPDX-License-Identifier: GPL-2.0
/*
 * A read-only MR over a read-only shared file mapping (O_RDONLY, PROT_READ)
 * of an ext4 or a tmpfs file: registering it for remote read must work and
 * RDMA READ must return the file, while asking for write access on that
 * mapping must be refused without leaving pins behind.
 */
#include <fcntl.h>
#include <limits.h>
#include "vt_harness.h"

#define FILE_LEN	((size_t)1 << 20)
#define SEED_FILE	1
#define SEED_DST	2

FIXTURE(ro_file_mr) {
	struct vt_ctx ctx;
	char path[PATH_MAX];
	int fd;
	void *map, *dst;
	struct ibv_mr *map_mr, *dst_mr;
};

FIXTURE_VARIANT(ro_file_mr) {
	const char *fs;
	const char *dir;
};

FIXTURE_VARIANT_ADD(ro_file_mr, ext4) { .fs = "ext4", .dir = "/mnt/ext4", };
FIXTURE_VARIANT_ADD(ro_file_mr, tmpfs) { .fs = "tmpfs", .dir = "/tmp", };

FIXTURE_SETUP(ro_file_mr)
{
	int fd;

	self->fd = -1;
	if (!vt_fs_is(variant->dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", variant->dir, variant->fs);
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));

	fd = vt_make_file(variant->dir, FILE_LEN, SEED_FILE, self->path);
	ASSERT_LE(0, fd);
	close(fd);
	self->fd = open(self->path, O_RDONLY);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->path, strerror(errno));
	self->map = mmap(NULL, FILE_LEN, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));

	self->dst = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, self->dst);
	vt_fill(self->dst, FILE_LEN, SEED_DST);
	self->dst_mr = ibv_reg_mr(self->ctx.pd, self->dst, FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->dst_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(ro_file_mr)
{
	EXPECT_EQ(0, vt_dereg_mr(self->map_mr));
	EXPECT_EQ(0, vt_dereg_mr(self->dst_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->map, FILE_LEN);
	vt_free(self->dst, FILE_LEN);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
}

TEST_F(ro_file_mr, register_and_rdma_read)
{
	VT_TODO_FOLL_FORCE("a read-only shared mapping is EFAULT");
	VT_RETURN_IF_SKIPPED();
	self->map_mr = ibv_reg_mr(self->ctx.pd, self->map, FILE_LEN,
				  IBV_ACCESS_REMOTE_READ);
	ASSERT_NE(NULL, self->map_mr)
		TH_LOG("Couldn't register read-only MR: %s (errno %d)",
		       strerror(errno), errno);
	ASSERT_EQ(0, vt_rdma_read(&self->ctx, self->map_mr, self->dst_mr,
				  FILE_LEN));
	EXPECT_EQ(FILE_LEN, vt_count(self->dst, FILE_LEN, SEED_FILE));
}

TEST_F(ro_file_mr, write_access_on_ro_mapping_refused)
{
	long acquired, released, base;
	int err;

	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vt_pins(&acquired, &released));
	base = acquired - released;
	self->map_mr = ibv_reg_mr(self->ctx.pd, self->map, FILE_LEN,
				  IBV_ACCESS_LOCAL_WRITE |
				  IBV_ACCESS_REMOTE_WRITE);
	err = errno;
	EXPECT_EQ(NULL, self->map_mr);
	EXPECT_TRUE(err == EFAULT || err == EACCES || err == EPERM)
		TH_LOG("errno %d (%s)", err, strerror(err));
	EXPECT_EQ(0, vt_pins(&acquired, &released));
	EXPECT_EQ(base, acquired - released)
		TH_LOG("the refused registration left pins");
}

VT_HARNESS_MAIN
