// SPDX-License-Identifier: GPL-2.0
/*
 * writeback_eio - an I/O error under the writeback of a write-pinned file
 * page.
 *
 * writeback.fsync_eio: ext4 on a device-mapper device over a loop device; a
 * file registered as a writable MR, synced, RDMA-written; then the table
 * maps the file's blocks to the "error" target, and fsync() must return EIO
 * (the stock kernel does not write the page at all and returns 0).  The MR
 * goes, the table comes back, and fsync() then writes the device's data;
 * e2fsck finds the filesystem whole.
 *
 * It prints "# test=writeback.fsync_eio injected=N ..." (N: the extents
 * mapped to the error target, which scripts/results counts as faults
 * injected).
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include "vt_harness.h"

#define WB_TIMEOUT	150		/* harness timeout of the test, s */
#define REPORT_LEN	4096

/* One result line; the harness ends a test with _exit(), so flush it */
#define wb_print(fmt, ...) do {						\
	printf("# " fmt "\n", ##__VA_ARGS__);				\
	fflush(stdout);							\
} while (0)

static const char *errname(int err)
{
	const char *name = err ? strerrorname_np(err) : "0";

	return name ? name : "E?";
}

/*
 * An I/O error under the writeback of a write-pinned page.  Tools come from
 * the host root; dmsetup runs without udev.
 */
#define WB_IMG_LEN	((size_t)64 << 20)
#define WB_FILE_LEN	((size_t)1 << 20)
#define WB_SEED_OLD	1
#define WB_SEED_NEW	2
#define WB_MAX_EXTENTS	32
#define DMSETUP		"DM_DISABLE_UDEV=1 dmsetup --noudevsync"

FIXTURE(writeback) {
	struct vt_ctx ctx;
	char img[PATH_MAX], loop[64], dm[64], mnt[PATH_MAX], path[PATH_MAX];
	char log[PATH_MAX], table[PATH_MAX], linear[256];
	bool dm_made, mounted;
	int fd, kmsg;
	void *map, *src, *buf;
	struct ibv_mr *mr, *src_mr;
	long held, lt_held;
};

static void wb_log(struct __test_metadata *_metadata,
		   FIXTURE_DATA(writeback) *self)
{
	char buf[2048];
	int fd = open(self->log, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		TH_LOG("commands said:\n%s", buf);
	}
}

/* Replace the live table of the device by the one in self->table */
static int wb_swap_table(FIXTURE_DATA(writeback) *self)
{
	/* --nolockfs: freezing ext4 would write the pinned pages first */
	return vt_run(self->log, DMSETUP " suspend --nolockfs --noflush %s", self->dm) ||
	       vt_run(self->log, DMSETUP " load %s %s", self->dm, self->table) ||
	       vt_run(self->log, DMSETUP " resume %s", self->dm);
}

