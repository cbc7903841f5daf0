// SPDX-License-Identifier: GPL-2.0
/*
 * Races, each bounded in time ($VT_RACE_SECS, default 2 s).  The test thread
 * registers an MR over a MAP_SHARED ext4 file or over anonymous memory,
 * RDMA-writes into it and deregisters it, round after round, while a second
 * thread changes what lies under it: munmap, mremap, fork, ftruncate, fsync,
 * drop_caches with compaction, and reclaim in a memory cgroup v2 with a
 * limit.  kill9 instead kills a process that registers with SIGKILL at
 * random points.
 *
 * Registration may fail only where the memory can be gone (EFAULT after
 * munmap, mremap or truncate); every RDMA write must complete; where the
 * mapping stays, it must show what the device wrote.  After every race the
 * FOLL_PIN pins and, where the kernel counts them, the long-term file pins
 * are back where they were, /proc/self/file_pins is empty, and the kernel
 * log gained no splat.  Each race prints one line,
 * "# test=<name> rounds=N ...": rounds is the number of races run.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
/* The races count refused registrations themselves (vt_harness.h) */
#define VT_REG_MR_AS_IS
#include "vt_harness.h"

#define RACE_LEN	(((size_t)2 << 20) + (64 << 10))	/* 528 pages: two pin batches */
#define XFER_LEN	(64 << 10)	/* what each round RDMA-writes */
#define RACE_SECS	2		/* default length of one race */
#define RACE_TIMEOUT	90		/* harness timeout of one race, s */
#define RELEASE_MS	2000		/* for a killed process to unpin */
#define KILL_MAX_US	60000		/* kill9: latest kill after the fork */
#define PAUSE_MAX_US	500		/* the racer's longest pause */
#define REPORT_LEN	4096
/* One result line; the harness ends a test with _exit(), so flush it */
#define race_print(fmt, ...) do {					\
	printf("# " fmt "\n", ##__VA_ARGS__);				\
	fflush(stdout);							\
} while (0)

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_MAX		"8M"		/* memory.max of the pressure race */
#define CG_RECLAIM	"4M"		/* written to memory.reclaim */
#define STREAM_LEN	((size_t)32 << 20)	/* page cache streamed through */
#define STREAM_CHUNK	((size_t)256 << 10)

static const unsigned int seeds[2] = { 0x11, 0x22 };

struct race {
	struct vt_ctx	ctx;
	const char	*dir;		/* where the file is; NULL: anonymous */
	char		path[PATH_MAX];
	int		fd;		/* the file, or -1 */
	char		*map;		/* the raced range, RACE_LEN bytes */
	char		*alt;		/* the mremap race's other place */
	void		*src[2];
	struct ibv_mr	*src_mr[2];
	long		held, lt_held;	/* pins held outside the race */
	int		kmsg;
	bool		efault_ok;	/* the memory may be gone */
	bool		check_data;	/* the mapping stays: check it */
	bool		refused;	/* writable MRs of the file are EFAULT */
	unsigned long	min_reg;	/* go on (up to 5x) until this many MRs */
	char		*tail;		/* the truncate race's source, RACE_LEN */
	struct ibv_mr	*tail_mr;
	atomic_bool	stop;
	/* the registrar's counts */
	unsigned long	rounds, reg_ok, reg_efault, reg_bad, rdma_fail;
	unsigned long	data_bad, dereg_fail, trunc_pinned, trunc_short;
	int		reg_errno;	/* the first unexpected errno */
	/* the racer's counts */
	unsigned long	ops, op_done, op_refused;
	int		op_errno;	/* the racer's first failure */
	const char	*op_what;
	/* the pressure race */
	char		cg[PATH_MAX];
	int		stream_fd;
};

static int race_secs(void)
{
	const char *s = getenv("VT_RACE_SECS");

	return s && atoi(s) > 0 ? atoi(s) : RACE_SECS;
}

static double race_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A random pause of the racer: none, a yield, or up to PAUSE_MAX_US */
static void race_pause(unsigned int *seed)
{
	unsigned int r = rand_r(seed) % 4;

	if (r == 1)
		sched_yield();
	else if (r > 1)
		usleep(rand_r(seed) % PAUSE_MAX_US);
}

static void race_op_failed(struct race *r, const char *what)
{
	if (!r->op_errno) {
		r->op_errno = errno ?: -1;
		r->op_what = what;
	}
	atomic_store(&r->stop, true);
}

