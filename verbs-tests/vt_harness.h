/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The 6.1 kselftest harness plus what the verbs tests need on top of it.
 *
 * Its test_harness_run() ignores argv, so VT_HARNESS_MAIN provides the test
 * selection options of later harnesses (-f/-F fixture, -v/-V variant,
 * -t/-T test, -r fixture.variant.test; lower case includes, upper case
 * excludes, the first match decides) and -l, which lists the full names.
 */
#ifndef VT_HARNESS_H
#define VT_HARNESS_H

#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>

/* The 6.1 harness is not -Wextra clean, and vt_harness_main() replaces its runner */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "vt.h"

/* The 6.1 harness still runs the test body after FIXTURE_SETUP() skipped */
#define VT_RETURN_IF_SKIPPED() do {					\
	if (_metadata->skip)						\
		return;							\
} while (0)

/*
 * FOLL_PIN pins (acquired - released) held when the test started, read by
 * the runner before it forks the test: a test answers for its own pins.  A
 * kernel that leaked in an earlier test (stock siw's registration error
 * path, an expected failure there) leaves its leak in the counters for good.
 */
static long vt_pins_held_before;

/*
 * One snapshot may catch a pin of 9p's zero-copy I/O in flight (the output
 * of the runner goes to the host that way): the pins held are the lowest of
 * a few snapshots, taken until two agree.
 */
static long vt_pins_held_now(void)
{
	long acquired, released, held, low = 0;
	int i;

	for (i = 0; i < 5; i++) {
		if (vt_pins(&acquired, &released))
			return 0;
		held = acquired - released;
		if (i && held == low)
			break;
		if (!i || held < low)
			low = held;
		usleep(2000);
	}
	return low;
}

/*
 * Teardown only: no ASSERT there, it would longjmp into teardown again.
 * An O_DIRECT read (the tests read files back with them) may unpin its
 * pages from a worker after read() returned (6.12's iomap wakes the reader
 * first; bio_check_pages_dirty() defers to bio_dirty_work): the counters
 * get up to a second to come back to what the test started with, a leak
 * stays above it.  Fewer is an earlier test's deferred unpin landing.
 */
#define VT_EXPECT_PINS_BALANCED() do {					\
	long __acquired = 0, __released = 0;				\
	int __ms = 0, __err;						\
									\
	while (!(__err = vt_pins(&__acquired, &__released)) &&		\
	       __acquired - __released > vt_pins_held_before &&	\
	       __ms < 1000) {						\
		usleep(10000);						\
		__ms += 10;						\
	}								\
	EXPECT_EQ(0, __err);						\
	EXPECT_LE(__acquired - __released, vt_pins_held_before)	\
		TH_LOG("FOLL_PIN pins left after the last MR is gone: "	\
		       "%ld acquired, %ld released, %ld held before",	\
		       __acquired, __released, vt_pins_held_before);	\
} while (0)

/*
 * Expected failures decided by the test itself, as gup_longterm decides
 * what to expect from the filesystem it runs on.  A test that can see
 * whether the kernel has what it tests (the series' counters in
 * /proc/vmstat: vt_kernel_records_pins()) calls VT_TODO(why) before its
 * checks when it does not.  Its result then carries "# TODO why": "not ok"
 * is a failure it expected (XFAIL), "ok" one that did not come (XPASS,
 * which fails make check).  The reason lives in shared memory, as the
 * harness's skip reason does: the test body runs in a child.
 */
#define VT_TODO_LEN	256
static char *vt_todo_reason;

#define VT_TODO(fmt, ...) do {						\
	if (vt_todo_reason)						\
		snprintf(vt_todo_reason, VT_TODO_LEN, fmt, ##__VA_ARGS__); \
} while (0)

/*
 * What a kernel without long-term file pin records gets wrong: expect it.
 * Stock 6.1 registers writable file MRs and loses what the device writes;
 * stock 6.12 refuses them (EFAULT, since 6.5): the reason says which.
 */
#define VT_TODO_WITHOUT_PIN_RECORDS(why) do {				\
	if (!vt_kernel_records_pins())					\
		VT_TODO("no long-term file pin records%s: %s",		\
			vt_kernel_refuses_file_pins() ?			\
			" (writable file MRs refused: EFAULT)" : "", why); \
} while (0)

