// SPDX-License-Identifier: GPL-2.0
/*
 * replay - rebuild a disk from a dm-log-writes log, one crash state after
 * another, and have each one checked.
 *
 * The log (Documentation/admin-guide/device-mapper/log-writes.rst) is a
 * super block followed by one entry per write the device completed, in
 * the order a disk cache may have made them durable: the writes that
 * completed before a FLUSH come before it, a FUA write comes as it
 * completed, and a mark ("dmsetup message DEV 0 mark TEXT") comes where it
 * was sent.  The disk at any entry is every write up to it; at a FLUSH, a
 * FUA or a mark it is a state a power cut can leave behind.
 *
 * replay reads the entries once (their headers only), picks the check
 * points (every mark, FLUSH and FUA entry; with -n N, N of them spread
 * evenly, the last always among them; with -f TEXT only those from the
 * mark TEXT on, the states before it being no filesystem yet: a mkfs
 * writes its superblock last), then writes the entries into TARGET
 * in order from an empty disk and, at each check point, runs CMD with
 * "sh -c" and these in its environment:
 *
 *   CRASH_STATE   1, 2, ...: the check point's number
 *   CRASH_ENTRY   the entry's index in the log
 *   CRASH_KIND    mark, flush or fua
 *   CRASH_MARK    the newest mark's text at or before the entry ("" if none)
 *   CRASH_GEN_LO, CRASH_GEN_HI, CRASH_CPU_LO, CRASH_CPU_HI
 *                 when the marks are churn_writer's ("KIND:gen=G:started=S:
 *                 cpu=N"): the newest generation and CPU record a returned
 *                 fsync() had covered by then (the newest mark's gen and
 *                 cpu) and the newest either may be (the next mark's started
 *                 and cpu; the last mark's gen and cpu past it); -1 before
 *                 the first such mark
 *
 * It prints one line per state, "# state=N entry=I kind=K mark=M
 * status=S", and a last line "# replay: entries=E checkpoints=C states=N
 * failed=F"; it exits 1 when CMD failed for any state, 2 on any other
 * error (a log it cannot read, a target it cannot write).  With -l it only
 * lists the check points.
 *
 * Discarded ranges are zeroed (punched, when TARGET is a regular file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define LOG_FLUSH_FLAG		(1 << 0)
#define LOG_FUA_FLAG		(1 << 1)
#define LOG_DISCARD_FLAG	(1 << 2)
#define LOG_MARK_FLAG		(1 << 3)
#define LOG_METADATA_FLAG	(1 << 4)
#define LOG_KNOWN_FLAGS		0x1f

#define WRITE_LOG_VERSION	1ULL
#define WRITE_LOG_MAGIC		0x6a736677736872ULL

#define REPLAY_BUF		(1 << 20)

/* On disk, little endian (drivers/md/dm-log-writes.c) */
struct log_write_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_write_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
} __attribute__((packed));

/* One entry as read: where its data is in the log */
struct entry {
	uint64_t	sector;		/* in the target, in sectorsize units */
	uint64_t	nr_sectors;
	uint64_t	flags;
	uint64_t	data_off;	/* byte offset of its data in the log */
	char		*mark;		/* the mark's text (marks only) */
};

/* What a churn_writer mark says */
struct mark_vals {
	long	gen;
	long	started;
	long	cpu;
};

