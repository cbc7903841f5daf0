// SPDX-License-Identifier: GPL-2.0
/*
 * Write-pinned file pages must be dirtied through the filesystem, as a CPU
 * store through the mapping would dirty them (->page_mkwrite: block
 * reservation, copy-on-write of shared extents, timestamps), never behind
 * its back.  Each case computes what the filesystem must show, lets the
 * device write through a writable MR over a MAP_SHARED mapping, syncs and
 * reads the file back with O_DIRECT:
 *
 *   fs_reflink.{xfs,btrfs}: file A (4 MiB, pattern 1, on disk) is
 *     registered; round 1 RDMA-writes pattern 2 and fsyncs A; then file B
 *     shares A's extents, by FICLONE of A into a new B or by writing B with
 *     A's bytes and FIDEDUPERANGE from A onto it; round 2 RDMA-writes
 *     pattern 3 and fsyncs A.  A must hold pattern 3 and B still pattern 2:
 *     written in place, A's pages would overwrite B's blocks.  The
 *     *_before_writeback cases share the extents between round 1's RDMA
 *     WRITE and its fsync (the remap flushes A itself).
 *   fs_contract.{ext4,xfs,btrfs}: mtime and ctime move forward when the
 *     device's write is synced (mtime); a sparse file gets blocks for what
 *     the device wrote into its holes (holes); a file extended while
 *     registered keeps what the device wrote (extend).
 *   fs_enospc.{ext4,xfs}: a sparse file registered, then the filesystem
 *     filled up with another file: after an RDMA WRITE, fsync() may fail
 *     with ENOSPC or EDQUOT, but when it returns 0 the data must be on disk;
 *     the same once the space is back.  The filler is gone in teardown.
 *
 * Every case prints one "# test=<name> fs=<fs> ..." line.  Teardown
 * checks that the pins balance, no descriptor or mapping is left and the
 * kernel log gained no splat.  The stock kernel writes the pinned pages
 * back only once after registration: what the device writes after that
 * never reaches the filesystem (scripts/expect/stock).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "vt_harness.h"

#define MIB		((size_t)1 << 20)
#define REFLINK_LEN	(4 * MIB)
#define CONTRACT_LEN	MIB
#define ENOSPC_LEN	(4 * MIB)
#define SEED_FILE	1
#define SEED_ROUND1	2
#define SEED_ROUND2	3
#define MTIME_SLEEP_US	1100000		/* timestamps tick with jiffies */
#define FILL_MARGIN	((off_t)16 << 20)
#define FILL_WRITES	65536		/* 4 KiB write()s at most */
#define SPACE_WAIT_MS	30000		/* for unlinked blocks to be free */
#define FIEMAP_EXTENTS	256
#define FSC_TIMEOUT	120
#define REPORT_LEN	4096

/* One result line; the harness ends a test with _exit(), so flush it */
#define fsc_print(fmt, ...) do {					\
	printf("# " fmt "\n", ##__VA_ARGS__);			\
	fflush(stdout);							\
} while (0)

struct fsc_file {
	char	path[PATH_MAX];
	int	fd;
};

/* What every fixture holds: one registered file A, maybe B and a filler */
struct fsc {
	struct vt_ctx	ctx;
	const char	*fs;
	char		dir[32];
	struct fsc_file	a, b, fill;
	void		*map, *src, *buf;
	int		dereg_ret, dereg_done;	/* dereg_frozen's thread */
	size_t		len, buf_len;
	struct ibv_mr	*mr, *src_mr;
	long long	free_before;	/* bytes free before the filler */
	int		kmsg;
};

/* Open descriptors of files below @dir */
static int fsc_count_fds(const char *dir)
{
	char link[PATH_MAX], target[PATH_MAX];
	DIR *d = opendir("/proc/self/fd");
	size_t dlen = strlen(dir);
	struct dirent *e;
	ssize_t len;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += !strncmp(target, dir, dlen) && target[dlen] == '/';
	}
	closedir(d);
	return n;
}

/* Mappings of files below @dir */
static int fsc_count_maps(const char *dir)
{
	char line[PATH_MAX + 128], prefix[64];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	if (!f)
		return -1;
	snprintf(prefix, sizeof(prefix), " %s/", dir);
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, prefix);
	fclose(f);
	return n;
}