/*
 * For a test whose setup registers a writable MR on a file of ext4, xfs or
 * btrfs: where upstream refuses it (EFAULT, since 6.5) the test cannot get
 * past its setup, an expected failure there.
 */
#define VT_TODO_IF_FILE_PINS_REFUSED() do {				\
	if (vt_kernel_refuses_file_pins())				\
		VT_TODO("writable file MRs refused (EFAULT)");		\
} while (0)

/*
 * What ib_umem_get() got wrong until 6.2, which pinned read-only MRs with
 * FOLL_WRITE | FOLL_FORCE (a shared read-only mapping is then EFAULT): the
 * series fixes it on 6.1, upstream fixed it in 6.2.
 */
#define VT_TODO_FOLL_FORCE(why) do {					\
	if (!vt_kernel_records_pins() && vt_kernel_older_than(6, 2))	\
		VT_TODO("read-only MRs pinned with FOLL_FORCE: %s", why); \
} while (0)

/*
 * ibv_reg_mr() in the tests: where upstream refuses writable MRs on shared
 * mappings of ext4, xfs or btrfs files (EFAULT, since 6.5), a test that
 * registers one cannot do what it tests, and its failure is expected there.
 * A refused registration that is exactly that (vt_reg_refused_as_file_pin():
 * writable, every page a page of such a file) marks the test "# TODO".
 * badinput checks errnos itself and defines VT_REG_MR_AS_IS.
 */
#ifndef VT_REG_MR_AS_IS
static inline struct ibv_mr *vt_reg_mr(struct ibv_pd *pd, void *addr,
				       size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(pd, addr, len, access);
	int err = errno;

	if (!mr && err == EFAULT && vt_reg_refused_as_file_pin(addr, len, access))
		VT_TODO("writable file MRs refused (EFAULT)");
	errno = err;
	return mr;
}
#undef ibv_reg_mr
#define ibv_reg_mr(pd, addr, len, access) vt_reg_mr(pd, addr, len, access)
#endif

/* Teardown only: the fixture's MR and source MR, its context, the pins */
#define VT_RELEASE_MRS(_mr, _src_mr, _ctx) do {			\
	if (_mr)							\
		EXPECT_EQ(0, vt_dereg_mr(_mr));				\
	if (_src_mr)							\
		EXPECT_EQ(0, vt_dereg_mr(_src_mr));			\
	vt_close_ctx(_ctx);						\
	VT_EXPECT_PINS_BALANCED();					\
} while (0)

#define vt_for_each_test(f, v, t, no_variant)				\
	for (f = __fixture_list; f; f = f->next)			\
		for (v = f->variant ?: &(no_variant); v; v = v->next) \
			for (t = f->tests; t; t = t->next)

static bool vt_test_enabled(int argc, char **argv,
			    struct __fixture_metadata *f,
			    struct __fixture_variant_metadata *v,
			    struct __test_metadata *t)
{
	bool has_positive = false;
	const char *name;
	char full[512];
	int opt;

	snprintf(full, sizeof(full), "%s%s%s.%s", f->name,
		 v->name[0] ? "." : "", v->name, t->name);
	optind = 1;
	while ((opt = getopt(argc, argv, "lf:F:v:V:t:T:r:")) != -1) {
		switch (tolower(opt)) {
		case 'f':
			name = f->name;
			break;
		case 'v':
			name = v->name;
			break;
		case 't':
			name = t->name;
			break;
		case 'r':
			name = full;
			break;
		default:
			continue;
		}
		has_positive |= islower(opt);
		if (!strcmp(name, optarg))
			return islower(opt);
	}
	return !has_positive;
}

/*
 * A test about to be killed by the harness's timeout leaves a record of
 * where it hung: one second before the timeout, the child's state, wait
 * channel, system call and kernel stack go to the TAP stream as "# watchdog:"
 * lines, and sysrq-w puts every blocked task's stack in the kernel log.
 * The paths are made before arming: the handler only opens, reads, writes.
 */
#define VT_WD_FILES	4
static char vt_wd_path[VT_WD_FILES][48];
static timer_t vt_wd_timer;
static const char vt_wd_sysrq[] =
	"# watchdog: sysrq-w: blocked tasks in the kernel log\n";

