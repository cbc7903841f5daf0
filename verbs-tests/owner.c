// SPDX-License-Identifier: GPL-2.0
/*
 * Owners of long-term file pins: every page cache page an MR pins is listed
 * in /proc/<pid>/file_pins against the uverbs file the MR came through, and
 * counted in /proc/vmstat (longterm_file_pin_acquired / _released), until the
 * MR goes: by deregistration, or by the death of the process.  Anonymous MRs
 * are not listed.  A fork after registration and a munmap() of a registered
 * range must not lose the pins, the records or the data.
 *
 * The stock kernel has neither the listing nor the counters: the tests that
 * are about them fail there, while fork_after_reg and munmap_registered check
 * the listing only where it exists, so their pin balance counts on both.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include "vt_harness.h"

#define FILE_LEN	((size_t)1 << 20)
#define SEED_FILE	1
#define SEED_NEW	2
#define SEED_CHILD	3
#define PINS_BUF	4096
#define LINE_LEN	(2 * PATH_MAX + 128)
#define CHILD_MS	30000	/* for the child to register its MRs */
#define RELEASE_MS	10000	/* for the exit of a killed child to unpin */

/* Read /proc/<pid>/file_pins (@pid 0: self); its number of lines, or -1 */
static int owner_read_pins(pid_t pid, char *buf, size_t len)
{
	char name[64];
	size_t done = 0;
	ssize_t ret;
	int fd, lines = 0;

	buf[0] = '\0';
	if (pid)
		snprintf(name, sizeof(name), "/proc/%d/file_pins", pid);
	else
		snprintf(name, sizeof(name), "/proc/self/file_pins");
	fd = open(name, O_RDONLY);
	if (fd < 0)
		return -1;
	while (done < len - 1 &&
	       (ret = read(fd, buf + done, len - 1 - done)) > 0)
		done += ret;
	close(fd);
	buf[done] = '\0';
	for (; *buf; buf++)
		lines += *buf == '\n';
	return lines;
}

/* longterm_file_pin_{acquired,released} from /proc/vmstat, or -1 */
static int owner_file_pins(long *acquired, long *released)
{
	*acquired = vt_vmstat("longterm_file_pin_acquired");
	*released = vt_vmstat("longterm_file_pin_released");
	if (*acquired < 0 || *released < 0) {
		fprintf(stderr, "No longterm_file_pin_* counters in /proc/vmstat\n");
		return -1;
	}
	return 0;
}

/*
 * The kill9 child: a context of its own, a writable MR over @map and one
 * over anonymous memory, then one byte on @ready_fd (1: registered) and a
 * wait for SIGKILL.
 */
static void __attribute__((noreturn)) owner_pinner(void *map, int ready_fd)
{
	struct vt_ctx ctx = {};
	char ok = 0;
	void *anon;

	anon = vt_alloc(FILE_LEN, 0);
	if (!anon)
		perror("mmap");
	else if (!vt_init_ctx(&ctx) &&
		 ibv_reg_mr(ctx.pd, map, FILE_LEN, VT_MR_ACCESS) &&
		 ibv_reg_mr(ctx.pd, anon, FILE_LEN, VT_MR_ACCESS))
		ok = 1;
	else if (ctx.context)
		fprintf(stderr, "Couldn't register MR: %s\n", strerror(errno));
	if (write(ready_fd, &ok, 1) != 1 || !ok)
		_exit(1);
	for (;;)
		pause();
}

/*
 * Wait up to RELEASE_MS for FOLL_PIN pins and, where counted, long-term file
 * pins to balance.  Return whether long-term file pins are counted.
 */
static bool owner_wait_released(void)
{
	long acquired = 0, released = 0, lt_acquired = 0, lt_released = 0;
	bool counted = !owner_file_pins(&lt_acquired, &lt_released);
	int ms;

	for (ms = 0; ms < RELEASE_MS; ms += 10) {
		if (vt_pins(&acquired, &released))
			break;
		if (counted && owner_file_pins(&lt_acquired, &lt_released))
			break;
		if (acquired - released <= vt_pins_held_before &&
		    lt_acquired == lt_released)
			break;
		usleep(10000);
	}
	return counted;
}

