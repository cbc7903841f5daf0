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
 * With -m NAME (make crash: crash/README.md) the file sits on the
 * device-mapper log-writes device NAME, and every returned fsync() is
 * followed by a mark in its log: the syncer then writes the next record
 * of the CPU file FILE.cpu (CW_CPU_SLOTS records of 4 KiB, record n at
 * slot n % CW_CPU_SLOTS, written and fdatasync()ed with write(2), beside
 * the device's writes) and marks
 *   sync:gen=G:started=S:cpu=N
 * G: the newest generation the fsync() covered, S: the newest one started
 * by then, N: the newest CPU record synced.  "start:gen=0:started=0:cpu=0"
 * comes once the new file and its MR are on disk, "end:..." after the last
 * fsync (-m implies -n).  The writer starts no generation more than
 * CW_WINDOW past the last marked one, so the generations a state may hold
 * stay within what the patterns tell apart.  With -k, -C CPUFILE -x LO -X
 * HI also checks the CPU file: slot k must hold the newest record n <= LO
 * with n % CW_CPU_SLOTS == k (zeroes when there is none) or a newer one up
 * to HI.  The last line of -k is "# lost_bytes=B": the bytes of both
 * files that hold neither.
 *
 * With -n (make stress: stress/README.md), once the syncer stopped and a
 * last fsync() returned ("# event=synced gen=G final_fsync_ms=T"), the
 * file is read back with O_DIRECT while the MR is still registered, and
 *   # disk gen=G current=X stale=X zero=X garbage=X (O_DIRECT)
 *   # disk_lost_bytes=B
 * tell what a power cut would leave: B bytes not holding generation G.
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
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>

#include "vt_churn.h"

#define CW_CPU_SLOTS	64	/* records in the CPU file */
#define CW_CPU_REC	4096	/* bytes per record */
#define CW_WINDOW	100	/* generations started past the last marked one */
#define CW_MARK_LEN	256

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s [options] FILE           churn, then a power cut\n", argv0);
	printf("  %s -k -g LO -G HI [-s] [-C CPUFILE -x LO -X HI] FILE\n", argv0);
	printf("                              check FILE after the cut\n");
	printf("\n");
	printf("Options:\n");
	printf("  -s size     file and MR size (default 16777216)\n");
	printf("  -c chunk    bytes per RDMA WRITE, divides size (default 65536)\n");
	printf("  -t sec      cut this long after the churn starts (default 10)\n");
	printf("  -S n        the syncer also calls sync() every n fsyncs (default 0: never)\n");
	printf("  -n          no power cut: finish the generation, fsync, exit 0\n");
	printf("  -m name     mark the log of dm log-writes device NAME after every fsync,\n");
	printf("              the syncer writing FILE.cpu beside (implies -n)\n");
	printf("  -C file     with -k: check this CPU file too, records -x LO to -X HI\n");
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
static long cw_check_disk(const char *path, size_t size, long gen);

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

/* Send "mark TEXT" to the dm log-writes device @dm; 0 or an errno */
static int cw_dm_mark(const char *dm, const char *text)
{
	union {
		struct dm_ioctl io;
		char buf[sizeof(struct dm_ioctl) + sizeof(struct dm_target_msg) +
			 CW_MARK_LEN];
	} u;
	struct dm_target_msg *msg;
	int fd, err = 0;

	memset(&u, 0, sizeof(u));
	u.io.version[0] = DM_VERSION_MAJOR;
	u.io.data_size = sizeof(u);
	u.io.data_start = sizeof(u.io);
	snprintf(u.io.name, sizeof(u.io.name), "%s", dm);
	msg = (struct dm_target_msg *)(u.buf + u.io.data_start);
	snprintf(msg->message, CW_MARK_LEN, "mark %s", text);
	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, DM_TARGET_MSG, &u.io)) {
		err = errno;
		fprintf(stderr, "Couldn't mark %s with %s: %s\n", dm, text,
			strerror(err));
	}
	if (fd >= 0)
		close(fd);
	return err;
}

