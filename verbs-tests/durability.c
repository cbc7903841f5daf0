// SPDX-License-Identifier: GPL-2.0
/*
 * Data written by RDMA into a file-backed MR must reach the disk when the
 * file is synced, every time, not only the first time after registration.
 *
 * A 1 MiB file with allocated blocks is mapped shared and registered once.
 * Each round writes a new pattern into it by RDMA WRITE, syncs by the
 * variant's method and reads the file back with O_DIRECT.  The stock kernel
 * writes the pinned pages back once; later rounds find nothing on disk.
 * munmap_then_sync does the same after unmapping the registered range: the
 * pages stay pinned and owned by the MR, so the syncs must still write them.
 * into_dirty_pages has the CPU dirty every other page before each RDMA
 * WRITE: a device write into a dirty page must reach the disk too.
 *
 * durability_bg: with no sync call at all, background writeback must write
 * what the device wrote within a few expire intervals.  An O_DIRECT read of
 * the file flushes its page cache first, so the test reads the file's blocks
 * (FIEMAP) from the block device instead.  idle_mr: once written, an MR the
 * device leaves alone must not be written again and again (the stock kernel
 * writes nothing, which passes; writing the whole MR every expire interval
 * does not).  dirty_soon: pages the device wrote are dirty soon after, as
 * a CPU store's are, so sync_file_range() writes them.
 *
 * durability_sparse: the device writes a few pages of a 16 MiB file MR, by
 * each operation that can write an MR (RDMA WRITE and SEND into it, RDMA
 * READ and an atomic's reply... into it as a local buffer, the responder's
 * atomic on it); fsync must write those bytes, and only about those: the
 * pages dirtied for it (longterm_file_pin_redirtied, where the kernel has
 * it) are exactly the pages the operations touched, computed from their
 * offsets, and the disk sees no more than them plus 1 MiB of metadata.
 */
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include "vt_harness.h"

#define FILE_LEN	((size_t)1 << 20)
#define ROUNDS		4

/* What both fixtures set up: a file mapped and registered, and a source */
struct dur_file {
	struct vt_ctx	ctx;
	char		path[PATH_MAX];
	int		fd;
	void		*map, *src, *buf;
	struct ibv_mr	*map_mr, *src_mr;
};

FIXTURE(durability) {
	struct dur_file f;
	int dfd;
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

/* The context, and a file in @dir holding pattern @seed (0: zeroes) */
static void dur_make_file(struct __test_metadata *_metadata,
			  struct dur_file *f, const char *dir,
			  unsigned int seed)
{
	ASSERT_EQ(0, vt_init_ctx(&f->ctx));
	f->fd = vt_make_file(dir, FILE_LEN, seed, f->path);
	ASSERT_LE(0, f->fd);
	f->buf = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, f->buf);
}

