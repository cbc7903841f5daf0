// SPDX-License-Identifier: GPL-2.0
/*
 * gup_test_release - a gup_test file released beside another one's STOP.
 *
 * mm/gup_test.c keeps one long-term pin test for all its open files: the
 * ioctls START and STOP it under pin_longterm_test_mutex, and a release
 * stops it too.  A release that does not take the mutex unpins the pages
 * a STOP is unpinning, a second time (and, for an owned pin, drops its mm
 * twice), and a START racing it keeps pinning into a page array the
 * release freed: pins leak.  One thread pins a buffer and stops, over and
 * over, while another opens and closes gup_test; then the FOLL_PIN
 * counters must have moved alike (nr_foll_pin_acquired and
 * nr_foll_pin_released), which assumes no other FOLL_PIN user in the
 * guest meanwhile (no O_DIRECT, no io_uring).
 *
 *   gup_test_release [SECONDS]     default 3; prints one TAP result
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "mm/gup_test.h"	/* the ABI of the tree under test (-I TREE) */

#define BUF_SIZE	(16UL << 20)
#define GUP_TEST	"/sys/kernel/debug/gup_test"

static atomic_bool stop;

/* /proc/vmstat's FOLL_PIN counters, per-CPU deltas folded in first */
static int foll_pins(long *acquired, long *released)
{
	char name[64];
	long val;
	FILE *f;
	int fd;

	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			perror("stat_refresh");
		close(fd);
	}
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	*acquired = *released = -1;
	while (fscanf(f, "%63s %ld", name, &val) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			*acquired = val;
		else if (!strcmp(name, "nr_foll_pin_released"))
			*released = val;
	}
	fclose(f);
	return *acquired < 0 || *released < 0 ? -1 : 0;
}

static atomic_long releases;

static void *releaser(void *arg)
{
	int fd;

	while (!atomic_load(&stop)) {
		fd = open(GUP_TEST, O_RDWR);
		if (fd >= 0 && !close(fd))
			atomic_fetch_add(&releases, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int secs = argc > 1 ? atoi(argv[1]) : 3;
	struct pin_longterm_test args = {};
	long rounds = 0, busy = 0, acq0, rel0, acq, rel;
	int err = 0;
	pthread_t thread;
	time_t end;
	char *buf;
	int fd;

	printf("TAP version 13\n1..1\n");
	fd = open(GUP_TEST, O_RDWR);
	if (fd < 0) {
		printf("ok 1 gup_test.release_beside_stop # SKIP %s: %s\n",
		       GUP_TEST, strerror(errno));
		return 0;
	}
	buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		printf("not ok 1 gup_test.release_beside_stop # mmap: %s\n",
		       strerror(errno));
		return 1;
	}
	memset(buf, 1, BUF_SIZE);
	args.addr = (uintptr_t)buf;
	args.size = BUF_SIZE;
	args.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE;

	if (foll_pins(&acq0, &rel0)) {
		printf("not ok 1 gup_test.release_beside_stop # no FOLL_PIN counters\n");
		return 1;
	}
	if (pthread_create(&thread, NULL, releaser, NULL)) {
		printf("not ok 1 gup_test.release_beside_stop # pthread_create\n");
		return 1;
	}
	end = time(NULL) + secs;
	while (time(NULL) < end) {
		/* EINVAL: a test is running (ours, not yet stopped) */
		if (ioctl(fd, PIN_LONGTERM_TEST_START, &args)) {
			if (errno != EINVAL) {
				err = errno;
				break;
			}
			busy++;
		}
		ioctl(fd, PIN_LONGTERM_TEST_STOP);
		rounds++;
	}
	atomic_store(&stop, true);
	pthread_join(thread, NULL);
	close(fd);
	if (foll_pins(&acq, &rel)) {
		printf("not ok 1 gup_test.release_beside_stop # no FOLL_PIN counters\n");
		return 1;
	}
	acq -= acq0;
	rel -= rel0;
	printf("# rounds=%ld releases=%ld busy=%ld pins acquired=%ld released=%ld\n",
	       rounds, atomic_load(&releases), busy, acq, rel);
	if (err)
		printf("# PIN_LONGTERM_TEST_START: %s\n", strerror(err));
	/* Both sides must have run, or nothing raced */
	if (err || !rounds || !atomic_load(&releases) || acq != rel) {
		printf("not ok 1 gup_test.release_beside_stop\n");
		return 1;
	}
	printf("ok 1 gup_test.release_beside_stop\n");
	return 0;
}
