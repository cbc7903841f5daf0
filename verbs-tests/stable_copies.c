// SPDX-License-Identifier: GPL-2.0
/*
 * Stable copies of write-pinned pages, only where something needs them.
 *
 * A device may write a pinned page while it is written back.  Where the
 * data is checksummed on its way to the disk (btrfs data checksums, a disk
 * that asks for stable writes, such as dm-integrity computing its own tags)
 * the page must not change under the I/O, so writeback writes a copy; on a
 * plain disk the page is written in place, at no cost.  Each variant
 * registers a 1 MiB file as a writable MR, writes all of it by RDMA WRITE,
 * fsyncs and reads it back with O_DIRECT (through dm-integrity's checks
 * where it is there).  The copies expected are computed from what the test
 * sees: every page when the filesystem is btrfs or the disk's
 * queue/stable_writes is 1, none otherwise (longterm_file_pin_bounced).
 *
 * ext4_integrity: ext4 on dm-integrity (internal crc32c, bitmap mode, which
 * sets stable_writes) on a loop device over a file in /tmp.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "vt_harness.h"

#define SC_FILE_LEN	((size_t)1 << 20)
#define SC_IMG_LEN	((size_t)96 << 20)
#define DMSETUP		"DM_DISABLE_UDEV=1 dmsetup --noudevsync"

FIXTURE(stable_copies) {
	struct vt_ctx ctx;
	char dir[64], path[PATH_MAX], img[64], loop[64], dm[64];
	char log[PATH_MAX];
	bool dm_made, mounted;
	int fd, dfd;
	void *map, *src, *buf;
	struct ibv_mr *mr, *src_mr;
};

FIXTURE_VARIANT(stable_copies) {
	const char *fs;
	bool integrity;
};

FIXTURE_VARIANT_ADD(stable_copies, ext4) { .fs = "ext4", };
FIXTURE_VARIANT_ADD(stable_copies, xfs) { .fs = "xfs", };
FIXTURE_VARIANT_ADD(stable_copies, btrfs) { .fs = "btrfs", };
FIXTURE_VARIANT_ADD(stable_copies, ext4_integrity) {
	.fs = "ext4", .integrity = true,
};

/* The first line of a shell command's output into @out; its exit status */
static int sc_read(char *out, size_t len, const char *cmd)
{
	FILE *p = popen(cmd, "r");
	int status;

	out[0] = '\0';
	if (!p)
		return -1;
	if (!fgets(out, len, p))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * ext4 on dm-integrity over a loop device.  dm-integrity formats a zeroed
 * device the first time it is loaded; the size it then provides comes from
 * its status line (mismatches, provided sectors, ...).
 */
static void sc_make_integrity(struct __test_metadata *_metadata,
			      FIXTURE_DATA(stable_copies) *self)
{
	char line[256];
	unsigned long long provided;

	if (vt_run(self->log, "which dmsetup losetup mkfs.ext4"))
		SKIP(return, "dmsetup, losetup or mkfs.ext4 missing");
	if (vt_run(self->log, DMSETUP " targets | grep -qw integrity"))
		SKIP(return, "no dm-integrity target (CONFIG_DM_INTEGRITY)");
	snprintf(self->img, sizeof(self->img), "/tmp/vt-sc-%d.img", getpid());
	ASSERT_EQ(0, vt_run(self->log, "truncate -s %zu %s", SC_IMG_LEN, self->img));
	snprintf(line, sizeof(line), "losetup -f --show %s", self->img);
	ASSERT_EQ(0, sc_read(self->loop, sizeof(self->loop), line));
	ASSERT_EQ('/', self->loop[0]) TH_LOG("no loop device");
	snprintf(self->dm, sizeof(self->dm), "vt-sc-%d", getpid());
	ASSERT_EQ(0, vt_run(self->log, DMSETUP " create %s --table '0 8 integrity %s 0 4 B 1 internal_hash:crc32c'",
			    self->dm, self->loop));
	self->dm_made = true;
	snprintf(line, sizeof(line), DMSETUP " status %s", self->dm);
	ASSERT_EQ(0, sc_read(line, sizeof(line), line));
	/* "0 8 integrity <mismatches> <provided sectors> ..." */
	ASSERT_EQ(1, sscanf(line, "%*u %*u integrity %*u %llu", &provided))
		TH_LOG("dm-integrity status: %s", line);
	ASSERT_EQ(0, vt_run(self->log, DMSETUP " remove %s", self->dm));
	self->dm_made = false;
	ASSERT_EQ(0, vt_run(self->log, DMSETUP " create %s --table '0 %llu integrity %s 0 4 B 1 internal_hash:crc32c'",
			    self->dm, provided, self->loop));
	self->dm_made = true;
	/* Blocks never written have no valid tag: write them all once. */
	ASSERT_EQ(0, vt_run(self->log, "dd if=/dev/zero of=/dev/mapper/%s bs=4096 count=%llu oflag=direct status=none",
			    self->dm, provided / 8));
	ASSERT_EQ(0, vt_run(self->log, "mkfs.ext4 -q -F /dev/mapper/%s", self->dm));
	snprintf(self->dir, sizeof(self->dir), "/tmp/vt-sc-%d.mnt", getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0700));
	snprintf(line, sizeof(line), "/dev/mapper/%s", self->dm);
	ASSERT_EQ(0, mount(line, self->dir, "ext4", 0, NULL))
		TH_LOG("mount %s: %s", line, strerror(errno));
	self->mounted = true;
}

