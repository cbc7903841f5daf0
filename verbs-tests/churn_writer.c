// SPDX-License-Identifier: GPL-2.0
/*
 * churn_writer - the guest half of scripts/powercut-churn: continuous RDMA
 * writes into a registered file while a child fsyncs it, and a power cut
 * in the middle of it.
 *
 * It creates FILE (SIZE zero bytes, on disk, directory entry included),
 * maps it shared, registers the mapping as a writable MR, fsyncs once (the
 * pin-time fault dirtied the pages) and prints "# event=start ...".  Then it
 * writes generation after generation (vt_churn.c: a new pattern per
 * generation, CHUNK bytes per RDMA WRITE in random order, VT_MAX_WR in
 * flight) while the syncer child loops fsync().  CUT seconds after the
 * start it stops posting, prints
 *   # event=cut after_ms=T gen=N gen_done=N synced_gen=G writes=N fsyncs=N ...
 *       redirtied=+N bounced=+N bounce_failed=+N   (/proc/vmstat deltas)
 *       file_pins=0|1   (1: the kernel counts long-term file pins at all)
 * and, writes still in flight and the syncer still syncing, writes 'b' to
 * /proc/sysrq-trigger: a reset with no sync, which QEMU -no-reboot turns
 * into a power cut.  synced_gen is the newest generation a returned
 * fsync() covered: the file must hold it, or a newer one, after the cut.
 *
 * With -k it checks a file read back after the cut: every byte must hold
 * one of generations LO..HI ("-g LO -G HI"; with LO 0 the zeroes of the
 * new file count too).  It prints
 *   # lo=LO hi=HI current=X stale=X zero=X garbage=X size=SIZE
 * and exits 0 only when every byte is current.
 *
 * Exit status: 0 (-n or -k: all went well; else the cut comes first), 1
 * when -k finds bytes that are not current, 2 on any other error.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "vt_churn.h"

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s [options] FILE           churn, then a power cut\n", argv0);
	printf("  %s -k -g LO -G HI [-s] FILE  check FILE after the cut\n", argv0);
	printf("\n");
	printf("Options:\n");
	printf("  -s size     file and MR size (default 16777216)\n");
	printf("  -c chunk    bytes per RDMA WRITE, divides size (default 65536)\n");
	printf("  -t sec      cut this long after the churn starts (default 10)\n");
	printf("  -S n        the syncer also calls sync() every n fsyncs (default 0: never)\n");
	printf("  -n          no power cut: finish the generation, fsync, exit 0\n");
	printf("  -k          check FILE: which generation each byte holds\n");
	printf("  -g, -G      with -k: the oldest and newest generation allowed\n");
	printf("Environment: VT_DEV (rxe0), VT_GID (1)\n");
}

/* FILE of @size zero bytes with its blocks and its name on disk */
static int cw_make_file(const char *path, size_t size)
{
	char dir[PATH_MAX];
	int fd, dfd, ret = -1;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "Couldn't create %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (vt_write_file(fd, size, 0))
		goto clean_fd;
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || fsync(dfd))
		fprintf(stderr, "Couldn't fsync the directory of %s: %s\n",
			path, strerror(errno));
	else
		ret = 0;
	if (dfd >= 0)
		close(dfd);
clean_fd:
	close(fd);
	return ret;
}

/* Print a line and get it out of the UART before anything else happens */
static void cw_say(const char *line)
{
	fputs(line, stdout);
	fflush(stdout);
	tcdrain(STDOUT_FILENO);
}

