// SPDX-License-Identifier: GPL-2.0
/*
 * Faults.  Allocation failures (failslab and fail_page_alloc,
 * CONFIG_FAULT_INJECTION) injected into ibv_reg_mr() and ibv_dereg_mr(),
 * that is into ib_umem_get(), vaddr_pin_pages() and everything around them,
 * of anonymous and ext4 file MRs:
 *
 *   reg_nth     /proc/thread-self/fail-nth makes the n-th fault point of
 *               the registration fail, for n = 1, 2, ... until one
 *               registration passes every point without a failure;
 *   dereg_nth   the same for the deregistration;
 *   reg_random  /proc/thread-self/make-it-fail with task-filter=Y and
 *               probability $VT_FAULT_PROB (10) %, around registration and
 *               deregistration, for $VT_FAULT_SECS (2) s.
 *
 * A registration must either work or fail with ENOMEM or EFAULT; a failed
 * deregistration must fail with ENOMEM and work when tried again.  Either
 * way, after each try no MR is left on the PD (it deallocates), the FOLL_PIN
 * and long-term file pins are back where they were, /proc/self/file_pins is
 * empty, and at the end no file descriptor is left and the kernel log
 * gained no splat.  The 'times' counters of both fault types count the
 * faults injected.
 *
 * writeback.fsync_eio: an I/O error under the writeback of a write-pinned
 * file page.  ext4 on a device-mapper device over a loop device; a file
 * registered as a writable MR, synced, RDMA-written; then the table maps the
 * file's blocks to the "error" target, and fsync() must return EIO (the
 * stock kernel does not write the page at all and returns 0).  The MR goes,
 * the table comes back, and fsync() then writes the device's data.
 *
 * Each test prints "# test=<name> injected=N ...".
 */
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <stdarg.h>
#include <time.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "vt_harness.h"

#define FAULT_DEBUGFS	"/sys/kernel/debug"
#define WARM_LEN	(((size_t)2 << 20) + (16 << 10))	/* two pin batches */
#define COLD_LEN	((size_t)64 << 10)
#define NTH_MAX		4000		/* fault points tried at most */
#define NTH_SECS	60		/* and for at most this long */
#define FAULT_TIMEOUT	150		/* harness timeout of one test, s */
#define FAULT_PROB	10
#define FAULT_SECS	2
#define TIMES_BIG	"1000000"	/* 'times': counts down as faults fire */
#define REPORT_LEN	4096
#define ACCESS_RW	VT_MR_ACCESS

/* One result line; the harness ends a test with _exit(), so flush it */
#define fault_print(fmt, ...) do {					\
	printf("# " fmt "\n", ##__VA_ARGS__);				\
	fflush(stdout);							\
} while (0)

/*
 * The fault attributes a test sets, and to what; {} marks the probability,
 * which depends on the mode.  Each is saved first and restored in teardown.
 */
struct fault_knob {
	const char	*dir;
	const char	*name;
	const char	*val;		/* NULL: the mode's probability */
};

static const struct fault_knob fault_knobs[] = {
	{ "failslab", "probability", NULL },
	{ "failslab", "interval", "1" },
	{ "failslab", "times", TIMES_BIG },
	{ "failslab", "space", "0" },
	{ "failslab", "verbose", NULL },
	{ "failslab", "task-filter", "Y" },
	{ "failslab", "ignore-gfp-wait", "N" },
	{ "failslab", "cache-filter", "N" },
	{ "fail_page_alloc", "probability", NULL },
	{ "fail_page_alloc", "interval", "1" },
	{ "fail_page_alloc", "times", TIMES_BIG },
	{ "fail_page_alloc", "space", "0" },
	{ "fail_page_alloc", "verbose", NULL },
	{ "fail_page_alloc", "task-filter", "Y" },
	{ "fail_page_alloc", "ignore-gfp-wait", "N" },
	{ "fail_page_alloc", "ignore-gfp-highmem", "N" },
	{ "fail_page_alloc", "min-order", "0" },
};

#define N_KNOBS	(sizeof(fault_knobs) / sizeof(fault_knobs[0]))