static void vt_wd_write(const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, s, len);

		if (n <= 0)
			return;
		s += n;
		len -= n;
	}
}

/* Print the lines of @path that start with @only (all of them if "") */
static void vt_wd_dump(const char *path, const char *only)
{
	char buf[4096], *line, *end;
	ssize_t len;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return;
	buf[len] = '\0';
	for (line = buf; *line; line = end) {
		end = strchrnul(line, '\n');
		if (strncmp(line, only, strlen(only))) {
			end += !!*end;
			continue;
		}
		vt_wd_write("# watchdog: ", 12);
		vt_wd_write(path, strlen(path));
		vt_wd_write(": ", 2);
		vt_wd_write(line, end - line);
		vt_wd_write("\n", 1);
		if (*end)
			end++;
	}
}

static void vt_wd_fire(int sig)
{
	int fd, i;

	(void)sig;
	for (i = 0; i < VT_WD_FILES; i++)
		vt_wd_dump(vt_wd_path[i], i ? "" : "State:");
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "w", 1) == 1)
			vt_wd_write(vt_wd_sysrq, strlen(vt_wd_sysrq));
		close(fd);
	}
}

static void vt_wd_arm(struct __test_metadata *t)
{
	static const char * const files[VT_WD_FILES] = {
		"status", "wchan", "syscall", "stack",
	};
	struct sigevent sev = {
		.sigev_notify = SIGEV_SIGNAL,
		.sigev_signo = SIGUSR2,
	};
	struct itimerspec its = { .it_value.tv_sec = t->timeout - 1 };
	struct sigaction sa = { .sa_handler = vt_wd_fire, .sa_flags = SA_RESTART };
	int i;

	if (t->timeout < 2)
		return;
	for (i = 0; i < VT_WD_FILES; i++)
		snprintf(vt_wd_path[i], sizeof(vt_wd_path[i]), "/proc/%d/%s",
			 t->pid, files[i]);
	if (sigaction(SIGUSR2, &sa, NULL) ||
	    timer_create(CLOCK_MONOTONIC, &sev, &vt_wd_timer))
		return;
	if (timer_settime(vt_wd_timer, 0, &its, NULL))
		timer_delete(vt_wd_timer);
	else
		return;
	vt_wd_timer = NULL;
}

static void vt_wd_disarm(void)
{
	if (vt_wd_timer)
		timer_delete(vt_wd_timer);
	vt_wd_timer = NULL;
	/*
	 * Not SIG_DFL: a signal the timer queued just before it was deleted
	 * would kill the whole run (seen on a loaded host); SIG_IGN drops it.
	 */
	signal(SIGUSR2, SIG_IGN);
}

/*
 * VT_TIMEOUT_MUL=N multiplies every test's timeout, as LTP_TIMEOUT_MUL does:
 * under TCG a guest that shares its host cores with other guests and a
 * compiler may lose the CPU for many seconds; the watchdog still reports
 * where a test hangs, only later.
 */
static unsigned int vt_timeout_mul(void)
{
	const char *s = getenv("VT_TIMEOUT_MUL");
	unsigned long mul;
	char *end;

	if (!s || !*s)
		return 1;
	errno = 0;
	mul = strtoul(s, &end, 10);
	if (errno || *end || mul < 1 || mul > 100) {
		ksft_print_msg("VT_TIMEOUT_MUL=%s: want 1-100, using 1\n", s);
		return 1;
	}
	return mul;
}

/* The 6.1 harness's __run_test(), with results that may carry # TODO */
static void vt_run_test(struct __fixture_variant_metadata *variant,
			struct __test_metadata *t, const char *name)
{
	t->passed = 1;
	t->skip = 0;
	t->trigger = 0;
	t->step = 1;
	t->no_print = 0;
	memset(t->results->reason, 0, sizeof(t->results->reason));
	vt_todo_reason[0] = '\0';

