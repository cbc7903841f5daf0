// SPDX-License-Identifier: GPL-2.0
/*
 * filepins - who holds long-term pins on which ranges of which files
 *
 * A long-term pin (an RDMA memory region over a file mapping, for instance)
 * keeps file pages in memory for as long as its owner likes, and the
 * kernel of this project refuses to truncate a range pinned for write
 * (ETXTBSY).  The kernel lists each process's pins in /proc/<pid>/file_pins
 * and counts them in /proc/vmstat (longterm_file_pin_*); this tool reads
 * them for every process, like lsof does for open files.
 *
 * Files given on the command line are matched by device and inode, not by
 * name: a hard link or another path to the same file finds its pins.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define FILEPINS_VERSION	"1"

/* Exit status: see usage() */
#define EXIT_OK			0
#define EXIT_ERROR		1
#define EXIT_INCOMPLETE		2
#define EXIT_UNSUPPORTED	3

#define COUNTER_PREFIX		"longterm_file_pin_"

/* One line of /proc/<pid>/file_pins: a run of pinned pages of one file */
struct pin {
	pid_t pid;
	char *comm;
	char *owner;		/* the file the pin was taken through, or "-" */
	char *file;		/* the pinned file, as the kernel names it */
	unsigned long first, last;	/* page offsets in the file, inclusive */
	unsigned long pages;	/* of those, still pinned */
	char access[8];		/* "rw" or "ro" */
};

struct filepins {
	/* what to list */
	pid_t *pids;
	int nr_pids;
	struct stat *files;
	int nr_files;
	bool json, noheadings, counters;

	/* what was found */
	struct pin *pins;
	size_t nr_pins, max_pins;
	int denied;		/* processes whose pins we may not read */
	pid_t denied_pid;	/* the first of them */
	int errors;		/* lines we could not parse or read */
};

static const char *prog;

static void __attribute__((noreturn)) usage(void)
{
	printf("Usage:\n"
	       " %1$s [options] [FILE...]\n"
	       "\n"
	       "List the long-term pins of file pages (RDMA memory regions over\n"
	       "file mappings, ...): which process pins which pages of which file.\n"
	       "With FILEs, only the pins of those files (matched by device and\n"
	       "inode, so any name of a file finds its pins).\n"
	       "\n"
	       "Options:\n"
	       " -p, --pid PID      only the pins of process PID (repeatable)\n"
	       " -c, --counters     print the longterm_file_pin_* counters of\n"
	       "                    /proc/vmstat and the pages pinned now instead\n"
	       " -J, --json         use JSON output format\n"
	       " -n, --noheadings   do not print a header line\n"
	       " -h, --help         display this help\n"
	       " -V, --version      display version\n"
	       "\n"
	       "Columns: PID, COMMAND, ACCESS (rw: pinned for write, which blocks\n"
	       "truncating the range; ro), PGOFF (first-last page of the file,\n"
	       "inclusive), PAGES (still pinned), OWNER (the file the pin was\n"
	       "taken through, /dev/infiniband/uverbsN for RDMA), FILE.  Spaces,\n"
	       "tabs, newlines and backslashes in names are shown as \\ooo, as in\n"
	       "/proc/<pid>/file_pins (FILE, the last column, keeps its spaces).\n"
	       "\n"
	       "Exit status:\n"
	       " 0  success (also when nothing is pinned)\n"
	       " 1  bad usage, a FILE or PID that does not exist, unreadable /proc\n"
	       " 2  the pins of some processes could not be read (permission\n"
	       "    denied: run as root); the listing is incomplete\n"
	       " 3  this kernel does not report long-term file pins\n"
	       "    (no /proc/<pid>/file_pins)\n", prog);
	exit(EXIT_OK);
}

static void __attribute__((noreturn)) errtryhelp(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	exit(EXIT_ERROR);
}

static void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size);

	if (!p) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(EXIT_ERROR);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	return strcpy(xrealloc(NULL, strlen(s) + 1), s);
}

/*
 * Undo the kernel's escaping (seq_file's mangle_path(): '\' and three octal
 * digits for each space, tab, newline and backslash), in place.
 */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d = (s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0');
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = '\0';
}

