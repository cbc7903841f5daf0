// SPDX-License-Identifier: GPL-2.0
/*
 * A read-only MR (access 0: a local source; or IBV_ACCESS_REMOTE_READ only)
 * must make the device read exactly the bytes the process sees.
 *
 * A read-only long-term pin of private memory can pin a page the process
 * does not own yet: the shared zero page (anonymous memory never written,
 * or the huge zero page under THP), or the page-cache page behind a
 * MAP_PRIVATE file mapping.  The next CPU write COWs the process away from
 * that page, and the device goes on reading zeroes or the file.  Stock 6.1
 * pins read-only MRs with FOLL_WRITE | FOLL_FORCE, which breaks COW at pin
 * time; a kernel that pins them without FOLL_WRITE has to unshare such pages
 * itself.  So every case below must read the process's bytes, on any kernel.
 *
 * ro_mr: each kind of memory, each read-only access, and the CPU filling the
 * buffer before or after registration; the device reads the buffer by RDMA
 * WRITE from it (access 0, lkey) or RDMA READ of it (remote read, rkey) into
 * a writable anonymous MR.  Each test prints
 *   # mem=<kind> access=<0|remote_read> fill=<before|after> match=X/Y ...
 * ro_rereg: a remote-read MR must not become writable by ibv_rereg_mr()
 * with IBV_REREG_MR_CHANGE_ACCESS alone, and stays usable when refused.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "vt_harness.h"

#define BUF_LEN		((size_t)4 << 20)	/* two huge pages */
#define THP_SIZE	((size_t)2 << 20)
#define REREG_LEN	((size_t)1 << 20)
#define RO_TIMEOUT	120			/* seconds per test, under TCG */
#define THP_ENABLED	"/sys/kernel/mm/transparent_hugepage/enabled"

#define SEED_BUF	1	/* what the CPU writes into the buffer */
#define SEED_DST	2	/* the destination before the device writes it */
#define SEED_FILE	3	/* the file behind a private mapping, on disk */
#define SEED_OLD	4	/* the buffer before the fork */

enum ro_mem {
	RO_ANON_FRESH,		/* private anonymous, never touched */
	RO_ANON_FORK,		/* written, then shared with a forked child */
	RO_THP,			/* 2 MiB aligned, MADV_HUGEPAGE, never touched */
	RO_FILE_FRESH,		/* MAP_PRIVATE file, never touched */
	RO_FILE_TOUCHED,	/* MAP_PRIVATE file, every page read */
	RO_HUGETLB,		/* MAP_PRIVATE | MAP_HUGETLB, never touched */
	RO_MEMFD,		/* memfd, MAP_SHARED, never touched */
};

static const char *const ro_mem_names[] = {
	[RO_ANON_FRESH]		= "anon_fresh",
	[RO_ANON_FORK]		= "anon_fork",
	[RO_THP]		= "thp",
	[RO_FILE_FRESH]		= "file_private_fresh",
	[RO_FILE_TOUCHED]	= "file_private_touched",
	[RO_HUGETLB]		= "hugetlb_private",
	[RO_MEMFD]		= "memfd_shared",
};

FIXTURE(ro_mr) {
	struct vt_ctx ctx;
	void *buf, *dst;
	struct ibv_mr *buf_mr, *dst_mr;
	const char *dir;	/* where the private file lives */
	int fd;			/* the private file (unlinked), or the memfd */
	pid_t child;		/* RO_ANON_FORK: holds the pre-fork pages */
};

FIXTURE_VARIANT(ro_mr) {
	enum ro_mem mem;
	int access;
};

/* Each kind of memory as a local source (access 0) and for remote read */
#define RO_VARIANT(_mem_name, _mem, _access_name, _access)		\
	FIXTURE_VARIANT_ADD(ro_mr, _mem_name##_##_access_name) {	\
		.mem = _mem, .access = _access,				\
	}