/* Record @n of the CPU file: its number, then words only it has */
static void cw_cpu_record(uint64_t *rec, long n)
{
	size_t i;

	rec[0] = n;
	for (i = 1; i < CW_CPU_REC / 8; i++)
		rec[i] = (n * 0x9e3779b97f4a7c15ULL) ^ (i * 0xbf58476d1ce4e5b9ULL);
}

/* Which record @rec holds: n >= 1, 0 for zeroes, -1 for anything else */
static long cw_cpu_which(const uint64_t *rec)
{
	uint64_t want[CW_CPU_REC / 8];
	size_t i;

	if (!rec[0]) {
		for (i = 1; i < CW_CPU_REC / 8 && !rec[i]; i++)
			;
		return i == CW_CPU_REC / 8 ? 0 : -1;
	}
	if (rec[0] > LONG_MAX)
		return -1;
	cw_cpu_record(want, rec[0]);
	return memcmp(rec, want, CW_CPU_REC) ? -1 : (long)rec[0];
}

struct cw_marks {
	const char	*dm;
	int		cpu_fd;
	long		cpu_seq;	/* the newest CPU record synced */
};

/* The syncer's after_fsync(): the next CPU record, then the mark */
static int cw_after_fsync(struct churn *c, long synced_gen)
{
	struct cw_marks *m = c->hook_data;
	uint64_t rec[CW_CPU_REC / 8];
	char text[CW_MARK_LEN];
	long n = m->cpu_seq + 1;

	cw_cpu_record(rec, n);
	if (pwrite(m->cpu_fd, rec, sizeof(rec),
		   (off_t)(n % CW_CPU_SLOTS) * CW_CPU_REC) != sizeof(rec) ||
	    fdatasync(m->cpu_fd)) {
		fprintf(stderr, "Couldn't write CPU record %ld: %s\n", n,
			strerror(errno));
		return errno ? errno : EIO;
	}
	m->cpu_seq = n;
	snprintf(text, sizeof(text), "sync:gen=%ld:started=%ld:cpu=%ld",
		 synced_gen, c->sh->gen_started, n);
	return cw_dm_mark(m->dm, text);
}