static long long fsc_free_bytes(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv))
		return -1;
	return (long long)sv.f_bfree * sv.f_frsize;
}

/* Setup: the context of a fixture on /mnt/@fs; SKIP when it is not there */
static void fsc_setup(struct __test_metadata *_metadata, struct fsc *f,
		      const char *fs)
{
	f->a.fd = f->b.fd = f->fill.fd = f->kmsg = -1;
	f->free_before = -1;
	f->fs = fs;
	snprintf(f->dir, sizeof(f->dir), "/mnt/%s", fs);
	if (!vt_fs_is(f->dir, fs))
		SKIP(return, "%s is not a mounted %s", f->dir, fs);
	f->kmsg = vt_kmsg_open();
	ASSERT_EQ(0, vt_init_ctx(&f->ctx));
}

/* A new empty file in the fixture's directory */
static void fsc_create(struct __test_metadata *_metadata, struct fsc *f,
		       struct fsc_file *file)
{
	snprintf(file->path, sizeof(file->path), "%s/fsc-XXXXXX", f->dir);
	file->fd = mkstemp(file->path);
	ASSERT_LE(0, file->fd)
		TH_LOG("Couldn't create %s: %s", file->path, strerror(errno));
}

/* A of @len bytes, pattern @seed on disk, or holes only for @seed 0 */
static void fsc_make_a(struct __test_metadata *_metadata, struct fsc *f,
		       size_t len, unsigned int seed)
{
	fsc_create(_metadata, f, &f->a);
	if (seed) {
		ASSERT_EQ(0, vt_write_file(f->a.fd, len, seed));
	} else {
		ASSERT_EQ(0, ftruncate(f->a.fd, len))
			TH_LOG("ftruncate: %s", strerror(errno));
	}
	ASSERT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
}

/*
 * Map A's first @len bytes shared and register them writable, with an
 * anonymous source MR of as many bytes and a read-back buffer of @buf_len.
 */
static void fsc_register(struct __test_metadata *_metadata, struct fsc *f,
			 size_t len, size_t buf_len)
{
	f->len = len;
	f->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->a.fd, 0);
	ASSERT_NE(MAP_FAILED, f->map) TH_LOG("mmap: %s", strerror(errno));
	f->mr = ibv_reg_mr(f->ctx.pd, f->map, len, VT_MR_ACCESS);
	ASSERT_NE(NULL, f->mr)
		TH_LOG("Couldn't register file MR: %s", strerror(errno));

	f->src = vt_alloc(len, 0);
	ASSERT_NE(NULL, f->src);
	f->src_mr = ibv_reg_mr(f->ctx.pd, f->src, len, VT_MR_ACCESS);
	ASSERT_NE(NULL, f->src_mr)
		TH_LOG("Couldn't register source MR: %s", strerror(errno));
	f->buf_len = buf_len;
	f->buf = vt_alloc(buf_len, 0);
	ASSERT_NE(NULL, f->buf);
}

/* The device writes pattern @seed over the whole MR */
static void fsc_rdma_write(struct __test_metadata *_metadata, struct fsc *f,
			   unsigned int seed)
{
	vt_fill(f->src, f->len, seed);
	ASSERT_EQ(0, vt_rdma_write(&f->ctx, f->src_mr, f->mr, f->len));
}

/* Read the first @len bytes of @path into the buffer with O_DIRECT */
static int fsc_read_direct(struct fsc *f, const char *path, size_t len)
{
	int fd, ret;

	memset(f->buf, 0, len);
	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "open %s O_DIRECT: %s\n", path, strerror(errno));
		return -1;
	}
	ret = vt_read_file(fd, f->buf, len);
	close(fd);
	return ret;
}

/* Bytes of pattern @seed in @path's first @len bytes on disk */
static size_t fsc_on_disk(struct fsc *f, const char *path, size_t len,
			  unsigned int seed)
{
	return fsc_read_direct(f, path, len) ? 0 :
	       vt_count(f->buf, len, seed);
}

static size_t fsc_zeroes(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += !p[i];
	return n;
}