/* (Re)map the raced range at r->map; @flags adds MAP_FIXED or _NOREPLACE */
static int race_map(struct race *r, int flags)
{
	int type = r->fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS;
	void *p = mmap(r->map, RACE_LEN, PROT_READ | PROT_WRITE, type | flags,
		       r->fd, 0);

	if (p == MAP_FAILED)
		return -1;
	if (p != r->map) {	/* an old kernel ignoring _NOREPLACE */
		munmap(p, RACE_LEN);
		errno = EEXIST;
		return -1;
	}
	return 0;
}

/* Hold @addr with a PROT_NONE mapping, failing if anything took it */
static int race_reserve(void *addr)
{
	void *p = mmap(addr, RACE_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	if (p != addr) {	/* an old kernel ignoring _NOREPLACE */
		munmap(p, RACE_LEN);
		return -1;
	}
	return 0;
}

/* The pins held outside the race, which it must leave as they are */
static void race_baseline(struct __test_metadata *_metadata, struct race *r)
{
	long acquired, released;

	ASSERT_EQ(0, vt_pins(&acquired, &released));
	r->held = acquired - released;
	r->lt_held = vt_lt_pins(&acquired, &released) ? 0 : acquired - released;
}

static void race_setup(struct __test_metadata *_metadata, struct race *r,
		       const char *fs, const char *dir)
{
	int i;

	r->fd = r->stream_fd = -1;
	r->kmsg = vt_kmsg_open();
	if (fs && !vt_fs_is(dir, fs))
		SKIP(return, "%s is not a mounted %s", dir, fs);
	r->dir = fs ? dir : NULL;
	/* Upstream refuses writable pins of files with writeback, not shmem */
	r->refused = fs && strcmp(fs, "tmpfs") && vt_kernel_refuses_file_pins();
	ASSERT_EQ(0, vt_init_ctx(&r->ctx));
	for (i = 0; i < 2; i++) {
		r->src[i] = vt_alloc(XFER_LEN, 0);
		ASSERT_NE(NULL, r->src[i]);
		vt_fill(r->src[i], XFER_LEN, seeds[i]);
		r->src_mr[i] = ibv_reg_mr(r->ctx.pd, r->src[i], XFER_LEN,
					  VT_MR_ACCESS);
		ASSERT_NE(NULL, r->src_mr[i])
			TH_LOG("Couldn't register MR: %s", strerror(errno));
	}
	if (fs) {
		r->fd = vt_make_file(dir, RACE_LEN, 0, r->path);
		ASSERT_LE(0, r->fd);
	}
	r->map = NULL;
	r->map = mmap(NULL, RACE_LEN, PROT_READ | PROT_WRITE,
		      fs ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS, r->fd, 0);
	ASSERT_NE(MAP_FAILED, r->map) TH_LOG("mmap: %s", strerror(errno));

	race_baseline(_metadata, r);
}

static void race_teardown(struct __test_metadata *_metadata, struct race *r)
{
	char report[REPORT_LEN];
	int i, n;

	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, vt_dereg_mr(r->src_mr[i]));
	if (r->tail_mr)
		EXPECT_EQ(0, vt_dereg_mr(r->tail_mr));
	vt_close_ctx(&r->ctx);
	vt_free(r->tail, RACE_LEN);
	VT_EXPECT_PINS_BALANCED();
	EXPECT_EQ(0, vt_pins_settle(vt_pins_held_now(), 0, 0))
		TH_LOG("long-term file pins left after the last MR is gone");
	if (r->cg[0]) {
		/* Back to the root group: the empty group can go */
		FILE *f = fopen(CG_ROOT "/cgroup.procs", "w");

		if (f) {
			fprintf(f, "%d\n", getpid());
			fclose(f);
		}
		EXPECT_EQ(0, rmdir(r->cg)) TH_LOG("rmdir %s: %s", r->cg,
						  strerror(errno));
	}
	if (r->map && r->map != MAP_FAILED)
		munmap(r->map, RACE_LEN);
	if (r->alt)
		munmap(r->alt, RACE_LEN);
	for (i = 0; i < 2; i++)
		vt_free(r->src[i], XFER_LEN);
	if (r->stream_fd >= 0)
		close(r->stream_fd);
	if (r->fd >= 0)
		close(r->fd);
	if (r->path[0])
		unlink(r->path);

	n = vt_kmsg_splats(r->kmsg, report, sizeof(report));
	EXPECT_EQ(0, n) TH_LOG("kernel splat during the race:\n%s", report);
	if (r->kmsg >= 0)
		close(r->kmsg);
}