static int wb_write_table(FIXTURE_DATA(writeback) *self, const char *text)
{
	int fd = open(self->table, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * The table that maps the file's extents (from FIEMAP, bytes on the
 * filesystem's device, which is this one) to the error target and the
 * rest, linearly, to the loop device.  Return the error segments, or -1.
 */
static int wb_error_table(FIXTURE_DATA(writeback) *self, char *text,
			  size_t len)
{
	struct {
		struct fiemap		map;
		struct fiemap_extent	ext[WB_MAX_EXTENTS];
	} fm = {
		.map = {
			.fm_length	= WB_FILE_LEN,
			.fm_flags	= FIEMAP_FLAG_SYNC,
			.fm_extent_count = WB_MAX_EXTENTS,
		},
	};
	unsigned long long at = 0, start, end, total = WB_IMG_LEN >> 9;
	size_t used = 0;
	unsigned int i;

	if (ioctl(self->fd, FS_IOC_FIEMAP, &fm.map))
		return -1;
	for (i = 0; i < fm.map.fm_mapped_extents; i++) {
		start = fm.ext[i].fe_physical >> 9;
		end = start + (fm.ext[i].fe_length >> 9);
		if (start < at || end > total)
			return -1;	/* FIEMAP sorts by logical offset */
		if (start > at)
			used += snprintf(text + used, len - used,
					 "%llu %llu linear %s %llu\n",
					 at, start - at, self->loop, at);
		used += snprintf(text + used, len - used, "%llu %llu error\n",
				 start, end - start);
		at = end;
	}
	if (at < total)
		used += snprintf(text + used, len - used,
				 "%llu %llu linear %s %llu\n",
				 at, total - at, self->loop, at);
	return used < len ? (int)fm.map.fm_mapped_extents : -1;
}

FIXTURE_SETUP(writeback)
{
	long acquired, released;

	self->fd = -1;
	self->kmsg = vt_kmsg_open();
	if (geteuid())
		SKIP(return, "needs root");
	if (access("/dev/mapper/control", F_OK))
		SKIP(return, "no device mapper (CONFIG_BLK_DEV_DM)");
	snprintf(self->log, sizeof(self->log), "/tmp/vt-wb-%d.log", getpid());
	if (vt_run(self->log, "which dmsetup losetup mkfs.ext4 e2fsck"))
		SKIP(return, "dmsetup, losetup, mkfs.ext4 or e2fsck missing");
	if (vt_run(self->log, DMSETUP " targets | grep -qw error"))
		SKIP(return, "no device-mapper error target");
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->src = vt_alloc(WB_FILE_LEN, 0);
	ASSERT_NE(NULL, self->src);
	vt_fill(self->src, WB_FILE_LEN, WB_SEED_NEW);
	self->src_mr = ibv_reg_mr(self->ctx.pd, self->src, WB_FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->src_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	self->buf = aligned_alloc(4096, WB_FILE_LEN);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, vt_pins(&acquired, &released));
	self->held = acquired - released;
	self->lt_held = vt_lt_pins(&acquired, &released) ? 0 :
			acquired - released;
}

FIXTURE_TEARDOWN(writeback)
{
	char report[REPORT_LEN];
	int n;

	EXPECT_EQ(0, vt_dereg_mr(self->mr));
	EXPECT_EQ(0, vt_dereg_mr(self->src_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	EXPECT_EQ(0, vt_pins_settle(vt_pins_held_now(), 0, 0))
		TH_LOG("long-term file pins left after the last MR is gone");
	if (self->map)
		munmap(self->map, WB_FILE_LEN);
	if (self->fd >= 0)
		close(self->fd);
	if (self->mounted) {
		/* Whatever the table is now, let the unmount write */
		if (self->linear[0] && !wb_write_table(self, self->linear))
			wb_swap_table(self);
		EXPECT_EQ(0, umount(self->mnt))
			TH_LOG("umount %s: %s", self->mnt, strerror(errno));
	}
	if (self->dm_made) {
		EXPECT_EQ(0, vt_run(self->log, DMSETUP " remove %s", self->dm));
		/* Only the file's data saw errors: the filesystem is whole */
		EXPECT_EQ(0, vt_run(self->log, "e2fsck -fn %s", self->loop));
	}
	if (self->loop[0])
		EXPECT_EQ(0, vt_run(self->log, "losetup -d %s", self->loop));
	if (self->img[0])
		unlink(self->img);
	if (self->mnt[0])
		rmdir(self->mnt);
	if (self->table[0])
		unlink(self->table);
	if (!_metadata->passed)
		wb_log(_metadata, self);
	if (self->log[0])
		unlink(self->log);
	vt_free(self->src, WB_FILE_LEN);
	free(self->buf);
	n = vt_kmsg_splats(self->kmsg, report, sizeof(report));
	EXPECT_EQ(0, n) TH_LOG("kernel splat under I/O errors:\n%s", report);
	if (self->kmsg >= 0)
		close(self->kmsg);
}

TEST_F_TIMEOUT(writeback, fsync_eio, WB_TIMEOUT)
{
	char table[2048], cmd[PATH_MAX + 64];
	int fd, ret, err, ret2, err2, segs;
	FILE *p;

	VT_TODO_WITHOUT_PIN_RECORDS("the changed page is not written: fsync returns 0");
	VT_RETURN_IF_SKIPPED();
	/* ext4 on dm (linear) on a loop device over a file in tmpfs */
	snprintf(self->img, sizeof(self->img), "/tmp/vt-wb-%d.img", getpid());
	snprintf(self->table, sizeof(self->table), "/tmp/vt-wb-%d.table",
		 getpid());
	snprintf(self->dm, sizeof(self->dm), "vt-wb-%d", getpid());
	fd = open(self->img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, WB_IMG_LEN));
	close(fd);
	snprintf(cmd, sizeof(cmd), "losetup --find --show %s", self->img);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	if (!fgets(self->loop, sizeof(self->loop), p))
		self->loop[0] = '\0';
	pclose(p);
	self->loop[strcspn(self->loop, "\n")] = '\0';
	ASSERT_EQ(0, strncmp(self->loop, "/dev/loop", 9))
		TH_LOG("losetup gave '%s'", self->loop);

	snprintf(self->linear, sizeof(self->linear), "0 %zu linear %s 0\n",
		 WB_IMG_LEN >> 9, self->loop);
	ASSERT_EQ(0, wb_write_table(self, self->linear));
	ASSERT_EQ(0, vt_run(self->log, DMSETUP " create %s %s", self->dm,
			    self->table));
	self->dm_made = true;
	ASSERT_EQ(0, vt_run(self->log, "mkfs.ext4 -q -F -b 4096 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 /dev/mapper/%s",
			    self->dm));
	snprintf(self->mnt, sizeof(self->mnt), "/tmp/vt-wb-%d.mnt", getpid());
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	snprintf(cmd, sizeof(cmd), "/dev/mapper/%s", self->dm);
	ASSERT_EQ(0, mount(cmd, self->mnt, "ext4", 0, NULL))
		TH_LOG("mount %s: %s", cmd, strerror(errno));
	self->mounted = true;

	/* A synced file, registered, synced again, then RDMA-written */
	self->fd = vt_make_file(self->mnt, WB_FILE_LEN, WB_SEED_OLD, self->path);
	ASSERT_LE(0, self->fd);
	self->map = mmap(NULL, WB_FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	self->mr = ibv_reg_mr(self->ctx.pd, self->map, WB_FILE_LEN,
			      VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	ASSERT_EQ(0, fsync(self->fd));
	/*
	 * Where the file's blocks are, found first: FIEMAP_FLAG_SYNC writes
	 * the dirty pages of the file, and the device's pages are dirty
	 * soon after it writes them, as a CPU store's are.
	 */
	segs = wb_error_table(self, table, sizeof(table));
	ASSERT_LT(0, segs) TH_LOG("FIEMAP: %s", strerror(errno));
	ASSERT_EQ(0, wb_write_table(self, table));
	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->mr,
				   WB_FILE_LEN));

	/* The file's blocks fail every I/O from now on */
	ASSERT_EQ(0, wb_swap_table(self)) TH_LOG("table:\n%s", table);
	ret = fsync(self->fd);
	err = ret ? errno : 0;
	ret2 = fsync(self->fd);
	err2 = ret2 ? errno : 0;
	wb_print("test=writeback.fsync_eio injected=%d fsync=%s fsync_again=%s",
		 segs, errname(err), errname(err2));
	EXPECT_EQ(EIO, err)
		TH_LOG("fsync over failing blocks returned %d (%s): the pinned page was not written",
		       ret, errname(err));

	/* Deregistration dirties the pages; nothing may stay pinned */
	ASSERT_EQ(0, ibv_dereg_mr(self->mr));
	self->mr = NULL;
	EXPECT_EQ(0, vt_pins_settle(self->held, self->lt_held, 0))
		TH_LOG("pins left after deregistration");

	/* The device heals: the data the device wrote reaches the disk */
	ASSERT_EQ(0, wb_write_table(self, self->linear));
	ASSERT_EQ(0, wb_swap_table(self));
	EXPECT_EQ(0, fsync(self->fd)) TH_LOG("fsync after the table came back: %s",
					     strerror(errno));
	fd = open(self->path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, vt_read_file(fd, self->buf, WB_FILE_LEN));
	close(fd);
	EXPECT_EQ(WB_FILE_LEN, vt_count(self->buf, WB_FILE_LEN, WB_SEED_NEW))
		TH_LOG("the device's data is not on disk after the table came back");
}

VT_HARNESS_MAIN