struct replay {
	int		log_fd;
	int		target_fd;
	bool		target_is_file;
	uint32_t	sectorsize;
	uint64_t	nr_entries;
	struct entry	*entries;
	char		*buf;
};

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s [options] LOG TARGET   replay LOG into TARGET, CMD at each check point\n",
	       argv0);
	printf("  %s -l LOG                 list LOG's check points\n", argv0);
	printf("\n");
	printf("Options:\n");
	printf("  -c, --cmd=CMD       run at each check point (sh -c; default: none)\n");
	printf("  -n, --states=N      check N check points, spread evenly (default: all)\n");
	printf("  -f, --from=TEXT     check points from the mark TEXT on (default: all)\n");
	printf("  -l, --list          list the check points, replay nothing\n");
}

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	while (len) {
		n = pread(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "Couldn't read the log at %" PRIu64 ": %s\n",
				off, n ? strerror(errno) : "end of file");
			return -1;
		}
		buf = (char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

static int write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	while (len) {
		n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "Couldn't write the target at %" PRIu64 ": %s\n",
				off, n ? strerror(errno) : "no space");
			return -1;
		}
		buf = (const char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Read the super and every entry's header; 0 or -1 */
static int read_log(struct replay *r)
{
	struct log_write_super super;
	struct log_write_entry le;
	uint64_t pos, i, data_len;
	struct stat st;
	char *hdr;

	if (read_at(r->log_fd, &super, sizeof(super), 0))
		return -1;
	if (le64toh(super.magic) != WRITE_LOG_MAGIC ||
	    le64toh(super.version) != WRITE_LOG_VERSION) {
		fprintf(stderr, "Not a log-writes log (magic %#" PRIx64 " version %" PRIu64 ")\n",
			le64toh(super.magic), le64toh(super.version));
		return -1;
	}
	r->sectorsize = le32toh(super.sectorsize);
	r->nr_entries = le64toh(super.nr_entries);
	if (r->sectorsize < 512 || r->sectorsize > 65536 ||
	    r->sectorsize & (r->sectorsize - 1)) {
		fprintf(stderr, "Bad sector size %u in the log\n", r->sectorsize);
		return -1;
	}
	if (fstat(r->log_fd, &st)) {
		perror("fstat");
		return -1;
	}
	hdr = malloc(r->sectorsize);
	r->entries = calloc(r->nr_entries ? r->nr_entries : 1,
			    sizeof(*r->entries));
	if (!hdr || !r->entries) {
		perror("malloc");
		free(hdr);
		return -1;
	}

	pos = r->sectorsize;
	for (i = 0; i < r->nr_entries; i++) {
		struct entry *e = &r->entries[i];

		if (read_at(r->log_fd, hdr, r->sectorsize, pos))
			goto err;
		memcpy(&le, hdr, sizeof(le));
		e->sector = le64toh(le.sector);
		e->nr_sectors = le64toh(le.nr_sectors);
		e->flags = le64toh(le.flags);
		data_len = le64toh(le.data_len);
		if (e->flags & ~(uint64_t)LOG_KNOWN_FLAGS) {
			fprintf(stderr, "Entry %" PRIu64 ": unknown flags %#" PRIx64 "\n",
				i, e->flags);
			goto err;
		}
		pos += r->sectorsize;
		e->data_off = pos;
		if (e->flags & LOG_MARK_FLAG) {
			if (data_len > r->sectorsize - sizeof(le))
				data_len = r->sectorsize - sizeof(le);
			e->mark = strndup(hdr + sizeof(le), data_len);
			if (!e->mark) {
				perror("strndup");
				goto err;
			}
			continue;
		}
		if (e->flags & LOG_DISCARD_FLAG)
			continue;
		pos += e->nr_sectors * r->sectorsize;
		/* A block device's size is not st_size; the reads will tell */
		if (S_ISREG(st.st_mode) && pos > (uint64_t)st.st_size) {
			fprintf(stderr, "Entry %" PRIu64 ": data past the log's end\n",
				i);
			goto err;
		}
	}
	free(hdr);
	return 0;
err:
	free(hdr);
	return -1;
}

/* Write entry @i into the target */
static int apply(struct replay *r, uint64_t i)
{
	struct entry *e = &r->entries[i];
	uint64_t off = e->sector * r->sectorsize;
	uint64_t len = e->nr_sectors * r->sectorsize, n;
	uint64_t src = e->data_off;

	if (e->flags & LOG_MARK_FLAG || !len)
		return 0;
	if (e->flags & LOG_DISCARD_FLAG) {
		if (r->target_is_file &&
		    !fallocate(r->target_fd,
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       off, len))
			return 0;
		memset(r->buf, 0, REPLAY_BUF);
		while (len) {
			n = len < REPLAY_BUF ? len : REPLAY_BUF;
			if (write_at(r->target_fd, r->buf, n, off))
				return -1;
			off += n;
			len -= n;
		}
		return 0;
	}
	while (len) {
		n = len < REPLAY_BUF ? len : REPLAY_BUF;
		if (read_at(r->log_fd, r->buf, n, src) ||
		    write_at(r->target_fd, r->buf, n, off))
			return -1;
		src += n;
		off += n;
		len -= n;
	}
	return 0;
}

static bool is_checkpoint(const struct entry *e)
{
	return e->flags & (LOG_MARK_FLAG | LOG_FLUSH_FLAG | LOG_FUA_FLAG);
}

static const char *kind(const struct entry *e)
{
	if (e->flags & LOG_MARK_FLAG)
		return "mark";
	return e->flags & LOG_FLUSH_FLAG ? "flush" : "fua";
}

/* Parse "KIND:gen=G:started=S:cpu=N"; false when the mark is not one */
static bool parse_mark(const char *text, struct mark_vals *v)
{
	const char *p = strchr(text, ':');

	return p && sscanf(p, ":gen=%ld:started=%ld:cpu=%ld", &v->gen,
			   &v->started, &v->cpu) == 3;
}

static void setenv_long(const char *name, long val)
{
	char s[32];

	snprintf(s, sizeof(s), "%ld", val);
	setenv(name, s, 1);
}

/* Run @cmd for check point @state at entry @i; its exit status or -1 */
static int run_check(const char *cmd, long state, uint64_t i,
		     const struct entry *e, const char *mark,
		     const struct mark_vals *lo, const struct mark_vals *hi)
{
	int status;
	pid_t pid;

	setenv_long("CRASH_STATE", state);
	setenv_long("CRASH_ENTRY", (long)i);
	setenv("CRASH_KIND", kind(e), 1);
	setenv("CRASH_MARK", mark ? mark : "", 1);
	setenv_long("CRASH_GEN_LO", lo ? lo->gen : -1);
	setenv_long("CRASH_GEN_HI", hi ? hi->started : -1);
	setenv_long("CRASH_CPU_LO", lo ? lo->cpu : -1);
	setenv_long("CRASH_CPU_HI", hi ? hi->cpu : -1);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (!pid) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "cmd",	required_argument,	NULL, 'c' },
		{ "states",	required_argument,	NULL, 'n' },
		{ "from",	required_argument,	NULL, 'f' },
		{ "list",	no_argument,		NULL, 'l' },
		{ "help",	no_argument,		NULL, 'h' },
		{}
	};
	struct replay r = { .log_fd = -1, .target_fd = -1 };
	struct mark_vals cur, next, *hi;
	uint64_t i, done = 0, *cps = NULL, ncp = 0, *next_mark = NULL;
	long states = 0, nstates, j, failed = 0, s;
	const char *cmd = NULL, *mark = NULL, *from = NULL;
	bool have_cur = false, list = false;
	int opt, ret = 2, st;
	struct stat sb;

	while ((opt = getopt_long(argc, argv, "c:n:f:lh", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			from = optarg;
			break;
		case 'c':
			cmd = optarg;
			break;
		case 'n':
			states = strtol(optarg, NULL, 0);
			if (states <= 0) {
				fprintf(stderr, "-n takes a number above 0, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'l':
			list = true;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (optind != argc - (list ? 1 : 2)) {
		usage(argv[0]);
		return 2;
	}

	r.log_fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (r.log_fd < 0) {
		fprintf(stderr, "Couldn't open %s: %s\n", argv[optind],
			strerror(errno));
		return 2;
	}
	if (read_log(&r))
		goto out;

	/* The check points, and for each entry the index of the next mark */
	cps = calloc(r.nr_entries + 1, sizeof(*cps));
	next_mark = calloc(r.nr_entries + 1, sizeof(*next_mark));
	if (!cps || !next_mark) {
		perror("calloc");
		goto out;
	}
	for (i = 0; i < r.nr_entries; i++) {
		if (from && r.entries[i].mark && !strcmp(r.entries[i].mark, from))
			from = NULL;
		if (!from && is_checkpoint(&r.entries[i]))
			cps[ncp++] = i;
	}
	if (from) {
		fprintf(stderr, "No mark '%s' in the log\n", from);
		goto out;
	}
	next_mark[r.nr_entries] = r.nr_entries;
	for (i = r.nr_entries; i-- > 0;)
		next_mark[i] = r.entries[i].flags & LOG_MARK_FLAG &&
			       parse_mark(r.entries[i].mark, &cur) ?
			       i : next_mark[i + 1];
	nstates = states && states < (long)ncp ? states : (long)ncp;

	if (list) {
		for (i = 0; i < ncp; i++)
			printf("%" PRIu64 " %s %s\n", cps[i], kind(&r.entries[cps[i]]),
			       r.entries[cps[i]].mark ? r.entries[cps[i]].mark : "");
		printf("# replay: entries=%" PRIu64 " checkpoints=%" PRIu64 "\n",
		       r.nr_entries, ncp);
		ret = 0;
		goto out;
	}

	r.target_fd = open(argv[optind + 1], O_RDWR | O_CLOEXEC);
	if (r.target_fd < 0) {
		fprintf(stderr, "Couldn't open %s: %s\n", argv[optind + 1],
			strerror(errno));
		goto out;
	}
	r.target_is_file = !fstat(r.target_fd, &sb) && S_ISREG(sb.st_mode);
	r.buf = malloc(REPLAY_BUF);
	if (!r.buf) {
		perror("malloc");
		goto out;
	}

	for (j = 0; j < nstates; j++) {
		/* Spread evenly, the last check point always included */
		uint64_t cp = cps[nstates == (long)ncp ? (uint64_t)j :
				  (uint64_t)((j + 1) * ncp / nstates - 1)];

		for (; done <= cp; done++) {
			struct entry *e = &r.entries[done];

			if (apply(&r, done))
				goto out;
			if (e->flags & LOG_MARK_FLAG) {
				mark = e->mark;
				if (parse_mark(e->mark, &cur))
					have_cur = true;
			}
		}
		/* The newest a state may hold: the next mark's, or the last's */
		hi = NULL;
		if (next_mark[done] < r.nr_entries &&
		    parse_mark(r.entries[next_mark[done]].mark, &next))
			hi = &next;
		else if (have_cur)
			hi = &cur;
		s = 0;
		if (cmd) {
			if (fdatasync(r.target_fd)) {
				perror("fdatasync");
				goto out;
			}
			s = run_check(cmd, j + 1, cp, &r.entries[cp], mark,
				      have_cur ? &cur : NULL,
				      have_cur ? hi : NULL);
		}
		st = (int)s;
		if (st)
			failed++;
		printf("# state=%ld entry=%" PRIu64 " kind=%s mark=%s status=%d\n",
		       j + 1, cp, kind(&r.entries[cp]), mark ? mark : "-", st);
		fflush(stdout);
	}
	printf("# replay: entries=%" PRIu64 " checkpoints=%" PRIu64 " states=%ld failed=%ld\n",
	       r.nr_entries, ncp, nstates, failed);
	ret = failed ? 1 : 0;
out:
	if (r.entries)
		for (i = 0; i < r.nr_entries; i++)
			free(r.entries[i].mark);
	free(r.entries);
	free(r.buf);
	free(cps);
	free(next_mark);
	if (r.target_fd >= 0)
		close(r.target_fd);
	close(r.log_fd);
	return ret;
}