/*
 * RDMA-write one page of @mr, at a random page of the half a truncate
 * cuts, and read it back from the file: true when the file does not hold
 * it, the MR pinning a page that a truncate took out of the file.  A
 * failed write counts as rdma_fail.
 */
static bool race_tail_lost(struct race *r, struct ibv_mr *mr)
{
	size_t half = RACE_LEN / 2 / 4096, off;
	char buf[4096];

	off = (half + r->rounds * 2654435761u % (RACE_LEN / 4096 - half)) * 4096;
	if (vt_xfer_at(&r->ctx, IBV_WR_RDMA_WRITE, r->tail_mr, mr, off, 4096)) {
		r->rdma_fail++;
		return false;
	}
	if (pread(r->fd, buf, 4096, off) == 4096 &&
	    !memcmp(buf, r->tail + off, 4096))
		return false;
	/* Say where the first few went: the file's page, the MR's */
	if (r->trunc_pinned < 3) {
		static char zero[4096];
		char mrbuf[4096];
		struct stat st;

		memcpy(mrbuf, r->tail + off, 4096);
		vt_xfer_at(&r->ctx, IBV_WR_RDMA_READ, r->tail_mr, mr, off, 4096);
		fstat(r->fd, &st);
		/* Not the mapping: where stock truncates, past EOF is SIGBUS */
		race_print("tail_lost round=%lu off=%zu size=%lld file=%s mr=%s",
			   r->rounds, off, (long long)st.st_size,
			   !memcmp(buf, zero, 4096) ? "zero" : "other",
			   !memcmp(r->tail + off, mrbuf, 4096) ? "data" : "other");
		memcpy(r->tail + off, mrbuf, 4096);
	}
	return true;
}

/* One round: register, RDMA-write, check, deregister */
static void race_round(struct race *r)
{
	unsigned int i = r->rounds++ & 1;
	struct ibv_mr *mr;
	struct stat st;

	mr = ibv_reg_mr(r->ctx.pd, r->map, RACE_LEN, VT_MR_ACCESS);
	if (!mr) {
		if (errno == EFAULT && r->efault_ok) {
			r->reg_efault++;
		} else {
			r->reg_bad++;
			if (!r->reg_errno)
				r->reg_errno = errno;
		}
		return;
	}
	r->reg_ok++;
	if (vt_rdma_write(&r->ctx, r->src_mr[i], mr, XFER_LEN))
		r->rdma_fail++;
	else if (r->check_data &&
		 vt_count(r->map, XFER_LEN, seeds[i]) != XFER_LEN)
		r->data_bad++;
	/* The truncate race: was the file cut under a registered MR? */
	if (r->fd >= 0 && !fstat(r->fd, &st) &&
	    (size_t)st.st_size < RACE_LEN) {
		r->trunc_pinned++;
		r->trunc_short++;
	} else if (r->tail_mr && race_tail_lost(r, mr)) {
		/* Its page, somewhere in the half a truncate cuts, is not */
		r->trunc_pinned++;
	}
	if (ibv_dereg_mr(mr))
		r->dereg_fail++;
}