static int cw_write(const char *path, size_t size, size_t chunk, long cut_s,
		    int sync_every, int cut, const char *dm)
{
	struct cw_marks marks = { .dm = dm, .cpu_fd = -1 };
	char cpu_path[PATH_MAX + 8], text[CW_MARK_LEN];
	long redirtied0 = vt_vmstat("longterm_file_pin_redirtied");
	long bounced0 = vt_vmstat("longterm_file_pin_bounced");
	long failed0 = vt_vmstat("longterm_file_pin_bounce_failed");
	struct churn c = { .fd = -1 };
	long t0, cut_at;
	char line[512];
	int ret;

	if (cw_make_file(path, size))
		return 2;
	if (dm) {
		snprintf(cpu_path, sizeof(cpu_path), "%s.cpu", path);
		if (cw_make_file(cpu_path, CW_CPU_SLOTS * CW_CPU_REC))
			return 2;
		marks.cpu_fd = open(cpu_path, O_WRONLY | O_CLOEXEC);
		if (marks.cpu_fd < 0) {
			fprintf(stderr, "Couldn't open %s: %s\n", cpu_path,
				strerror(errno));
			return 2;
		}
		c.after_fsync = cw_after_fsync;
		c.hook_data = &marks;
	}
	if (churn_init(&c, path, size, chunk, sync_every)) {
		if (marks.cpu_fd >= 0)
			close(marks.cpu_fd);
		return 2;
	}
	if (fsync(c.fd)) {
		fprintf(stderr, "Couldn't fsync %s: %s\n", path, strerror(errno));
		goto clean;
	}
	if (dm && cw_dm_mark(dm, "start:gen=0:started=0:cpu=0"))
		goto clean;
	snprintf(line, sizeof(line),
		 "# event=start size=%zu chunk=%zu cut_after_ms=%ld sync_every=%d\n",
		 size, chunk, cut_s * 1000, sync_every);
	cw_say(line);

	t0 = churn_now_ms();
	cut_at = t0 + cut_s * 1000;
	churn_go(&c);
	do {
		/* With marks: no further than CW_WINDOW past the last one */
		while (dm && c.gen + 1 - c.sh->hook_gen > CW_WINDOW &&
		       !c.sh->sync_err)
			usleep(1000);
		ret = churn_gen(&c, cut ? cut_at : 0);
		if (ret < 0)
			goto clean;
	} while (!ret && churn_now_ms() < cut_at);

	snprintf(line, sizeof(line),
		 "# event=%s after_ms=%ld gen=%ld gen_done=%ld synced_gen=%ld writes=%ld fsyncs=%ld syncs=%ld fsync_max_ms=%ld redirtied=%+ld bounced=%+ld bounce_failed=%+ld file_pins=%d\n",
		 cut ? "cut" : "done", churn_now_ms() - t0, c.gen,
		 c.sh->gen_done, c.sh->synced_gen, c.writes, c.sh->fsyncs,
		 c.sh->syncs, c.sh->fsync_max_ms,
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
	t0 = churn_now_ms();
	if (churn_stop_syncer(&c) || fsync(c.fd))
		goto clean;
	printf("# event=synced gen=%ld final_fsync_ms=%ld\n", c.gen,
	       churn_now_ms() - t0);
	/* What the disk holds now, with the MR still registered */
	if (cw_check_disk(path, size, c.gen) < 0)
		goto clean;
	if (dm) {
		/* The syncer wrote a CPU record after each of its fsyncs */
		marks.cpu_seq = c.sh->fsyncs;
		snprintf(text, sizeof(text), "end:gen=%ld:started=%ld:cpu=%ld",
			 c.gen, c.gen, marks.cpu_seq);
		if (cw_dm_mark(dm, text))
			goto clean;
		close(marks.cpu_fd);
		printf("# event=end gen=%ld cpu=%ld marks=%ld\n", c.gen,
		       marks.cpu_seq, c.sh->fsyncs + 2);
	}
	return churn_close(&c) ? 2 : 0;

clean:
	churn_close(&c);
	if (marks.cpu_fd >= 0)
		close(marks.cpu_fd);
	return 2;
}

/*
 * Read @path (@size bytes) from the disk, with O_DIRECT: once fsync()
 * returned, the page cache has nothing dirty left to write first, so this
 * is what a power cut would leave.  Prints
 *   # disk gen=G current= stale= zero= garbage= (O_DIRECT)
 *   # disk_lost_bytes=B
 * B: the bytes not holding generation @gen.  Returns B; 0 with "# disk
 * unreadable" and no disk_lost_bytes line for a filesystem without
 * O_DIRECT; -1 when the read fails.
 */
static long cw_check_disk(const char *path, size_t size, long gen)
{
	struct churn_tally t;
	size_t done = 0;
	ssize_t n;
	void *buf;
	int fd;

	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0) {
		printf("# disk unreadable: %s\n", strerror(errno));
		return 0;
	}
	if (posix_memalign(&buf, 4096, size)) {
		close(fd);
		return -1;
	}
	while (done < size) {
		n = pread(fd, (char *)buf + done, size - done, done);
		if (n <= 0)
			break;
		done += n;
	}
	close(fd);
	if (done < size) {
		fprintf(stderr, "Couldn't read %s with O_DIRECT: %s\n", path,
			strerror(errno));
		free(buf);
		return -1;
	}
	churn_tally(buf, size, gen, gen, &t);
	printf("# disk gen=%ld current=%zu stale=%zu zero=%zu garbage=%zu (O_DIRECT)\n",
	       gen, t.current, t.stale, t.zero, t.garbage);
	printf("# disk_lost_bytes=%zu\n", size - t.current);
	free(buf);
	return size - t.current;
}