static void fsc_close_file(struct fsc_file *file)
{
	if (file->fd >= 0)
		close(file->fd);
	file->fd = -1;
}

static void fsc_unlink_file(struct __test_metadata *_metadata,
			    struct fsc_file *file)
{
	fsc_close_file(file);
	if (!file->path[0])
		return;
	EXPECT_EQ(0, unlink(file->path))
		TH_LOG("unlink %s: %s", file->path, strerror(errno));
	file->path[0] = '\0';
}

/* Wait until the filesystem has (nearly) the space it had before the fill */
static long long fsc_wait_space(struct fsc *f)
{
	long long free = -1;
	int dfd, ms;

	dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	for (ms = 0; ms <= SPACE_WAIT_MS; ms += 100) {
		/* xfs frees an unlinked inode's blocks in the background */
		if (dfd >= 0)
			syncfs(dfd);
		free = fsc_free_bytes(f->dir);
		if (free >= f->free_before - FILL_MARGIN)
			break;
		usleep(100000);
	}
	if (dfd >= 0)
		close(dfd);
	return free;
}

/* Teardown only (no ASSERT): release everything and check what is left */
static void fsc_teardown(struct __test_metadata *_metadata, struct fsc *f)
{
	char report[REPORT_LEN];
	long long free;
	int n;

	EXPECT_EQ(0, vt_dereg_mr(f->mr));
	EXPECT_EQ(0, vt_dereg_mr(f->src_mr));
	vt_close_ctx(&f->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(f->map, f->len);
	vt_free(f->src, f->len);
	vt_free(f->buf, f->buf_len);
	fsc_unlink_file(_metadata, &f->a);
	fsc_unlink_file(_metadata, &f->b);
	fsc_unlink_file(_metadata, &f->fill);
	if (f->free_before >= 0) {
		free = fsc_wait_space(f);
		EXPECT_LE(f->free_before - FILL_MARGIN, free)
			TH_LOG("%s has %lld MiB free after the filler went, %lld before it",
			       f->dir, free >> 20, f->free_before >> 20);
	}
	if (!f->dir[0] || _metadata->skip)
		return;
	EXPECT_EQ(0, fsc_count_maps(f->dir))
		TH_LOG("mappings of files in %s left", f->dir);
	EXPECT_EQ(0, fsc_count_fds(f->dir))
		TH_LOG("descriptors of files in %s left", f->dir);
	n = vt_kmsg_splats(f->kmsg, report, sizeof(report));
	EXPECT_EQ(0, n) TH_LOG("kernel splat:\n%s", report);
	if (f->kmsg >= 0)
		close(f->kmsg);
}

/*
 * fs_reflink: file B shares the extents of the registered file A, by clone
 * or by dedupe, after round 1's fsync or before it.  Only filesystems with
 * reflink: ext4 has none.
 */
FIXTURE(fs_reflink) {
	struct fsc f;
};

FIXTURE_VARIANT(fs_reflink) {
	const char *fs;
};

FIXTURE_VARIANT_ADD(fs_reflink, xfs) { .fs = "xfs", };
FIXTURE_VARIANT_ADD(fs_reflink, btrfs) { .fs = "btrfs", };

FIXTURE_SETUP(fs_reflink)
{
	VT_TODO_WITHOUT_PIN_RECORDS("the device's writes after a writeback are lost");
	fsc_setup(_metadata, &self->f, variant->fs);
	VT_RETURN_IF_SKIPPED();
	fsc_make_a(_metadata, &self->f, REFLINK_LEN, SEED_FILE);
	fsc_register(_metadata, &self->f, REFLINK_LEN, REFLINK_LEN);
}

FIXTURE_TEARDOWN(fs_reflink)
{
	fsc_teardown(_metadata, &self->f);
}

enum fsc_share { SHARE_CLONE, SHARE_DEDUPE };

/* Bytes of @fd's first @len that FIEMAP reports shared, without a sync */
static long long fsc_shared_bytes(int fd, size_t len)
{
	struct fiemap_extent *fe;
	struct fiemap *fm;
	long long n = 0;
	unsigned int i;

	fm = calloc(1, sizeof(*fm) + FIEMAP_EXTENTS * sizeof(*fe));
	if (!fm)
		return -1;
	fm->fm_length = len;
	fm->fm_extent_count = FIEMAP_EXTENTS;
	if (ioctl(fd, FS_IOC_FIEMAP, fm)) {
		free(fm);
		return -1;
	}
	for (i = 0; i < fm->fm_mapped_extents; i++) {
		fe = &fm->fm_extents[i];
		if (fe->fe_flags & FIEMAP_EXTENT_SHARED)
			n += fe->fe_length;
	}
	free(fm);
	return n;
}

/*
 * Make B share A's extents.  A's page cache holds SEED_ROUND1 (the device
 * wrote it), so B is to hold SEED_ROUND1 from now on.  0, or the errno of
 * a remap the filesystem does not support.
 */
static int fsc_share(struct __test_metadata *_metadata, struct fsc *f,
		     enum fsc_share how)
{
	struct file_dedupe_range *range;
	struct file_dedupe_range_info *info;
	int ret;

	fsc_create(_metadata, f, &f->b);
	if (how == SHARE_CLONE)
		return ioctl(f->b.fd, FICLONE, f->a.fd) ? errno : 0;

	/* Same bytes as A, written by write() and on disk, then deduped */
	if (vt_write_file(f->b.fd, f->len, SEED_ROUND1))
		return EIO;
	range = calloc(1, sizeof(*range) + sizeof(*info));
	if (!range)
		return ENOMEM;
	*range = (struct file_dedupe_range) {
		.src_offset	= 0,
		.src_length	= f->len,
		.dest_count	= 1,
	};
	info = &range->info[0];
	*info = (struct file_dedupe_range_info) {
		.dest_fd	= f->b.fd,
		.dest_offset	= 0,
	};
	ret = ioctl(f->a.fd, FIDEDUPERANGE, range) ? errno : 0;
	if (!ret) {
		EXPECT_EQ(FILE_DEDUPE_RANGE_SAME, info->status)
			TH_LOG("FIDEDUPERANGE status %d (%s)", info->status,
			       info->status < 0 ? strerror(-info->status) :
			       "FILE_DEDUPE_RANGE_DIFFERS");
		EXPECT_EQ(f->len, info->bytes_deduped);
	}
	free(range);
	return ret;
}

/*
 * Round 1 (pattern 2), sharing after or before its fsync, round 2
 * (pattern 3): A must hold pattern 3 on disk and B pattern 2.
 */
static void fsc_reflink(struct __test_metadata *_metadata, struct fsc *f,
			const char *name, enum fsc_share how, bool before_wb)
{
	size_t a_on_disk, b_intact;
	long long shared;
	int ret;

	fsc_rdma_write(_metadata, f, SEED_ROUND1);
	if (!before_wb)
		ASSERT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	ret = fsc_share(_metadata, f, how);
	if (ret == EOPNOTSUPP || ret == EINVAL || ret == EXDEV)
		SKIP(return, "%s cannot share extents: %s", f->dir,
		     strerror(ret));
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", name, strerror(ret));
	shared = fsc_shared_bytes(f->a.fd, f->len);
	if (before_wb)
		ASSERT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));

	fsc_rdma_write(_metadata, f, SEED_ROUND2);
	EXPECT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	/* Nothing of B in memory: its bytes come from its blocks */
	fsc_close_file(&f->b);
	EXPECT_EQ(0, vt_write_knob("/proc/sys/vm/drop_caches", "3"))
		TH_LOG("drop_caches: %s", strerror(errno));

	a_on_disk = fsc_on_disk(f, f->a.path, f->len, SEED_ROUND2);
	b_intact = fsc_on_disk(f, f->b.path, f->len, SEED_ROUND1);
	fsc_print("test=%s fs=%s a_on_disk=%zu/%zu b_intact=%zu/%zu a_shared=%lld",
		  name, f->fs, a_on_disk, f->len, b_intact, f->len, shared);
	EXPECT_LT(0, shared)
		TH_LOG("FIEMAP shows no extent of A shared after %s", name);
	EXPECT_EQ(f->len, b_intact)
		TH_LOG("B changed: A's pages were written over shared blocks");
	EXPECT_EQ(f->len, a_on_disk)
		TH_LOG("round 2 of the device is not in A on disk");
}