/* Race rounds against @racer for race_secs(), then check everything */
static void race_run(struct __test_metadata *_metadata, struct race *r,
		     const char *name, void *(*racer)(void *))
{
	double now = race_now(), end = now + race_secs();
	double last = now + 5 * race_secs();
	char pins[256] = "";
	pthread_t thread;
	int left, fd;
	ssize_t n;

	atomic_store(&r->stop, false);
	ASSERT_EQ(0, pthread_create(&thread, NULL, racer, r));
	/* Until the time is up and the racer did something (a slow first
	 * drop_caches refills the 9p root's caches) and min_reg MRs got
	 * through it, at most 5 times longer */
	while (!atomic_load(&r->stop) &&
	       ((now = race_now()) < end ||
		((!r->ops || r->reg_ok < r->min_reg) && now < last)))
		race_round(r);
	atomic_store(&r->stop, true);
	ASSERT_EQ(0, pthread_join(thread, NULL));

	race_print("test=%s rounds=%lu reg_ok=%lu reg_efault=%lu ops=%lu done=%lu refused=%lu trunc_pinned=%lu trunc_short=%lu",
		       name, r->rounds, r->reg_ok, r->reg_efault, r->ops,
		       r->op_done, r->op_refused, r->trunc_pinned,
		       r->trunc_short);
	EXPECT_EQ(0, r->op_errno)
		TH_LOG("racer: %s: %s", r->op_what, strerror(r->op_errno));
	EXPECT_EQ(0UL, r->reg_bad)
		TH_LOG("ibv_reg_mr failed %lu times, first with %s", r->reg_bad,
		       strerror(r->reg_errno));
	EXPECT_EQ(0UL, r->rdma_fail);
	EXPECT_EQ(0UL, r->data_bad) TH_LOG("the mapping lacks the RDMA write");
	EXPECT_EQ(0UL, r->dereg_fail);
	EXPECT_LT(0UL, r->ops) TH_LOG("the racer never ran");
	EXPECT_LT(0UL, r->rounds);
	/*
	 * Where upstream refuses writable file MRs (since 6.5) every
	 * registration of a file variant is EFAULT: no race was run.
	 */
	if (r->refused) {
		VT_TODO("writable file MRs refused (EFAULT)");
		EXPECT_LT(0UL, r->reg_ok) TH_LOG("every registration refused");
	}

	left = vt_pins_settle(r->held, r->lt_held, 0);
	EXPECT_EQ(0, left) TH_LOG("pins left after the race");
	fd = open("/proc/self/file_pins", O_RDONLY);
	if (fd >= 0) {
		n = read(fd, pins, sizeof(pins) - 1);
		close(fd);
		EXPECT_EQ(0, n) TH_LOG("records left: %s", pins);
	}
}

/* Replace the mapping in one step (MAP_FIXED), then in two (munmap, mmap) */
static void *race_munmap(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 1;

	while (!atomic_load(&r->stop)) {
		if (race_map(r, MAP_FIXED)) {
			race_op_failed(r, "mmap MAP_FIXED");
			break;
		}
		race_pause(&seed);
		if (munmap(r->map, RACE_LEN)) {
			race_op_failed(r, "munmap");
			break;
		}
		race_pause(&seed);
		if (race_map(r, MAP_FIXED_NOREPLACE)) {
			race_op_failed(r, "mmap MAP_FIXED_NOREPLACE");
			break;
		}
		r->ops++;
		race_pause(&seed);
	}
	return NULL;
}

/*
 * Move the range to r->alt and back, then shrink it to half and grow it
 * again in place.  The hole each move leaves is held by a PROT_NONE
 * reservation, so nothing else can be mapped where the range goes next.
 */
static void *race_mremap(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 2;
	int flags = MREMAP_MAYMOVE | MREMAP_FIXED;

	while (!atomic_load(&r->stop)) {
		if (mremap(r->map, RACE_LEN, RACE_LEN, flags, r->alt) != r->alt ||
		    race_reserve(r->map)) {
			race_op_failed(r, "mremap away");
			break;
		}
		race_pause(&seed);
		if (mremap(r->alt, RACE_LEN, RACE_LEN, flags, r->map) != r->map ||
		    race_reserve(r->alt)) {
			race_op_failed(r, "mremap back");
			break;
		}
		race_pause(&seed);
		if (mremap(r->map, RACE_LEN, RACE_LEN / 2, 0) != r->map) {
			race_op_failed(r, "mremap shrink");
			break;
		}
		race_pause(&seed);
		if (mremap(r->map, RACE_LEN / 2, RACE_LEN, 0) != r->map) {
			race_op_failed(r, "mremap grow");
			break;
		}
		r->ops++;
		race_pause(&seed);
	}
	return NULL;
}

/*
 * fork a child that touches every page of the range (writes anonymous
 * pages, which breaks COW in the child; only reads a shared file, which
 * the device writes at the same time) and exits.
 */
static void *race_fork(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 3;
	volatile char *p;
	size_t off;
	int status;
	pid_t pid;

	while (!atomic_load(&r->stop)) {
		pid = fork();
		if (pid < 0) {
			race_op_failed(r, "fork");
			break;
		}
		if (!pid) {
			p = r->map;
			for (off = 0; off < RACE_LEN; off += 4096) {
				if (r->fd < 0)
					p[off] = 1;
				else
					(void)p[off];
			}
			_exit(0);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			errno = ECHILD;
			race_op_failed(r, "the forked child");
			break;
		}
		r->ops++;
		race_pause(&seed);
	}
	return NULL;
}

