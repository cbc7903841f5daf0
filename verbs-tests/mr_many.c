// SPDX-License-Identifier: GPL-2.0
/*
 * mr_many - the latency of an unrelated process's fsync() while many file
 * MRs are registered (scripts/stress, case "mrs").
 *
 * In DIR it creates a file of NR pages, maps it shared and, in each round,
 * registers NR writable MRs of one page each over it (NR records of
 * long-term write pins where the kernel keeps them), then deregisters them
 * all.  A child process forked before any verbs resource exists, which
 * registers nothing, writes 4 KiB into a file of its own in DIR and
 * fsync()s it FSYNCS times with no MR registered, then FSYNCS times with
 * all of them registered, in each of ROUNDS rounds: the two conditions
 * alternate, so that a drift in the guest's speed falls on both.  It
 * prints
 *   # mr_many: mrs=NR rounds=R fsyncs=F none_us=MEAN/P90 with_us=MEAN/P90
 *       ratio=X.XXX ratio_min=X.XXX ratio_max=X.XXX reg_ms=T dereg_ms=T
 *       records=N pins_left=N
 * none and with: the mean and 90th percentile fsync() latency (write
 * included), over all rounds, without and with the MRs; ratio: the means'
 * quotient, ratio_min and ratio_max: the lowest and highest of the rounds'
 * own; reg_ms, dereg_ms: to register and deregister all NR, per round;
 * records: the lines of /proc/self/file_pins with the MRs registered (0 on
 * a kernel without pin records); pins_left: FOLL_PIN pins still held at
 * the end.  The means, not the medians: a guest's clock may tick in
 * milliseconds, and a mean over many fsyncs does not.
 *
 * Exit status: 0 once every round ran (the caller judges the ratio), 2 on
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

/* What the child measures, and when: in shared memory */
struct mm_shared {
	volatile int	cmd;		/* MM_* for the child */
	volatile int	done;		/* the child's count of commands done */
	volatile int	err;		/* the child's errno, or 0 */
};

enum { MM_IDLE, MM_NONE, MM_WITH, MM_EXIT };

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s [options] DIR\n", argv0);
	printf("\n");
	printf("Options:\n");
	printf("  -n mrs      file MRs of one page each (default 10000)\n");
	printf("  -f fsyncs   fsyncs per condition and round (default 100)\n");
	printf("  -r rounds   rounds, each without then with the MRs (default 3)\n");
}

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* The mean of @n longs */
static double mean(const long *v, long n)
{
	double sum = 0;
	long i;

	for (i = 0; i < n; i++)
		sum += v[i];
	return sum / n;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* The child: FSYNCS timed write+fsync of its own file per command */
static void mm_child(struct mm_shared *sh, const char *path, long *none,
		     long *with, int fsyncs)
{
	static char buf[4096];
	int fd, cmd, done = 0, i;
	long t, *out;

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
		out = (cmd == MM_NONE ? none : with) + (done / 2) * fsyncs;
		for (i = 0; i < fsyncs; i++) {
			buf[0] = i;
			t = now_us();
			if (pwrite(fd, buf, sizeof(buf), 0) != sizeof(buf) ||
			    fsync(fd)) {
				sh->err = errno;
				_exit(2);
			}
			out[i] = now_us() - t;
		}
		sh->cmd = MM_IDLE;
		sh->done = ++done;
	}
	close(fd);
	_exit(0);
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
	long nr = 10000, fsyncs = 100, rounds = 3, reg_ms = 0, dereg_ms = 0;
	long acq0, rel0, acq, rel, records = 0, i, r, t, n, *none, *with;
	double q, qmin = 0, qmax = 0;
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
	    fsyncs > 100000 || rounds < 1 || rounds > 100) {
		fprintf(stderr, "%s: need DIR, 1 <= mrs <= 1000000, 1 <= fsyncs <= 100000, 1 <= rounds <= 100\n",
			argv[0]);
		usage(argv[0]);
		return 2;
	}

	sh = mmap(NULL, sizeof(*sh) + 2 * rounds * fsyncs * sizeof(long),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "Couldn't map the shared page: %s\n",
			strerror(errno));
		return 2;
	}
	none = (long *)(sh + 1);
	with = none + rounds * fsyncs;
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
		mm_child(sh, other, none, with, fsyncs);

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

	for (r = 0; r < rounds; r++) {
		if (mm_run(sh, MM_NONE))
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
	}

	for (r = 0; r < rounds; r++) {
		q = mean(with + r * fsyncs, fsyncs) /
		    mean(none + r * fsyncs, fsyncs);
		if (!r || q < qmin)
			qmin = q;
		if (!r || q > qmax)
			qmax = q;
	}
	n = rounds * fsyncs;
	q = mean(with, n) / mean(none, n);
	qsort(none, n, sizeof(long), cmp_long);
	qsort(with, n, sizeof(long), cmp_long);
	if (vt_pins(&acq, &rel))
		acq = rel = 0;
	printf("# mr_many: mrs=%ld rounds=%ld fsyncs=%ld none_us=%.0f/%ld with_us=%.0f/%ld ratio=%.3f ratio_min=%.3f ratio_max=%.3f reg_ms=%ld dereg_ms=%ld records=%ld pins_left=%ld\n",
	       nr, rounds, fsyncs, mean(none, n), none[n * 9 / 10],
	       mean(with, n), with[n * 9 / 10], q, qmin, qmax, reg_ms / rounds, dereg_ms / rounds, records,
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
