// SPDX-License-Identifier: GPL-2.0
/*
 * The test of umem/filepins: file-backed MRs on the Soft-RoCE device, and
 * what `filepins FILE` says about them.  It must list the pinning process,
 * its command, each pinned range with its access and the uverbs file it
 * came through; find a file by any of its names (device and inode, not the
 * name); list nothing for a file nobody pins, nor once the MRs are gone;
 * survive processes that exit while it reads; say so when it may not read
 * some process; reject bad arguments with a clear message.
 *
 * The expected outcome is computed from what the kernel offers, as
 * gup_longterm does: without /proc/self/file_pins (stock 6.1) every listing
 * must end with exit status 3 and "this kernel does not report long-term
 * file pins", and --counters the same without longterm_file_pin_* in
 * /proc/vmstat.
 *
 * The tool is $FILEPINS, else ../filepins next to this binary.
 */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "vt_harness.h"

#define FILE_LEN	((size_t)1 << 20)
#define SEED_FILE	1
#define OUT_LEN		65536
#define MAX_ARGS	8
#define MAX_ROWS	16
#define CHILD_MS	30000	/* for a child to register its MR */
#define RELEASE_MS	2000	/* for a killed child's pins to go */
#define EXIT_ROUNDS	30	/* listings while processes come and go */
#define NOBODY		65534

#define UNSUPPORTED_MSG	"this kernel does not report long-term file pins"

/* Exit status of filepins (its --help) */
enum {
	FP_OK = 0,
	FP_ERROR = 1,
	FP_INCOMPLETE = 2,
	FP_UNSUPPORTED = 3,
};

/* One run of the tool: exit status (128 + signal if killed), its output */
struct fp_run {
	int status;
	char out[OUT_LEN];
	char err[OUT_LEN];
};

/* One row of its table (-n), as printed */
struct fp_row {
	int pid;
	char comm[64];
	char access[8];
	unsigned long first, last, pages;
	char owner[PATH_MAX];
	char file[PATH_MAX];
};

/* The tool: $FILEPINS, else ../filepins beside this test */
static int fp_tool(char *tool)
{
	const char *env = getenv("FILEPINS");
	char exe[PATH_MAX - 16];
	ssize_t len;

	if (env) {
		snprintf(tool, PATH_MAX, "%s", env);
		return 0;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0)
		return -1;
	exe[len] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(tool, PATH_MAX, "%s/../filepins", exe);
	return 0;
}

static void fp_slurp(int fd, char *buf)
{
	ssize_t got = pread(fd, buf, OUT_LEN - 1, 0);

	buf[got > 0 ? got : 0] = '\0';
}

/*
 * Run @tool with the NULL-terminated arguments that follow, as @uid unless
 * it is 0.  Return 0 once it ran (its result in @r), -1 if it could not.
 */