/* Count a cut's outcome (@ret: its return): false when it failed */
static bool race_cut_done(struct race *r, int ret, const char *what)
{
	if (!ret) {
		r->op_done++;
	} else if (errno == ETXTBSY) {	/* over a write pin */
		r->op_refused++;
	} else {
		race_op_failed(r, what);
		return false;
	}
	return true;
}

/*
 * Cut the second half of the file, round after round (ETXTBSY over a write
 * pin): truncate the file to half its size and grow it back, or punch a
 * hole there (the size stays, the blocks come back with the next write)
 */
static void race_cut(struct race *r, bool punch)
{
	unsigned int seed = punch ? 7 : 4;
	int ret;

	while (!atomic_load(&r->stop)) {
		ret = punch ? fallocate(r->fd, FALLOC_FL_PUNCH_HOLE |
					FALLOC_FL_KEEP_SIZE, RACE_LEN / 2,
					RACE_LEN / 2) :
			      ftruncate(r->fd, RACE_LEN / 2);
		if (!race_cut_done(r, ret, punch ?
				   "fallocate(FALLOC_FL_PUNCH_HOLE)" :
				   "ftruncate"))
			break;
		race_pause(&seed);
		if (!punch && ftruncate(r->fd, RACE_LEN)) {
			race_op_failed(r, "ftruncate back");
			break;
		}
		r->ops++;
		/* Longer with the whole file, or few registrations get through */
		race_pause(&seed);
		race_pause(&seed);
		race_pause(&seed);
	}
}

static void *race_truncate(void *arg)
{
	race_cut(arg, false);
	return NULL;
}

static void *race_punch(void *arg)
{
	race_cut(arg, true);
	return NULL;
}

static void *race_fsync(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 5;

	while (!atomic_load(&r->stop)) {
		if ((r->ops & 1 ? fdatasync(r->fd) : fsync(r->fd))) {
			race_op_failed(r, "fsync");
			break;
		}
		r->ops++;
		race_pause(&seed);
	}
	return NULL;
}

/* Drop the page cache and the slab caches, then compact memory */
static void *race_drop_caches(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 6;

	while (!atomic_load(&r->stop)) {
		if (vt_write_knob("/proc/sys/vm/drop_caches", "3")) {
			race_op_failed(r, "drop_caches");
			break;
		}
		race_pause(&seed);
		/* Compaction migrates what it can; pinned pages must stay */
		if (!vt_write_knob("/proc/sys/vm/compact_memory", "1"))
			r->op_done++;
		r->ops++;
		race_pause(&seed);
	}
	return NULL;
}

/*
 * Stream page cache through the memory cgroup (reads of a sparse file) and
 * ask it to reclaim, so that reclaim meets the pinned pages.
 */
static void *race_pressure(void *arg)
{
	static char buf[STREAM_CHUNK];
	struct race *r = arg;
	char path[PATH_MAX + 32];
	size_t off = 0;

	snprintf(path, sizeof(path), "%s/memory.reclaim", r->cg);
	while (!atomic_load(&r->stop)) {
		if (pread(r->stream_fd, buf, STREAM_CHUNK, off) < 0) {
			race_op_failed(r, "pread");
			break;
		}
		off = (off + STREAM_CHUNK) % STREAM_LEN;
		r->ops++;
		if (off % (32 * STREAM_CHUNK))
			continue;
		/* EAGAIN: less than asked could be reclaimed */
		if (!vt_write_knob(path, CG_RECLAIM)) {
			r->op_done++;
		} else if (errno != EAGAIN) {
			race_op_failed(r, "memory.reclaim");
			break;
		}
	}
	return NULL;
}

/* Put this process into a memory cgroup v2 of its own, limited to CG_MAX */
static int race_cgroup(struct race *r)
{
	char path[PATH_MAX + 32];
	char pid[32];

	if (access(CG_ROOT "/cgroup.controllers", F_OK) &&
	    mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL))
		return -1;
	if (vt_write_knob(CG_ROOT "/cgroup.subtree_control", "+memory"))
		return -1;
	snprintf(r->cg, sizeof(r->cg), CG_ROOT "/vt-race-%d", getpid());
	if (mkdir(r->cg, 0755)) {
		r->cg[0] = '\0';
		return -1;
	}
	snprintf(path, sizeof(path), "%s/memory.max", r->cg);
	if (vt_write_knob(path, CG_MAX))
		return -1;
	snprintf(path, sizeof(path), "%s/cgroup.procs", r->cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	return vt_write_knob(path, pid);
}