	ksft_print_msg(" RUN           %s ...\n", name);
	fflush(stdout);
	fflush(stderr);
	t->timeout *= vt_timeout_mul();
	vt_pins_held_before = vt_pins_held_now();
	t->pid = fork();
	if (t->pid < 0) {
		ksft_print_msg("ERROR SPAWNING TEST CHILD\n");
		t->passed = 0;
	} else if (t->pid == 0) {
		setpgrp();
		t->fn(t, variant);
		if (t->skip)
			_exit(255);
		_exit(t->passed ? 0 : t->step);
	} else {
		vt_wd_arm(t);
		__wait_for_test(t);
		vt_wd_disarm();
	}
	ksft_print_msg("         %4s  %s\n", t->passed ? "OK" : "FAIL", name);

	if (t->skip) {
		ksft_test_result_skip("%s\n", t->results->reason[0] ?
				      t->results->reason : "unknown");
	} else if (vt_todo_reason[0]) {
		if (t->passed)
			ksft_inc_xpass_cnt();
		else
			ksft_inc_xfail_cnt();
		printf("%s %u %s # TODO %s\n", t->passed ? "ok" : "not ok",
		       ksft_test_num(), name, vt_todo_reason);
	} else {
		ksft_test_result(t->passed, "%s\n", name);
	}
}

static int vt_harness_main(int argc, char **argv)
{
	struct __fixture_variant_metadata no_variant = { .name = "", };
	struct __fixture_variant_metadata *v;
	unsigned int count = 0, pass_count = 0;
	struct __fixture_metadata *f;
	struct __test_results *results;
	struct __test_metadata *t;
	bool list = false;
	int opt, ret = 0;
	char name[512];

	while ((opt = getopt(argc, argv, "hlf:F:v:V:t:T:r:")) != -1) {
		if (opt == 'l') {
			list = true;
		} else if (opt == 'h' || opt == '?') {
			fprintf(stderr,
				"Usage: %s [-h|-l] [-f|-F|-v|-V|-t|-T|-r name]...\n"
				"  -l       list tests as fixture.variant.test\n"
				"  -f name  include fixture   -F name  exclude fixture\n"
				"  -v name  include variant   -V name  exclude variant\n"
				"  -t name  include test      -T name  exclude test\n"
				"  -r name  include fixture.variant.test\n"
				"Default: all tests. The first matching option decides.\n"
				"Environment: VT_DEV (rxe0), VT_GID (1)\n",
				argv[0]);
			return opt == 'h' ? KSFT_PASS : KSFT_FAIL;
		}
	}

	vt_for_each_test(f, v, t, no_variant) {
		if (!vt_test_enabled(argc, argv, f, v, t))
			continue;
		if (list)
			printf("%s%s%s.%s\n", f->name, v->name[0] ? "." : "",
			       v->name, t->name);
		count++;
	}
	if (list)
		return KSFT_PASS;

	results = mmap(NULL, sizeof(*results) + VT_TODO_LEN,
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (results == MAP_FAILED)
		ksft_exit_fail_msg("Couldn't map test results\n");
	vt_todo_reason = (char *)(results + 1);

	ksft_print_header();
	ksft_set_plan(count);
	vt_for_each_test(f, v, t, no_variant) {
		if (!vt_test_enabled(argc, argv, f, v, t))
			continue;
		snprintf(name, sizeof(name), "%s%s%s.%s", f->name,
			 v->name[0] ? "." : "", v->name, t->name);
		t->results = results;
		vt_run_test(v, t, name);
		t->results = NULL;
		/* An expected failure passes; a test passing against it fails */
		if (t->skip || (vt_todo_reason[0] ? !t->passed : t->passed))
			pass_count++;
		else
			ret = 1;
	}
	vt_todo_reason = NULL;
	munmap(results, sizeof(*results) + VT_TODO_LEN);

	ksft_print_msg("%s: %u / %u tests passed.\n", ret ? "FAILED" : "PASSED",
		       pass_count, count);
	ksft_exit(ret == 0);
	return KSFT_FAIL;	/* unreachable */
}

#define VT_HARNESS_MAIN							\
	static void __attribute__((constructor))			\
	__constructor_order_last(void)					\
	{								\
		if (!__constructor_order)				\
			__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD; \
	}								\
	int main(int argc, char **argv)					\
	{								\
		return vt_harness_main(argc, argv);			\
	}

#endif /* VT_HARNESS_H */
