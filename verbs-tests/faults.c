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
 * Each test prints "# test=<name> injected=N ..."; writeback_eio.c has
 * the I/O error under the writeback of a pinned page.
 */
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <stdarg.h>
#include <time.h>
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
	EXPECT_EQ(0, vt_pins_settle(vt_pins_held_now(), 0, 0))
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

VT_HARNESS_MAIN
