// SPDX-License-Identifier: GPL-2.0
/*
 * Truncate and hole-punch over a range a writable MR pins.  The device
 * cannot be told to stop writing, so discarding its pages would silently
 * drop what it writes afterwards: while the pin lasts, ftruncate() or
 * open(O_TRUNC) to a size inside or before the range, FALLOC_FL_PUNCH_HOLE
 * (or MADV_REMOVE) and FALLOC_FL_ZERO_RANGE over part of it,
 * FALLOC_FL_COLLAPSE_RANGE or FALLOC_FL_INSERT_RANGE starting before its
 * end, FICLONERANGE into it, and swapping the file's extents with another's
 * (XFS_IOC_SWAPEXT, with the pinned file either side; XFS_IOC_EXCHANGE_RANGE
 * over the range, 6.10+; EXT4_IOC_SWAP_BOOT) must fail with ETXTBSY and
 * change nothing.
 * Discarding or shifting strictly beyond the range works, a read-only MR
 * does not block truncate, and neither does an MR that is gone.
 *
 * A 4 MiB file holds a known pattern; the MR pins [1 MiB, 2 MiB) through a
 * shared mapping of just that range.  Each case computes the expected size
 * and contents first, does the operation, then checks them, and then checks
 * that the MR still works: an RDMA WRITE must show in the mapping and in
 * the file.  What the filesystem or kernel lacks (EOPNOTSUPP, or ENOTTY for
 * another filesystem's ioctl) skips the case.  The
 * stock kernel discards the pinned pages: its ETXTBSY cases fail.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include "vt_harness.h"

#define FILE_LEN	((off_t)4 << 20)
#define PIN_OFF		((off_t)1 << 20)
#define PIN_LEN		((off_t)1 << 20)
#define PIN_END		(PIN_OFF + PIN_LEN)
#define SEED_FILE	1
#define SEED_NEW	2
#define SEED_CLONE	3

/* discard_op.mode values that are not fallocate() modes */
#define DISCARD_TRUNCATE	(-1)	/* ftruncate() to @off */
#define DISCARD_OPEN_TRUNC	(-2)	/* open() with O_TRUNC: to 0 */
#define DISCARD_MADV_REMOVE	(-3)	/* madvise(MADV_REMOVE) of the mapping */
#define DISCARD_CLONE		(-4)	/* FICLONERANGE of another file onto it */
#define DISCARD_SWAPEXT		(-5)	/* XFS_IOC_SWAPEXT with another file */
#define DISCARD_SWAPEXT_TMP	(-6)	/* the same, the file as the other's tmp */
#define DISCARD_EXCHANGE	(-7)	/* XFS_IOC_EXCHANGE_RANGE from another */
#define DISCARD_SWAP_BOOT	(-8)	/* EXT4_IOC_SWAP_BOOT */

/* discard_pinned()'s @err: ETXTBSY or 0 as the folios at its edges say */
#define DISCARD_EDGE		(-1)

/*
 * xfs_fs.h is no uapi header (xfslibs-dev has it): what XFS_IOC_SWAPEXT
 * (xfs_fsr's, since 1995) and XFS_IOC_EXCHANGE_RANGE (6.10) take
 */
struct discard_xfs_bstime {
	__kernel_long_t	tv_sec;
	__s32		tv_nsec;
};

struct discard_xfs_bstat {
	__u64		bs_ino;
	__u16		bs_mode;
	__u16		bs_nlink;
	__u32		bs_uid;
	__u32		bs_gid;
	__u32		bs_rdev;
	__s32		bs_blksize;
	__s64		bs_size;
	struct discard_xfs_bstime bs_atime;
	struct discard_xfs_bstime bs_mtime;
	struct discard_xfs_bstime bs_ctime;
	__s64		bs_blocks;
	__u32		bs_xflags;
	__s32		bs_extsize;
	__s32		bs_extents;
	__u32		bs_gen;
	__u16		bs_projid_lo;
	__u16		bs_forkoff;
	__u16		bs_projid_hi;
	__u16		bs_sick;
	__u16		bs_checked;
	unsigned char	bs_pad[2];
	__u32		bs_cowextsize;
	__u32		bs_dmevmask;
	__u16		bs_dmstate;
	__u16		bs_aextents;
};

struct discard_xfs_swapext {
	__s64		sx_version;	/* 0 */
	__s64		sx_fdtarget;
	__s64		sx_fdtmp;
	__s64		sx_offset;
	__s64		sx_length;
	char		sx_pad[16];
	struct discard_xfs_bstat sx_stat;	/* the target's, for its times */
};

struct discard_xfs_exchange_range {
	__s32		file1_fd;
	__u32		pad;
	__u64		file1_offset;
	__u64		file2_offset;
	__u64		length;
	__u64		flags;
};

/* The sizes the ioctl numbers encode, on x86_64 */
_Static_assert(sizeof(struct discard_xfs_swapext) == 192, "xfs_swapext");
_Static_assert(sizeof(struct discard_xfs_exchange_range) == 40,
	       "xfs_exchange_range");

#define DISCARD_XFS_IOC_SWAPEXT	_IOWR('X', 109, struct discard_xfs_swapext)
#define DISCARD_XFS_IOC_EXCHANGE_RANGE					\
	_IOW('X', 129, struct discard_xfs_exchange_range)
#define DISCARD_EXT4_IOC_SWAP_BOOT	_IO('f', 17)