FIXTURE(owner) {
	struct vt_ctx ctx;
	char path[PATH_MAX];
	char uverbs[PATH_MAX];
	long pages;
	int fd, ro_fd;
	int ready[2];
	pid_t child;
	void *map, *ro_map, *src, *buf;
	struct ibv_mr *map_mr, *ro_mr, *src_mr;
};

FIXTURE_VARIANT(owner) {
	const char *fs;
	const char *dir;
};

FIXTURE_VARIANT_ADD(owner, ext4) { .fs = "ext4", .dir = "/mnt/ext4", };
FIXTURE_VARIANT_ADD(owner, tmpfs) { .fs = "tmpfs", .dir = "/tmp", };

FIXTURE_SETUP(owner)
{
	char link[64];
	ssize_t len;

	self->fd = self->ro_fd = -1;
	self->ready[0] = self->ready[1] = -1;
	if (!vt_fs_is(variant->dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", variant->dir, variant->fs);
	self->pages = FILE_LEN / getpagesize();
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));

	/* The owner of the pins: the uverbs file behind the context */
	snprintf(link, sizeof(link), "/proc/self/fd/%d",
		 self->ctx.context->cmd_fd);
	len = readlink(link, self->uverbs, sizeof(self->uverbs) - 1);
	ASSERT_LT(0, len) TH_LOG("readlink %s: %s", link, strerror(errno));
	self->uverbs[len] = '\0';

	self->fd = vt_make_file(variant->dir, FILE_LEN, SEED_FILE, self->path);
	ASSERT_LE(0, self->fd);
	self->map = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));

	self->src = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, self->src);
	vt_fill(self->src, FILE_LEN, SEED_NEW);
	self->buf = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(owner)
{
	char pins[PINS_BUF];

	if (self->child > 0) {
		kill(self->child, SIGKILL);
		EXPECT_EQ(self->child, waitpid(self->child, NULL, 0));
	}
	EXPECT_EQ(0, vt_dereg_mr(self->map_mr));
	EXPECT_EQ(0, vt_dereg_mr(self->ro_mr));
	EXPECT_EQ(0, vt_dereg_mr(self->src_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	/* No records left; -1 is the stock kernel, which has no listing */
	EXPECT_GE(0, owner_read_pins(0, pins, sizeof(pins)))
		TH_LOG("records left after the last MR is gone:\n%s", pins);
	vt_free(self->map, FILE_LEN);
	vt_free(self->ro_map, FILE_LEN);
	vt_free(self->src, FILE_LEN);
	vt_free(self->buf, FILE_LEN);
	if (self->ready[0] >= 0)
		close(self->ready[0]);
	if (self->ready[1] >= 0)
		close(self->ready[1]);
	if (self->ro_fd >= 0)
		close(self->ro_fd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
}

/* The file_pins line of an MR over the whole file */
static void owner_line(FIXTURE_DATA(owner) *self, char *line,
		       const char *access)
{
	snprintf(line, LINE_LEN,
		 "owner=%s file=%s pgoff=0-%ld pages=%ld access=%s\n",
		 self->uverbs, self->path, self->pages - 1, self->pages,
		 access);
}

/*
 * Register the mapping of the file and the source buffer, both writable.
 * Return the FOLL_PIN pins held before, for owner_dereg_both().
 */
static long owner_reg_both(struct __test_metadata *_metadata,
			   FIXTURE_DATA(owner) *self)
{
	long acquired, released;

	ASSERT_EQ(0, vt_pins(&acquired, &released));
	self->map_mr = ibv_reg_mr(self->ctx.pd, self->map, FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->map_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	self->src_mr = ibv_reg_mr(self->ctx.pd, self->src, FILE_LEN,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->src_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	return acquired - released;
}

/*
 * Whether there is a /proc/self/file_pins; where there is, its one line
 * must be @line, that of the writable file MR.
 */
static bool owner_check_listed(struct __test_metadata *_metadata,
			       FIXTURE_DATA(owner) *self, char *line)
{
	char pins[PINS_BUF];

	owner_line(self, line, "rw");
	if (owner_read_pins(0, pins, sizeof(pins)) < 0) {
		TH_LOG("no /proc/self/file_pins: records not checked");
		return false;
	}
	EXPECT_STREQ(line, pins);
	return true;
}

/* Deregister both MRs: back to @base pins and, if @listed, no records */
static void owner_dereg_both(struct __test_metadata *_metadata,
			     FIXTURE_DATA(owner) *self, long base, bool listed)
{
	long acquired, released;
	char pins[PINS_BUF];

	ASSERT_EQ(0, ibv_dereg_mr(self->map_mr));
	self->map_mr = NULL;
	ASSERT_EQ(0, ibv_dereg_mr(self->src_mr));
	self->src_mr = NULL;
	EXPECT_EQ(0, vt_pins(&acquired, &released));
	EXPECT_EQ(base, acquired - released)
		TH_LOG("pins held after deregistration");
	if (listed)
		EXPECT_EQ(0, owner_read_pins(0, pins, sizeof(pins)))
			TH_LOG("records left after deregistration:\n%s", pins);
}

/*
 * Register FILE_LEN bytes at @addr with @access as *@mr: exactly one line is
 * listed, with access @rw, and longterm_file_pin_acquired grows by the
 * file's pages; after deregistration nothing is listed and _released has
 * caught up.
 */
static void owner_check_listing(struct __test_metadata *_metadata,
				FIXTURE_DATA(owner) *self, void *addr,
				int access, const char *rw,
				struct ibv_mr **mr)
{
	long acquired = 0, released = 0, acquired0 = 0, released0 = 0;
	char line[LINE_LEN], pins[PINS_BUF];

	EXPECT_EQ(0, owner_file_pins(&acquired0, &released0));
	*mr = ibv_reg_mr(self->ctx.pd, addr, FILE_LEN, access);
	ASSERT_NE(NULL, *mr)
		TH_LOG("Couldn't register %s MR: %s (errno %d)", rw,
		       strerror(errno), errno);

	owner_line(self, line, rw);
	EXPECT_EQ(1, owner_read_pins(0, pins, sizeof(pins)))
		TH_LOG("lines in /proc/self/file_pins (-1: no such file)");
	EXPECT_STREQ(line, pins);
	EXPECT_EQ(0, owner_file_pins(&acquired, &released));
	EXPECT_EQ(self->pages, acquired - acquired0)
		TH_LOG("longterm_file_pin_acquired after registration");
	EXPECT_EQ(0, released - released0)
		TH_LOG("longterm_file_pin_released after registration");

	ASSERT_EQ(0, ibv_dereg_mr(*mr));
	*mr = NULL;
	EXPECT_EQ(0, owner_read_pins(0, pins, sizeof(pins)))
		TH_LOG("records left after deregistration:\n%s", pins);
	EXPECT_EQ(0, owner_file_pins(&acquired, &released));
	EXPECT_EQ(self->pages, acquired - acquired0)
		TH_LOG("longterm_file_pin_acquired after deregistration");
	EXPECT_EQ(self->pages, released - released0)
		TH_LOG("longterm_file_pin_released after deregistration");
}

TEST_F(owner, listing)
{
	VT_TODO_WITHOUT_PIN_RECORDS("no /proc/<pid>/file_pins");
	VT_RETURN_IF_SKIPPED();
	owner_check_listing(_metadata, self, self->map, VT_MR_ACCESS, "rw",
			    &self->map_mr);
}

/* A read-only MR over an O_RDONLY, PROT_READ mapping is listed as ro */
TEST_F(owner, listing_ro)
{
	VT_TODO_WITHOUT_PIN_RECORDS("no file_pins, and the read-only MR is EFAULT");
	VT_RETURN_IF_SKIPPED();
	self->ro_fd = open(self->path, O_RDONLY);
	ASSERT_LE(0, self->ro_fd)
		TH_LOG("open %s: %s", self->path, strerror(errno));
	self->ro_map = mmap(NULL, FILE_LEN, PROT_READ, MAP_SHARED,
			    self->ro_fd, 0);
	ASSERT_NE(MAP_FAILED, self->ro_map) TH_LOG("mmap: %s", strerror(errno));
	owner_check_listing(_metadata, self, self->ro_map,
			    IBV_ACCESS_REMOTE_READ, "ro", &self->ro_mr);
}

/*
 * A process killed with MRs registered: its file range is listed while it
 * lives, and its exit (which releases the uverbs file) unpins everything.
 */
TEST_F_TIMEOUT(owner, kill9, 120)
{
	long acquired = 0, released = 0, base;
	long lt_acquired = 0, lt_released = 0, lt_acquired0 = 0;
	char line[LINE_LEN], pins[PINS_BUF];
	struct pollfd pfd;
	int status;
	char ok = 0;

	VT_TODO_WITHOUT_PIN_RECORDS("no /proc/<pid>/file_pins");
	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vt_pins(&acquired, &released));
	base = acquired - released;
	EXPECT_EQ(0, owner_file_pins(&lt_acquired0, &lt_released));

	ASSERT_EQ(0, pipe(self->ready)) TH_LOG("pipe: %s", strerror(errno));
	self->child = vt_fork_tied();
	ASSERT_LE(0, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child) {
		close(self->ready[0]);
		owner_pinner(self->map, self->ready[1]);
	}
	close(self->ready[1]);
	self->ready[1] = -1;

	pfd = (struct pollfd) { .fd = self->ready[0], .events = POLLIN };
	ASSERT_EQ(1, poll(&pfd, 1, CHILD_MS))
		TH_LOG("no word from the child in %d ms", CHILD_MS);
	ASSERT_EQ(1, read(self->ready[0], &ok, 1))
		TH_LOG("the child died before registering");
	ASSERT_EQ(1, ok) TH_LOG("the child could not register its MRs");

	/* Both MRs are pinned, only the file one is listed and counted */
	EXPECT_EQ(0, vt_pins(&acquired, &released));
	EXPECT_EQ(2 * self->pages, acquired - released - base)
		TH_LOG("pins held by the child's two MRs");
	owner_line(self, line, "rw");
	EXPECT_EQ(1, owner_read_pins(self->child, pins, sizeof(pins)))
		TH_LOG("lines in /proc/%d/file_pins (-1: no such file)",
		       self->child);
	EXPECT_STREQ(line, pins);
	EXPECT_EQ(0, owner_file_pins(&lt_acquired, &lt_released));
	EXPECT_EQ(self->pages, lt_acquired - lt_acquired0)
		TH_LOG("longterm_file_pin_acquired by the child");

	ASSERT_EQ(0, kill(self->child, SIGKILL));
	ASSERT_EQ(self->child, waitpid(self->child, &status, 0));
	self->child = 0;
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("child status %#x", status);

	EXPECT_TRUE(owner_wait_released())
		TH_LOG("no longterm_file_pin_* counters");
	EXPECT_EQ(0, vt_pins(&acquired, &released));
	EXPECT_LE(acquired - released, vt_pins_held_before)
		TH_LOG("FOLL_PIN pins left %d ms after the child died",
		       RELEASE_MS);
	EXPECT_EQ(0, owner_file_pins(&lt_acquired, &lt_released));
	EXPECT_EQ(lt_acquired, lt_released)
		TH_LOG("long-term file pins left %d ms after the child died",
		       RELEASE_MS);
}

/*
 * A child forked after registration writes the shared mapping and exits:
 * it does not own the parent's pins, and the parent's MR still reaches the
 * file's pages.
 */
TEST_F_TIMEOUT(owner, fork_after_reg, 120)
{
	char line[LINE_LEN], pins[PINS_BUF];
	long base;
	bool listed;
	int status;

	VT_RETURN_IF_SKIPPED();
	base = owner_reg_both(_metadata, self);

	self->child = vt_fork_tied();
	ASSERT_LE(0, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child) {
		int n;

		vt_fill(self->map, FILE_LEN, SEED_CHILD);
		/* Exit status: the child's own records, 0 without a listing */
		n = owner_read_pins(0, pins, sizeof(pins));
		_exit(n < 0 ? 0 : n > 100 ? 100 : n);
	}
	ASSERT_EQ(self->child, waitpid(self->child, &status, 0));
	self->child = 0;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("the child lists %d records of its parent's pins",
		       WEXITSTATUS(status));
	EXPECT_EQ(FILE_LEN, vt_count(self->map, FILE_LEN, SEED_CHILD))
		TH_LOG("the child's write is not in the shared mapping");

	listed = owner_check_listed(_metadata, self, line);

	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->map_mr,
				   FILE_LEN));
	EXPECT_EQ(FILE_LEN, vt_count(self->map, FILE_LEN, SEED_NEW))
		TH_LOG("the RDMA WRITE is not in the mapping");
	ASSERT_EQ(0, vt_read_file(self->fd, self->buf, FILE_LEN));
	EXPECT_EQ(FILE_LEN, vt_count(self->buf, FILE_LEN, SEED_NEW))
		TH_LOG("the RDMA WRITE is not in the file");

	owner_dereg_both(_metadata, self, base, listed);
}

/*
 * munmap() of a registered range: the pins keep the pages, so an RDMA WRITE
 * still completes into the file's pages, and the range stays listed until
 * deregistration.
 */
TEST_F_TIMEOUT(owner, munmap_registered, 120)
{
	char line[LINE_LEN], pins[PINS_BUF];
	long base;
	bool listed;

	VT_RETURN_IF_SKIPPED();
	base = owner_reg_both(_metadata, self);

	ASSERT_EQ(0, munmap(self->map, FILE_LEN))
		TH_LOG("munmap: %s", strerror(errno));
	self->map = NULL;

	listed = owner_check_listed(_metadata, self, line);

	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->map_mr,
				   FILE_LEN));
	ASSERT_EQ(0, vt_read_file(self->fd, self->buf, FILE_LEN));
	EXPECT_EQ(FILE_LEN, vt_count(self->buf, FILE_LEN, SEED_NEW))
		TH_LOG("the RDMA WRITE is not in the file");
	if (listed) {
		EXPECT_EQ(1, owner_read_pins(0, pins, sizeof(pins)));
		EXPECT_STREQ(line, pins);
	}

	owner_dereg_both(_metadata, self, base, listed);
}