static int fault_env(const char *name, int def)
{
	const char *s = getenv(name);

	return s && *s ? atoi(s) : def;
}

static double fault_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fault_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* 'times' of one fault type: counts down by one per fault injected */
static long fault_times(const char *dir)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), FAULT_DEBUGFS "/%s/times", dir);
	return fault_read(path, buf, sizeof(buf)) ? -1 : atol(buf);
}

/* Write a number to an open /proc/thread-self file */
static int fault_set(int fd, long val)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld", val);

	return pwrite(fd, buf, n, 0) == n ? 0 : -1;
}

static long fault_get(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atol(buf);
}

static int fault_count_fds(void)
{
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

static const char *errname(int err)
{
	const char *name = err ? strerrorname_np(err) : "0";

	return name ? name : "E?";
}

FIXTURE(faults) {
	struct vt_ctx ctx;
	char path[PATH_MAX];
	char saved[N_KNOBS][32];
	bool have_saved, applied;
	int fd, nth_fd, fail_fd, kmsg, fds0;
	char *map;
	long held, lt_held;
	/* counts */
	unsigned long points, injected, slab, page;
	unsigned long ok, enomem, efault, other, leaks;
	int other_errno;
};

FIXTURE_VARIANT(faults) {
	const char *fs;		/* NULL: anonymous memory */
	const char *dir;
	size_t len;
	bool cold;		/* the file's pages are not in the page cache */
};

FIXTURE_VARIANT_ADD(faults, anon) { .len = WARM_LEN, };
FIXTURE_VARIANT_ADD(faults, ext4) {
	.fs = "ext4", .dir = "/mnt/ext4", .len = WARM_LEN,
};
FIXTURE_VARIANT_ADD(faults, ext4_cold) {
	.fs = "ext4", .dir = "/mnt/ext4", .len = COLD_LEN, .cold = true,
};

/* Map the range; warm: touched, cold: its pages dropped first */
static int faults_map(FIXTURE_DATA(faults) *self,
		      const FIXTURE_VARIANT(faults) *variant)
{
	size_t off;

	if (self->map)
		munmap(self->map, variant->len);
	self->map = NULL;
	if (variant->cold &&
	    (fdatasync(self->fd) ||
	     posix_fadvise(self->fd, 0, 0, POSIX_FADV_DONTNEED)))
		return -1;
	self->map = mmap(NULL, variant->len, PROT_READ | PROT_WRITE,
			 variant->fs ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS,
			 self->fd, 0);
	if (self->map == MAP_FAILED) {
		self->map = NULL;
		return -1;
	}
	if (!variant->cold)
		for (off = 0; off < variant->len; off += 4096)
			self->map[off] = 1;
	return 0;
}

FIXTURE_SETUP(faults)
{
	char path[128];
	long acquired, released;
	size_t i;

	self->fd = self->nth_fd = self->fail_fd = -1;
	self->kmsg = vt_kmsg_open();
	if (access(FAULT_DEBUGFS "/failslab/times", W_OK) ||
	    access(FAULT_DEBUGFS "/fail_page_alloc/times", W_OK))
		SKIP(return, "no failslab or fail_page_alloc in debugfs (CONFIG_FAULT_INJECTION_DEBUG_FS)");
	if (variant->fs && !vt_fs_is(variant->dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", variant->dir, variant->fs);
	for (i = 0; i < N_KNOBS; i++) {
		snprintf(path, sizeof(path), FAULT_DEBUGFS "/%s/%s",
			 fault_knobs[i].dir, fault_knobs[i].name);
		ASSERT_EQ(0, fault_read(path, self->saved[i],
					sizeof(self->saved[i])))
			TH_LOG("read %s: %s", path, strerror(errno));
	}
	self->have_saved = true;
	self->nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	ASSERT_LE(0, self->nth_fd) TH_LOG("fail-nth: %s", strerror(errno));
	self->fail_fd = open("/proc/thread-self/make-it-fail", O_RDWR);
	ASSERT_LE(0, self->fail_fd) TH_LOG("make-it-fail: %s", strerror(errno));

	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	if (variant->fs) {
		self->fd = vt_make_file(variant->dir, variant->len, 0, self->path);
		ASSERT_LE(0, self->fd);
	}
	ASSERT_EQ(0, faults_map(self, variant)) TH_LOG("map: %s", strerror(errno));
	/* Once without faults: warms the paths that allocate only once */
	{
		struct ibv_mr *mr = ibv_reg_mr(self->ctx.pd, self->map,
					       variant->len, ACCESS_RW);

		ASSERT_NE(NULL, mr) TH_LOG("Couldn't register MR: %s",
					   strerror(errno));
		ASSERT_EQ(0, ibv_dereg_mr(mr));
	}
	ASSERT_EQ(0, vt_pins(&acquired, &released));
	self->held = acquired - released;
	self->lt_held = vt_lt_pins(&acquired, &released) ? 0 :
			acquired - released;
	self->fds0 = fault_count_fds();
}

FIXTURE_TEARDOWN(faults)
{
	char path[128], report[REPORT_LEN];
	size_t i;
	int n;

	if (self->nth_fd >= 0)
		fault_set(self->nth_fd, 0);
	if (self->fail_fd >= 0)
		fault_set(self->fail_fd, 0);
	/* Restore the attributes; the probabilities first */
	for (i = 0; self->have_saved && i < N_KNOBS; i++) {
		snprintf(path, sizeof(path), FAULT_DEBUGFS "/%s/%s",
			 fault_knobs[i].dir, fault_knobs[i].name);
		EXPECT_EQ(0, vt_write_knob(path, self->saved[i]))
			TH_LOG("restore %s: %s", path, strerror(errno));
	}
	if (self->fds0 > 0)
		EXPECT_EQ(self->fds0, fault_count_fds())
			TH_LOG("file descriptors left behind");
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	EXPECT_EQ(0, vt_pins_settle(0, 0, 0))
		TH_LOG("long-term file pins left after the last MR is gone");
	if (self->map)
		munmap(self->map, variant->len);
	if (self->nth_fd >= 0)
		close(self->nth_fd);
	if (self->fail_fd >= 0)
		close(self->fail_fd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
	n = vt_kmsg_splats(self->kmsg, report, sizeof(report));
	EXPECT_EQ(0, n) TH_LOG("kernel splat under fault injection:\n%s", report);
	if (self->kmsg >= 0)
		close(self->kmsg);
}

/* Set the attributes for a run; @prob is the probability in percent */
static void faults_apply(struct __test_metadata *_metadata,
			 FIXTURE_DATA(faults) *self, int prob)
{
	char path[128], val[16], verbose[16];
	size_t i;

	snprintf(val, sizeof(val), "%d", prob);
	snprintf(verbose, sizeof(verbose), "%d",
		 fault_env("VT_FAULT_VERBOSE", 0));
	self->applied = true;
	/* probability last, once the filters are in place */
	for (i = N_KNOBS; i-- > 0;) {
		snprintf(path, sizeof(path), FAULT_DEBUGFS "/%s/%s",
			 fault_knobs[i].dir, fault_knobs[i].name);
		ASSERT_EQ(0, vt_write_knob(path, fault_knobs[i].val ?:
					 !strcmp(fault_knobs[i].name, "verbose") ?
					 verbose : val))
			TH_LOG("write %s: %s", path, strerror(errno));
	}
}

/* Account for an outcome of ibv_reg_mr() (err 0: it worked) */
static void faults_outcome(FIXTURE_DATA(faults) *self, int err)
{
	switch (err) {
	case 0:
		self->ok++;
		break;
	case ENOMEM:
		self->enomem++;
		break;
	case EFAULT:
		self->efault++;
		break;
	default:
		self->other++;
		if (!self->other_errno)
			self->other_errno = err;
	}
}

/*
 * After one try: deallocating the PD proves no MR is left on it, and the
 * pins and records are back.  Return 0, or -1 (and count a leak).
 */
static int faults_check(struct __test_metadata *_metadata,
			FIXTURE_DATA(faults) *self, struct ibv_pd *pd,
			unsigned long n)
{
	char pins[256] = "";
	int left, fd, ret = 0;
	ssize_t len = 0;

	if (ibv_dealloc_pd(pd)) {
		TH_LOG("point %lu: PD busy, an MR is left behind", n);
		ret = -1;
	}
	left = vt_pins_settle(self->held, self->lt_held, 0);
	if (left) {
		TH_LOG("point %lu: %d pins left", n, left);
		ret = -1;
	}
	fd = open("/proc/self/file_pins", O_RDONLY);
	if (fd >= 0) {
		len = read(fd, pins, sizeof(pins) - 1);
		close(fd);
	}
	if (len > 0) {
		TH_LOG("point %lu: records left: %s", n, pins);
		ret = -1;
	}
	if (ret)
		self->leaks++;
	return ret;
}

/* Both 'times' counters, before a try */
struct fault_snap {
	long slab, page;
};

static void fault_snap_take(struct fault_snap *s)
{
	s->slab = fault_times("failslab");
	s->page = fault_times("fail_page_alloc");
}

/* One try more, and the faults injected since @s */
static void faults_count(FIXTURE_DATA(faults) *self, const struct fault_snap *s)
{
	long slab = s->slab - fault_times("failslab");
	long page = s->page - fault_times("fail_page_alloc");

	self->slab += slab;
	self->page += page;
	self->injected += slab + page;
	self->points++;
}

/*
 * After a try under fail-nth: disarm it, count the try and its outcome;
 * returns what fail-nth had left (> 0: the try went past the last point).
 */
static long faults_nth_done(FIXTURE_DATA(faults) *self,
			    const struct fault_snap *s, int err)
{
	long left = fault_get(self->nth_fd);

	fault_set(self->nth_fd, 0);
	faults_count(self, s);
	faults_outcome(self, err);
	return left;
}

static void faults_report(struct __test_metadata *_metadata,
			  FIXTURE_DATA(faults) *self,
			  const FIXTURE_VARIANT(faults) *variant,
			  const char *test, bool need_faults)
{
	fault_print("test=faults.%s.%s points=%lu injected=%lu failslab=%lu fail_page_alloc=%lu ok=%lu enomem=%lu efault=%lu other=%lu",
		    variant->fs ? (variant->cold ? "ext4_cold" : "ext4") : "anon",
		    test, self->points, self->injected, self->slab, self->page,
		    self->ok, self->enomem, self->efault, self->other);
	EXPECT_EQ(0UL, self->other)
		TH_LOG("%lu tries failed with another errno, first %s",
		       self->other, errname(self->other_errno));
	EXPECT_EQ(0UL, self->leaks);
	if (need_faults)
		EXPECT_LT(0UL, self->injected) TH_LOG("no fault was injected");
}

/* fail-nth = 1, 2, ... on ibv_reg_mr(), until a registration sees none */
TEST_F_TIMEOUT(faults, reg_nth, FAULT_TIMEOUT)
{
	double end = fault_now() + NTH_SECS;
	struct fault_snap snap;
	long left;
	struct ibv_mr *mr;
	struct ibv_pd *pd;
	unsigned long n;
	int err;

	VT_RETURN_IF_SKIPPED();
	faults_apply(_metadata, self, 0);
	for (n = 1; n <= NTH_MAX && fault_now() < end; n++) {
		if (variant->cold)
			ASSERT_EQ(0, faults_map(self, variant));
		pd = ibv_alloc_pd(self->ctx.context);
		ASSERT_NE(NULL, pd) TH_LOG("Couldn't allocate PD");
		fault_snap_take(&snap);
		ASSERT_EQ(0, fault_set(self->nth_fd, n));
		mr = ibv_reg_mr(pd, self->map, variant->len, ACCESS_RW);
		err = mr ? 0 : errno;
		left = faults_nth_done(self, &snap, err);
		if (mr)
			EXPECT_EQ(0, ibv_dereg_mr(mr));
		if (faults_check(_metadata, self, pd, n))
			break;
		if (left > 0)	/* n is past the last fault point */
			break;
	}
	EXPECT_TRUE(n <= NTH_MAX && fault_now() < end)
		TH_LOG("more than %lu fault points or %d s", n - 1, NTH_SECS);
	faults_report(_metadata, self, variant, "reg_nth", true);
}

/* fail-nth = 1, 2, ... on ibv_dereg_mr(); a failed one must work again */
TEST_F_TIMEOUT(faults, dereg_nth, FAULT_TIMEOUT)
{
	double end = fault_now() + NTH_SECS;
	struct fault_snap snap;
	long left;
	struct ibv_mr *mr;
	struct ibv_pd *pd;
	unsigned long n;
	int err;

	VT_RETURN_IF_SKIPPED();
	faults_apply(_metadata, self, 0);
	for (n = 1; n <= NTH_MAX && fault_now() < end; n++) {
		pd = ibv_alloc_pd(self->ctx.context);
		ASSERT_NE(NULL, pd) TH_LOG("Couldn't allocate PD");
		mr = ibv_reg_mr(pd, self->map, variant->len, ACCESS_RW);
		ASSERT_NE(NULL, mr) TH_LOG("Couldn't register MR: %s",
					   strerror(errno));
		fault_snap_take(&snap);
		ASSERT_EQ(0, fault_set(self->nth_fd, n));
		err = ibv_dereg_mr(mr);
		left = faults_nth_done(self, &snap, err);
		if (err)
			EXPECT_EQ(0, ibv_dereg_mr(mr))
				TH_LOG("point %lu: dereg failed with %s, then again",
				       n, errname(err));
		if (faults_check(_metadata, self, pd, n))
			break;
		if (left > 0)
			break;
	}
	EXPECT_TRUE(n <= NTH_MAX && fault_now() < end)
		TH_LOG("more than %lu fault points or %d s", n - 1, NTH_SECS);
	/*
	 * Measured on 6.1: deregistration has no fault point at all (the
	 * write() path keeps its bundle on the stack, and release frees);
	 * the sweep then proves that one try without faults works.
	 */
	faults_report(_metadata, self, variant, "dereg_nth", false);
}

/* make-it-fail with a probability, around registration and deregistration */
TEST_F_TIMEOUT(faults, reg_random, FAULT_TIMEOUT)
{
	double end = fault_now() + fault_env("VT_FAULT_SECS", FAULT_SECS);
	struct fault_snap snap;
	struct ibv_mr *mr;
	struct ibv_pd *pd;
	int err;

	VT_RETURN_IF_SKIPPED();
	faults_apply(_metadata, self, fault_env("VT_FAULT_PROB", FAULT_PROB));
	while (fault_now() < end) {
		if (variant->cold)
			ASSERT_EQ(0, faults_map(self, variant));
		pd = ibv_alloc_pd(self->ctx.context);
		ASSERT_NE(NULL, pd) TH_LOG("Couldn't allocate PD");
		fault_snap_take(&snap);
		ASSERT_EQ(0, fault_set(self->fail_fd, 1));
		mr = ibv_reg_mr(pd, self->map, variant->len, ACCESS_RW);
		err = mr ? 0 : errno;
		fault_set(self->fail_fd, 0);
		faults_outcome(self, err);
		if (mr) {
			fault_set(self->fail_fd, 1);
			err = ibv_dereg_mr(mr);
			fault_set(self->fail_fd, 0);
			if (err)
				EXPECT_EQ(0, ibv_dereg_mr(mr))
					TH_LOG("dereg failed with %s, then again",
					       errname(err));
		}
		faults_count(self, &snap);
		if (faults_check(_metadata, self, pd, self->points))
			break;
	}
	faults_report(_metadata, self, variant, "reg_random", true);
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
	EXPECT_EQ(0, vt_pins_settle(0, 0, 0))
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

TEST_F_TIMEOUT(writeback, fsync_eio, FAULT_TIMEOUT)
{
	char table[2048], cmd[PATH_MAX + 64];
	int fd, ret, err, ret2, err2, segs;
	FILE *p;

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
	fault_print("test=writeback.fsync_eio injected=%d fsync=%s fsync_again=%s",
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