/*
 * Parse one line, "owner=O file=F pgoff=A-B pages=N access=rw|ro": tokens
 * separated by spaces (the kernel escapes those in names), unknown keys
 * ignored so that a later kernel may add some.  Return 0, or -1.
 */
static int parse_pin(char *line, struct pin *pin)
{
	enum { OWNER = 1, FILE_ = 2, PGOFF = 4, PAGES = 8, ACCESS = 16 };
	char *tok, *val, *save, *end;
	unsigned int seen = 0;

	for (tok = strtok_r(line, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		val = strchr(tok, '=');
		if (!val)
			return -1;
		*val++ = '\0';
		errno = 0;
		if (!strcmp(tok, "owner")) {
			unescape(val);
			pin->owner = val;
			seen |= OWNER;
		} else if (!strcmp(tok, "file")) {
			unescape(val);
			pin->file = val;
			seen |= FILE_;
		} else if (!strcmp(tok, "pgoff")) {
			pin->first = strtoul(val, &end, 10);
			if (end == val || *end != '-')
				return -1;
			val = end + 1;
			pin->last = strtoul(val, &end, 10);
			if (end == val || *end || errno || pin->last < pin->first)
				return -1;
			seen |= PGOFF;
		} else if (!strcmp(tok, "pages")) {
			pin->pages = strtoul(val, &end, 10);
			if (end == val || *end || errno)
				return -1;
			seen |= PAGES;
		} else if (!strcmp(tok, "access")) {
			if (strcmp(val, "rw") && strcmp(val, "ro"))
				return -1;
			strcpy(pin->access, val);
			seen |= ACCESS;
		}
	}
	return seen == (OWNER | FILE_ | PGOFF | PAGES | ACCESS) ? 0 : -1;
}

/* Is this pinned file one of those asked about? */
static bool file_wanted(const struct filepins *fp, const char *file)
{
	struct stat st;
	int i;

	if (!fp->nr_files)
		return true;
	/*
	 * The kernel names the file by its path from our root; a file deleted
	 * since ends in " (deleted)" and can no longer be matched.
	 */
	if (stat(file, &st))
		return false;
	for (i = 0; i < fp->nr_files; i++)
		if (st.st_dev == fp->files[i].st_dev &&
		    st.st_ino == fp->files[i].st_ino)
			return true;
	return false;
}

/* The command name of @pid, "?" once it is gone */
static char *read_comm(pid_t pid)
{
	char path[64], comm[64] = "?";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			strcpy(comm, "?");
		fclose(f);
		comm[strcspn(comm, "\n")] = '\0';
	}
	return xstrdup(comm);
}

static void add_pin(struct filepins *fp, const struct pin *pin)
{
	struct pin *p;

	if (fp->nr_pins == fp->max_pins) {
		fp->max_pins = fp->max_pins ? 2 * fp->max_pins : 16;
		fp->pins = xrealloc(fp->pins, fp->max_pins * sizeof(*fp->pins));
	}
	p = &fp->pins[fp->nr_pins++];
	*p = *pin;
	p->owner = xstrdup(pin->owner);
	p->file = xstrdup(pin->file);
}

/*
 * Read the pins of one process.  One it may not look at is counted in
 * fp->denied; one that exits meanwhile is simply not listed: the kernel
 * builds the whole file at the first read, so what we get is one snapshot.
 */
