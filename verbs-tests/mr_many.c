// SPDX-License-Identifier: GPL-2.0
/*
 * mr_many - the latency of an unrelated process's fsync() while many file
 * MRs are registered (scripts/stress, case "mrs").
 *
 * In DIR it creates a file of NR pages, maps it shared and, in each round,
 * registers NR writable MRs of one page each over it (NR records of
 * long-term write pins where the kernel keeps them), then deregisters them
 * all.  A child process forked before any verbs resource exists, which
 * registers nothing, times fsync() of a file of its own in DIR, with no MR
 * registered and then with all of them registered, in each of ROUNDS
 * rounds: FSYNCS times a 4 KiB pwrite() and its fsync() ("dirty": the
 * disk's flush dominates), then 10 * FSYNCS times fsync() of the file
 * left clean ("clean": what the kernel does before it finds nothing to
 * write, where a walk of every record would show).  The two conditions
 * alternate, each round starting with the other one, so that a drift in
 * the guest's speed falls on both, and the
 * MR file is written back after registering and after deregistering, so
 * that its writeback falls on neither.  It
 * prints
 *   # mr_many: mrs=NR rounds=R fsyncs=F dirty_us=NONE/WITH
 *       dirty_ratio=X dirty_min=X dirty_max=X clean_us=NONE/WITH
 *       clean_ratio=X clean_min=X clean_max=X reg_ms=T dereg_ms=T
 *       records=N pins_left=N
 * NONE, WITH: the mean latency (microseconds) over all rounds without and
 * with the MRs; *_ratio: the median over the rounds of each round's
 * WITH/NONE, *_min and *_max the lowest and highest; reg_ms, dereg_ms: to
 * register and deregister all NR, per round; records: the lines of
 * /proc/self/file_pins with the MRs registered (0 on a kernel without pin
 * records); pins_left: FOLL_PIN pins still held at the end.
 *
 * Exit status: 0 once every round ran (the caller judges the ratios), 2 on
 * any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "vt.h"

#define MM_MAX_ROUNDS	100

/* What the child is to do, and its results: in shared memory */
struct mm_shared {
	volatile int	cmd;		/* MM_* for the child */
	volatile int	done;		/* the child's count of commands done */
	volatile int	err;		/* the child's errno, or 0 */
	/* per command (round * 2, + 1 with the MRs): mean microseconds */
	double		dirty[2 * MM_MAX_ROUNDS];
	double		clean[2 * MM_MAX_ROUNDS];
};

enum { MM_IDLE, MM_NONE, MM_WITH, MM_EXIT };

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s [options] DIR\n", argv0);
	printf("\n");
	printf("Options:\n");
	printf("  -n mrs      file MRs of one page each (default 10000)\n");
	printf("  -f fsyncs   dirty fsyncs per condition and round, and 10x as many clean (default 200)\n");
	printf("  -r rounds   rounds, each without then with the MRs (default 10)\n");
}

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/*
 * The child: per command, @fsyncs timed pwrite+fsync of its own file, then
 * 10 * @fsyncs timed fsyncs of it clean; the means go to sh->dirty[] and
 * sh->clean[], without the MRs at 2 * round, with them at 2 * round + 1.
 */