/* fallocate(@mode, @off, @len), or one of the above */
struct discard_op {
	const char	*name;
	int		mode;
	off_t		off;
	off_t		len;
	bool		clean;	/* fsync() first: the pinned pages clean */
};

#define TRUNCATE(_size)							\
	(&(struct discard_op){ "ftruncate", DISCARD_TRUNCATE, (_size), 0, false })
#define PUNCH(_off, _len)						\
	(&(struct discard_op){ "FALLOC_FL_PUNCH_HOLE",			\
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, \
			       (_off), (_len), false })
#define ZERO_RANGE(_off, _len)						\
	(&(struct discard_op){ "FALLOC_FL_ZERO_RANGE",			\
			       FALLOC_FL_ZERO_RANGE, (_off), (_len), false })
#define COLLAPSE(_off, _len)						\
	(&(struct discard_op){ "FALLOC_FL_COLLAPSE_RANGE",		\
			       FALLOC_FL_COLLAPSE_RANGE, (_off), (_len), false })
#define INSERT(_off, _len)						\
	(&(struct discard_op){ "FALLOC_FL_INSERT_RANGE",		\
			       FALLOC_FL_INSERT_RANGE, (_off), (_len), false })
#define OPEN_TRUNC							\
	(&(struct discard_op){ "open(O_TRUNC)", DISCARD_OPEN_TRUNC, 0, 0, false })
#define MADV_REMOVE_RANGE(_off, _len)					\
	(&(struct discard_op){ "MADV_REMOVE", DISCARD_MADV_REMOVE,	\
			       (_off), (_len), false })
#define CLONE(_off, _len)						\
	(&(struct discard_op){ "FICLONERANGE", DISCARD_CLONE, (_off), (_len), false })
/* The same, once fsync() cleaned the pinned pages */
#define PUNCH_CLEAN(_off, _len)						\
	(&(struct discard_op){ "FALLOC_FL_PUNCH_HOLE after fsync",	\
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, \
			       (_off), (_len), true })
#define CLONE_CLEAN(_off, _len)						\
	(&(struct discard_op){ "FICLONERANGE after fsync", DISCARD_CLONE, \
			       (_off), (_len), true })
#define SWAPEXT								\
	(&(struct discard_op){ "XFS_IOC_SWAPEXT", DISCARD_SWAPEXT, 0, 0, false })
#define SWAPEXT_TMP							\
	(&(struct discard_op){ "XFS_IOC_SWAPEXT (as tmp)",		\
			       DISCARD_SWAPEXT_TMP, 0, 0, false })
#define EXCHANGE(_off, _len)						\
	(&(struct discard_op){ "XFS_IOC_EXCHANGE_RANGE", DISCARD_EXCHANGE, \
			       (_off), (_len), false })
#define SWAP_BOOT							\
	(&(struct discard_op){ "EXT4_IOC_SWAP_BOOT", DISCARD_SWAP_BOOT, 0, 0, false })

FIXTURE(discard) {
	struct vt_ctx ctx;
	char dir[32];
	char path[PATH_MAX];
	int fd, ro_fd;
	void *map, *ro_map, *src, *buf, *ref;
	struct ibv_mr *mr, *src_mr;
};

FIXTURE_VARIANT(discard) {
	const char *fs;
};

FIXTURE_VARIANT_ADD(discard, ext4) { .fs = "ext4", };
FIXTURE_VARIANT_ADD(discard, xfs) { .fs = "xfs", };
FIXTURE_VARIANT_ADD(discard, btrfs) { .fs = "btrfs", };

/*
 * What both fixtures start from: the device context, a FILE_LEN file in
 * @dir holding SEED_FILE, a shared mapping of its pinned range, and an
 * anonymous source MR holding SEED_NEW.
 */
static void discard_prepare(struct __test_metadata *_metadata,
			    const char *dir, struct vt_ctx *ctx, int *fd,
			    char *path, void **map, void **src,
			    struct ibv_mr **src_mr)
{
	ASSERT_EQ(0, vt_init_ctx(ctx));
	*fd = vt_make_file(dir, FILE_LEN, SEED_FILE, path);
	ASSERT_LE(0, *fd);
	*map = mmap(NULL, PIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, *fd,
		    PIN_OFF);
	ASSERT_NE(MAP_FAILED, *map) TH_LOG("mmap: %s", strerror(errno));