RO_VARIANT(anon_fresh, RO_ANON_FRESH, local_read, 0);
RO_VARIANT(anon_fresh, RO_ANON_FRESH, remote_read, IBV_ACCESS_REMOTE_READ);
RO_VARIANT(anon_fork, RO_ANON_FORK, local_read, 0);
RO_VARIANT(anon_fork, RO_ANON_FORK, remote_read, IBV_ACCESS_REMOTE_READ);
RO_VARIANT(thp, RO_THP, local_read, 0);
RO_VARIANT(thp, RO_THP, remote_read, IBV_ACCESS_REMOTE_READ);
RO_VARIANT(file_private_fresh, RO_FILE_FRESH, local_read, 0);
RO_VARIANT(file_private_fresh, RO_FILE_FRESH, remote_read,
	   IBV_ACCESS_REMOTE_READ);
RO_VARIANT(file_private_touched, RO_FILE_TOUCHED, local_read, 0);
RO_VARIANT(file_private_touched, RO_FILE_TOUCHED, remote_read,
	   IBV_ACCESS_REMOTE_READ);
RO_VARIANT(hugetlb_private, RO_HUGETLB, local_read, 0);
RO_VARIANT(hugetlb_private, RO_HUGETLB, remote_read, IBV_ACCESS_REMOTE_READ);
RO_VARIANT(memfd_shared, RO_MEMFD, local_read, 0);
RO_VARIANT(memfd_shared, RO_MEMFD, remote_read, IBV_ACCESS_REMOTE_READ);

/* 1: THP can be used, 0: set to [never], -1: not built in */
static int ro_thp_usable(void)
{
	char mode[128] = "";
	ssize_t n;
	int fd;

	fd = open(THP_ENABLED, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, mode, sizeof(mode) - 1);
	close(fd);
	return n > 0 && !strstr(mode, "[never]");
}

/* @len bytes of anonymous memory starting on a THP boundary, or NULL */
static void *ro_alloc_thp(size_t len)
{
	size_t map_len = len + THP_SIZE, head;
	char *map, *start;

	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	start = (char *)(((uintptr_t)map + THP_SIZE - 1) & ~(THP_SIZE - 1));
	head = start - map;
	if (head)
		munmap(map, head);
	/* head < THP_SIZE: there is always a tail */
	munmap(start + len, map_len - head - len);
	return start;
}

/* AnonHugePages of the mapping that starts at @addr, in kB; -1 if none */
static long ro_anon_huge_kb(const void *addr)
{
	unsigned long start, end;
	char line[512];
	bool in = false;
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			if (in)
				break;
			in = start == (uintptr_t)addr;
		} else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) {
			break;
		}
	}
	fclose(f);
	return kb;
}

/*
 * The RO_ANON_FORK child: it shares the buffer's pages with the test, so
 * they are not the test's own, and does nothing until it is killed.  It
 * dies with the test process, whatever ends that.
 */
static pid_t ro_fork_holder(void)
{
	pid_t parent = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1);
	for (;;)
		pause();
}

/* The private file variants: a file holding SEED_FILE on disk, unlinked */
static int ro_private_file(const char **dir)
{
	char path[PATH_MAX];
	int fd;

	*dir = vt_fs_is("/mnt/ext4", "ext4") ? "/mnt/ext4" : "/tmp";
	fd = vt_make_file(*dir, BUF_LEN, SEED_FILE, path);
	if (fd >= 0)
		unlink(path);	/* nothing left behind, however the test ends */
	return fd;
}