/* memory.events of the cgroup, on one line */
static void race_cg_events(struct race *r, char *buf, size_t len)
{
	char path[PATH_MAX + 32], key[32];
	size_t used = 0;
	long val;
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/memory.events", r->cg);
	f = fopen(path, "r");
	if (!f)
		return;
	while (used < len && fscanf(f, "%31s %ld", key, &val) == 2)
		if (strstr(key, "max") || strstr(key, "oom"))
			used += snprintf(buf + used, len - used, " %s=%ld",
					 key, val);
	fclose(f);
	snprintf(path, sizeof(path), "%s/memory.peak", r->cg);
	f = fopen(path, "r");
	if (!f)
		return;
	if (used < len && fscanf(f, "%ld", &val) == 1)
		snprintf(buf + used, len - used, " peak=%ld", val);
	fclose(f);
}

FIXTURE(races) {
	struct race r;
};

FIXTURE_VARIANT(races) {
	const char *fs;		/* NULL: anonymous memory */
	const char *dir;
};

FIXTURE_VARIANT_ADD(races, anon) { .fs = NULL, };
FIXTURE_VARIANT_ADD(races, ext4) { .fs = "ext4", .dir = "/mnt/ext4", };

FIXTURE_SETUP(races)
{
	race_setup(_metadata, &self->r, variant->fs, variant->dir);
}

FIXTURE_TEARDOWN(races)
{
	race_teardown(_metadata, &self->r);
}

/* "races.<variant>.<test>" for the RACE line */
#define RACE_NAME(test)	(variant->fs ? "races.ext4." test : "races.anon." test)

TEST_F_TIMEOUT(races, munmap, RACE_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	self->r.efault_ok = true;
	race_run(_metadata, &self->r, RACE_NAME("munmap"), race_munmap);
}

TEST_F_TIMEOUT(races, mremap, RACE_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	self->r.alt = mmap(NULL, RACE_LEN, PROT_NONE, MAP_PRIVATE |
			   MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->r.alt);
	self->r.efault_ok = true;
	race_run(_metadata, &self->r, RACE_NAME("mremap"), race_mremap);
	if (self->r.op_errno) {
		/* A reservation failed: what is there may not be ours */
		self->r.map = self->r.alt = NULL;
	}
}

TEST_F_TIMEOUT(races, fork, RACE_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	self->r.check_data = true;
	race_run(_metadata, &self->r, RACE_NAME("fork"), race_fork);
}

TEST_F_TIMEOUT(races, pressure, RACE_TIMEOUT)
{
	const char *dir = self->r.dir ?: "/mnt/ext4";
	char path[PATH_MAX], events[256];

	VT_RETURN_IF_SKIPPED();
	if (race_cgroup(&self->r))
		SKIP(return, "no memory cgroup v2 with memory.max: %s",
		     strerror(errno));

	/* Pages charged from now on are the group's: map the range afresh */
	munmap(self->r.map, RACE_LEN);
	if (self->r.fd >= 0)
		posix_fadvise(self->r.fd, 0, 0, POSIX_FADV_DONTNEED);
	self->r.map = mmap(NULL, RACE_LEN, PROT_READ | PROT_WRITE,
			   self->r.fd >= 0 ? MAP_SHARED :
			   MAP_PRIVATE | MAP_ANONYMOUS, self->r.fd, 0);
	ASSERT_NE(MAP_FAILED, self->r.map) TH_LOG("mmap: %s", strerror(errno));

	/* A sparse file: reading it fills the page cache with no disk I/O */
	if (!vt_is_mountpoint(dir))
		dir = "/var/tmp";
	snprintf(path, sizeof(path), "%s/vt-stream-XXXXXX", dir);
	self->r.stream_fd = mkstemp(path);
	ASSERT_LE(0, self->r.stream_fd) TH_LOG("mkstemp: %s", strerror(errno));
	unlink(path);
	ASSERT_EQ(0, ftruncate(self->r.stream_fd, STREAM_LEN));

	self->r.check_data = true;
	race_run(_metadata, &self->r, RACE_NAME("pressure"), race_pressure);
	race_cg_events(&self->r, events, sizeof(events));
	race_print("cgroup=memory.events%s", events);
}

TEST_F_TIMEOUT(races, drop_caches, RACE_TIMEOUT)
{
	VT_RETURN_IF_SKIPPED();
	if (access("/proc/sys/vm/drop_caches", W_OK))
		SKIP(return, "/proc/sys/vm/drop_caches is not writable");
	self->r.check_data = true;
	race_run(_metadata, &self->r, RACE_NAME("drop_caches"), race_drop_caches);
}