static int fp_run(struct fp_run *r, const char *tool, uid_t uid, ...)
{
	char *argv[MAX_ARGS + 2] = { (char *)tool };
	int out, err, status, n = 1;
	va_list ap;
	pid_t pid;

	va_start(ap, uid);
	while (n <= MAX_ARGS && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;

	out = memfd_create("filepins.out", 0);
	err = memfd_create("filepins.err", 0);
	if (out < 0 || err < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (!pid) {
		if (dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		if (uid && (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
			_exit(126);
		execv(tool, argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		close(out);
		close(err);
		return -1;
	}
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status);
	fp_slurp(out, r->out);
	fp_slurp(err, r->err);
	close(out);
	close(err);
	return 0;
}

/* Parse the table: the number of rows, or -1 if one does not parse */
static int fp_rows(const char *out, struct fp_row *rows, int max)
{
	const char *line, *end;
	int nr = 0, pos;

	for (line = out; *line; line = end + 1) {
		struct fp_row row = {};
		size_t len;

		end = strchrnul(line, '\n');
		if (sscanf(line, "%d %63s %7s %lu-%lu %lu %4095s %n", &row.pid,
			   row.comm, row.access, &row.first, &row.last,
			   &row.pages, row.owner, &pos) != 7 ||
		    line + pos >= end)
			return -1;
		len = end - line - pos;
		if (len >= sizeof(row.file))
			return -1;
		memcpy(row.file, line + pos, len);
		if (nr < max)
			rows[nr] = row;
		nr++;
		if (!*end)
			break;
	}
	return nr;
}

/* A row with these fields, for EXPECT_* messages */
static bool fp_row_is(const struct fp_row *row, int pid, const char *comm,
		      const char *access, unsigned long first,
		      unsigned long last, const char *owner, const char *file)
{
	return row->pid == pid && !strcmp(row->comm, comm) &&
	       !strcmp(row->access, access) && row->first == first &&
	       row->last == last && row->pages == last - first + 1 &&
	       !strcmp(row->owner, owner) && !strcmp(row->file, file);
}

static bool fp_kernel_reports(void)
{
	return !access("/proc/self/file_pins", F_OK);
}

/* The comm of a process, as filepins shows it (no spaces in ours) */
static void fp_comm(pid_t pid, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	comm[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		if (fgets(comm, len, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
}

FIXTURE(filepins) {
	struct vt_ctx ctx;
	struct fp_run run;
	struct fp_row rows[MAX_ROWS];
	char tool[PATH_MAX];
	char path[PATH_MAX + 16];	/* the file the MRs pin; a space in its name */
	char link[PATH_MAX + 16];	/* another name of it */
	char other[PATH_MAX];	/* a file nobody pins */
	char uverbs[PATH_MAX];
	char comm[64];
	long pages;
	int fd, other_fd;
	pid_t child;
	void *map;
	struct ibv_mr *mr[2];
	bool reports;
};

FIXTURE_VARIANT(filepins) {
	const char *fs;
	const char *dir;
};

FIXTURE_VARIANT_ADD(filepins, ext4) { .fs = "ext4", .dir = "/mnt/ext4", };
FIXTURE_VARIANT_ADD(filepins, tmpfs) { .fs = "tmpfs", .dir = "/tmp", };

FIXTURE_SETUP(filepins)
{
	char fdlink[64], made[PATH_MAX];
	ssize_t len;

	self->fd = -1;
	self->other_fd = -1;
	if (!vt_fs_is(variant->dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", variant->dir, variant->fs);
	ASSERT_EQ(0, fp_tool(self->tool));
	ASSERT_EQ(0, access(self->tool, X_OK))
		TH_LOG("no filepins at %s: %s", self->tool, strerror(errno));
	self->reports = fp_kernel_reports();
	self->pages = FILE_LEN / getpagesize();
	fp_comm(getpid(), self->comm, sizeof(self->comm));
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));

	/* The owner of the pins: the uverbs file behind the context */
	snprintf(fdlink, sizeof(fdlink), "/proc/self/fd/%d",
		 self->ctx.context->cmd_fd);
	len = readlink(fdlink, self->uverbs, sizeof(self->uverbs) - 1);
	ASSERT_LT(0, len) TH_LOG("readlink %s: %s", fdlink, strerror(errno));
	self->uverbs[len] = '\0';

	/* A name with a space: the kernel escapes it, filepins must not */
	self->fd = vt_make_file(variant->dir, FILE_LEN, SEED_FILE, made);
	ASSERT_LE(0, self->fd);
	snprintf(self->path, sizeof(self->path), "%s pinned", made);
	ASSERT_EQ(0, rename(made, self->path))
		TH_LOG("rename %s: %s", made, strerror(errno));
	snprintf(self->link, sizeof(self->link), "%s.link", made);
	ASSERT_EQ(0, link(self->path, self->link))
		TH_LOG("link %s: %s", self->path, strerror(errno));
	self->other_fd = vt_make_file(variant->dir, FILE_LEN, SEED_FILE,
				      self->other);
	ASSERT_LE(0, self->other_fd);

	self->map = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
}

FIXTURE_TEARDOWN(filepins)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		EXPECT_EQ(self->child, waitpid(self->child, NULL, 0));
	}
	EXPECT_EQ(0, vt_dereg_mr(self->mr[0]));
	EXPECT_EQ(0, vt_dereg_mr(self->mr[1]));
	vt_close_ctx(&self->ctx);
	/* A killed child unpins on its way out */
	EXPECT_EQ(0, vt_pins_settle(vt_pins_held_before, 0, RELEASE_MS))
		TH_LOG("pins left after the last MR is gone");
	if (self->map && self->map != MAP_FAILED)
		munmap(self->map, FILE_LEN);
	if (self->fd >= 0)
		close(self->fd);
	if (self->other_fd >= 0)
		close(self->other_fd);
	if (self->path[0])
		unlink(self->path);
	if (self->link[0])
		unlink(self->link);
	if (self->other[0])
		unlink(self->other);
}

/*
 * Check a listing that the kernel may not support: without file_pins it
 * must end with FP_UNSUPPORTED, the message and nothing on stdout.  Return
 * the rows of the table (0 for JSON, @table false), or -1 (checked and
 * failed, or unsupported).
 */
static int fp_listing(struct __test_metadata *_metadata,
		      FIXTURE_DATA(filepins) *self, bool table)
{
	struct fp_run *r = &self->run;
	int nr;

	if (!self->reports) {
		EXPECT_EQ(FP_UNSUPPORTED, r->status) TH_LOG("stderr: %s", r->err);
		EXPECT_NE(NULL, strstr(r->err, UNSUPPORTED_MSG))
			TH_LOG("stderr: %s", r->err);
		EXPECT_STREQ("", r->out);
		return -1;
	}
	EXPECT_EQ(FP_OK, r->status) TH_LOG("stderr: %s", r->err);
	EXPECT_STREQ("", r->err);
	if (!table)
		return r->status == FP_OK ? 0 : -1;
	nr = fp_rows(r->out, self->rows, MAX_ROWS);
	EXPECT_LE(0, nr) TH_LOG("cannot parse the table:\n%s", r->out);
	return r->status == FP_OK ? nr : -1;
}

/* filepins -n FILE: its rows, or -1 */
static int fp_list_file(struct __test_metadata *_metadata,
			FIXTURE_DATA(filepins) *self, const char *file)
{
	ASSERT_EQ(0, fp_run(&self->run, self->tool, 0, "-n", file, NULL));
	return fp_listing(_metadata, self, true);
}

static void fp_reg(struct __test_metadata *_metadata,
		   FIXTURE_DATA(filepins) *self, int i, long first_page,
		   long pages, int access)
{
	size_t psz = getpagesize();

	self->mr[i] = ibv_reg_mr(self->ctx.pd, (char *)self->map +
				 first_page * psz, pages * psz, access);
	ASSERT_NE(NULL, self->mr[i])
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

/*
 * One writable MR over the whole file: one row, by its name and by another;
 * JSON with the same fields; nothing for an unrelated file; nothing once
 * the MR is gone.
 */
TEST_F(filepins, listed)
{
	char want[2 * PATH_MAX + 256];
	long last;

	VT_RETURN_IF_SKIPPED();
	last = self->pages - 1;
	fp_reg(_metadata, self, 0, 0, self->pages, VT_MR_ACCESS);

	if (fp_list_file(_metadata, self, self->path) >= 0) {
		EXPECT_EQ(1, fp_rows(self->run.out, self->rows, MAX_ROWS))
			TH_LOG("rows:\n%s", self->run.out);
		EXPECT_TRUE(fp_row_is(&self->rows[0], getpid(), self->comm,
				      "rw", 0, last, self->uverbs, self->path))
			TH_LOG("want %d %s rw 0-%ld %ld %s %s, got:\n%s",
			       getpid(), self->comm, last, self->pages,
			       self->uverbs, self->path, self->run.out);
	}

	/* By another name: matched by device and inode */
	if (fp_list_file(_metadata, self, self->link) >= 0) {
		EXPECT_EQ(1, fp_rows(self->run.out, self->rows, MAX_ROWS))
			TH_LOG("rows for %s:\n%s", self->link, self->run.out);
		EXPECT_TRUE(fp_row_is(&self->rows[0], getpid(), self->comm,
				      "rw", 0, last, self->uverbs, self->path))
			TH_LOG("got:\n%s", self->run.out);
	}

	ASSERT_EQ(0, fp_run(&self->run, self->tool, 0, "--json", self->path,
			    NULL));
	if (fp_listing(_metadata, self, false) >= 0) {
		snprintf(want, sizeof(want),
			 "{\"pid\": %d, \"command\": \"%s\", \"access\": \"rw\", \"first\": 0, \"last\": %ld, \"pages\": %ld, \"owner\": \"%s\", \"file\": \"%s\"}",
			 getpid(), self->comm, last, self->pages, self->uverbs,
			 self->path);
		EXPECT_NE(NULL, strstr(self->run.out, want))
			TH_LOG("want %s in:\n%s", want, self->run.out);
	}

	EXPECT_GE(0, fp_list_file(_metadata, self, self->other))
		TH_LOG("an unrelated file is listed:\n%s", self->run.out);

	ASSERT_EQ(0, ibv_dereg_mr(self->mr[0]));
	self->mr[0] = NULL;
	EXPECT_GE(0, fp_list_file(_metadata, self, self->path))
		TH_LOG("listed after deregistration:\n%s", self->run.out);
}

/*
 * Two MRs over parts of the file, one writable, one read-only: two rows in
 * page order, each with its range and access; -p lists the same.
 */
TEST_F(filepins, ranges)
{
	char pid[16], by_file[OUT_LEN];
	int nr;

	VT_RETURN_IF_SKIPPED();
	fp_reg(_metadata, self, 0, 64, 64, IBV_ACCESS_REMOTE_READ);
	fp_reg(_metadata, self, 1, 16, 16, VT_MR_ACCESS);

	nr = fp_list_file(_metadata, self, self->path);
	if (nr >= 0) {
		EXPECT_EQ(2, nr) TH_LOG("rows:\n%s", self->run.out);
		EXPECT_TRUE(fp_row_is(&self->rows[0], getpid(), self->comm,
				      "rw", 16, 31, self->uverbs, self->path))
			TH_LOG("first row: rw 16-31, got:\n%s", self->run.out);
		EXPECT_TRUE(fp_row_is(&self->rows[1], getpid(), self->comm,
				      "ro", 64, 127, self->uverbs, self->path))
			TH_LOG("second row: ro 64-127, got:\n%s", self->run.out);
	}

	/* Our process pins nothing else */
	strcpy(by_file, self->run.out);
	snprintf(pid, sizeof(pid), "%d", getpid());
	ASSERT_EQ(0, fp_run(&self->run, self->tool, 0, "-n", "-p", pid, NULL));
	if (fp_listing(_metadata, self, true) >= 0)
		EXPECT_STREQ(by_file, self->run.out);
}

/*
 * Pins of another process: a child registers the file and waits; its PID
 * is listed.  Once it is killed, nothing is.
 */
TEST_F_TIMEOUT(filepins, other_process, 120)
{
	struct vt_ctx ctx = {};
	struct pollfd pfd;
	int ready[2];
	char ok = 0;

	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, pipe(ready)) TH_LOG("pipe: %s", strerror(errno));
	self->child = vt_fork_tied();
	ASSERT_LE(0, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child) {
		close(ready[0]);
		ok = !vt_init_ctx(&ctx) &&
		     ibv_reg_mr(ctx.pd, self->map, FILE_LEN, VT_MR_ACCESS);
		if (write(ready[1], &ok, 1) != 1 || !ok)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	pfd = (struct pollfd) { .fd = ready[0], .events = POLLIN };
	EXPECT_EQ(1, poll(&pfd, 1, CHILD_MS))
		TH_LOG("no word from the child in %d ms", CHILD_MS);
	EXPECT_EQ(1, read(ready[0], &ok, 1));
	close(ready[0]);
	ASSERT_EQ(1, ok) TH_LOG("the child could not register its MR");

	/* The child's own context: its uverbs file has the same name */
	if (fp_list_file(_metadata, self, self->path) >= 0) {
		EXPECT_EQ(1, fp_rows(self->run.out, self->rows, MAX_ROWS))
			TH_LOG("rows:\n%s", self->run.out);
		EXPECT_TRUE(fp_row_is(&self->rows[0], self->child, self->comm,
				      "rw", 0, self->pages - 1, self->uverbs,
				      self->path))
			TH_LOG("want the child %d, got:\n%s", self->child,
			       self->run.out);
	}

	ASSERT_EQ(0, kill(self->child, SIGKILL));
	ASSERT_EQ(self->child, waitpid(self->child, NULL, 0));
	self->child = 0;
	EXPECT_EQ(0, vt_pins_settle(vt_pins_held_before, 0, RELEASE_MS))
		TH_LOG("the killed child's pins are still held");
	EXPECT_GE(0, fp_list_file(_metadata, self, self->path))
		TH_LOG("listed after the child died:\n%s", self->run.out);
}

/*
 * Processes exiting while filepins reads /proc: a child forks children
 * that exit at once, as fast as it can; every listing must still succeed
 * and show our one pin.
 */
TEST_F_TIMEOUT(filepins, processes_exiting, 300)
{
	int i, nr, listed = 0;

	VT_RETURN_IF_SKIPPED();
	fp_reg(_metadata, self, 0, 0, self->pages, VT_MR_ACCESS);
	self->child = vt_fork_tied();
	ASSERT_LE(0, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child) {
		for (;;) {
			pid_t pid = fork();

			if (!pid)
				_exit(0);
			if (pid > 0)
				waitpid(pid, NULL, 0);
		}
	}

	for (i = 0; i < EXIT_ROUNDS; i++) {
		nr = fp_list_file(_metadata, self, self->path);
		if (nr < 0)
			break;
		EXPECT_EQ(1, nr) TH_LOG("round %d:\n%s", i, self->run.out);
		listed += nr == 1;
	}
	printf("# FILEPINS test=processes_exiting rounds=%d listed=%d status=%d\n",
	       i, listed, self->run.status);
}

/*
 * Run as nobody, filepins may not read our pins: it must say so and exit
 * with 2, listing what it could (not ours).
 */
TEST_F(filepins, unprivileged)
{
	char tool[PATH_MAX];
	int fd, src;
	ssize_t n;
	char buf[65536];

	VT_RETURN_IF_SKIPPED();
	if (geteuid())
		SKIP(return, "not root: cannot run the tool as another user");
	fp_reg(_metadata, self, 0, 0, self->pages, VT_MR_ACCESS);

	/* A copy nobody may execute, whatever the build directory allows */
	snprintf(tool, sizeof(tool), "/tmp/filepins-XXXXXX");
	fd = mkstemp(tool);
	ASSERT_LE(0, fd) TH_LOG("mkstemp: %s", strerror(errno));
	src = open(self->tool, O_RDONLY);
	ASSERT_LE(0, src) TH_LOG("open %s: %s", self->tool, strerror(errno));
	while ((n = read(src, buf, sizeof(buf))) > 0)
		ASSERT_EQ(n, write(fd, buf, n));
	close(src);
	ASSERT_EQ(0, fchmod(fd, 0755));
	close(fd);

	EXPECT_EQ(0, fp_run(&self->run, tool, NOBODY, "-n", self->path,
			    NULL));
	unlink(tool);
	if (!self->reports) {
		EXPECT_EQ(FP_UNSUPPORTED, self->run.status)
			TH_LOG("stderr: %s", self->run.err);
		EXPECT_NE(NULL, strstr(self->run.err, UNSUPPORTED_MSG));
		return;
	}
	EXPECT_EQ(FP_INCOMPLETE, self->run.status)
		TH_LOG("stderr: %s", self->run.err);
	EXPECT_NE(NULL, strstr(self->run.err, "permission denied"))
		TH_LOG("stderr: %s", self->run.err);
	EXPECT_STREQ("", self->run.out);
}

/*
 * --counters: the vmstat counters and the pages pinned now, which must be
 * what /proc/vmstat says (nothing else pins while the suite runs).
 */
TEST_F(filepins, counters)
{
	long acquired = 0, released = 0, pinned = -1, val;
	bool counted;
	char key[64];
	const char *p;
	int n;

	VT_RETURN_IF_SKIPPED();
	fp_reg(_metadata, self, 0, 0, self->pages, VT_MR_ACCESS);
	counted = !vt_lt_pins(&acquired, &released);
	ASSERT_EQ(0, fp_run(&self->run, self->tool, 0, "--counters", "-n",
			    NULL));
	if (!counted) {
		EXPECT_EQ(FP_UNSUPPORTED, self->run.status)
			TH_LOG("stderr: %s", self->run.err);
		EXPECT_NE(NULL, strstr(self->run.err, UNSUPPORTED_MSG));
		EXPECT_STREQ("", self->run.out);
		return;
	}
	EXPECT_EQ(FP_OK, self->run.status) TH_LOG("stderr: %s", self->run.err);
	/* Braces: EXPECT_*() are not single statements */
	for (p = self->run.out; sscanf(p, "%63s %ld%n", key, &val, &n) == 2;
	     p += n) {
		if (!strcmp(key, "longterm_file_pin_acquired")) {
			EXPECT_EQ(acquired, val);
		} else if (!strcmp(key, "longterm_file_pin_released")) {
			EXPECT_EQ(released, val);
		} else if (!strcmp(key, "pinned_now")) {
			pinned = val;
		}
	}
	EXPECT_EQ(acquired - released, pinned)
		TH_LOG("output:\n%s", self->run.out);
	EXPECT_LE(self->pages, pinned);
}

/*
 * Bad arguments, on every kernel: exit status 1 and a message naming the
 * problem, before anything is read.
 */
FIXTURE(filepins_args) {
	struct fp_run run;
	char tool[PATH_MAX];
};

FIXTURE_VARIANT(filepins_args) {
	const char *args[3];
	const char *msg;
};

FIXTURE_VARIANT_ADD(filepins_args, no_such_file) {
	.args = { "/nonexistent/file" },
	.msg = "filepins: cannot stat '/nonexistent/file': No such file or directory\n",
};

FIXTURE_VARIANT_ADD(filepins_args, no_such_pid) {
	.args = { "-p", "2147483647" },
	.msg = "filepins: no process with PID 2147483647\n",
};

FIXTURE_VARIANT_ADD(filepins_args, pid_zero) {
	.args = { "--pid", "0" },
	.msg = "filepins: invalid PID: '0'\n",
};

FIXTURE_VARIANT_ADD(filepins_args, pid_text) {
	.args = { "-p", "1x" },
	.msg = "filepins: invalid PID: '1x'\n",
};

FIXTURE_VARIANT_ADD(filepins_args, bad_option) {
	.args = { "--bogus" },
	.msg = "Try 'filepins --help' for more information.\n",
};

FIXTURE_VARIANT_ADD(filepins_args, counters_and_file) {
	.args = { "--counters", "/" },
	.msg = "filepins: --counters takes no PID or FILE\n",
};

FIXTURE_SETUP(filepins_args)
{
	ASSERT_EQ(0, fp_tool(self->tool));
}

FIXTURE_TEARDOWN(filepins_args)
{
}

TEST_F(filepins_args, rejected)
{
	const char *const *a = variant->args;

	ASSERT_EQ(0, fp_run(&self->run, self->tool, 0, a[0], a[1], a[2],
			    NULL));
	EXPECT_EQ(FP_ERROR, self->run.status);
	EXPECT_NE(NULL, strstr(self->run.err, variant->msg))
		TH_LOG("want \"%s\" in:\n%s", variant->msg, self->run.err);
	EXPECT_STREQ("", self->run.out);
}

VT_HARNESS_MAIN