TEST_F_TIMEOUT(fs_reflink, clone_source, FSC_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	fsc_reflink(_metadata, &self->f, "clone_source", SHARE_CLONE, false);
}

TEST_F_TIMEOUT(fs_reflink, dedupe_source, FSC_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	fsc_reflink(_metadata, &self->f, "dedupe_source", SHARE_DEDUPE, false);
}

TEST_F_TIMEOUT(fs_reflink, clone_source_before_writeback, FSC_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	fsc_reflink(_metadata, &self->f, "clone_source_before_writeback",
		    SHARE_CLONE, true);
}

TEST_F_TIMEOUT(fs_reflink, dedupe_source_before_writeback, FSC_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	fsc_reflink(_metadata, &self->f, "dedupe_source_before_writeback",
		    SHARE_DEDUPE, true);
}

/* fs_contract: timestamps, holes and size changes, on every filesystem */
FIXTURE(fs_contract) {
	struct fsc f;
};

FIXTURE_VARIANT(fs_contract) {
	const char *fs;
};

FIXTURE_VARIANT_ADD(fs_contract, ext4) { .fs = "ext4", };
FIXTURE_VARIANT_ADD(fs_contract, xfs) { .fs = "xfs", };
FIXTURE_VARIANT_ADD(fs_contract, btrfs) { .fs = "btrfs", };