FIXTURE_SETUP(ro_mr)
{
	int thp, prot = PROT_READ | PROT_WRITE;

	self->fd = -1;
	switch (variant->mem) {
	case RO_ANON_FRESH:
	case RO_ANON_FORK:
		self->buf = vt_alloc(BUF_LEN, 0);
		break;
	case RO_THP:
		thp = ro_thp_usable();
		if (thp <= 0)
			SKIP(return, "%s", thp < 0 ? "no THP in this kernel" :
			     "THP is [never] in " THP_ENABLED);
		self->buf = ro_alloc_thp(BUF_LEN);
		ASSERT_NE(NULL, self->buf) TH_LOG("mmap: %s", strerror(errno));
		ASSERT_EQ(0, madvise(self->buf, BUF_LEN, MADV_HUGEPAGE))
			TH_LOG("MADV_HUGEPAGE: %s", strerror(errno));
		break;
	case RO_FILE_FRESH:
	case RO_FILE_TOUCHED:
		self->fd = ro_private_file(&self->dir);
		ASSERT_LE(0, self->fd) TH_LOG("no file in %s", self->dir);
		self->buf = mmap(NULL, BUF_LEN, prot, MAP_PRIVATE, self->fd, 0);
		break;
	case RO_HUGETLB:
		self->buf = vt_alloc(BUF_LEN, MAP_HUGETLB);
		if (!self->buf)
			SKIP(return, "no %zu MiB of huge pages: %s",
			     BUF_LEN >> 20, strerror(errno));
		break;
	case RO_MEMFD:
		self->fd = memfd_create("ro_mr", MFD_CLOEXEC);
		ASSERT_LE(0, self->fd) TH_LOG("memfd_create: %s", strerror(errno));
		ASSERT_EQ(0, ftruncate(self->fd, BUF_LEN))
			TH_LOG("ftruncate: %s", strerror(errno));
		self->buf = mmap(NULL, BUF_LEN, prot, MAP_SHARED, self->fd, 0);
		break;
	}
	if (self->buf == MAP_FAILED)
		self->buf = NULL;
	ASSERT_NE(NULL, self->buf) TH_LOG("mmap: %s", strerror(errno));

	if (variant->mem == RO_ANON_FORK) {
		vt_fill(self->buf, BUF_LEN, SEED_OLD);
		/* Before the device is opened: the child holds no verbs file */
		self->child = ro_fork_holder();
		ASSERT_LT(0, self->child) TH_LOG("fork: %s", strerror(errno));
	}
	/* Reading every page maps the page cache into the private mapping */
	if (variant->mem == RO_FILE_TOUCHED)
		ASSERT_EQ(BUF_LEN, vt_count(self->buf, BUF_LEN, SEED_FILE));

	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->dst = vt_alloc(BUF_LEN, 0);
	ASSERT_NE(NULL, self->dst) TH_LOG("mmap: %s", strerror(errno));
	vt_fill(self->dst, BUF_LEN, SEED_DST);
	self->dst_mr = ibv_reg_mr(self->ctx.pd, self->dst, BUF_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->dst_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(ro_mr)
{
	EXPECT_EQ(0, vt_dereg_mr(self->buf_mr));
	EXPECT_EQ(0, vt_dereg_mr(self->dst_mr));
	vt_close_ctx(&self->ctx);
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		EXPECT_EQ(self->child, waitpid(self->child, NULL, 0));
	}
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->buf, BUF_LEN);
	vt_free(self->dst, BUF_LEN);
	if (self->fd >= 0)
		close(self->fd);
}

/* How many bytes of @a and @b are equal */
static size_t ro_same(const unsigned char *a, const unsigned char *b,
		      size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += a[i] == b[i];
	return n;
}

/* How many bytes of @buf are zero: no pattern has a zero byte */
static size_t ro_zero(const unsigned char *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += !buf[i];
	return n;
}

/*
 * Fill the buffer with SEED_BUF before or after registering it with the
 * variant's access, let the device read it into the destination MR, and
 * check that it read what the process sees.
 */