/* Bytes of the MR file @path not holding generations @lo..@hi; -1: unreadable */
static long cw_check_file(const char *path, size_t size, long lo, long hi)
{
	struct churn_tally t;
	size_t done, ok;
	char *buf;

	/* A short file counts as zeroes, not as an error */
	buf = vt_slurp(path, size, &done);
	if (!buf)
		return -1;
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
	return size - ok;
}

/* Bytes of the CPU file @path not holding records @lo..@hi; -1: unreadable */
static long cw_check_cpu(const char *path, long lo, long hi)
{
	size_t size = CW_CPU_SLOTS * CW_CPU_REC, done;
	long k, n, low, stale = 0, zero = 0, garbage = 0, current = 0;
	char *buf;

	buf = vt_slurp(path, size, &done);
	if (!buf)
		return -1;
	for (k = 0; k < CW_CPU_SLOTS; k++) {
		/* The newest record at slot k that a returned fdatasync covered */
		low = lo - ((lo - k) % CW_CPU_SLOTS + CW_CPU_SLOTS) % CW_CPU_SLOTS;
		n = cw_cpu_which((const uint64_t *)(buf + k * CW_CPU_REC));
		if (!n && low <= 0)
			current++;		/* never synced: zeroes will do */
		else if (!n)
			zero++;
		else if (n < 0 || n % CW_CPU_SLOTS != k || n > hi)
			garbage++;
		else if (n >= low)
			current++;
		else
			stale++;
	}
	printf("# cpu lo=%ld hi=%ld current=%ld stale=%ld zero=%ld garbage=%ld records=%d\n",
	       lo, hi, current, stale, zero, garbage, CW_CPU_SLOTS);
	free(buf);
	return (CW_CPU_SLOTS - current) * CW_CPU_REC;
}

static int cw_check(const char *path, size_t size, long lo, long hi,
		    const char *cpu_path, long cpu_lo, long cpu_hi)
{
	long lost, cpu_lost = 0;

	lost = cw_check_file(path, size, lo, hi);
	if (lost < 0)
		lost = size;
	if (cpu_path) {
		cpu_lost = cw_check_cpu(cpu_path, cpu_lo, cpu_hi);
		if (cpu_lost < 0)
			cpu_lost = CW_CPU_SLOTS * CW_CPU_REC;
	}
	printf("# lost_bytes=%ld\n", lost + cpu_lost);
	return lost + cpu_lost ? 1 : 0;
}

int main(int argc, char *argv[])
{
	size_t size = 16 << 20, chunk = 64 << 10;
	int cut = 1, check = 0, sync_every = 0;
	long cut_s = 10, lo = -1, hi = -1, cpu_lo = -1, cpu_hi = -1;
	const char *dm = NULL, *cpu_path = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "s:c:t:S:nkg:G:m:C:x:X:h")) != -1) {
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
		case 'm':
			dm = optarg;
			cut = 0;
			break;
		case 'C':
			cpu_path = optarg;
			break;
		case 'x':
			cpu_lo = strtol(optarg, NULL, 0);
			break;
		case 'X':
			cpu_hi = strtol(optarg, NULL, 0);
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
	    (check && (lo < 0 || hi < lo || hi - lo >= CHURN_SEEDS)) ||
	    (check && cpu_path && (cpu_lo < 0 || cpu_hi < cpu_lo)) ||
	    (dm && (check || !*dm || strlen(dm) >= DM_NAME_LEN))) {
		usage(argv[0]);
		return 2;
	}
	if (check)
		return cw_check(argv[optind], size, lo, hi, cpu_path, cpu_lo,
				cpu_hi);
	return cw_write(argv[optind], size, chunk, cut_s, sync_every, cut, dm);
}