	*src = vt_alloc(PIN_LEN, 0);
	ASSERT_NE(NULL, *src);
	vt_fill(*src, PIN_LEN, SEED_NEW);
	*src_mr = ibv_reg_mr(ctx->pd, *src, PIN_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, *src_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_SETUP(discard)
{
	self->fd = self->ro_fd = -1;
	snprintf(self->dir, sizeof(self->dir), "/mnt/%s", variant->fs);
	if (!vt_fs_is(self->dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", self->dir, variant->fs);
	discard_prepare(_metadata, self->dir, &self->ctx, &self->fd,
			self->path, &self->map, &self->src, &self->src_mr);

	/* What the file should hold, up to 2 * FILE_LEN after an insert */
	self->ref = vt_alloc(2 * FILE_LEN, 0);
	ASSERT_NE(NULL, self->ref);
	vt_fill(self->ref, FILE_LEN, SEED_FILE);
	self->buf = vt_alloc(2 * FILE_LEN, 0);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(discard)
{
	EXPECT_EQ(0, vt_dereg_mr(self->mr));
	EXPECT_EQ(0, vt_dereg_mr(self->src_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->map, PIN_LEN);
	vt_free(self->ro_map, PIN_LEN);
	vt_free(self->src, PIN_LEN);
	vt_free(self->ref, 2 * FILE_LEN);
	vt_free(self->buf, 2 * FILE_LEN);
	if (self->ro_fd >= 0)
		close(self->ro_fd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
}

/* A new, unlinked file of @len bytes holding SEED_CLONE: its fd, or -1 */
static int discard_other(FIXTURE_DATA(discard) *self, off_t len)
{
	char path[PATH_MAX];
	int fd;

	fd = vt_make_file(self->dir, len, SEED_CLONE, path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* Share the blocks of a new file holding SEED_CLONE at @off of the file */
static int discard_clone(FIXTURE_DATA(discard) *self, off_t off, off_t len)
{
	int fd, ret;

	fd = discard_other(self, len);
	if (fd < 0)
		return -1;
	ret = ioctl(self->fd, FICLONERANGE, &(struct file_clone_range) {
		.src_fd		= fd,
		.src_length	= len,
		.dest_offset	= off,
	});
	close(fd);
	return ret;
}

/*
 * XFS_IOC_SWAPEXT between the file and a new one of its size holding
 * SEED_CLONE; @as_tmp: the new file is the target, the file its tmp.  The
 * kernel swaps only if the target's times are those passed in.
 */
static int discard_do_swapext(FIXTURE_DATA(discard) *self, bool as_tmp)
{
	struct discard_xfs_swapext sx = { .sx_length = FILE_LEN };
	int fd, target, ret;
	struct stat st;

	fd = discard_other(self, FILE_LEN);
	if (fd < 0)
		return -1;
	target = as_tmp ? fd : self->fd;
	sx.sx_fdtarget = target;
	sx.sx_fdtmp = as_tmp ? self->fd : fd;
	ret = fstat(target, &st);
	if (!ret) {
		sx.sx_stat.bs_mtime.tv_sec = st.st_mtim.tv_sec;
		sx.sx_stat.bs_mtime.tv_nsec = st.st_mtim.tv_nsec;
		sx.sx_stat.bs_ctime.tv_sec = st.st_ctim.tv_sec;
		sx.sx_stat.bs_ctime.tv_nsec = st.st_ctim.tv_nsec;
		ret = ioctl(target, DISCARD_XFS_IOC_SWAPEXT, &sx);
	}
	close(fd);
	return ret;
}

/* XFS_IOC_EXCHANGE_RANGE: a new file's SEED_CLONE for @len bytes at @off */
static int discard_do_exchange(FIXTURE_DATA(discard) *self, off_t off,
			       off_t len)
{
	int fd, ret;

	fd = discard_other(self, len);
	if (fd < 0)
		return -1;
	ret = ioctl(self->fd, DISCARD_XFS_IOC_EXCHANGE_RANGE,
		    &(struct discard_xfs_exchange_range) {
		.file1_fd	= fd,
		.file2_offset	= off,
		.length		= len,
	});
	close(fd);
	return ret;
}

/* Do @op on the file: 0 or the errno */
static int discard_do(FIXTURE_DATA(discard) *self, const struct discard_op *op)
{
	int ret, fd;

	switch (op->mode) {
	case DISCARD_TRUNCATE:
		ret = ftruncate(self->fd, op->off);
		break;
	case DISCARD_OPEN_TRUNC:
		fd = open(self->path, O_RDWR | O_TRUNC);
		ret = fd < 0 ? -1 : close(fd);
		break;
	case DISCARD_MADV_REMOVE:
		ret = madvise((char *)self->map + op->off - PIN_OFF, op->len,
			      MADV_REMOVE);
		break;
	case DISCARD_CLONE:
		ret = discard_clone(self, op->off, op->len);
		break;
	case DISCARD_SWAPEXT:
	case DISCARD_SWAPEXT_TMP:
		ret = discard_do_swapext(self, op->mode == DISCARD_SWAPEXT_TMP);
		break;
	case DISCARD_EXCHANGE:
		ret = discard_do_exchange(self, op->off, op->len);
		break;
	case DISCARD_SWAP_BOOT:
		ret = ioctl(self->fd, DISCARD_EXT4_IOC_SWAP_BOOT);
		break;
	default:
		ret = fallocate(self->fd, op->mode, op->off, op->len);
		break;
	}
	return ret ? errno : 0;
}

/* Apply a successful @op to the expected contents @ref; the new size */
static off_t discard_model(const struct discard_op *op, char *ref, off_t size)
{
	switch (op->mode) {
	case DISCARD_TRUNCATE:
	case DISCARD_OPEN_TRUNC:
		return op->off;
	case FALLOC_FL_COLLAPSE_RANGE:
		memmove(ref + op->off, ref + op->off + op->len,
			size - op->off - op->len);
		return size - op->len;
	case FALLOC_FL_INSERT_RANGE:
		memmove(ref + op->off + op->len, ref + op->off, size - op->off);
		memset(ref + op->off, 0, op->len);
		return size + op->len;
	case DISCARD_CLONE:
	case DISCARD_EXCHANGE:
		vt_fill(ref + op->off, op->len, SEED_CLONE);
		return size;
	case DISCARD_SWAPEXT:
	case DISCARD_SWAPEXT_TMP:	/* the file gets the other's blocks */
		vt_fill(ref, size, SEED_CLONE);
		return size;
	case DISCARD_SWAP_BOOT:		/* an empty boot loader inode's */
		return 0;
	default:
		memset(ref + op->off, 0, op->len);
		return size;
	}
}

static off_t discard_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : st.st_size;
}

/* Bytes of the file's first @size that differ from the expected; -1 */
static long discard_diff(FIXTURE_DATA(discard) *self, off_t size)
{
	const char *buf = self->buf, *ref = self->ref;
	long n = 0;
	off_t i;

	if (vt_read_file(self->fd, self->buf, size))
		return -1;
	for (i = 0; i < size; i++)
		n += buf[i] != ref[i];
	return n;
}

/*
 * Are the file's pages at @a and @b (@a < @b, page-aligned) in one (large)
 * folio?  Mapped for a look at their folios' heads (vt_folio_of(), root).
 * -1: cannot tell.
 */
static int discard_one_folio(int fd, off_t a, off_t b)
{
	size_t len = b - a + 4096;
	unsigned long head_a, head_b;
	volatile char *p;
	long na, nb;

	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, a);
	if (p == MAP_FAILED)
		return -1;
	(void)p[0];
	(void)p[len - 4096];
	na = vt_folio_of((const void *)p, &head_a);
	nb = vt_folio_of((const void *)(p + len - 4096), &head_b);
	munmap((void *)p, len);
	if (na < 0 || nb < 0)
		return -1;
	return head_a == head_b;
}

/*
 * The bytes @op drops from the page cache, [*@lo, *@hi): a truncate from
 * the new size, a shift from the block before its offset (as xfs does),
 * anything else its range.  *@hi is FILE_LEN for those to the end.
 */
static void discard_dropped(const struct discard_op *op, off_t *lo, off_t *hi)
{
	switch (op->mode) {
	case DISCARD_TRUNCATE:
	case DISCARD_OPEN_TRUNC:
		*lo = op->off;
		*hi = FILE_LEN;
		break;
	case FALLOC_FL_COLLAPSE_RANGE:
	case FALLOC_FL_INSERT_RANGE:
		*lo = op->off - 4096;
		*hi = FILE_LEN;
		break;
	default:
		*lo = op->off;
		*hi = op->off + op->len;
		break;
	}
}

/*
 * Does a large folio at an edge of what @op drops also hold pinned pages?
 * Such a folio cannot be split while pinned, so the kernel counts the pin
 * as one in the range.  Only for ranges beside the pinned one.
 */
static bool discard_edge_pinned(struct __test_metadata *_metadata,
				FIXTURE_DATA(discard) *self,
				const struct discard_op *op)
{
	off_t lo, hi;
	int one = 0;

	discard_dropped(op, &lo, &hi);
	/* The pages holding the range's last and first bytes */
	if (hi <= PIN_OFF)
		one = discard_one_folio(self->fd, (hi - 1) & ~4095L, PIN_OFF);
	else if (lo >= PIN_END)
		one = discard_one_folio(self->fd, PIN_END - 4096, lo & ~4095L);
	EXPECT_LE(0, one) TH_LOG("cannot tell the folios beside %s",
				 op->name);
	return one > 0;
}

/*
 * @op while the writable MR pins [PIN_OFF, PIN_END): it must fail with @err
 * (0: succeed; DISCARD_EDGE: ETXTBSY where discard_edge_pinned(), else
 * succeed) and leave the size and contents as computed first; then an RDMA
 * WRITE through the MR must still reach the mapping and the file.  An op
 * marked clean runs once fsync() cleaned the pinned pages.
 */
static void discard_pinned(struct __test_metadata *_metadata,
			   FIXTURE_DATA(discard) *self,
			   const FIXTURE_VARIANT(discard) *variant,
			   const struct discard_op *op, int err)
{
	off_t size = FILE_LEN;
	int ret;

	self->mr = ibv_reg_mr(self->ctx.pd, self->map, PIN_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	if (op->clean)
		ASSERT_EQ(0, fsync(self->fd));
	/*
	 * Beside the pinned pages: refused where a large folio at an edge of
	 * the range holds pinned pages too, as computed from the page flags.
	 */
	if (err == DISCARD_EDGE) {
		err = discard_edge_pinned(_metadata, self, op) ? ETXTBSY : 0;
		TH_LOG("%s at %lld: a pinned folio at an edge: %s", op->name,
		       (long long)op->off, err ? "yes" : "no");
	}
	if (err)	/* the stock kernel discards, and loses later writes */
		VT_TODO_WITHOUT_PIN_RECORDS("the discard succeeds");
	else
		size = discard_model(op, self->ref, size);

	ret = discard_do(self, op);
	if (ret == EOPNOTSUPP || ret == ENOTTY)
		SKIP(return, "%s: %s does not support it", variant->fs, op->name);
	EXPECT_EQ(err, ret)
		TH_LOG("%s at %lld (+%lld): %s, expected %s", op->name,
		       (long long)op->off, (long long)op->len, strerror(ret),
		       err ? strerror(err) : "success");
	/* Past EOF the mapping would fault: stop when the size is wrong */
	ASSERT_EQ(size, discard_size(self->fd))
		TH_LOG("file size after %s", op->name);
	EXPECT_EQ(0, discard_diff(self, size))
		TH_LOG("bytes that differ from the expected file after %s",
		       op->name);

	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->mr,
				   PIN_LEN));
	EXPECT_EQ((size_t)PIN_LEN, vt_count(self->map, PIN_LEN, SEED_NEW))
		TH_LOG("the RDMA WRITE is not in the mapping");
	vt_fill((char *)self->ref + PIN_OFF, PIN_LEN, SEED_NEW);
	EXPECT_EQ(0, discard_diff(self, size))
		TH_LOG("bytes of the file that differ after the RDMA WRITE");
}

/* A case of discard_pinned(): @_op must fail with @_err (0: succeed) */
#define DISCARD_TEST(_name, _op, _err)					\
	TEST_F(discard, _name)						\
	{								\
		VT_RETURN_IF_SKIPPED();					\
		discard_pinned(_metadata, self, variant, _op, _err);	\
	}

/* Into the pinned range, or before it: refused */
DISCARD_TEST(truncate_inside, TRUNCATE(PIN_OFF + PIN_LEN / 2), ETXTBSY)
/* Only the last pinned byte goes, inside the last pinned page */
DISCARD_TEST(truncate_last_byte, TRUNCATE(PIN_END - 1), ETXTBSY)
DISCARD_TEST(truncate_before, TRUNCATE(PIN_OFF / 2), ETXTBSY)
DISCARD_TEST(punch_inside, PUNCH(PIN_OFF + PIN_LEN / 4, PIN_LEN / 4),
	     ETXTBSY)
/* From before the range into its first pages */
DISCARD_TEST(punch_across_start, PUNCH(PIN_OFF - PIN_LEN / 8, PIN_LEN / 4),
	     ETXTBSY)
DISCARD_TEST(zero_range_inside,
	     ZERO_RANGE(PIN_OFF + PIN_LEN / 4, PIN_LEN / 4), ETXTBSY)
/* Starts inside, before the end: the tail of the range moves */
DISCARD_TEST(collapse_inside, COLLAPSE(PIN_END - PIN_LEN / 16, PIN_LEN / 8),
	     ETXTBSY)
/* Entirely before the range, which moves as a whole */
DISCARD_TEST(collapse_before, COLLAPSE(PIN_OFF - PIN_LEN / 8, PIN_LEN / 16),
	     ETXTBSY)
/* Shifts the range's tail to make room */
DISCARD_TEST(insert_inside, INSERT(PIN_OFF + PIN_LEN / 2, PIN_LEN / 8),
	     ETXTBSY)
/* Truncates to 0 on the way through open() */
DISCARD_TEST(open_trunc, OPEN_TRUNC, ETXTBSY)
/* A hole punched through the registered mapping itself */
DISCARD_TEST(madv_remove_inside,
	     MADV_REMOVE_RANGE(PIN_OFF + PIN_LEN / 4, PIN_LEN / 4), ETXTBSY)
/* Other blocks shared into the range (reflink): its pages are replaced */
DISCARD_TEST(clone_into, CLONE(PIN_OFF + PIN_LEN / 4, PIN_LEN / 4), ETXTBSY)

/*
 * Swapping extents with another file drops the page cache of both: the
 * pinned file as the target or as the tmp (xfs_fsr's defragmentation), a
 * range exchanged into the pinned one, the boot loader inode's swap
 */
DISCARD_TEST(swapext, SWAPEXT, ETXTBSY)
DISCARD_TEST(swapext_as_tmp, SWAPEXT_TMP, ETXTBSY)
DISCARD_TEST(exchange_into, EXCHANGE(PIN_OFF + PIN_LEN / 4, PIN_LEN / 4),
	     ETXTBSY)
/* The last block before the range: its pages stay, unless in one folio */
DISCARD_TEST(exchange_before, EXCHANGE(PIN_OFF - 4096, 4096), DISCARD_EDGE)
DISCARD_TEST(swap_boot, SWAP_BOOT, ETXTBSY)

/*
 * Strictly beyond the pinned range: allowed, up to its very edge, unless a
 * large folio holds pinned pages and part of the range
 */
DISCARD_TEST(truncate_at_end, TRUNCATE(PIN_END), DISCARD_EDGE)
DISCARD_TEST(punch_before, PUNCH(PIN_OFF - PIN_LEN / 4, PIN_LEN / 4),
	     DISCARD_EDGE)
DISCARD_TEST(punch_after, PUNCH(PIN_END, PIN_LEN / 4), DISCARD_EDGE)
/*
 * The block right before the range, and right after it: where a large
 * folio holds it and pinned pages too (6.12's xfs writes 2 MiB folios),
 * refused, clean or dirty; elsewhere it works, and a clone's blocks show.
 */
DISCARD_TEST(punch_edge_before, PUNCH(PIN_OFF - 4096, 4096), DISCARD_EDGE)
/* Part of a block: xfs drops the whole page, and zeroes only the part */
DISCARD_TEST(punch_unaligned_edge_before, PUNCH(PIN_OFF - 4096 + 512, 1024),
	     DISCARD_EDGE)
DISCARD_TEST(punch_edge_before_clean, PUNCH_CLEAN(PIN_OFF - 4096, 4096),
	     DISCARD_EDGE)
DISCARD_TEST(punch_edge_after_clean, PUNCH_CLEAN(PIN_END, 4096), DISCARD_EDGE)
DISCARD_TEST(clone_edge_before, CLONE(PIN_OFF - 4096, 4096), DISCARD_EDGE)
DISCARD_TEST(clone_edge_before_clean, CLONE_CLEAN(PIN_OFF - 4096, 4096),
	     DISCARD_EDGE)
DISCARD_TEST(clone_edge_after_clean, CLONE_CLEAN(PIN_END, 4096), DISCARD_EDGE)

/*
 * Shifting filesystems also invalidate the block before the offset (xfs
 * stabilises the boundary), so a shift right at the end of the pinned range
 * would drop its last page: refused.  One block further it is allowed.
 */
DISCARD_TEST(collapse_at_end, COLLAPSE(PIN_END, PIN_LEN / 8), ETXTBSY)
DISCARD_TEST(collapse_after, COLLAPSE(PIN_END + 4096, PIN_LEN / 8),
	     DISCARD_EDGE)
DISCARD_TEST(insert_after, INSERT(PIN_END + 4096, PIN_LEN / 8), DISCARD_EDGE)

/*
 * The MR over the first half of the mapped range only, and a punch of the
 * block right after it: refused where one large folio holds both (the
 * widening down to the folio's start), else zeroes there.
 */
TEST_F(discard, punch_after_half_mr)
{
	const off_t half = PIN_OFF + PIN_LEN / 2;
	const struct discard_op *op = PUNCH(half, 4096);
	int err, ret, one;

	VT_RETURN_IF_SKIPPED();
	self->mr = ibv_reg_mr(self->ctx.pd, self->map, PIN_LEN / 2,
			      VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	one = discard_one_folio(self->fd, half - 4096, half);
	ASSERT_LE(0, one) TH_LOG("cannot tell the folios at %lld",
				 (long long)half);
	err = one ? ETXTBSY : 0;
	TH_LOG("a pinned folio at the edge: %s", one ? "yes" : "no");
	if (err)
		VT_TODO_WITHOUT_PIN_RECORDS("the discard succeeds");
	else
		discard_model(op, self->ref, FILE_LEN);
	ret = discard_do(self, op);
	if (ret == EOPNOTSUPP)
		SKIP(return, "%s: %s does not support it", variant->fs, op->name);
	EXPECT_EQ(err, ret) TH_LOG("%s: %s", op->name, strerror(ret));
	EXPECT_EQ(0, discard_diff(self, FILE_LEN))
		TH_LOG("bytes that differ from the expected file after %s",
		       op->name);
}

/*
 * A clone to past EOF: xfs drops the page cache from EOF on
 * (xfs_reflink_remap_prep()), so the pinned page that EOF falls in must
 * refuse it, though the clone's own range holds no pinned page.  The file
 * ends 100 bytes before the end of the MR's last page.
 */
TEST_F(discard, clone_past_eof)
{
	const off_t size = PIN_END - 100;
	int fd, ret;

	VT_TODO_WITHOUT_PIN_RECORDS("the clone drops the pinned page at EOF");
	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ftruncate(self->fd, size));
	self->mr = ibv_reg_mr(self->ctx.pd, self->map, PIN_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	fd = discard_other(self, 4096);
	ASSERT_LE(0, fd);
	ret = ioctl(self->fd, FICLONERANGE, &(struct file_clone_range) {
		.src_fd		= fd,
		.src_length	= 4096,
		.dest_offset	= PIN_END + 4096,
	}) ? errno : 0;
	close(fd);
	if (ret == EOPNOTSUPP)
		SKIP(return, "%s: no FICLONERANGE", variant->fs);
	EXPECT_EQ(ETXTBSY, ret) TH_LOG("FICLONERANGE past EOF: %s",
				       strerror(ret));
	EXPECT_EQ(size, discard_size(self->fd));
	/* The RDMA WRITE reaches the file, up to its EOF */
	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->mr,
				   PIN_LEN));
	vt_fill((char *)self->ref + PIN_OFF, PIN_LEN, SEED_NEW);
	EXPECT_EQ(0, discard_diff(self, size))
		TH_LOG("bytes of the file that differ after the RDMA WRITE");
}

/*
 * hugetlbfs: an MR over the second huge page of a file, and a hole punched
 * in part of the first.  hugetlbfs frees whole huge pages only, so nothing
 * of the MR is dropped and the punch must work; its folios are indexed in
 * huge pages on 6.1, and the kernel must not look them up by base page.
 */
FIXTURE(discard_hugetlbfs) {
	int unused;
};

FIXTURE_SETUP(discard_hugetlbfs)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(discard_hugetlbfs)
{
}

TEST_F(discard_hugetlbfs, punch_beside)
{
	const size_t hpage = (size_t)2 << 20;
	char path[] = "/dev/hugepages/vt-discard-XXXXXX";
	struct ibv_mr *mr;
	struct vt_ctx ctx = { 0 };
	int fd, ret;
	char *map;

	fd = mkstemp(path);
	if (fd < 0)
		SKIP(return, "no hugetlbfs at /dev/hugepages: %s",
		     strerror(errno));
	unlink(path);
	map = mmap(NULL, 2 * hpage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		SKIP(return, "no two free huge pages: %s", strerror(errno));
	}
	memset(map, 1, 2 * hpage);
	ASSERT_EQ(0, vt_init_ctx(&ctx));
	mr = ibv_reg_mr(ctx.pd, map + hpage, hpage, VT_MR_ACCESS);
	ASSERT_NE(NULL, mr) TH_LOG("Couldn't register MR: %s", strerror(errno));
	ret = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096,
			4096) ? errno : 0;
	EXPECT_EQ(0, ret) TH_LOG("punch in the first huge page: %s",
				 strerror(ret));
	EXPECT_EQ(0, vt_dereg_mr(mr));
	vt_close_ctx(&ctx);
	VT_EXPECT_PINS_BALANCED();
	munmap(map, 2 * hpage);
	close(fd);
}

/* A read-only MR over a PROT_READ mapping cannot lose writes: no refusal */
TEST_F(discard, ro_mr_truncate)
{
	const struct discard_op *op = TRUNCATE(PIN_OFF + PIN_LEN / 2);
	off_t size;
	int ret;

	VT_TODO_FOLL_FORCE("the read-only MR is refused with EFAULT");
	VT_RETURN_IF_SKIPPED();
	self->ro_fd = open(self->path, O_RDONLY);
	ASSERT_LE(0, self->ro_fd)
		TH_LOG("open %s: %s", self->path, strerror(errno));
	self->ro_map = mmap(NULL, PIN_LEN, PROT_READ, MAP_SHARED, self->ro_fd,
			    PIN_OFF);
	ASSERT_NE(MAP_FAILED, self->ro_map) TH_LOG("mmap: %s", strerror(errno));
	self->mr = ibv_reg_mr(self->ctx.pd, self->ro_map, PIN_LEN,
			      IBV_ACCESS_REMOTE_READ);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register read-only MR: %s (errno %d)",
		       strerror(errno), errno);

	size = discard_model(op, self->ref, FILE_LEN);
	ret = discard_do(self, op);
	EXPECT_EQ(0, ret)
		TH_LOG("%s under a read-only MR: %s", op->name, strerror(ret));
	EXPECT_EQ(size, discard_size(self->fd));
	EXPECT_EQ(0, discard_diff(self, size));
}

/* Once the MR is gone the range is an ordinary one, with the MR's data */
static void discard_after_dereg(struct __test_metadata *_metadata,
				FIXTURE_DATA(discard) *self,
				const FIXTURE_VARIANT(discard) *variant,
				const struct discard_op *op)
{
	off_t size;
	int ret;

	self->mr = ibv_reg_mr(self->ctx.pd, self->map, PIN_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->mr,
				   PIN_LEN));
	ASSERT_EQ(0, ibv_dereg_mr(self->mr));
	self->mr = NULL;

	vt_fill((char *)self->ref + PIN_OFF, PIN_LEN, SEED_NEW);
	size = discard_model(op, self->ref, FILE_LEN);
	ret = discard_do(self, op);
	if (ret == EOPNOTSUPP || ret == ENOTTY)
		SKIP(return, "%s: %s does not support it", variant->fs, op->name);
	EXPECT_EQ(0, ret)
		TH_LOG("%s after deregistration: %s", op->name, strerror(ret));
	EXPECT_EQ(size, discard_size(self->fd));
	EXPECT_EQ(0, discard_diff(self, size))
		TH_LOG("bytes that differ from the expected file after %s",
		       op->name);
}

#define DISCARD_AFTER_DEREG_TEST(_name, _op)				\
	TEST_F(discard, _name)						\
	{								\
		VT_RETURN_IF_SKIPPED();					\
		discard_after_dereg(_metadata, self, variant, _op);	\
	}

DISCARD_AFTER_DEREG_TEST(truncate_after_dereg, TRUNCATE(PIN_OFF + PIN_LEN / 2))
/* The swap takes the RDMA WRITE's data into the other file, gone here */
DISCARD_AFTER_DEREG_TEST(swapext_after_dereg, SWAPEXT)
DISCARD_AFTER_DEREG_TEST(exchange_after_dereg,
			 EXCHANGE(PIN_OFF + PIN_LEN / 4, PIN_LEN / 4))

/* Read @len bytes at @off of @path from the disk (O_DIRECT): 0 or errno */
static int discard_read_direct(const char *path, void *buf, off_t off,
			       size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return errno;
	n = pread(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : n < 0 ? errno : EIO;
}

/*
 * An O_DIRECT write into the pinned range, once its pages are clean: the
 * page cache must not drop the pinned pages to stay coherent (the device
 * would go on writing pages the file no longer has), so the write goes
 * through them.  The mapping shows it, and a later RDMA WRITE and fsync()
 * reach the disk.  Stock invalidates the pinned pages.
 */
TEST_F(discard, odirect_write_inside)
{
	const off_t off = PIN_OFF + PIN_LEN / 4, len = PIN_LEN / 4;
	char *data, *disk;
	size_t found;
	ssize_t n;
	int fd;

	VT_TODO_WITHOUT_PIN_RECORDS("an O_DIRECT write invalidates the pinned pages");
	VT_RETURN_IF_SKIPPED();
	self->mr = ibv_reg_mr(self->ctx.pd, self->map, PIN_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	ASSERT_EQ(0, fsync(self->fd));

	data = (char *)self->buf + FILE_LEN;
	vt_fill(data, len, SEED_CLONE);
	fd = open(self->path, O_WRONLY | O_DIRECT);
	ASSERT_LE(0, fd) TH_LOG("open O_DIRECT: %s", strerror(errno));
	n = pwrite(fd, data, len, off);
	close(fd);
	ASSERT_EQ(len, n) TH_LOG("O_DIRECT write: %s", strerror(errno));
	EXPECT_EQ(0, memcmp((char *)self->map + off - PIN_OFF, data, len))
		TH_LOG("the O_DIRECT write is not in the registered mapping");

	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->mr,
				   PIN_LEN));
	EXPECT_EQ((size_t)PIN_LEN, vt_count(self->map, PIN_LEN, SEED_NEW))
		TH_LOG("the RDMA WRITE is not in the mapping");
	ASSERT_EQ(0, fsync(self->fd));
	disk = self->buf;
	ASSERT_EQ(0, discard_read_direct(self->path, disk, PIN_OFF, PIN_LEN));
	found = vt_count(disk, PIN_LEN, SEED_NEW);
	printf("# test=odirect_write_inside fs=%s on_disk=%zu/%lld\n",
	       variant->fs, found, (long long)PIN_LEN);
	EXPECT_EQ((size_t)PIN_LEN, found)
		TH_LOG("bytes of the RDMA WRITE on disk after fsync");
}

/*
 * overlayfs over the filesystem under test: a file created through the
 * overlay lives in the upper directory, and a shared mapping of the overlay
 * file maps the upper file's pages.  Truncating it through the overlay
 * (ovl_setattr() -> notify_change() on the upper file, not do_truncate())
 * must be refused like a direct truncate, and the MR keep working.
 */
FIXTURE(discard_ovl) {
	struct vt_ctx ctx;
	char top[64], merged[96], path[PATH_MAX];
	bool mounted;
	int fd;
	void *map, *src, *buf;
	struct ibv_mr *mr, *src_mr;
};

FIXTURE_VARIANT(discard_ovl) {
	const char *fs;
};

FIXTURE_VARIANT_ADD(discard_ovl, ext4) { .fs = "ext4", };
FIXTURE_VARIANT_ADD(discard_ovl, xfs) { .fs = "xfs", };

static const char * const ovl_dirs[] = { "lower", "upper", "work", "merged" };

FIXTURE_SETUP(discard_ovl)
{
	char dir[128], opts[512], fsdir[32];
	unsigned int i;

	self->fd = -1;
	snprintf(fsdir, sizeof(fsdir), "/mnt/%s", variant->fs);
	if (!vt_fs_is(fsdir, variant->fs))
		SKIP(return, "%s is not a mounted %s", fsdir, variant->fs);
	snprintf(self->top, sizeof(self->top), "%s/ovl-%d", fsdir, getpid());
	ASSERT_EQ(0, mkdir(self->top, 0755)) TH_LOG("mkdir: %s", strerror(errno));
	for (i = 0; i < sizeof(ovl_dirs) / sizeof(ovl_dirs[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", self->top, ovl_dirs[i]);
		ASSERT_EQ(0, mkdir(dir, 0755));
	}
	snprintf(self->merged, sizeof(self->merged), "%s/merged", self->top);
	snprintf(opts, sizeof(opts), "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work",
		 self->top, self->top, self->top);
	if (mount("overlay", self->merged, "overlay", 0, opts)) {
		if (errno == ENODEV)
			SKIP(return, "no overlayfs in this kernel");
		ASSERT_EQ(0, errno) TH_LOG("mount overlay: %s", strerror(errno));
	}
	self->mounted = true;
	discard_prepare(_metadata, self->merged, &self->ctx, &self->fd,
			self->path, &self->map, &self->src, &self->src_mr);
	self->buf = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(discard_ovl)
{
	char dir[128];
	unsigned int i;

	EXPECT_EQ(0, vt_dereg_mr(self->mr));
	EXPECT_EQ(0, vt_dereg_mr(self->src_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->map, PIN_LEN);
	vt_free(self->src, PIN_LEN);
	vt_free(self->buf, FILE_LEN);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
	if (self->mounted)
		EXPECT_EQ(0, umount(self->merged))
			TH_LOG("umount %s: %s", self->merged, strerror(errno));
	if (!self->top[0])
		return;
	/* work/ holds an empty work/ of overlayfs' own */
	snprintf(dir, sizeof(dir), "%s/work/work", self->top);
	rmdir(dir);
	for (i = 0; i < sizeof(ovl_dirs) / sizeof(ovl_dirs[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", self->top, ovl_dirs[i]);
		rmdir(dir);
	}
	rmdir(self->top);
}

TEST_F(discard_ovl, truncate_inside)
{
	size_t found;
	int ret;

	VT_TODO_WITHOUT_PIN_RECORDS("a truncate through overlayfs succeeds");
	VT_RETURN_IF_SKIPPED();
	self->mr = ibv_reg_mr(self->ctx.pd, self->map, PIN_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	ret = ftruncate(self->fd, PIN_OFF + PIN_LEN / 2) ? errno : 0;
	EXPECT_EQ(ETXTBSY, ret)
		TH_LOG("ftruncate through overlayfs: %s", strerror(ret));
	ASSERT_EQ(FILE_LEN, discard_size(self->fd))
		TH_LOG("file size after the truncate");

	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->mr,
				   PIN_LEN));
	ASSERT_EQ(0, fsync(self->fd));
	ASSERT_EQ(0, vt_read_file(self->fd, self->buf, FILE_LEN));
	found = vt_count((char *)self->buf + PIN_OFF, PIN_LEN, SEED_NEW);
	printf("# test=overlay_truncate fs=%s errno=%d in_file=%zu/%lld\n",
	       variant->fs, ret, found, (long long)PIN_LEN);
	EXPECT_EQ((size_t)PIN_LEN, found)
		TH_LOG("bytes of the RDMA WRITE in the file");
}

VT_HARNESS_MAIN