/* Map the file shared and register it, and the source of the RDMA WRITEs */
static void dur_register(struct __test_metadata *_metadata,
			 struct dur_file *f)
{
	f->map = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		      f->fd, 0);
	ASSERT_NE(MAP_FAILED, f->map) TH_LOG("mmap: %s", strerror(errno));
	f->map_mr = ibv_reg_mr(f->ctx.pd, f->map, FILE_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, f->map_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));

	f->src = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, f->src);
	f->src_mr = ibv_reg_mr(f->ctx.pd, f->src, FILE_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, f->src_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

/* Teardown only (no ASSERT): release @f, checking the pins balance */
static void dur_release(struct __test_metadata *_metadata,
			struct dur_file *f)
{
	EXPECT_EQ(0, vt_dereg_mr(f->map_mr));
	EXPECT_EQ(0, vt_dereg_mr(f->src_mr));
	vt_close_ctx(&f->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(f->map, FILE_LEN);
	vt_free(f->src, FILE_LEN);
	vt_free(f->buf, FILE_LEN);
	if (f->fd >= 0)
		close(f->fd);
	if (f->path[0])
		unlink(f->path);
}

FIXTURE_SETUP(durability)
{
	char dir[32];

	VT_TODO_WITHOUT_PIN_RECORDS("RDMA writes after the first writeback are lost");
	self->f.fd = -1;
	self->dfd = -1;
	snprintf(dir, sizeof(dir), "/mnt/%s", variant->fs);
	if (!vt_fs_is(dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", dir, variant->fs);
	dur_make_file(_metadata, &self->f, dir, 0);
	self->dfd = open(self->f.path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->dfd) TH_LOG("open O_DIRECT: %s", strerror(errno));
	dur_register(_metadata, &self->f);
}

FIXTURE_TEARDOWN(durability)
{
	dur_release(_metadata, &self->f);
	if (self->dfd >= 0)
		close(self->dfd);
}

/*
 * One round: RDMA WRITE pattern @round over the file, sync, read it back
 * with O_DIRECT and count the pattern.  @tag goes into the "# key=value" line;
 * scripts/demo tabulates the untagged lines only.
 */
static void dur_round(struct __test_metadata *_metadata,
		      FIXTURE_DATA(durability) *self,
		      const FIXTURE_VARIANT(durability) *variant,
		      const char *tag, unsigned int round)
{
	size_t on_disk = 0;

	vt_fill(self->f.src, FILE_LEN, round);
	EXPECT_EQ(0, vt_rdma_write(&self->f.ctx, self->f.src_mr, self->f.map_mr,
				   FILE_LEN));
	EXPECT_EQ(0, sync_file(variant->sync, self->f.fd, self->f.map))
		TH_LOG("%s: %s", variant->sync, strerror(errno));
	if (!vt_read_file(self->dfd, self->f.buf, FILE_LEN))
		on_disk = vt_count(self->f.buf, FILE_LEN, round);
	printf("# %sfs=%s sync=%s round=%u on_disk=%zu/%zu\n",
	       tag, variant->fs, variant->sync, round, on_disk, FILE_LEN);
	fflush(stdout);
	EXPECT_EQ(FILE_LEN, on_disk) TH_LOG("round %u", round);
}

/* Every round runs even after a failed one: the table wants all of them */
TEST_F_TIMEOUT(durability, rdma_write_sync_rounds, 120)
{
	unsigned int round;

	VT_RETURN_IF_SKIPPED();
	for (round = 1; round <= ROUNDS; round++)
		dur_round(_metadata, self, variant, "", round);
}

/*
 * The registered range unmapped before the first round: nothing maps the
 * pages any more, only the MR's pins and owner record hold them.  Round 1
 * passes on the stock kernel too (the pin-time fault dirtied the pages).
 */
TEST_F_TIMEOUT(durability, munmap_then_sync, 120)
{
	unsigned int round;

	VT_RETURN_IF_SKIPPED();
	if (!strcmp(variant->sync, "msync"))
		SKIP(return, "msync needs the mapping this test unmaps");
	ASSERT_EQ(0, munmap(self->f.map, FILE_LEN))
		TH_LOG("munmap: %s", strerror(errno));
	self->f.map = NULL;
	for (round = 1; round <= ROUNDS; round++)
		dur_round(_metadata, self, variant, "test=munmap_then_sync ",
			  round);
}

/*
 * The CPU stores into every other page before each round's RDMA WRITE, so
 * that the device writes into dirty pages as well as clean ones: a write
 * into a dirty page may go unreported when its writeback writes it whole,
 * which the sync must still find.  Round 1 finds every page dirty already.
 */
TEST_F_TIMEOUT(durability, into_dirty_pages, 120)
{
	volatile unsigned char *p = self->f.map;
	size_t off, page = sysconf(_SC_PAGESIZE);
	unsigned int round;

	VT_RETURN_IF_SKIPPED();
	for (round = 1; round <= ROUNDS; round++) {
		for (off = 0; off < FILE_LEN; off += 2 * page)
			p[off + 1] = 0xff;
		dur_round(_metadata, self, variant, "test=into_dirty_pages ",
			  round);
	}
}

#define BG_SEED_FILE	0x40	/* differs from every round's pattern */
#define BG_ROUNDS	2
#define BG_WAIT_MS	10000	/* expire and flusher intervals are 1 s */
#define BG_POLL_MS	100
#define BG_EXTENTS	64

/* A piece of the file and where it lies on the block device */
struct bg_extent {
	off_t	logical;
	off_t	physical;
	off_t	len;
};

FIXTURE(durability_bg) {
	struct dur_file f;
	char expire[32], interval[32];	/* sysctls to restore */
	struct bg_extent ext[BG_EXTENTS];
	int n_ext;
	int devfd;
};

/* Filesystems whose FIEMAP gives byte offsets on their one block device */
FIXTURE_VARIANT(durability_bg) {
	const char *fs;
};

FIXTURE_VARIANT_ADD(durability_bg, ext4) { .fs = "ext4", };
FIXTURE_VARIANT_ADD(durability_bg, xfs) { .fs = "xfs", };

/* The block device mounted on @dir, opened O_DIRECT; -1 */
static int bg_open_dev(const char *dir)
{
	char dev[PATH_MAX];

	if (vt_mount_dev(dir, dev, sizeof(dev)))
		return -1;
	return open(dev, O_RDONLY | O_DIRECT);
}

/*
 * Where the file's FILE_LEN bytes lie on the device, without syncing it
 * first (no FIEMAP_FLAG_SYNC).  Every byte must be in a plain extent.
 */
static int bg_map_file(FIXTURE_DATA(durability_bg) *self)
{
	const unsigned int bad = FIEMAP_EXTENT_UNKNOWN |
				 FIEMAP_EXTENT_DELALLOC |
				 FIEMAP_EXTENT_ENCODED |
				 FIEMAP_EXTENT_DATA_ENCRYPTED |
				 FIEMAP_EXTENT_NOT_ALIGNED |
				 FIEMAP_EXTENT_DATA_INLINE |
				 FIEMAP_EXTENT_DATA_TAIL |
				 FIEMAP_EXTENT_UNWRITTEN;
	struct fiemap_extent *fe;
	struct fiemap *fm;
	off_t covered = 0;
	unsigned int i;
	int ret = -1;

	fm = calloc(1, sizeof(*fm) + BG_EXTENTS * sizeof(*fe));
	if (!fm)
		return -1;
	fm->fm_length = FILE_LEN;
	fm->fm_extent_count = BG_EXTENTS;
	if (ioctl(self->f.fd, FS_IOC_FIEMAP, fm)) {
		fprintf(stderr, "FS_IOC_FIEMAP: %s\n", strerror(errno));
		goto out_free;
	}
	for (i = 0; i < fm->fm_mapped_extents && covered < (off_t)FILE_LEN;
	     i++) {
		fe = &fm->fm_extents[i];
		if (fe->fe_flags & bad || (off_t)fe->fe_logical != covered) {
			fprintf(stderr, "extent %u: logical %llu flags %#x\n", i,
				(unsigned long long)fe->fe_logical, fe->fe_flags);
			goto out_free;
		}
		self->ext[i] = (struct bg_extent) {
			.logical	= fe->fe_logical,
			.physical	= fe->fe_physical,
			.len		= fe->fe_length,
		};
		if (covered + self->ext[i].len > (off_t)FILE_LEN)
			self->ext[i].len = FILE_LEN - covered;
		covered += self->ext[i].len;
		self->n_ext = i + 1;
	}
	if (covered == (off_t)FILE_LEN)
		ret = 0;
	else
		fprintf(stderr, "FIEMAP maps %lld of %zu bytes\n",
			(long long)covered, FILE_LEN);
out_free:
	free(fm);
	return ret;
}

/* Bytes of pattern @seed in the file's blocks on the device */
static size_t bg_on_disk(FIXTURE_DATA(durability_bg) *self, unsigned int seed)
{
	struct bg_extent *e;
	ssize_t ret;
	int i;

	for (i = 0; i < self->n_ext; i++) {
		e = &self->ext[i];
		ret = pread(self->devfd, (char *)self->f.buf + e->logical, e->len,
			    e->physical);
		if (ret != e->len) {
			fprintf(stderr, "Couldn't read the device at %lld: %s\n",
				(long long)e->physical,
				ret < 0 ? strerror(errno) : "short read");
			return 0;
		}
	}
	return vt_count(self->f.buf, FILE_LEN, seed);
}

FIXTURE_SETUP(durability_bg)
{
	char dir[32];

	self->f.fd = self->devfd = -1;
	snprintf(dir, sizeof(dir), "/mnt/%s", variant->fs);
	if (!vt_fs_is(dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", dir, variant->fs);
	self->devfd = bg_open_dev(dir);
	ASSERT_LE(0, self->devfd)
		TH_LOG("no block device to open for %s: %s", dir,
		       strerror(errno));
	ASSERT_EQ(0, vt_vm_sysctl("dirty_expire_centisecs", "100", self->expire,
			       sizeof(self->expire)));
	ASSERT_EQ(0, vt_vm_sysctl("dirty_writeback_centisecs", "100",
			       self->interval, sizeof(self->interval)));
	dur_make_file(_metadata, &self->f, dir, BG_SEED_FILE);
	ASSERT_EQ(0, bg_map_file(self));
	/* The mapping onto the device is right: it shows the synced file */
	ASSERT_EQ(FILE_LEN, bg_on_disk(self, BG_SEED_FILE))
		TH_LOG("the file's blocks on the device do not hold the file");
	dur_register(_metadata, &self->f);
}

FIXTURE_TEARDOWN(durability_bg)
{
	dur_release(_metadata, &self->f);
	if (self->interval[0])
		EXPECT_EQ(0, vt_vm_sysctl("dirty_writeback_centisecs",
				       self->interval, NULL, 0));
	if (self->expire[0])
		EXPECT_EQ(0, vt_vm_sysctl("dirty_expire_centisecs", self->expire,
				       NULL, 0));
	if (self->devfd >= 0)
		close(self->devfd);
}

static long bg_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * Rounds of RDMA WRITE and no sync call: each pattern must show on the
 * device within BG_WAIT_MS.  Round 1 passes on the stock kernel too (the
 * pin-time fault dirtied the pages); from round 2 on only the redirtying of
 * write-pinned pages gets them written, which longterm_file_pin_redirtied
 * counts.
 */
TEST_F_TIMEOUT(durability_bg, background_writeback, 120)
{
	long pages = FILE_LEN / getpagesize();
	long redirtied0, redirtied, written0;
	struct timespec t0;
	unsigned int round;
	size_t on_disk;
	long ms;

	VT_TODO_WITHOUT_PIN_RECORDS("background writeback loses the device's writes");
	VT_RETURN_IF_SKIPPED();
	redirtied0 = vt_vmstat("longterm_file_pin_redirtied");
	written0 = vt_vmstat("nr_written");
	for (round = 1; round <= BG_ROUNDS; round++) {
		vt_fill(self->f.src, FILE_LEN, round);
		ASSERT_EQ(0, vt_rdma_write(&self->f.ctx, self->f.src_mr,
					   self->f.map_mr, FILE_LEN));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			on_disk = bg_on_disk(self, round);
			ms = bg_ms_since(&t0);
			if (on_disk == FILE_LEN || ms >= BG_WAIT_MS)
				break;
			usleep(BG_POLL_MS * 1000);
		}
		printf("# test=background_writeback fs=%s sync=none round=%u on_disk=%zu/%zu after_ms=%ld\n",
		       variant->fs, round, on_disk, FILE_LEN, ms);
		fflush(stdout);
		EXPECT_EQ(FILE_LEN, on_disk)
			TH_LOG("round %u: not on disk after %ld ms, no sync called",
			       round, ms);
	}

	redirtied = vt_vmstat("longterm_file_pin_redirtied");
	printf("# test=background_writeback fs=%s longterm_file_pin_redirtied=%+ld nr_written=%+ld\n",
	       variant->fs, redirtied - redirtied0,
	       vt_vmstat("nr_written") - written0);
	fflush(stdout);
	EXPECT_LE(0, redirtied0)
		TH_LOG("no longterm_file_pin_redirtied in /proc/vmstat");
	if (redirtied0 >= 0)
		EXPECT_LE(pages, redirtied - redirtied0)
			TH_LOG("write-pinned pages dirtied for writeback");
}

/*
 * Idle: after one RDMA WRITE and an fsync, 3 expire intervals of nothing.
 * The disk may see a journal commit, not the MR written again.
 */
TEST_F_TIMEOUT(durability_bg, idle_mr, 60)
{
	char dir[32];
	long long s0, s1;
	long r0, r1;

	VT_RETURN_IF_SKIPPED();
	snprintf(dir, sizeof(dir), "/mnt/%s", variant->fs);
	vt_fill(self->f.src, FILE_LEN, 5);
	ASSERT_EQ(0, vt_rdma_write(&self->f.ctx, self->f.src_mr,
				   self->f.map_mr, FILE_LEN));
	ASSERT_EQ(0, fsync(self->f.fd));
	/* What the flusher still had queued (inode times) goes first. */
	sleep(2);
	r0 = vt_vmstat("longterm_file_pin_redirtied");
	s0 = vt_dev_sectors_written(dir);
	ASSERT_LE(0, s0) TH_LOG("no write statistics for the disk of %s", dir);
	sleep(3);
	r1 = vt_vmstat("longterm_file_pin_redirtied");
	s1 = vt_dev_sectors_written(dir);
	printf("# test=idle_mr fs=%s mr_kib=%zu written_kib=%lld redirtied=%+ld\n",
	       variant->fs, FILE_LEN >> 10, (s1 - s0) / 2,
	       r0 < 0 ? 0 : r1 - r0);
	fflush(stdout);
	EXPECT_GE(256LL << 10, (s1 - s0) * 512)
		TH_LOG("%lld KiB written in 3 s of an idle %zu KiB MR",
		       (s1 - s0) / 2, FILE_LEN >> 10);
	if (r0 >= 0)
		EXPECT_EQ(0, r1 - r0) TH_LOG("pinned pages dirtied while idle");
}

/*
 * A CPU store into a clean shared page makes it dirty when it faults, so
 * sync_file_range(), which writes dirty pages and nothing else, writes
 * it at once.  A device store must make its page dirty too, soon and
 * without waiting for an expire interval: with the expire and flusher
 * intervals at 60 s, each round's RDMA WRITE into the clean, synced MR
 * must be on the device after sync_file_range() within DIRTY_SOON_MS.
 * The stock kernel leaves the pages clean (an expected failure there).
 * The kernel dirties them 4 ms after the write; the bound is for a guest
 * on an overloaded host (a CI run once took 25 min per kernel build), and
 * still six times shorter than the expire interval.
 */
#define DIRTY_SOON_MS	10000

TEST_F_TIMEOUT(durability_bg, dirty_soon, 60)
{
	const unsigned int how = SYNC_FILE_RANGE_WAIT_BEFORE |
				 SYNC_FILE_RANGE_WRITE |
				 SYNC_FILE_RANGE_WAIT_AFTER;
	long pages = FILE_LEN / getpagesize(), folios = 0, i, nr;
	unsigned long head, last = 0;
	long r0, r1;
	struct timespec t0;
	unsigned int round;
	size_t on_disk;
	long ms;

	VT_TODO_WITHOUT_PIN_RECORDS("pages the device wrote stay clean");
	VT_RETURN_IF_SKIPPED();
	/* How many folios hold the MR's pages (large ones on xfs since 6.6) */
	for (i = 0; i < pages; i++) {
		nr = vt_folio_of((char *)self->f.map + i * getpagesize(), &head);
		ASSERT_LT(0, nr) TH_LOG("cannot tell the folios (kpageflags)");
		folios += !i || head != last;
		last = head;
	}
	ASSERT_EQ(0, vt_vm_sysctl("dirty_expire_centisecs", "6000", NULL, 0));
	ASSERT_EQ(0, vt_vm_sysctl("dirty_writeback_centisecs", "6000", NULL, 0));
	/* The expire pass armed at registration, with 1 s, goes first. */
	sleep(2);
	for (round = 1; round <= BG_ROUNDS; round++) {
		ASSERT_EQ(0, fsync(self->f.fd));
		r0 = vt_vmstat("longterm_file_pin_redirtied");
		vt_fill(self->f.src, FILE_LEN, 0x20 + round);
		ASSERT_EQ(0, vt_rdma_write(&self->f.ctx, self->f.src_mr,
					   self->f.map_mr, FILE_LEN));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			ASSERT_EQ(0, sync_file_range(self->f.fd, 0, FILE_LEN,
						     how));
			on_disk = bg_on_disk(self, 0x20 + round);
			ms = bg_ms_since(&t0);
			if (on_disk == FILE_LEN || ms >= DIRTY_SOON_MS)
				break;
			usleep(20 * 1000);
		}
		r1 = vt_vmstat("longterm_file_pin_redirtied");
		printf("# test=dirty_soon fs=%s round=%u on_disk=%zu/%zu after_ms=%ld redirtied=%+ld\n",
		       variant->fs, round, on_disk, FILE_LEN, ms,
		       r0 < 0 ? 0 : r1 - r0);
		fflush(stdout);
		EXPECT_EQ(FILE_LEN, on_disk)
			TH_LOG("round %u: device-written pages not dirty after %ld ms",
			       round, ms);
		/*
		 * Each page the device wrote is dirtied once, and no other.  A
		 * large folio is dirtied whole, and again if a writeback
		 * cleaned it while the device still wrote into it: at least
		 * once, each page.
		 */
		if (r0 >= 0 && folios == pages) {
			EXPECT_EQ(pages, r1 - r0);
		} else if (r0 >= 0) {
			EXPECT_LE(pages, r1 - r0);
		}
	}
}

#define SPARSE_LEN	((size_t)16 << 20)
#define SPARSE_SLACK	(1LL << 20)	/* metadata, journal, log */

/* Where the device writes: whole pages, several pages, across a boundary */
static const struct {
	size_t off, len;
} sparse_at[] = {
	{ 0, 4096 },
	{ (1 << 20) + 4096, 8192 },
	{ (7 << 20) + 96, 4096 },
	{ (15 << 20) + 4088, 16 },
};

FIXTURE(durability_sparse) {
	struct vt_ctx ctx;
	char dir[32], path[PATH_MAX];
	int fd, dfd;
	void *map, *src, *buf;
	struct ibv_mr *mr, *src_mr;
};

FIXTURE_VARIANT(durability_sparse) {
	const char *fs;
	const char *name;
	enum ibv_wr_opcode op;
};

#define SPARSE_VARIANT(_fs, _op, _opcode)				\
	FIXTURE_VARIANT_ADD(durability_sparse, _fs##_##_op) {		\
		.fs = #_fs, .name = #_op, .op = _opcode,				\
	}

SPARSE_VARIANT(ext4, write, IBV_WR_RDMA_WRITE);
SPARSE_VARIANT(ext4, send, IBV_WR_SEND);
SPARSE_VARIANT(ext4, read, IBV_WR_RDMA_READ);
SPARSE_VARIANT(ext4, atomic, IBV_WR_ATOMIC_FETCH_AND_ADD);
SPARSE_VARIANT(xfs, write, IBV_WR_RDMA_WRITE);
SPARSE_VARIANT(xfs, send, IBV_WR_SEND);
SPARSE_VARIANT(xfs, read, IBV_WR_RDMA_READ);
SPARSE_VARIANT(xfs, atomic, IBV_WR_ATOMIC_FETCH_AND_ADD);
SPARSE_VARIANT(btrfs, write, IBV_WR_RDMA_WRITE);
SPARSE_VARIANT(btrfs, send, IBV_WR_SEND);
SPARSE_VARIANT(btrfs, read, IBV_WR_RDMA_READ);
SPARSE_VARIANT(btrfs, atomic, IBV_WR_ATOMIC_FETCH_AND_ADD);

FIXTURE_SETUP(durability_sparse)
{
	VT_TODO_WITHOUT_PIN_RECORDS("fsync writes none of what the device wrote");
	self->fd = self->dfd = -1;
	snprintf(self->dir, sizeof(self->dir), "/mnt/%s", variant->fs);
	if (!vt_fs_is(self->dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", self->dir, variant->fs);
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	if (variant->op == IBV_WR_ATOMIC_FETCH_AND_ADD &&
	    self->ctx.dev_attr.atomic_cap == IBV_ATOMIC_NONE)
		SKIP(return, "%s has no atomics (atomic_cap IBV_ATOMIC_NONE)",
		     ibv_get_device_name(self->ctx.context->device));
	self->fd = vt_make_file(self->dir, SPARSE_LEN, 3, self->path);
	ASSERT_LE(0, self->fd);
	self->dfd = open(self->path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->dfd) TH_LOG("open O_DIRECT: %s", strerror(errno));
	self->buf = vt_alloc(SPARSE_LEN, 0);
	self->src = vt_alloc(SPARSE_LEN, 0);
	ASSERT_NE(NULL, self->buf);
	ASSERT_NE(NULL, self->src);
	vt_fill(self->src, SPARSE_LEN, 9);
	self->src_mr = ibv_reg_mr(self->ctx.pd, self->src, SPARSE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->src_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	self->map = mmap(NULL, SPARSE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
	self->mr = ibv_reg_mr(self->ctx.pd, self->map, SPARSE_LEN,
			      VT_MR_ACCESS | IBV_ACCESS_REMOTE_ATOMIC);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(durability_sparse)
{
	VT_RELEASE_MRS(self->mr, self->src_mr, &self->ctx);
	vt_free(self->map, SPARSE_LEN);
	vt_free(self->src, SPARSE_LEN);
	vt_free(self->buf, SPARSE_LEN);
	if (self->dfd >= 0)
		close(self->dfd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
}

TEST_F_TIMEOUT(durability_sparse, fsync_writes_what_was_written, 120)
{
	bool atomic = variant->op == IBV_WR_ATOMIC_FETCH_AND_ADD;
	long page = getpagesize(), pages = 0, last = -1, p, r0, r1, fpages;
	const void *touched[64];
	size_t i, off, len, differ = 0;
	long long s0, s1;

	VT_RETURN_IF_SKIPPED();
	/* Registration dirtied every page; write them now. */
	ASSERT_EQ(0, fsync(self->fd));
	r0 = vt_vmstat("longterm_file_pin_redirtied");
	s0 = vt_dev_sectors_written(self->dir);
	ASSERT_LE(0, s0) TH_LOG("no write statistics for %s", self->dir);

	for (i = 0; i < sizeof(sparse_at) / sizeof(sparse_at[0]); i++) {
		off = atomic ? sparse_at[i].off & ~7UL : sparse_at[i].off;
		len = atomic ? 8 : sparse_at[i].len;
		/* RDMA READ lands in its local MR, the rest in the remote one */
		if (variant->op == IBV_WR_RDMA_READ) {
			ASSERT_EQ(0, vt_xfer_at(&self->ctx, variant->op, self->mr,
						self->src_mr, off, len));
		} else {
			ASSERT_EQ(0, vt_xfer_at(&self->ctx, variant->op,
						self->src_mr, self->mr, off, len));
		}
		if (!atomic)
			ASSERT_EQ(0, memcmp((char *)self->map + off,
					    (char *)self->src + off, len));
		/* the pages touched, counted once (the list is in order) */
		for (p = off / page; p <= (long)((off + len - 1) / page); p++)
			if (p > last && pages < 64) {
				touched[pages++] = (char *)self->map + p * page;
				last = p;
			}
	}
	/*
	 * Filesystems with large folios (xfs since 6.6) dirty and write a
	 * folio whole, for a CPU store as for a device write: count the
	 * pages of the folios touched.
	 */
	fpages = vt_folio_pages(touched, pages);
	ASSERT_LT(0, fpages) TH_LOG("cannot tell the folios (kpageflags)");
	/*
	 * The pages are dirtied soon after the device writes them; give that
	 * a second, so that fsync does not call ->page_mkwrite on a page at
	 * the same time (harmless, but then counted twice).
	 */
	for (i = 0; r0 >= 0 && i < 50; i++) {
		if (vt_vmstat("longterm_file_pin_redirtied") - r0 >= fpages)
			break;
		usleep(20 * 1000);
	}
	ASSERT_EQ(0, fsync(self->fd)) TH_LOG("fsync: %s", strerror(errno));
	r1 = vt_vmstat("longterm_file_pin_redirtied");
	s1 = vt_dev_sectors_written(self->dir);
	ASSERT_EQ(0, vt_read_file(self->dfd, self->buf, SPARSE_LEN));
	for (i = 0; i < SPARSE_LEN; i++)
		differ += ((char *)self->buf)[i] != ((char *)self->map)[i];
	printf("# test=sparse fs=%s op=%s pages=%ld folio_pages=%ld redirtied=%+ld written_kib=%lld not_on_disk=%zu\n",
	       variant->fs, variant->name, pages, fpages,
	       r0 < 0 ? 0 : r1 - r0, (s1 - s0) / 2, differ);
	fflush(stdout);
	EXPECT_EQ(0UL, differ) TH_LOG("%zu bytes the device wrote not on disk",
				    differ);
	if (r0 >= 0)
		EXPECT_EQ(fpages, r1 - r0)
			TH_LOG("pages dirtied for fsync, %ld touched in folios of %ld",
			       pages, fpages);
	EXPECT_GE(fpages * page + SPARSE_SLACK, (s1 - s0) * 512)
		TH_LOG("%lld KiB written for %ld pages in folios of %ld",
		       (s1 - s0) / 2, pages, fpages);
}

/*
 * durability_subblock: ext4 with 1 KiB blocks (a loop device in /tmp), so a
 * page holds four blocks with a buffer each.  write(2) dirties block 0 of a
 * page of a registered file, then the device writes block 2 of the same
 * page: the page is dirty, but only block 0 is, and writeback writes only
 * dirty buffers.  fsync must still write the device's block 2, which takes
 * ->page_mkwrite on the already dirty page.  The control writes block 2 of
 * a clean page.  The block is read from the loop device where FIEMAP puts
 * it, not through the file, whose O_DIRECT read would flush the page cache
 * first.
 */
#define SUB_LEN		(16 * 4096)
#define SUB_DIR		"/mnt/ext4-1k"
#define SUB_IMG		"/tmp/ext4-1k.img"
#define SUB_LOG		"/tmp/durability_subblock.log"

/*
 * A fresh 64 MiB ext4 (mkfs.ext4 options @mkfs) on a loop device over
 * @img, mounted on @dir with options @opts; command output goes to @log.
 * Return: 0, or the failing command's status.
 */
static int loop_ext4(const char *log, const char *img, const char *dir,
		     const char *mkfs, const char *opts)
{
	mkdir(dir, 0755);
	vt_run(log, "umount %s", dir);	/* left by an aborted run */
	return vt_run(log, "truncate -s 64M %s && mkfs.ext4 -q -F %s %s"
		      " && mount -o loop%s %s %s", img, mkfs, img, opts, img,
		      dir);
}

FIXTURE(durability_subblock) {
	struct vt_ctx ctx;
	char path[PATH_MAX];
	int fd;
	bool mounted;
	int devfd;
	char *map, *src, *buf;
	struct ibv_mr *mr, *src_mr;
};

FIXTURE_SETUP(durability_subblock)
{
	struct statfs sfs;
	char dev[64];

	VT_TODO_WITHOUT_PIN_RECORDS("RDMA writes after the first writeback are lost");
	self->fd = self->devfd = -1;
	if (vt_run(SUB_LOG, "which mkfs.ext4"))
		SKIP(return, "no mkfs.ext4");
	ASSERT_EQ(0, loop_ext4(SUB_LOG, SUB_IMG, SUB_DIR, "-b 1024", ""))
		TH_LOG("1 KiB-block ext4 on a loop device: see " SUB_LOG);
	self->mounted = true;
	ASSERT_EQ(0, statfs(SUB_DIR, &sfs));
	ASSERT_EQ(1024, sfs.f_bsize);
	ASSERT_EQ(0, vt_mount_dev(SUB_DIR, dev, sizeof(dev)));
	self->devfd = open(dev, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->devfd) TH_LOG("open %s: %s", dev, strerror(errno));
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->fd = vt_make_file(SUB_DIR, SUB_LEN, 0, self->path);
	ASSERT_LE(0, self->fd);
	self->map = mmap(NULL, SUB_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	self->src = vt_alloc(SUB_LEN, 0);
	self->buf = vt_alloc(4096, 0);
	ASSERT_NE(NULL, self->src);
	ASSERT_NE(NULL, self->buf);
	memset(self->src, 'C', SUB_LEN);
	self->src_mr = ibv_reg_mr(self->ctx.pd, self->src, SUB_LEN, VT_MR_ACCESS);
	self->mr = ibv_reg_mr(self->ctx.pd, self->map, SUB_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, self->src_mr);
	ASSERT_NE(NULL, self->mr) TH_LOG("Couldn't register MR: %s", strerror(errno));
	/* Registration for write dirtied every page: clean them */
	ASSERT_EQ(0, fsync(self->fd));
}

FIXTURE_TEARDOWN(durability_subblock)
{
	VT_RELEASE_MRS(self->mr, self->src_mr, &self->ctx);
	if (self->map && self->map != MAP_FAILED)
		munmap(self->map, SUB_LEN);
	vt_free(self->src, SUB_LEN);
	vt_free(self->buf, 4096);
	if (self->devfd >= 0)
		close(self->devfd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->mounted)
		vt_run(SUB_LOG, "umount " SUB_DIR " && rm -f " SUB_IMG);
}

/* The device writes block 2 of page @page; does fsync put it on disk? */
static size_t subblock_round(struct __test_metadata *_metadata,
			     FIXTURE_DATA(durability_subblock) *self, int page,
			     bool dirty_block0)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent fe;
	} fm = { };
	off_t off = (off_t)page * 4096, phys;
	char blk[1024];
	size_t on_disk = 0;
	int i;

	if (dirty_block0) {	/* only block 0 of the page is dirty */
		memset(blk, 'B', sizeof(blk));
		EXPECT_EQ(1024, pwrite(self->fd, blk, 1024, off));
	}
	EXPECT_EQ(0, vt_xfer_at(&self->ctx, IBV_WR_RDMA_WRITE, self->src_mr,
				self->mr, off + 2048, 1024));
	EXPECT_EQ(0, fsync(self->fd));
	/* Where block 2 is on the disk (allocated and synced in setup) */
	fm.fm.fm_start = off + 2048;
	fm.fm.fm_length = 1024;
	fm.fm.fm_extent_count = 1;
	if (ioctl(self->fd, FS_IOC_FIEMAP, &fm) || fm.fm.fm_mapped_extents != 1) {
		EXPECT_EQ(0, 1) TH_LOG("FIEMAP: %s", strerror(errno));
		return 0;
	}
	phys = fm.fe.fe_physical + (off + 2048 - fm.fe.fe_logical);
	EXPECT_EQ(1024, pread(self->devfd, self->buf, 1024, phys));
	for (i = 0; i < 1024; i++)
		on_disk += self->buf[i] == 'C';
	printf("# test=durability_subblock page=%d dirty_block0=%d on_disk=%zu/1024\n",
	       page, dirty_block0, on_disk);
	return on_disk;
}

TEST_F_TIMEOUT(durability_subblock, partly_dirty_page, 120)
{
	VT_RETURN_IF_SKIPPED();
	/* A clean page first, then one whose block 0 write(2) dirtied */
	EXPECT_EQ(1024UL, subblock_round(_metadata, self, 1, false));
	EXPECT_EQ(1024UL, subblock_round(_metadata, self, 3, true))
		TH_LOG("the device's block of a partly dirty page is not on disk");
}

/*
 * durability_journal: ext4 with data=journal, on a loop device with a
 * 4 MiB journal.  jbd2 makes a committed page dirty again for its
 * checkpoint, and the checkpoint writes the page's buffers in place and
 * leaves the page dirty with clean buffers: writeback of that page then
 * writes nothing, and neither does the commit of an fsync, unless the
 * device's write went through ->page_mkwrite, which journals the page.
 * Each round the device writes the file MR, fsync, and then a file of
 * four journals' worth is written and synced, which checkpoints the MR's
 * pages.  What is durable is what the disk would give after a power cut:
 * the test copies the disk, replays its journal with e2fsck and reads the
 * file back with debugfs.
 */
#define JNL_DIR		"/mnt/ext4-journal"
#define JNL_IMG		"/tmp/ext4-journal.img"
#define JNL_COPY	"/tmp/ext4-journal.copy"
#define JNL_DUMP	"/tmp/ext4-journal.dump"
#define JNL_LOG		"/tmp/durability_journal.log"
#define JNL_LEN		((size_t)256 << 10)
#define JNL_FILLER_MB	16

FIXTURE(durability_journal) {
	struct dur_file f;
	bool mounted;
};

/*
 * mount: data=journal for the whole filesystem.  chattr_before and
 * chattr_after: per-inode journalling (FS_JOURNAL_DATA_FL, on a nodelalloc
 * mount, where ext4 honours it) set before or after the registration; the
 * latter switches an owner that pinned the file in ordered mode.
 */
FIXTURE_VARIANT(durability_journal) {
	const char *opts;
	int chattr;		/* 0: none, 1: before registering, 2: after */
};

FIXTURE_VARIANT_ADD(durability_journal, mount) {
	.opts = ",data=journal",
};

FIXTURE_VARIANT_ADD(durability_journal, chattr_before) {
	.opts = ",nodelalloc", .chattr = 1,
};

FIXTURE_VARIANT_ADD(durability_journal, chattr_after) {
	.opts = ",nodelalloc", .chattr = 2,
};

/* chattr +j (@on) or -j of @fd */
static int journal_flag(int fd, bool on)
{
	int flags;

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags))
		return -1;
	flags = on ? flags | FS_JOURNAL_DATA_FL : flags & ~FS_JOURNAL_DATA_FL;
	return ioctl(fd, FS_IOC_SETFLAGS, &flags);
}

FIXTURE_SETUP(durability_journal)
{
	VT_TODO_WITHOUT_PIN_RECORDS("RDMA writes after the first writeback are lost");
	self->f.fd = -1;
	if (vt_run(JNL_LOG, "which mkfs.ext4 e2fsck debugfs"))
		SKIP(return, "no e2fsprogs");
	ASSERT_EQ(0, loop_ext4(JNL_LOG, JNL_IMG, JNL_DIR, "-b 4096 -J size=4",
			       variant->opts))
		TH_LOG("journalled ext4 on a loop device: see " JNL_LOG);
	self->mounted = true;
	ASSERT_EQ(0, vt_init_ctx(&self->f.ctx));
	self->f.fd = vt_make_file(JNL_DIR, JNL_LEN, 0, self->f.path);
	ASSERT_LE(0, self->f.fd);
	if (variant->chattr == 1)
		ASSERT_EQ(0, journal_flag(self->f.fd, true))
			TH_LOG("chattr +j: %s", strerror(errno));
	self->f.buf = vt_alloc(JNL_LEN, 0);
	ASSERT_NE(NULL, self->f.buf);
	self->f.map = mmap(NULL, JNL_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			   self->f.fd, 0);
	ASSERT_NE(MAP_FAILED, self->f.map);
	self->f.map_mr = ibv_reg_mr(self->f.ctx.pd, self->f.map, JNL_LEN,
				    VT_MR_ACCESS);
	ASSERT_NE(NULL, self->f.map_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	self->f.src = vt_alloc(JNL_LEN, 0);
	ASSERT_NE(NULL, self->f.src);
	self->f.src_mr = ibv_reg_mr(self->f.ctx.pd, self->f.src, JNL_LEN,
				    VT_MR_ACCESS);
	ASSERT_NE(NULL, self->f.src_mr);
	ASSERT_EQ(0, fsync(self->f.fd));
	if (variant->chattr == 2)
		ASSERT_EQ(0, journal_flag(self->f.fd, true))
			TH_LOG("chattr +j: %s", strerror(errno));
}

FIXTURE_TEARDOWN(durability_journal)
{
	VT_RELEASE_MRS(self->f.map_mr, self->f.src_mr, &self->f.ctx);
	if (self->f.map && self->f.map != MAP_FAILED)
		munmap(self->f.map, JNL_LEN);
	vt_free(self->f.src, JNL_LEN);
	vt_free(self->f.buf, JNL_LEN);
	if (self->f.fd >= 0)
		close(self->f.fd);
	if (self->mounted)
		vt_run(JNL_LOG, "umount " JNL_DIR " && rm -f " JNL_IMG " "
		       JNL_COPY " " JNL_DUMP);
}

/* Bytes of pattern @seed in the file on a copy of the disk, journal replayed */
static size_t journal_on_disk(struct __test_metadata *_metadata,
			      FIXTURE_DATA(durability_journal) *self,
			      unsigned int seed)
{
	const char *name = strrchr(self->f.path, '/') + 1;
	size_t got = 0, on_disk = 0;
	int status;
	void *buf;

	/* e2fsck: 0 clean, 1 errors corrected (the journal replayed) */
	status = vt_run(JNL_LOG, "cp " JNL_IMG " " JNL_COPY
			" && e2fsck -fy " JNL_COPY);
	EXPECT_GE(1, status) TH_LOG("e2fsck of the copy: %d, see " JNL_LOG,
				    status);
	EXPECT_EQ(0, vt_run(JNL_LOG, "rm -f %s && debugfs -R 'dump /%s %s' %s",
			    JNL_DUMP, name, JNL_DUMP, JNL_COPY));
	buf = vt_slurp(JNL_DUMP, JNL_LEN, &got);
	if (buf)
		on_disk = vt_count(buf, got, seed);
	free(buf);
	return on_disk;
}

/*
 * RDMA WRITE pattern @round over the MR, fsync, count the pattern on a
 * copy of the disk, then write four journals' worth elsewhere: the MR's
 * pages are checkpointed.
 */
static void journal_round(struct __test_metadata *_metadata,
			  FIXTURE_DATA(durability_journal) *self,
			  const char *tag, unsigned int round)
{
	char filler[PATH_MAX];
	size_t on_disk;
	int ffd;

	vt_fill(self->f.src, JNL_LEN, round);
	EXPECT_EQ(0, vt_rdma_write(&self->f.ctx, self->f.src_mr,
				   self->f.map_mr, JNL_LEN));
	EXPECT_EQ(0, fsync(self->f.fd));
	on_disk = journal_on_disk(_metadata, self, round);
	printf("# test=durability_journal %sround=%u on_disk=%zu/%zu\n",
	       tag, round, on_disk, JNL_LEN);
	fflush(stdout);
	EXPECT_EQ(JNL_LEN, on_disk) TH_LOG("round %u", round);
	snprintf(filler, sizeof(filler), "%s/filler", JNL_DIR);
	ffd = open(filler, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ASSERT_LE(0, ffd);
	EXPECT_EQ(0, vt_write_file(ffd, (size_t)JNL_FILLER_MB << 20, round));
	close(ffd);
}

TEST_F_TIMEOUT(durability_journal, checkpointed_pages, 300)
{
	unsigned int round;

	VT_RETURN_IF_SKIPPED();
	for (round = 1; round <= ROUNDS; round++)
		journal_round(_metadata, self, "", round);
}

/*
 * chattr -j with the pages pinned: the journal flush leaves them dirty
 * with clean buffers, which ordered writeback does not write; the device's
 * writes after it must still reach the disk.
 */
TEST_F_TIMEOUT(durability_journal, journal_flag_off, 300)
{
	unsigned int round;

	VT_RETURN_IF_SKIPPED();
	if (!variant->chattr)
		SKIP(return, "data=journal is the mount's, not the file's");
	journal_round(_metadata, self, "test=journal_flag_off ", 1);
	ASSERT_EQ(0, journal_flag(self->f.fd, false))
		TH_LOG("chattr -j: %s", strerror(errno));
	for (round = 2; round <= ROUNDS; round++)
		journal_round(_metadata, self, "test=journal_flag_off ", round);
}

VT_HARNESS_MAIN