FIXTURE_SETUP(fs_contract)
{
	fsc_setup(_metadata, &self->f, variant->fs);
}

FIXTURE_TEARDOWN(fs_contract)
{
	fsc_teardown(_metadata, &self->f);
}

static long long fsc_ns_since(const struct timespec *t0,
			      const struct timespec *t1)
{
	return (t1->tv_sec - t0->tv_sec) * 1000000000LL +
	       (t1->tv_nsec - t0->tv_nsec);
}

/*
 * A store through the mapping updates mtime and ctime (->page_mkwrite),
 * so must the device's write once it reaches the file.  The stamps are
 * taken after an fsync, which is where the registration's own fault was
 * written back.
 */
TEST_F_TIMEOUT(fs_contract, mtime, FSC_TIMEOUT)
{
	struct fsc *f = &self->f;
	long long dm, dc;
	struct stat st0, st1;
	size_t on_disk;

	VT_TODO_WITHOUT_PIN_RECORDS("no mtime/ctime update for what the device writes");
	VT_RETURN_IF_SKIPPED();
	fsc_make_a(_metadata, f, CONTRACT_LEN, SEED_FILE);
	fsc_register(_metadata, f, CONTRACT_LEN, CONTRACT_LEN);
	ASSERT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fstat(f->a.fd, &st0));
	usleep(MTIME_SLEEP_US);

	fsc_rdma_write(_metadata, f, SEED_ROUND1);
	EXPECT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fstat(f->a.fd, &st1));
	on_disk = fsc_on_disk(f, f->a.path, f->len, SEED_ROUND1);
	dm = fsc_ns_since(&st0.st_mtim, &st1.st_mtim);
	dc = fsc_ns_since(&st0.st_ctim, &st1.st_ctim);
	fsc_print("test=mtime fs=%s mtime_delta_ms=%lld ctime_delta_ms=%lld on_disk=%zu/%zu",
		  f->fs, dm / 1000000, dc / 1000000, on_disk, f->len);
	EXPECT_LT(0, dm) TH_LOG("mtime did not move with the device's write");
	EXPECT_LT(0, dc) TH_LOG("ctime did not move with the device's write");
	EXPECT_EQ(f->len, on_disk);
}