static void mm_child(struct mm_shared *sh, const char *path, int fsyncs)
{
	static char buf[4096];
	int fd, cmd, done = 0, slot, i;
	long t, t0;

	fd = open(path, O_RDWR);
	if (fd < 0) {
		sh->err = errno;
		_exit(2);
	}
	for (;;) {
		while ((cmd = sh->cmd) == MM_IDLE || sh->done != done)
			usleep(200);
		if (cmd == MM_EXIT)
			break;
		/* each round runs one of each: without at 2r, with at 2r + 1 */
		slot = done / 2 * 2 + (cmd == MM_WITH);
		t0 = now_us();
		for (i = 0; i < fsyncs; i++) {
			buf[0] = i;
			if (pwrite(fd, buf, sizeof(buf), 0) != sizeof(buf) ||
			    fsync(fd)) {
				sh->err = errno;
				_exit(2);
			}
		}
		t = now_us();
		sh->dirty[slot] = (double)(t - t0) / fsyncs;
		for (i = 0; i < 10 * fsyncs; i++) {
			if (fsync(fd)) {
				sh->err = errno;
				_exit(2);
			}
		}
		sh->clean[slot] = (double)(now_us() - t) / (10 * fsyncs);
		sh->cmd = MM_IDLE;
		sh->done = ++done;
	}
	close(fd);
	_exit(0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Of @rounds rounds' latencies @v (without, with, without, ...): the means
 * without and with into @none and @with; the median, lowest and highest of
 * the rounds' with/without into @q.
 */
static void mm_ratios(const double *v, long rounds, double *none,
		      double *with, double q[3])
{
	double r[MM_MAX_ROUNDS];
	long i;

	*none = 0;
	*with = 0;
	for (i = 0; i < rounds; i++) {
		*none += v[2 * i] / rounds;
		*with += v[2 * i + 1] / rounds;
		r[i] = v[2 * i + 1] / v[2 * i];
	}
	qsort(r, rounds, sizeof(r[0]), cmp_double);
	q[0] = rounds % 2 ? r[rounds / 2] :
			    (r[rounds / 2 - 1] + r[rounds / 2]) / 2;
	q[1] = r[0];
	q[2] = r[rounds - 1];
}

/* Have the child run @cmd and wait for it; 0, or -1 when it failed */
static int mm_run(struct mm_shared *sh, int cmd)
{
	int done = sh->done;

	sh->cmd = cmd;
	while (sh->done == done) {
		if (sh->err)
			return -1;
		usleep(1000);
	}
	return 0;
}

/*
 * Write back the MR file: registering for write faults its pages in dirty,
 * and releasing the pins dirties them again; their writeback in the
 * background would fall on the child's fsyncs of one condition only.
 */
static int mm_settle(int fd)
{
	if (fsync(fd)) {
		fprintf(stderr, "Couldn't fsync the MR file: %s\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Lines of /proc/self/file_pins; 0 where there is no such file */
static long file_pins_lines(void)
{
	char line[512];
	long n = 0;
	FILE *f;

	f = fopen("/proc/self/file_pins", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

int main(int argc, char *argv[])
{
	long nr = 10000, fsyncs = 200, rounds = 10, reg_ms = 0, dereg_ms = 0;
	long acq0, rel0, acq, rel, records = 0, i, r, t;
	double dn, dw, cn, cw, dq[3], cq[3];
	char path[PATH_MAX], other[PATH_MAX];
	struct ibv_context *context = NULL;
	struct ibv_mr **mrs = NULL;
	struct ibv_pd *pd = NULL;
	struct mm_shared *sh;
	int fd = -1, ofd, opt, ret = 2, status;
	char *map = MAP_FAILED;
	pid_t child;

	while ((opt = getopt(argc, argv, "n:f:r:h")) != -1) {
		switch (opt) {
		case 'n':
			nr = strtol(optarg, NULL, 0);
			break;
		case 'f':
			fsyncs = strtol(optarg, NULL, 0);
			break;
		case 'r':
			rounds = strtol(optarg, NULL, 0);
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1 || nr < 1 || nr > 1000000 || fsyncs < 1 ||
	    fsyncs > 100000 || rounds < 1 || rounds > MM_MAX_ROUNDS) {
		fprintf(stderr, "%s: need DIR, 1 <= mrs <= 1000000, 1 <= fsyncs <= 100000, 1 <= rounds <= 100\n",
			argv[0]);
		usage(argv[0]);
		return 2;
	}

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "Couldn't map the shared page: %s\n",
			strerror(errno));
		return 2;
	}
	ofd = vt_make_file(argv[optind], 4096, 0, other);
	if (ofd < 0) {
		fprintf(stderr, "Couldn't create a file in %s: %s\n",
			argv[optind], strerror(errno));
		return 2;
	}
	close(ofd);
	/* Before any verbs resource: the child shares none of them */
	child = fork();
	if (child < 0) {
		fprintf(stderr, "Couldn't fork: %s\n", strerror(errno));
		unlink(other);
		return 2;
	}
	if (!child)
		mm_child(sh, other, fsyncs);

	if (vt_pins(&acq0, &rel0))
		acq0 = rel0 = 0;
	fd = vt_make_file(argv[optind], nr * 4096, 0, path);
	if (fd < 0) {
		fprintf(stderr, "Couldn't create a file of %ld pages in %s: %s\n",
			nr, argv[optind], strerror(errno));
		goto out;
	}
	map = mmap(NULL, nr * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	mrs = calloc(nr, sizeof(*mrs));
	context = vt_open_device(vt_dev_name());
	pd = context ? ibv_alloc_pd(context) : NULL;
	if (map == MAP_FAILED || !mrs || !pd) {
		fprintf(stderr, "Couldn't map the file, allocate or open %s\n",
			vt_dev_name());
		goto out;
	}

	/* Even rounds measure without the MRs first, odd ones with */
	for (r = 0; r < rounds; r++) {
		if (!(r & 1) && mm_run(sh, MM_NONE))
			goto child_failed;
		t = now_us();
		for (i = 0; i < nr; i++) {
			mrs[i] = ibv_reg_mr(pd, map + i * 4096, 4096,
					    VT_MR_ACCESS);
			if (!mrs[i]) {
				fprintf(stderr, "Couldn't register MR %ld of %ld: %s\n",
					i, nr, strerror(errno));
				goto out;
			}
		}
		reg_ms += (now_us() - t) / 1000;
		records = file_pins_lines();
		/* What registering dirtied is not the child's to write */
		if (mm_settle(fd))
			goto out;
		if (mm_run(sh, MM_WITH))
			goto child_failed;
		t = now_us();
		for (i = 0; i < nr; i++) {
			if (ibv_dereg_mr(mrs[i])) {
				fprintf(stderr, "Couldn't deregister MR %ld: %s\n",
					i, strerror(errno));
				goto out;
			}
			mrs[i] = NULL;
		}
		dereg_ms += (now_us() - t) / 1000;
		if (mm_settle(fd))
			goto out;
		if ((r & 1) && mm_run(sh, MM_NONE))
			goto child_failed;
	}

	mm_ratios(sh->dirty, rounds, &dn, &dw, dq);
	mm_ratios(sh->clean, rounds, &cn, &cw, cq);
	if (vt_pins(&acq, &rel))
		acq = rel = 0;
	printf("# mr_many: mrs=%ld rounds=%ld fsyncs=%ld dirty_us=%.0f/%.0f dirty_ratio=%.3f dirty_min=%.3f dirty_max=%.3f clean_us=%.1f/%.1f clean_ratio=%.3f clean_min=%.3f clean_max=%.3f reg_ms=%ld dereg_ms=%ld records=%ld pins_left=%ld\n",
	       nr, rounds, fsyncs, dn, dw, dq[0], dq[1], dq[2], cn, cw, cq[0],
	       cq[1], cq[2], reg_ms / rounds, dereg_ms / rounds, records,
	       (acq - rel) - (acq0 - rel0));
	ret = 0;
	goto out;

child_failed:
	fprintf(stderr, "The fsync child failed: %s\n", strerror(sh->err));
out:
	for (i = 0; mrs && i < nr; i++)
		if (mrs[i])
			ibv_dereg_mr(mrs[i]);
	free(mrs);
	if (pd)
		ibv_dealloc_pd(pd);
	if (context)
		ibv_close_device(context);
	if (map != MAP_FAILED)
		munmap(map, nr * 4096);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	sh->cmd = MM_EXIT;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		ret = 2;
	unlink(other);
	return ret;
}