/* Anonymous MRs are neither listed nor counted as long-term file pins */
FIXTURE(owner_anon) {
	struct vt_ctx ctx;
	void *buf;
	struct ibv_mr *mr;
};

FIXTURE_SETUP(owner_anon)
{
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->buf = vt_alloc(FILE_LEN, 0);
	ASSERT_NE(NULL, self->buf) TH_LOG("mmap: %s", strerror(errno));
	vt_fill(self->buf, FILE_LEN, SEED_NEW);
}

FIXTURE_TEARDOWN(owner_anon)
{
	EXPECT_EQ(0, vt_dereg_mr(self->mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->buf, FILE_LEN);
}

TEST_F(owner_anon, anon_not_listed)
{
	long acquired = 0, released = 0, acquired0 = 0, released0 = 0;
	long pages = FILE_LEN / getpagesize();
	long pins_acquired, pins_released, base;
	char pins[PINS_BUF];

	VT_TODO_WITHOUT_PIN_RECORDS("no /proc/<pid>/file_pins");
	ASSERT_EQ(0, vt_pins(&pins_acquired, &pins_released));
	base = pins_acquired - pins_released;
	EXPECT_EQ(0, owner_file_pins(&acquired0, &released0));
	self->mr = ibv_reg_mr(self->ctx.pd, self->buf, FILE_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, self->mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));

	EXPECT_EQ(0, vt_pins(&pins_acquired, &pins_released));
	EXPECT_EQ(pages, pins_acquired - pins_released - base)
		TH_LOG("pins held while registered");
	EXPECT_EQ(0, owner_read_pins(0, pins, sizeof(pins)))
		TH_LOG("/proc/self/file_pins (-1: no such file):\n%s", pins);
	EXPECT_EQ(0, owner_file_pins(&acquired, &released));
	EXPECT_EQ(acquired0, acquired);
	EXPECT_EQ(released0, released);

	ASSERT_EQ(0, ibv_dereg_mr(self->mr));
	self->mr = NULL;
	EXPECT_EQ(0, owner_read_pins(0, pins, sizeof(pins)))
		TH_LOG("/proc/self/file_pins (-1: no such file):\n%s", pins);
	EXPECT_EQ(0, owner_file_pins(&acquired, &released));
	EXPECT_EQ(acquired0, acquired);
	EXPECT_EQ(released0, released);
}

/*
 * The guard of the tests that decide their own expected outcome from the
 * series' counters (VT_TODO_WITHOUT_PIN_RECORDS()): on a kernel meant to
 * have the series they must be there, or those tests would expect their
 * failures.  A kernel without the series lists this one test by name
 * (scripts/expect/stock): series.kernel_records_pins.
 */
FIXTURE(series) {
	int unused;
};

FIXTURE_SETUP(series)
{
}

FIXTURE_TEARDOWN(series)
{
}

TEST_F(series, kernel_records_pins)
{
	ASSERT_TRUE(vt_kernel_records_pins())
		TH_LOG("no longterm_file_pin_* counters in /proc/vmstat");
}

VT_HARNESS_MAIN