/* A file of holes only: the device's write must get blocks and land */
TEST_F_TIMEOUT(fs_contract, holes, FSC_TIMEOUT)
{
	struct fsc *f = &self->f;
	struct stat st0, st1;
	size_t on_disk;

	VT_RETURN_IF_SKIPPED();
	fsc_make_a(_metadata, f, CONTRACT_LEN, 0);
	ASSERT_EQ(0, fstat(f->a.fd, &st0));
	fsc_register(_metadata, f, CONTRACT_LEN, CONTRACT_LEN);

	fsc_rdma_write(_metadata, f, SEED_ROUND1);
	EXPECT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fstat(f->a.fd, &st1));
	on_disk = fsc_on_disk(f, f->a.path, f->len, SEED_ROUND1);
	fsc_print("test=holes fs=%s blocks_before=%lld blocks_after=%lld on_disk=%zu/%zu",
		  f->fs, (long long)st0.st_blocks, (long long)st1.st_blocks,
		  on_disk, f->len);
	EXPECT_EQ(f->len, on_disk);
	EXPECT_LE((long long)(f->len / 512), (long long)st1.st_blocks)
		TH_LOG("the device's bytes have no blocks");
}

/*
 * An O_SYNC write() into the registered range: the filesystem syncs it
 * with its own locks held (generic_write_sync()), where no write-pinned
 * page may be taken through ->page_mkwrite, so it must neither hang nor
 * fail; the write lands in the pinned pages, and the next fsync() writes
 * it and what the device wrote around it.
 */
TEST_F_TIMEOUT(fs_contract, osync_write, FSC_TIMEOUT)
{
	const size_t wlen = 64 << 10;
	struct fsc *f = &self->f;
	size_t i, cpu = 0, dev = 0;
	char *exp, *got;
	ssize_t n;
	int fd;

	VT_TODO_WITHOUT_PIN_RECORDS("the device's bytes around an O_SYNC write are lost");
	VT_RETURN_IF_SKIPPED();
	fsc_make_a(_metadata, f, CONTRACT_LEN, SEED_FILE);
	fsc_register(_metadata, f, CONTRACT_LEN, CONTRACT_LEN);
	ASSERT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	fsc_rdma_write(_metadata, f, SEED_ROUND1);

	/* What the file must hold: the device's bytes, the write's first */
	exp = malloc(f->len);
	ASSERT_NE(NULL, exp);
	vt_fill(exp, f->len, SEED_ROUND1);
	vt_fill(exp, wlen, SEED_ROUND2);
	fd = open(f->a.path, O_WRONLY | O_SYNC);
	ASSERT_LE(0, fd) TH_LOG("open O_SYNC: %s", strerror(errno));
	n = pwrite(fd, exp, wlen, 0);
	close(fd);
	EXPECT_EQ((ssize_t)wlen, n) TH_LOG("O_SYNC write: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(f->map, exp, wlen))
		TH_LOG("the O_SYNC write is not in the registered mapping");

	EXPECT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fsc_read_direct(f, f->a.path, f->len));
	got = f->buf;
	for (i = 0; i < f->len; i++) {
		if (got[i] != exp[i])
			continue;
		if (i < wlen)
			cpu++;
		else
			dev++;
	}
	free(exp);
	fsc_print("test=osync_write fs=%s cpu_on_disk=%zu/%zu dev_on_disk=%zu/%zu",
		  f->fs, cpu, wlen, dev, f->len - wlen);
	EXPECT_EQ(wlen, cpu);
	EXPECT_EQ(f->len - wlen, dev);
}