static void read_process(struct filepins *fp, pid_t pid)
{
	size_t first = fp->nr_pins, len = 0;
	char path[64], *line = NULL, *comm;
	struct pin pin;
	int nr = 0, err;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/file_pins", pid);
	f = fopen(path, "r");
	if (!f) {
		err = errno;
		goto out_error;
	}
	while (getline(&line, &len, f) > 0) {
		nr++;
		memset(&pin, 0, sizeof(pin));
		pin.pid = pid;
		if (parse_pin(line, &pin)) {
			fprintf(stderr, "%s: %s: line %d: cannot parse\n",
				prog, path, nr);
			fp->errors++;
			continue;
		}
		if (file_wanted(fp, pin.file))
			add_pin(fp, &pin);
	}
	if (ferror(f)) {
		err = errno;
		goto out_close;
	}
	fclose(f);
	free(line);

	if (fp->nr_pins > first) {
		/* Only the few processes with pins pay for their name */
		comm = read_comm(pid);
		for (; first < fp->nr_pins; first++)
			fp->pins[first].comm = comm;
	}
	return;

out_close:
	fclose(f);
	free(line);
out_error:
	switch (err) {
	case ENOENT:		/* exited before the open */
	case ESRCH:		/* exited before the read */
		return;
	case EACCES:
	case EPERM:
		if (!fp->denied++)
			fp->denied_pid = pid;
		return;
	default:
		fprintf(stderr, "%s: cannot read %s: %s\n", prog, path,
			strerror(err));
		fp->errors++;
	}
}

static pid_t parse_pid(const char *s)
{
	char *end;
	long val;

	errno = 0;
	val = strtol(s, &end, 10);
	if (end == s || *end || errno || val <= 0 || val > INT_MAX)
		return 0;
	return val;
}

static int read_all(struct filepins *fp)
{
	struct dirent *de;
	DIR *dir;
	pid_t pid;
	int i;

	/* Asked for: read those (a thread's ID names its process's mm too) */
	if (fp->nr_pids) {
		for (i = 0; i < fp->nr_pids; i++)
			read_process(fp, fp->pids[i]);
		return 0;
	}
	dir = opendir("/proc");
	if (!dir) {
		fprintf(stderr, "%s: cannot read /proc: %s\n", prog,
			strerror(errno));
		return -1;
	}
	/* Only thread group leaders are listed in /proc: one entry per mm */
	while ((errno = 0, de = readdir(dir))) {
		pid = parse_pid(de->d_name);
		if (pid)
			read_process(fp, pid);
	}
	if (errno) {
		fprintf(stderr, "%s: cannot read /proc: %s\n", prog,
			strerror(errno));
		closedir(dir);
		return -1;
	}
	closedir(dir);
	return 0;
}

static int cmp_pin(const void *a, const void *b)
{
	const struct pin *x = a, *y = b;
	int ret;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	ret = strcmp(x->file, y->file);
	if (ret)
		return ret;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return strcmp(x->owner, y->owner);
}

/*
 * @s as one table column: bytes the kernel escapes (space, tab, newline,
 * backslash), other control characters and, unless @spaces, spaces as \ooo.
 */
static char *table_escape(const char *s, bool spaces)
{
	char *out = xrealloc(NULL, 4 * strlen(s) + 1), *d = out;
	unsigned char c;

	for (; (c = *s); s++) {
		if (c == '\\' || c < ' ' || c == 0x7f || (c == ' ' && !spaces))
			d += sprintf(d, "\\%03o", c);
		else
			*d++ = c;
	}
	*d = '\0';
	return out;
}

static void print_table(const struct filepins *fp)
{
	static const char *const head[] = {
		"PID", "COMMAND", "ACCESS", "PGOFF", "PAGES", "OWNER", "FILE",
	};
	enum { PID, COMM, ACCESS, PGOFF, PAGES, OWNER, FILE_, NR_COLS };
	char *(*cell)[NR_COLS];
	int w[NR_COLS] = { 0 }, c;
	size_t i;

	cell = xrealloc(NULL, (fp->nr_pins + 1) * sizeof(*cell));
	for (c = 0; c < NR_COLS; c++)
		cell[0][c] = xstrdup(head[c]);
	for (i = 0; i < fp->nr_pins; i++) {
		const struct pin *p = &fp->pins[i];
		char buf[64];

		snprintf(buf, sizeof(buf), "%d", p->pid);
		cell[i + 1][PID] = xstrdup(buf);
		cell[i + 1][COMM] = table_escape(p->comm, false);
		cell[i + 1][ACCESS] = xstrdup(p->access);
		snprintf(buf, sizeof(buf), "%lu-%lu", p->first, p->last);
		cell[i + 1][PGOFF] = xstrdup(buf);
		snprintf(buf, sizeof(buf), "%lu", p->pages);
		cell[i + 1][PAGES] = xstrdup(buf);
		cell[i + 1][OWNER] = table_escape(p->owner, false);
		cell[i + 1][FILE_] = table_escape(p->file, true);
	}
	for (i = fp->noheadings; i <= fp->nr_pins; i++)
		for (c = 0; c < NR_COLS; c++)
			if ((int)strlen(cell[i][c]) > w[c])
				w[c] = strlen(cell[i][c]);

	for (i = fp->noheadings; i <= fp->nr_pins; i++) {
		/* Numbers to the right, the last column not padded */
		printf("%*s %-*s %-*s %-*s %*s %-*s %s\n",
		       w[PID], cell[i][PID], w[COMM], cell[i][COMM],
		       w[ACCESS], cell[i][ACCESS], w[PGOFF], cell[i][PGOFF],
		       w[PAGES], cell[i][PAGES], w[OWNER], cell[i][OWNER],
		       cell[i][FILE_]);
	}
	for (i = 0; i <= fp->nr_pins; i++)
		for (c = 0; c < NR_COLS; c++)
			free(cell[i][c]);
	free(cell);
}