/* queue/stable_writes of the disk mounted (last) on @dir: 1, 0, or -1 */
static int sc_stable_writes(const char *dir)
{
	char dev[PATH_MAX], path[128];
	struct stat st;
	int v = -1;
	FILE *f;

	/* by number: dmsetup without udev makes /dev/mapper/NAME a node */
	if (vt_mount_dev(dir, dev, sizeof(dev)) || stat(dev, &st) ||
	    !S_ISBLK(st.st_mode))
		return -1;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/stable_writes",
		 major(st.st_rdev), minor(st.st_rdev));
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

FIXTURE_SETUP(stable_copies)
{
	self->fd = self->dfd = -1;
	snprintf(self->log, sizeof(self->log), "/tmp/vt-sc-%d.log", getpid());
	if (variant->integrity) {
		if (geteuid())
			SKIP(return, "needs root");
		sc_make_integrity(_metadata, self);
		VT_RETURN_IF_SKIPPED();
	} else {
		snprintf(self->dir, sizeof(self->dir), "/mnt/%s", variant->fs);
		if (!vt_fs_is(self->dir, variant->fs))
			SKIP(return, "%s is not a mounted %s", self->dir,
			     variant->fs);
	}
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->fd = vt_make_file(self->dir, SC_FILE_LEN, 1, self->path);
	ASSERT_LE(0, self->fd);
	self->dfd = open(self->path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->dfd) TH_LOG("open O_DIRECT: %s", strerror(errno));
	self->buf = vt_alloc(SC_FILE_LEN, 0);
	self->src = vt_alloc(SC_FILE_LEN, 0);
	ASSERT_NE(NULL, self->buf);
	ASSERT_NE(NULL, self->src);
	self->src_mr = ibv_reg_mr(self->ctx.pd, self->src, SC_FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->src_mr);
	self->map = mmap(NULL, SC_FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
	self->mr = ibv_reg_mr(self->ctx.pd, self->map, SC_FILE_LEN,
			      VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(stable_copies)
{
	VT_RELEASE_MRS(self->mr, self->src_mr, &self->ctx);
	if (self->map && self->map != MAP_FAILED)
		munmap(self->map, SC_FILE_LEN);
	vt_free(self->src, SC_FILE_LEN);
	vt_free(self->buf, SC_FILE_LEN);
	if (self->dfd >= 0)
		close(self->dfd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
	if (self->mounted)
		EXPECT_EQ(0, umount(self->dir))
			TH_LOG("umount %s: %s", self->dir, strerror(errno));
	if (variant->integrity && self->dir[0])
		rmdir(self->dir);
	if (self->dm_made)
		EXPECT_EQ(0, vt_run(self->log, DMSETUP " remove %s", self->dm));
	if (self->loop[0])
		EXPECT_EQ(0, vt_run(self->log, "losetup -d %s", self->loop));
	if (self->img[0])
		unlink(self->img);
	unlink(self->log);
}

TEST_F_TIMEOUT(stable_copies, copies_where_needed, 120)
{
	long pages = SC_FILE_LEN / getpagesize(), b0, b1;
	bool csum = !strcmp(variant->fs, "btrfs");
	int stable = sc_stable_writes(self->dir);
	size_t on_disk = 0;

	VT_TODO_WITHOUT_PIN_RECORDS("fsync writes nothing the device wrote");
	VT_RETURN_IF_SKIPPED();
	ASSERT_LE(0, stable) TH_LOG("no queue/stable_writes for %s", self->dir);
	ASSERT_EQ(0, fsync(self->fd));
	b0 = vt_vmstat("longterm_file_pin_bounced");
	vt_fill(self->src, SC_FILE_LEN, 2);
	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->mr,
				   SC_FILE_LEN));
	ASSERT_EQ(0, fsync(self->fd)) TH_LOG("fsync: %s", strerror(errno));
	b1 = vt_vmstat("longterm_file_pin_bounced");
	if (!vt_read_file(self->dfd, self->buf, SC_FILE_LEN))
		on_disk = vt_count(self->buf, SC_FILE_LEN, 2);
	printf("# test=stable_copies fs=%s%s stable_writes=%d csum=%d on_disk=%zu/%zu bounced=%+ld\n",
	       variant->fs, variant->integrity ? "+dm-integrity" : "", stable,
	       csum, on_disk, SC_FILE_LEN, b0 < 0 ? 0 : b1 - b0);
	fflush(stdout);
	EXPECT_EQ(SC_FILE_LEN, on_disk);
	ASSERT_LE(0, b0) TH_LOG("no longterm_file_pin_bounced in /proc/vmstat");
	if (csum || stable) {
		EXPECT_LE(pages, b1 - b0)
			TH_LOG("pages written in place where they must be stable");
	} else {
		EXPECT_EQ(0, b1 - b0)
			TH_LOG("pages copied for a disk that does not need it");
	}
}

/*
 * A writable MR over the disk's own page cache (mmap of the block device):
 * the block device writes its pages without copies, so where the disk
 * needs stable pages a kernel with the series refuses the pin (EFAULT);
 * a disk without that need, or the stock kernel, registers it.  The last
 * MiB of the device, free space of the filesystem on it.
 */
TEST_F(stable_copies, bdev_mr)
{
	bool series = vt_vmstat("longterm_file_pin_bounced") >= 0;
	int stable = sc_stable_writes(self->dir), fd, err;
	char dev[96];
	struct ibv_mr *mr;
	off_t size;
	void *map;

	VT_RETURN_IF_SKIPPED();
	if (!variant->integrity)
		SKIP(return, "the filesystem's own disk is not touched");
	ASSERT_LE(0, stable);
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", self->dm);
	fd = open(dev, O_RDWR);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", dev, strerror(errno));
	size = lseek(fd, 0, SEEK_END);
	ASSERT_LT((off_t)SC_FILE_LEN, size);
	map = mmap(NULL, SC_FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   (size - SC_FILE_LEN) & ~((off_t)SC_FILE_LEN - 1));
	ASSERT_NE(MAP_FAILED, map) TH_LOG("mmap: %s", strerror(errno));
	mr = ibv_reg_mr(self->ctx.pd, map, SC_FILE_LEN, VT_MR_ACCESS);
	err = mr ? 0 : errno;
	printf("# test=bdev_mr stable_writes=%d series=%d errno=%d\n",
	       stable, series, err);
	if (series && stable) {
		EXPECT_EQ(NULL, mr);
		EXPECT_EQ(EFAULT, err);
	} else {
		EXPECT_NE(NULL, mr) TH_LOG("ibv_reg_mr: %s", strerror(err));
	}
	if (mr)
		EXPECT_EQ(0, vt_dereg_mr(mr));
	munmap(map, SC_FILE_LEN);
	close(fd);
}

VT_HARNESS_MAIN