static void ro_device_reads(struct __test_metadata *_metadata,
			    FIXTURE_DATA(ro_mr) *self,
			    const FIXTURE_VARIANT(ro_mr) *variant,
			    bool fill_first)
{
	bool remote = variant->access & IBV_ACCESS_REMOTE_READ;
	bool file = variant->mem == RO_FILE_FRESH ||
		    variant->mem == RO_FILE_TOUCHED;
	size_t match, same, zero, stale = 0, on_disk = 0;
	char extra[128] = "";
	void *disk;
	int ret;

	if (fill_first)
		vt_fill(self->buf, BUF_LEN, SEED_BUF);
	self->buf_mr = ibv_reg_mr(self->ctx.pd, self->buf, BUF_LEN,
				  variant->access);
	ASSERT_NE(NULL, self->buf_mr)
		TH_LOG("Couldn't register read-only MR: %s (errno %d)",
		       strerror(errno), errno);
	if (!fill_first)
		vt_fill(self->buf, BUF_LEN, SEED_BUF);

	/* access 0: the MR is the lkey source of a WRITE; else a READ's rkey */
	if (remote)
		ret = vt_rdma_read(&self->ctx, self->buf_mr, self->dst_mr,
				   BUF_LEN);
	else
		ret = vt_rdma_write(&self->ctx, self->buf_mr, self->dst_mr,
				    BUF_LEN);
	ASSERT_EQ(0, ret) TH_LOG("RDMA %s failed", remote ? "READ" : "WRITE");

	match = vt_count(self->dst, BUF_LEN, SEED_BUF);
	same = ro_same(self->dst, self->buf, BUF_LEN);
	zero = ro_zero(self->dst, BUF_LEN);
	if (file)
		stale = vt_count(self->dst, BUF_LEN, SEED_FILE);
	else if (variant->mem == RO_ANON_FORK)
		stale = vt_count(self->dst, BUF_LEN, SEED_OLD);

	if (file) {
		disk = malloc(BUF_LEN);
		ASSERT_NE(NULL, disk);
		if (!vt_read_file(self->fd, disk, BUF_LEN))
			on_disk = vt_count(disk, BUF_LEN, SEED_FILE);
		free(disk);
		snprintf(extra, sizeof(extra), " dir=%s on_disk=%zu/%zu",
			 self->dir, on_disk, BUF_LEN);
	} else if (variant->mem == RO_THP) {
		snprintf(extra, sizeof(extra), " anon_huge_kb=%ld",
			 ro_anon_huge_kb(self->buf));
	}
	printf("# mem=%s access=%s fill=%s match=%zu/%zu zero=%zu stale=%zu%s\n",
	       ro_mem_names[variant->mem], remote ? "remote_read" : "0",
	       fill_first ? "before" : "after", match, BUF_LEN, zero, stale,
	       extra);
	fflush(stdout);

	EXPECT_EQ(BUF_LEN, vt_count(self->buf, BUF_LEN, SEED_BUF))
		TH_LOG("the CPU does not see its own writes");
	EXPECT_EQ(BUF_LEN, match)
		TH_LOG("the device read %zu of %zu bytes as written (%zu zero, %zu stale)",
		       match, BUF_LEN, zero, stale);
	EXPECT_EQ(0, memcmp(self->dst, self->buf, BUF_LEN))
		TH_LOG("%zu of %zu bytes equal the mapping", same, BUF_LEN);
	if (file) {
		EXPECT_EQ(BUF_LEN, on_disk)
			TH_LOG("a private mapping changed the file: %zu of %zu bytes left",
			       on_disk, BUF_LEN);
	}
}

TEST_F_TIMEOUT(ro_mr, filled_before, RO_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	ro_device_reads(_metadata, self, variant, true);
}

TEST_F_TIMEOUT(ro_mr, filled_after, RO_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	ro_device_reads(_metadata, self, variant, false);
}

FIXTURE(ro_rereg) {
	struct vt_ctx ctx;
	void *buf, *dst;
	struct ibv_mr *mr, *dst_mr;
};