/* What a kill9 child tells its parent */
struct race_child_state {
	unsigned long	ready;		/* its context is up */
	unsigned long	rounds;		/* registrations done, all children */
};

/* The kill9 child: register, write, deregister until killed */
static void __attribute__((noreturn)) race_child(struct race *r,
						 struct race_child_state *cs)
{
	struct ibv_mr *mr, *src_mr;
	struct vt_ctx ctx = {};

	if (vt_init_ctx(&ctx))
		_exit(1);
	__atomic_store_n(&cs->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		src_mr = ibv_reg_mr(ctx.pd, r->src[0], XFER_LEN, VT_MR_ACCESS);
		mr = ibv_reg_mr(ctx.pd, r->map, RACE_LEN, VT_MR_ACCESS);
		if (!src_mr || !mr)
			_exit(2);
		if (vt_rdma_write(&ctx, src_mr, mr, XFER_LEN))
			_exit(3);
		if (ibv_dereg_mr(mr) || ibv_dereg_mr(src_mr))
			_exit(4);
		__atomic_add_fetch(&cs->rounds, 1, __ATOMIC_RELAXED);
	}
}

/*
 * fork a child that registers and deregisters in a loop (a context of its
 * own, a file or anonymous MR and a source MR) and kill it with SIGKILL
 * after a random delay, counted from the fork (kills during its setup) or,
 * every other time, from the moment its context is up (kills in the loop;
 * a debug kernel takes longer than the delay to set up); then see
 * everything it pinned released.
 */
TEST_F_TIMEOUT(races, kill9, RACE_TIMEOUT)
{
	unsigned long kills = 0, in_loop = 0, early = 0;
	double end = race_now() + race_secs(), ready_by;
	unsigned int seed = getpid();
	struct race_child_state *cs;
	pid_t pid, parent = getpid();
	int status, left = 0;

	VT_RETURN_IF_SKIPPED();
	/* Its children register what race_run() does: refused there alike */
	if (self->r.refused)
		VT_TODO("writable file MRs refused (EFAULT)");
	cs = mmap(NULL, sizeof(*cs), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, cs);
	while (race_now() < end) {
		cs->ready = 0;
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
		if (!pid) {
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) ||
			    getppid() != parent)
				_exit(1);
			race_child(&self->r, cs);
		}
		ready_by = race_now() + RELEASE_MS / 1000.0 * 5;
		while ((kills & 1) && !__atomic_load_n(&cs->ready, __ATOMIC_ACQUIRE) &&
		       race_now() < ready_by)
			usleep(1000);
		usleep(rand_r(&seed) % KILL_MAX_US);
		in_loop += __atomic_load_n(&cs->ready, __ATOMIC_ACQUIRE);
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		kills++;
		if (!WIFSIGNALED(status)) {
			/* It ended before the kill: only setup may fail */
			EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
				TH_LOG("kill9 child exited with %d",
				       WEXITSTATUS(status));
			early++;
		}
		left = vt_pins_settle(self->r.held, self->r.lt_held, RELEASE_MS);
		if (left)
			break;
	}
	race_print("test=%s rounds=%lu in_loop=%lu child_rounds=%lu early_exits=%lu",
		   RACE_NAME("kill9"), kills, in_loop, cs->rounds, early);
	EXPECT_EQ(0, left)
		TH_LOG("pins left %d ms after kill %lu", RELEASE_MS, kills);
	EXPECT_LT(0UL, in_loop) TH_LOG("no child was killed in its loop");
	munmap(cs, sizeof(*cs));
}

/* The races that need a file */
FIXTURE(races_file) {
	struct race r;
};

FIXTURE_VARIANT(races_file) {
	const char *fs;
	const char *dir;
};

FIXTURE_VARIANT_ADD(races_file, ext4) { .fs = "ext4", .dir = "/mnt/ext4", };
/* shmem: no writeback, but a truncate of it is refused over a write pin */
FIXTURE_VARIANT_ADD(races_file, tmpfs) { .fs = "tmpfs", .dir = "/dev/shm", };

FIXTURE_SETUP(races_file)
{
	race_setup(_metadata, &self->r, variant->fs, variant->dir);
}

FIXTURE_TEARDOWN(races_file)
{
	race_teardown(_metadata, &self->r);
}