static void print_json_string(const char *s)
{
	unsigned char c;

	putchar('"');
	for (; (c = *s); s++) {
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < ' ' || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const struct filepins *fp)
{
	size_t i;

	printf("{\n   \"filepins\": [");
	for (i = 0; i < fp->nr_pins; i++) {
		const struct pin *p = &fp->pins[i];

		printf("%s\n      {\"pid\": %d, \"command\": ", i ? "," : "",
		       p->pid);
		print_json_string(p->comm);
		printf(", \"access\": \"%s\", \"first\": %lu, \"last\": %lu",
		       p->access, p->first, p->last);
		printf(", \"pages\": %lu, \"owner\": ", p->pages);
		print_json_string(p->owner);
		printf(", \"file\": ");
		print_json_string(p->file);
		putchar('}');
	}
	printf("%s]\n}\n", fp->nr_pins ? "\n   " : "");
}

/*
 * --counters: the longterm_file_pin_* lines of /proc/vmstat as they are,
 * then the pages pinned now (acquired - released).
 */
static int print_counters(const struct filepins *fp)
{
	long acquired = -1, released = -1, val;
	char key[128], (*keys)[128] = NULL;
	long *vals = NULL;
	int nr = 0, i, w = 0;
	FILE *f;

	f = fopen("/proc/vmstat", "r");
	if (!f) {
		fprintf(stderr, "%s: cannot read /proc/vmstat: %s\n", prog,
			strerror(errno));
		return EXIT_ERROR;
	}
	while (fscanf(f, "%127s %ld", key, &val) == 2) {
		if (strncmp(key, COUNTER_PREFIX, strlen(COUNTER_PREFIX)))
			continue;
		keys = xrealloc(keys, (nr + 1) * sizeof(*keys));
		vals = xrealloc(vals, (nr + 1) * sizeof(*vals));
		strcpy(keys[nr], key);
		vals[nr++] = val;
		if (!strcmp(key, COUNTER_PREFIX "acquired"))
			acquired = val;
		else if (!strcmp(key, COUNTER_PREFIX "released"))
			released = val;
	}
	fclose(f);
	if (acquired < 0 || released < 0) {
		fprintf(stderr, "%s: this kernel does not report long-term file pins (no %sacquired/released in /proc/vmstat)\n",
			prog, COUNTER_PREFIX);
		free(keys);
		free(vals);
		return EXIT_UNSUPPORTED;
	}

	if (fp->json) {
		printf("{\n   \"counters\": {");
		for (i = 0; i < nr; i++)
			printf("%s\n      \"%s\": %ld", i ? "," : "", keys[i],
			       vals[i]);
		printf(",\n      \"pinned_now\": %ld\n   }\n}\n",
		       acquired - released);
	} else {
		for (i = 0; i < nr; i++)
			if ((int)strlen(keys[i]) > w)
				w = strlen(keys[i]);
		if (!fp->noheadings)
			printf("%-*s %s\n", w, "COUNTER", "VALUE");
		for (i = 0; i < nr; i++)
			printf("%-*s %ld\n", w, keys[i], vals[i]);
		printf("%-*s %ld\n", w, "pinned_now", acquired - released);
	}
	free(keys);
	free(vals);
	return EXIT_OK;
}

/* Is there a /proc/<pid>/file_pins at all?  EXIT_OK, or why not */
static int check_supported(void)
{
	struct stat st;

	if (!stat("/proc/self/file_pins", &st))
		return EXIT_OK;
	if (errno == ENOENT && !stat("/proc/self", &st)) {
		fprintf(stderr, "%s: this kernel does not report long-term file pins (no /proc/<pid>/file_pins)\n",
			prog);
		return EXIT_UNSUPPORTED;
	}
	fprintf(stderr, "%s: cannot read /proc/self/file_pins: %s\n", prog,
		strerror(errno));
	return EXIT_ERROR;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid",	required_argument,	NULL, 'p' },
		{ "counters",	no_argument,		NULL, 'c' },
		{ "json",	no_argument,		NULL, 'J' },
		{ "noheadings",	no_argument,		NULL, 'n' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct filepins fp = { 0 };
	int opt, i, ret, bad = 0;
	char path[64];
	struct stat st;
	pid_t pid;

	prog = program_invocation_short_name;
	fp.pids = xrealloc(NULL, argc * sizeof(*fp.pids));
	fp.files = xrealloc(NULL, argc * sizeof(*fp.files));
	while ((opt = getopt_long(argc, argv, "p:cJnhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			pid = parse_pid(optarg);
			if (!pid) {
				fprintf(stderr, "%s: invalid PID: '%s'\n", prog,
					optarg);
				errtryhelp();
			}
			for (i = 0; i < fp.nr_pids && fp.pids[i] != pid; i++)
				;
			if (i == fp.nr_pids)
				fp.nr_pids++;
			fp.pids[i] = pid;
			break;
		case 'c':
			fp.counters = true;
			break;
		case 'J':
			fp.json = true;
			break;
		case 'n':
			fp.noheadings = true;
			break;
		case 'h':
			usage();
		case 'V':
			printf("%s %s\n", prog, FILEPINS_VERSION);
			return EXIT_OK;
		default:
			errtryhelp();
		}
	}
	if (fp.counters && (fp.nr_pids || optind < argc)) {
		fprintf(stderr, "%s: --counters takes no PID or FILE\n", prog);
		errtryhelp();
	}
	if (fp.counters)
		return print_counters(&fp);

	/* Every argument is checked before anything is read */
	for (i = optind; i < argc; i++) {
		if (stat(argv[i], &fp.files[fp.nr_files])) {
			fprintf(stderr, "%s: cannot stat '%s': %s\n", prog,
				argv[i], strerror(errno));
			bad++;
			continue;
		}
		fp.nr_files++;
	}
	for (i = 0; i < fp.nr_pids; i++) {
		snprintf(path, sizeof(path), "/proc/%d", fp.pids[i]);
		if (stat(path, &st)) {
			fprintf(stderr, "%s: no process with PID %d\n", prog,
				fp.pids[i]);
			bad++;
		}
	}
	if (bad)
		return EXIT_ERROR;

	ret = check_supported();
	if (ret != EXIT_OK)
		return ret;
	if (read_all(&fp))
		return EXIT_ERROR;

	qsort(fp.pins, fp.nr_pins, sizeof(*fp.pins), cmp_pin);
	if (fp.json)
		print_json(&fp);
	else if (fp.nr_pins)
		print_table(&fp);
	fflush(stdout);

	if (fp.errors)
		return EXIT_ERROR;
	if (fp.denied) {
		if (fp.denied == 1)
			fprintf(stderr, "%s: cannot read the pins of PID %d: permission denied (run as root)\n",
				prog, fp.denied_pid);
		else
			fprintf(stderr, "%s: cannot read the pins of %d processes (PID %d, ...): permission denied (run as root)\n",
				prog, fp.denied, fp.denied_pid);
		return EXIT_INCOMPLETE;
	}
	return EXIT_OK;
}