static void cw_power_cut(void)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	if (fd < 0 || write(fd, "b", 1) != 1)
		fprintf(stderr, "Couldn't trigger sysrq b: %s\n",
			strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int cw_write(const char *path, size_t size, size_t chunk, long cut_s,
		    int sync_every, int cut)
{
	long redirtied0 = vt_vmstat("longterm_file_pin_redirtied");
	long bounced0 = vt_vmstat("longterm_file_pin_bounced");
	long failed0 = vt_vmstat("longterm_file_pin_bounce_failed");
	struct churn c = { .fd = -1 };
	long t0, cut_at;
	char line[512];
	int ret;

	if (cw_make_file(path, size) || churn_init(&c, path, size, chunk,
						   sync_every))
		return 2;
	if (fsync(c.fd)) {
		fprintf(stderr, "Couldn't fsync %s: %s\n", path, strerror(errno));
		goto clean;
	}
	snprintf(line, sizeof(line),
		 "# event=start size=%zu chunk=%zu cut_after_ms=%ld sync_every=%d\n",
		 size, chunk, cut_s * 1000, sync_every);
	cw_say(line);

	t0 = churn_now_ms();
	cut_at = t0 + cut_s * 1000;
	churn_go(&c);
	do {
		ret = churn_gen(&c, cut ? cut_at : 0);
		if (ret < 0)
			goto clean;
	} while (!ret && churn_now_ms() < cut_at);

	snprintf(line, sizeof(line),
		 "# event=%s after_ms=%ld gen=%ld gen_done=%ld synced_gen=%ld writes=%ld fsyncs=%ld syncs=%ld redirtied=%+ld bounced=%+ld bounce_failed=%+ld file_pins=%d\n",
		 cut ? "cut" : "done", churn_now_ms() - t0, c.gen,
		 c.sh->gen_done, c.sh->synced_gen, c.writes, c.sh->fsyncs,
		 c.sh->syncs,
		 redirtied0 < 0 ? 0 : vt_vmstat("longterm_file_pin_redirtied") -
				      redirtied0,
		 bounced0 < 0 ? 0 : vt_vmstat("longterm_file_pin_bounced") -
				    bounced0,
		 failed0 < 0 ? 0 : vt_vmstat("longterm_file_pin_bounce_failed") -
				   failed0,
		 redirtied0 >= 0);
	cw_say(line);
	if (cut) {
		cw_power_cut();
		return 2;	/* still running: the cut failed */
	}
	if (churn_stop_syncer(&c) || fsync(c.fd))
		goto clean;
	return churn_close(&c) ? 2 : 0;

clean:
	churn_close(&c);
	return 2;
}

static int cw_check(const char *path, size_t size, long lo, long hi)
{
	struct churn_tally t;
	size_t done, ok;
	char *buf;

	/* A short file counts as zeroes, not as an error */
	buf = vt_slurp(path, size, &done);
	if (!buf)
		return 2;
	churn_tally(buf, size, lo > 0 ? lo : 1, hi > 0 ? hi : 1, &t);
	if (!lo) {
		/* Nothing synced yet: the new file's zeroes are as good */
		ok = t.current + t.zero;
	} else {
		ok = t.current;
	}
	printf("# lo=%ld hi=%ld current=%zu stale=%zu zero=%zu garbage=%zu size=%zu\n",
	       lo, hi, t.current, t.stale, t.zero, t.garbage, size);
	free(buf);
	return ok == size ? 0 : 1;
}

int main(int argc, char *argv[])
{
	size_t size = 16 << 20, chunk = 64 << 10;
	int cut = 1, check = 0, sync_every = 0;
	long cut_s = 10, lo = -1, hi = -1;
	int opt;

	while ((opt = getopt(argc, argv, "s:c:t:S:nkg:G:h")) != -1) {
		switch (opt) {
		case 's':
			size = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			chunk = strtoull(optarg, NULL, 0);
			break;
		case 't':
			cut_s = strtol(optarg, NULL, 0);
			break;
		case 'S':
			sync_every = strtol(optarg, NULL, 0);
			break;
		case 'n':
			cut = 0;
			break;
		case 'k':
			check = 1;
			break;
		case 'g':
			lo = strtol(optarg, NULL, 0);
			break;
		case 'G':
			hi = strtol(optarg, NULL, 0);
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1 || !size || size % 4096 || !chunk ||
	    chunk % 8 || size % chunk || cut_s < 0 ||
	    (check && (lo < 0 || hi < lo || hi - lo >= CHURN_SEEDS))) {
		usage(argv[0]);
		return 2;
	}
	if (check)
		return cw_check(argv[optind], size, lo, hi);
	return cw_write(argv[optind], size, chunk, cut_s, sync_every, cut);
}