/*
 * ftruncate to half the range and back.  Over a write pin, the truncate is
 * refused with ETXTBSY on the patched kernel ("refused"); stock truncates
 * ("done").  trunc_pinned counts rounds whose MR a truncate cut: the file
 * shorter than the MR after its RDMA write (trunc_short), or an RDMA
 * write into one page of the half a truncate cuts (a different page each
 * round) not in the file when read back (the page truncated and the file
 * grown again).  With the series a registration that races
 * with a truncate either makes the truncate fail or fails itself (EFAULT,
 * counted as reg_efault), so none may be cut.  A kernel without pin
 * records truncates under MRs: where it registered them (stock 6.1; stock
 * 6.12 on tmpfs, whose pins upstream allows) that is an expected failure.
 * The tmpfs variant: shmem has no writeback, and the truncate of it is
 * refused all the same.
 */
/*
 * For a race that cuts the second half of the file: registrations may fail
 * with EFAULT, and each round RDMA-writes a page of that half from a source
 * MR (race_tail_lost())
 */
static void race_cut_setup(struct __test_metadata *_metadata, struct race *r)
{
	r->efault_ok = true;
	/* Few registrations get through the cuts on a loaded host */
	r->min_reg = r->refused ? 0 : 10;
	r->tail = vt_alloc(RACE_LEN, 0);
	ASSERT_NE(NULL, r->tail);
	vt_fill(r->tail, RACE_LEN, seeds[1]);
	r->tail_mr = ibv_reg_mr(r->ctx.pd, r->tail, RACE_LEN, VT_MR_ACCESS);
	ASSERT_NE(NULL, r->tail_mr);
	race_baseline(_metadata, r);
}

TEST_F_TIMEOUT(races_file, truncate, RACE_TIMEOUT)
{
	char name[64];
	struct stat st;

	VT_RETURN_IF_SKIPPED();
	race_cut_setup(_metadata, &self->r);
	snprintf(name, sizeof(name), "races_file.%s.truncate", variant->fs);
	race_run(_metadata, &self->r, name, race_truncate);
	ASSERT_EQ(0, fstat(self->r.fd, &st));
	EXPECT_EQ(RACE_LEN, (size_t)st.st_size);
	/* Without records nothing refuses the truncate: it cuts the MRs */
	if (!vt_kernel_records_pins() && self->r.reg_ok)
		VT_TODO("no long-term file pin records: %lu MRs registered, a truncate cuts them",
			self->r.reg_ok);
	EXPECT_EQ(0UL, self->r.trunc_pinned)
		TH_LOG("%lu MRs cut by a truncate", self->r.trunc_pinned);
}

/*
 * A hole punched over the half a truncate would cut, and fallocate()
 * checks for pins before the filesystem takes the inode lock: no
 * registration may get its pages between the two.  trunc_pinned counts an
 * RDMA write into a page of that half that the file does not hold.  A
 * kernel without pin records punches under MRs (expected failure where it
 * registers them).
 */
TEST_F_TIMEOUT(races_file, punch, RACE_TIMEOUT)
{
	char name[64];

	VT_RETURN_IF_SKIPPED();
	race_cut_setup(_metadata, &self->r);
	snprintf(name, sizeof(name), "races_file.%s.punch", variant->fs);
	race_run(_metadata, &self->r, name, race_punch);
	if (!vt_kernel_records_pins() && self->r.reg_ok)
		VT_TODO("no long-term file pin records: %lu MRs registered, a punch cuts them",
			self->r.reg_ok);
	EXPECT_EQ(0UL, self->r.trunc_pinned)
		TH_LOG("%lu MRs cut by a hole punch", self->r.trunc_pinned);
}

/* fsync and fdatasync while MRs come and go; the last write is in the file */
TEST_F_TIMEOUT(races_file, fsync, RACE_TIMEOUT)
{
	char buf[XFER_LEN], name[64];

	VT_RETURN_IF_SKIPPED();
	self->r.check_data = true;
	snprintf(name, sizeof(name), "races_file.%s.fsync", variant->fs);
	race_run(_metadata, &self->r, name, race_fsync);
	EXPECT_EQ(0, fsync(self->r.fd));
	ASSERT_EQ(0, vt_read_file(self->r.fd, buf, XFER_LEN));
	if (self->r.reg_ok)
		EXPECT_EQ((size_t)XFER_LEN, vt_count(buf, XFER_LEN,
					     seeds[(self->r.rounds - 1) & 1]));
}

VT_HARNESS_MAIN