static void *fsc_dereg_thread(void *arg)
{
	struct fsc *f = arg;

	f->dereg_ret = ibv_dereg_mr(f->mr);
	__atomic_store_n(&f->dereg_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Deregistration while the filesystem is frozen (FIFREEZE, as for an LVM
 * snapshot): the pinned pages are unpinned for good, so what the device
 * wrote since the last sync must still reach the filesystem, after the
 * thaw, and the next fsync() must write it.  Whether the deregistration
 * waits for the thaw is not asked.
 */
TEST_F_TIMEOUT(fs_contract, dereg_frozen, FSC_TIMEOUT)
{
	struct fsc *f = &self->f;
	int waited = 0, dfd;
	pthread_t thread;
	size_t on_disk;

	VT_RETURN_IF_SKIPPED();
	fsc_make_a(_metadata, f, CONTRACT_LEN, SEED_FILE);
	fsc_register(_metadata, f, CONTRACT_LEN, CONTRACT_LEN);
	ASSERT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	fsc_rdma_write(_metadata, f, SEED_ROUND1);

	dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dfd) TH_LOG("open %s: %s", f->dir, strerror(errno));
	ASSERT_EQ(0, ioctl(dfd, FIFREEZE, 0))
		TH_LOG("FIFREEZE: %s", strerror(errno));
	ASSERT_EQ(0, pthread_create(&thread, NULL, fsc_dereg_thread, f));
	usleep(500 * 1000);
	waited = !__atomic_load_n(&f->dereg_done, __ATOMIC_ACQUIRE);
	EXPECT_EQ(0, ioctl(dfd, FITHAW, 0)) TH_LOG("FITHAW: %s", strerror(errno));
	close(dfd);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_EQ(0, f->dereg_ret) TH_LOG("ibv_dereg_mr: %s", strerror(f->dereg_ret));
	f->mr = NULL;

	EXPECT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	on_disk = fsc_on_disk(f, f->a.path, f->len, SEED_ROUND1);
	fsc_print("test=dereg_frozen fs=%s dereg_waited_for_thaw=%d on_disk=%zu/%zu",
		  f->fs, waited, on_disk, f->len);
	EXPECT_EQ(f->len, on_disk);
}

/*
 * The registered file grows from 1 MiB to 2 MiB under the MR, after the
 * registration's own dirtying was written back: the device's write into
 * the old first MiB must reach the disk, and the new MiB reads as zeroes.
 */
TEST_F_TIMEOUT(fs_contract, extend, FSC_TIMEOUT)
{
	struct fsc *f = &self->f;
	size_t on_disk = 0, tail_zero = 0;
	struct stat st;

	VT_TODO_WITHOUT_PIN_RECORDS("the device's writes into an extended file are lost");
	VT_RETURN_IF_SKIPPED();
	fsc_make_a(_metadata, f, CONTRACT_LEN, SEED_FILE);
	fsc_register(_metadata, f, CONTRACT_LEN, 2 * CONTRACT_LEN);
	ASSERT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, ftruncate(f->a.fd, 2 * CONTRACT_LEN))
		TH_LOG("ftruncate up under the MR: %s", strerror(errno));

	fsc_rdma_write(_metadata, f, SEED_ROUND1);
	EXPECT_EQ(0, fsync(f->a.fd)) TH_LOG("fsync: %s", strerror(errno));
	ASSERT_EQ(0, fstat(f->a.fd, &st));
	if (!fsc_read_direct(f, f->a.path, 2 * CONTRACT_LEN)) {
		on_disk = vt_count(f->buf, CONTRACT_LEN, SEED_ROUND1);
		tail_zero = fsc_zeroes((char *)f->buf + CONTRACT_LEN,
				       CONTRACT_LEN);
	}
	fsc_print("test=extend fs=%s size=%lld on_disk=%zu/%zu tail_zero=%zu/%zu",
		  f->fs, (long long)st.st_size, on_disk, f->len, tail_zero,
		  CONTRACT_LEN);
	EXPECT_EQ((off_t)(2 * CONTRACT_LEN), st.st_size);
	EXPECT_EQ(f->len, on_disk);
	EXPECT_EQ(CONTRACT_LEN, tail_zero);
}

/*
 * fs_enospc: the filesystem runs full under a registered sparse file.
 * btrfs is left out: a full btrfs can refuse even the unlink that would
 * free it, and the tests after this one need the space back.
 */
FIXTURE(fs_enospc) {
	struct fsc f;
};

FIXTURE_VARIANT(fs_enospc) {
	const char *fs;
};

FIXTURE_VARIANT_ADD(fs_enospc, ext4) { .fs = "ext4", };
FIXTURE_VARIANT_ADD(fs_enospc, xfs) { .fs = "xfs", };

FIXTURE_SETUP(fs_enospc)
{
	fsc_setup(_metadata, &self->f, variant->fs);
}

FIXTURE_TEARDOWN(fs_enospc)
{
	fsc_teardown(_metadata, &self->f);
}

/*
 * Fill the filesystem: fallocate() all but FILL_MARGIN of the free space,
 * then ever smaller pieces, then 4 KiB write()s, until each says ENOSPC.
 * Return the bytes the filler holds, or -1 when something else failed.
 */