FIXTURE_SETUP(ro_rereg)
{
	self->buf = vt_alloc(REREG_LEN, 0);
	ASSERT_NE(NULL, self->buf) TH_LOG("mmap: %s", strerror(errno));
	self->dst = vt_alloc(REREG_LEN, 0);
	ASSERT_NE(NULL, self->dst) TH_LOG("mmap: %s", strerror(errno));
	vt_fill(self->buf, REREG_LEN, SEED_BUF);
	vt_fill(self->dst, REREG_LEN, SEED_DST);

	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->mr = ibv_reg_mr(self->ctx.pd, self->buf, REREG_LEN,
			      IBV_ACCESS_REMOTE_READ);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register read-only MR: %s", strerror(errno));
	self->dst_mr = ibv_reg_mr(self->ctx.pd, self->dst, REREG_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->dst_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(ro_rereg)
{
	EXPECT_EQ(0, vt_dereg_mr(self->mr));
	EXPECT_EQ(0, vt_dereg_mr(self->dst_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->buf, REREG_LEN);
	vt_free(self->dst, REREG_LEN);
}

/* The MR still serves an RDMA READ of the buffer's bytes */
static void ro_rereg_read_back(struct __test_metadata *_metadata,
			       FIXTURE_DATA(ro_rereg) *self)
{
	vt_fill(self->dst, REREG_LEN, SEED_DST);
	ASSERT_EQ(0, vt_rdma_read(&self->ctx, self->mr, self->dst_mr,
				  REREG_LEN));
	EXPECT_EQ(REREG_LEN, vt_count(self->dst, REREG_LEN, SEED_BUF));
}

/*
 * Write access on pages pinned for reading would let the device write pages
 * the process may not own: a new access alone must be refused.  rxe in 6.1
 * has no rereg_user_mr (EOPNOTSUPP); a core check would say EACCES.
 */
TEST_F_TIMEOUT(ro_rereg, change_access_refused, RO_TIMEOUT)
{
	int ret, err;

	ret = ibv_rereg_mr(self->mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
			   VT_MR_ACCESS);
	err = ret ? errno : 0;
	printf("# rereg_flags=access ret=%d errno=%d\n", ret, err);
	fflush(stdout);
	EXPECT_NE(0, ret) TH_LOG("a remote-read MR became writable in place");
	if (ret) {
		EXPECT_TRUE(err == EOPNOTSUPP || err == EACCES)
			TH_LOG("errno %d (%s)", err, strerror(err));
	}
	ro_rereg_read_back(_metadata, self);
}

/*
 * With a new translation the pages are pinned again, for writing: that may
 * work.  rxe in 6.1 cannot; only the errno is recorded.
 */
TEST_F_TIMEOUT(ro_rereg, change_translation_and_access, RO_TIMEOUT)
{
	int ret, err;

	ret = ibv_rereg_mr(self->mr, IBV_REREG_MR_CHANGE_TRANSLATION |
			   IBV_REREG_MR_CHANGE_ACCESS, NULL, self->buf,
			   REREG_LEN, VT_MR_ACCESS);
	err = ret ? errno : 0;
	printf("# rereg_flags=translation|access ret=%d errno=%d\n", ret,
	       err);
	fflush(stdout);
	/* Refused or done, the MR is defined; other failures may leave it not */
	if (!ret || err == EOPNOTSUPP || err == EACCES)
		ro_rereg_read_back(_metadata, self);
	else
		TH_LOG("errno %d (%s): the MR is not used again", err,
		       strerror(err));
}

/*
 * A read-only MR over anonymous memory registered with userfaultfd (missing
 * mode), none of it populated: registration faults every page in, and the
 * faults must wait for the handler, as a CPU access would, not fail.  A
 * review found the first version of the read-only pin path pinning under
 * mmap_lock without FAULT_FLAG_ALLOW_RETRY, where a userfault is SIGBUS.
 */
#define UFFD_LEN	((size_t)64 << 10)

struct ro_uffd_handler {
	int uffd;
	char *base;
	long resolved;
};

static void ro_uffd_free_src(void *src)
{
	vt_free(src, UFFD_LEN);
}

static void *ro_uffd_serve(void *arg)
{
	struct ro_uffd_handler *h = arg;
	long page = sysconf(_SC_PAGESIZE);
	struct uffd_msg msg;
	char *src;

	src = vt_alloc(UFFD_LEN, 0);
	if (!src)
		return NULL;
	vt_fill(src, UFFD_LEN, SEED_BUF);
	pthread_cleanup_push(ro_uffd_free_src, src);
	while (read(h->uffd, &msg, sizeof(msg)) == sizeof(msg)) {
		unsigned long off;
		struct uffdio_copy copy;

		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		off = (msg.arg.pagefault.address - (unsigned long)h->base) &
		      ~(page - 1);
		copy = (struct uffdio_copy) {
			.dst	= (unsigned long)h->base + off,
			.src	= (unsigned long)src + off,
			.len	= page,
		};
		if (ioctl(h->uffd, UFFDIO_COPY, &copy) == 0)
			h->resolved++;
	}
	pthread_cleanup_pop(1);
	return NULL;
}

FIXTURE(ro_uffd) {
	struct vt_ctx ctx;
};

FIXTURE_SETUP(ro_uffd)
{
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
}

FIXTURE_TEARDOWN(ro_uffd)
{
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
}

TEST_F_TIMEOUT(ro_uffd, missing_faults, RO_TIMEOUT)
{
	struct ro_uffd_handler h = { .uffd = -1 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct ibv_mr *mr, *dst_mr;
	pthread_t thread;
	size_t match;
	char *dst;

	/* Upstream's GUP lets a long-term pin retry through the fault by 6.12 */
	if (vt_kernel_older_than(6, 12))
		VT_TODO_WITHOUT_PIN_RECORDS("a long-term pin cannot wait for userfaultfd");
	h.uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (h.uffd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(h.uffd, UFFDIO_API, &api));
	h.base = vt_alloc(UFFD_LEN, 0);
	ASSERT_NE(NULL, h.base);
	reg = (struct uffdio_register) {
		.range = { .start = (unsigned long)h.base, .len = UFFD_LEN },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	ASSERT_EQ(0, ioctl(h.uffd, UFFDIO_REGISTER, &reg))
		TH_LOG("UFFDIO_REGISTER: %s", strerror(errno));
	ASSERT_EQ(0, pthread_create(&thread, NULL, ro_uffd_serve, &h));

	mr = ibv_reg_mr(self->ctx.pd, h.base, UFFD_LEN, IBV_ACCESS_REMOTE_READ);
	EXPECT_NE(NULL, mr)
		TH_LOG("Couldn't register read-only MR over userfaultfd memory: %s",
		       strerror(errno));
	dst = vt_alloc(UFFD_LEN, 0);
	ASSERT_NE(NULL, dst);
	dst_mr = ibv_reg_mr(self->ctx.pd, dst, UFFD_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, dst_mr);
	match = 0;
	if (mr && vt_rdma_read(&self->ctx, mr, dst_mr, UFFD_LEN) == 0)
		match = vt_count(dst, UFFD_LEN, SEED_BUF);
	printf("# mem=userfaultfd access=remote_read resolved=%ld match=%zu/%zu\n",
	       h.resolved, match, UFFD_LEN);
	EXPECT_EQ(UFFD_LEN, match);
	EXPECT_EQ(0, memcmp(h.base, dst, UFFD_LEN))
		TH_LOG("the device read other bytes than the process sees");

	EXPECT_EQ(0, vt_dereg_mr(dst_mr));
	EXPECT_EQ(0, vt_dereg_mr(mr));
	/*
	 * close() does not end a read() another thread is blocked in (the
	 * read holds the file): the test hung there until its timeout
	 * whenever the handler was back in read().  read() is a cancellation
	 * point.
	 */
	pthread_cancel(thread);
	pthread_join(thread, NULL);
	close(h.uffd);
	vt_free(dst, UFFD_LEN);
	vt_free(h.base, UFFD_LEN);
}

VT_HARNESS_MAIN