static long long fsc_fill(struct __test_metadata *_metadata, struct fsc *f)
{
	static const off_t pieces[] = { 64 << 20, 1 << 20, 64 << 10, 4 << 10 };
	char block[4096];
	long long free;
	struct stat st;
	off_t off = 0;
	size_t i;
	int n;

	fsc_create(_metadata, f, &f->fill);
	free = fsc_free_bytes(f->dir);
	if (free > FILL_MARGIN && !fallocate(f->fill.fd, 0, 0, free - FILL_MARGIN))
		off = free - FILL_MARGIN;
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		while (!fallocate(f->fill.fd, 0, off, pieces[i]))
			off += pieces[i];
		if (errno != ENOSPC) {
			fprintf(stderr, "fallocate: %s\n", strerror(errno));
			return -1;
		}
	}
	/* Whatever fallocate() cannot take (delalloc, reserves): write() */
	memset(block, 0xff, sizeof(block));
	for (n = 0; n < FILL_WRITES; n++, off += sizeof(block)) {
		if (pwrite(f->fill.fd, block, sizeof(block), off) ==
		    (ssize_t)sizeof(block))
			continue;
		if (errno == ENOSPC)
			break;
		fprintf(stderr, "write: %s\n", strerror(errno));
		return -1;
	}
	if (n == FILL_WRITES) {
		fprintf(stderr, "no ENOSPC after %d write()s\n", n);
		return -1;
	}
	fsync(f->fill.fd);	/* ENOSPC or not: the filler is not the test */
	if (fstat(f->fill.fd, &st))
		return -1;
	return (long long)st.st_blocks * 512;
}

/* fsync() of the device's write: 0 only when the data is on disk */
static void fsc_enospc_sync(struct __test_metadata *_metadata, struct fsc *f,
			    const char *phase, long long filled)
{
	size_t on_disk;
	int ret, err;

	ret = fsync(f->a.fd);
	err = ret ? errno : 0;
	on_disk = fsc_on_disk(f, f->a.path, f->len, SEED_ROUND1);
	fsc_print("test=enospc fs=%s phase=%s filled_mb=%lld fsync=%d errno=%s on_disk=%zu/%zu",
		  f->fs, phase, filled >> 20, ret,
		  err ? strerrorname_np(err) : "0", on_disk, f->len);
	if (!ret) {
		EXPECT_EQ(f->len, on_disk)
			TH_LOG("%s: fsync() returned 0 with the device's data not on disk",
			       phase);
	} else {
		EXPECT_TRUE(err == ENOSPC || err == EDQUOT)
			TH_LOG("%s: fsync() failed with %s, not ENOSPC",
			       phase, strerror(err));
	}
}

/*
 * The registration's write fault reserved A's blocks (delalloc).  ext4
 * keeps them dirty through the fill; xfs, when a write() of the filler hits
 * ENOSPC, flushes every dirty page and retries, so A's holes get blocks and
 * its pages are clean before the device writes: from there on only a kernel
 * that dirties pinned pages again writes the device's data (stock: fsync()
 * returns 0 with none of it on disk).
 */
TEST_F_TIMEOUT(fs_enospc, enospc, FSC_TIMEOUT)
{
	struct fsc *f = &self->f;
	long long filled, free;

	VT_RETURN_IF_SKIPPED();
	fsc_make_a(_metadata, f, ENOSPC_LEN, 0);
	fsc_register(_metadata, f, ENOSPC_LEN, ENOSPC_LEN);
	f->free_before = fsc_free_bytes(f->dir);
	filled = fsc_fill(_metadata, f);
	ASSERT_LE(0, filled) TH_LOG("Couldn't fill %s", f->dir);

	fsc_rdma_write(_metadata, f, SEED_ROUND1);
	fsc_enospc_sync(_metadata, f, "full", filled);

	/* The space comes back: the pinned pages still hold the data */
	fsc_unlink_file(_metadata, &f->fill);
	free = fsc_wait_space(f);
	ASSERT_LE(f->free_before - FILL_MARGIN, free)
		TH_LOG("%s: %lld MiB free after the filler went", f->dir,
		       free >> 20);
	fsc_enospc_sync(_metadata, f, "freed", filled);
}

VT_HARNESS_MAIN
