// SPDX-License-Identifier: GPL-2.0
/*
 * Continuous RDMA WRITEs into a registered file while another process
 * syncs it, and RDMA WRITEs under memory pressure (the engine is vt_churn.c,
 * in libvt.a).
 *
 * churn: a 16 MiB file on ext4, xfs or btrfs (btrfs remounted commit=1)
 * is mapped shared and registered; for CHURN_SECONDS (default 60) it gets
 * generation after generation of RDMA WRITEs, 64 KiB each in random order,
 * a new pattern per generation, while a child process loops fsync() (and
 * sync() every 8th time) and dirty_expire_centisecs and
 * dirty_writeback_centisecs are 100.  The time is cut into CHURN_ROUNDS
 * rounds; each ends after a whole generation was acknowledged, fsyncs and
 * reads the file back with O_DIRECT: it must hold that generation
 * everywhere.  Each round prints
 *   # test=churn fs=F round=R gens=N writes=N fsyncs=N syncs=N on_disk=X/Y ...
 * The stock kernel writes the pinned pages once: the disk keeps zeroes.
 *
 * churn_mem: an 8 MiB file MR and an 8 MiB anonymous MR get generations of
 * RDMA WRITEs for CHURN_MEM_SECONDS (default 10) while memory is short:
 *   memcg    the test runs in a memory cgroup v2 limited to 64 MiB, where a
 *            child writes and reads back 128 MiB files and touches
 *            anonymous memory in a loop: reclaim must work around the
 *            pinned pages the cgroup was charged for;
 *   balloon  a child allocates and touches all but 160 MiB of the guest's
 *            available memory, then streams files as above.
 * in_memory: afterwards the mapping, the anonymous MR and an RDMA READ of
 * the file MR hold the last generation, and reclaim did scan (the pressure
 * was real).  on_disk: the same, then fsync() and an O_DIRECT read must
 * find it on disk.  Every teardown checks the pin balance.
 */
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include "vt_harness.h"
#include "vt_churn.h"

#define CHURN_LEN		((size_t)16 << 20)
#define CHURN_CHUNK		((size_t)64 << 10)
#define CHURN_SYNC_EVERY	8	/* the syncer calls sync() every 8 fsyncs */
#define CHURN_ROUNDS		4
#define CHURN_DEFAULT_S		60
#define CHURN_EXPIRE		"100"	/* dirty_expire/writeback_centisecs */

static long churn_env(const char *name, long def)
{
	const char *v = getenv(name);

	return v && atol(v) > 0 ? atol(v) : def;
}

/* Write @val to the file @dir/@name (cgroup and proc knobs), loudly */
static int churn_write_knob(const char *dir, const char *name, const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!vt_write_knob(path, val))
		return 0;
	fprintf(stderr, "Couldn't write %s to %s: %s\n", val, path,
		strerror(errno));
	return -1;
}

/* The value of "@key N" in the file @path (memory.stat, memory.events) */
static long churn_stat(const char *path, const char *key)
{
	long val, ret = -1;
	char k[64];
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -1;
	while (ret < 0 && fscanf(f, "%63s %ld", k, &val) == 2)
		if (!strcmp(k, key))
			ret = val;
	fclose(f);
	return ret;
}

/* Remount btrfs at @dir with "commit=@secs" */
static int churn_commit_interval(const char *dir, int secs)
{
	char opts[32];

	snprintf(opts, sizeof(opts), "commit=%d", secs);
	if (mount(NULL, dir, NULL, MS_REMOUNT, opts)) {
		fprintf(stderr, "Couldn't remount %s %s: %s\n", dir, opts,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* The file the test churns: @len zero bytes on disk, its path in @path */
static int churn_make_file(const char *dir, size_t len, char *path)
{
	int fd = vt_make_file(dir, len, 0, path);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

FIXTURE(churn) {
	struct churn c;
	char path[PATH_MAX];
	char dir[32];
	char expire[32], interval[32];	/* sysctls to restore */
	int remounted;
	int dfd;
	void *buf;
};

FIXTURE_VARIANT(churn) {
	const char *fs;
};

FIXTURE_VARIANT_ADD(churn, ext4) { .fs = "ext4", };
FIXTURE_VARIANT_ADD(churn, xfs) { .fs = "xfs", };
FIXTURE_VARIANT_ADD(churn, btrfs) { .fs = "btrfs", };

FIXTURE_SETUP(churn)
{
	self->c.fd = self->dfd = -1;
	snprintf(self->dir, sizeof(self->dir), "/mnt/%s", variant->fs);
	if (!vt_fs_is(self->dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", self->dir, variant->fs);
	if (!strcmp(variant->fs, "btrfs")) {
		ASSERT_EQ(0, churn_commit_interval(self->dir, 1));
		self->remounted = 1;
	}
	ASSERT_EQ(0, vt_vm_sysctl("dirty_expire_centisecs", CHURN_EXPIRE,
				  self->expire, sizeof(self->expire)));
	ASSERT_EQ(0, vt_vm_sysctl("dirty_writeback_centisecs", CHURN_EXPIRE,
				  self->interval, sizeof(self->interval)));
	ASSERT_EQ(0, churn_make_file(self->dir, CHURN_LEN, self->path));
	self->dfd = open(self->path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->dfd) TH_LOG("open O_DIRECT: %s", strerror(errno));
	self->buf = vt_alloc(CHURN_LEN, 0);
	ASSERT_NE(NULL, self->buf);
	VT_TODO_IF_FILE_PINS_REFUSED();
	ASSERT_EQ(0, churn_init(&self->c, self->path, CHURN_LEN, CHURN_CHUNK,
				CHURN_SYNC_EVERY));
}

FIXTURE_TEARDOWN(churn)
{
	EXPECT_EQ(0, churn_close(&self->c));
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->buf, CHURN_LEN);
	if (self->dfd >= 0)
		close(self->dfd);
	if (self->path[0])
		unlink(self->path);
	if (self->interval[0])
		EXPECT_EQ(0, vt_vm_sysctl("dirty_writeback_centisecs",
					  self->interval, NULL, 0));
	if (self->expire[0])
		EXPECT_EQ(0, vt_vm_sysctl("dirty_expire_centisecs",
					  self->expire, NULL, 0));
	if (self->remounted)
		EXPECT_EQ(0, churn_commit_interval(self->dir, 30));
}

/*
 * Rounds of generations while the syncer runs; after each round's last
 * acknowledged generation, fsync and an O_DIRECT read must find it on disk.
 */
TEST_F_TIMEOUT(churn, rdma_write_while_syncing, 900)
{
	long seconds = churn_env("CHURN_SECONDS", CHURN_DEFAULT_S);
	/* CHURN_ROUNDS=1 for slow kernels (the debug profile) */
	long rounds = churn_env("CHURN_ROUNDS", CHURN_ROUNDS);
	long redirtied0 = vt_vmstat("longterm_file_pin_redirtied");
	long bounced0 = vt_vmstat("longterm_file_pin_bounced");
	long t0 = churn_now_ms(), t;
	struct churn_tally tl = {};
	size_t on_disk;
	unsigned int r;
	int rd;

	VT_TODO_WITHOUT_PIN_RECORDS("the device's writes after a writeback are lost");
	VT_RETURN_IF_SKIPPED();
	/* The pin-time fault dirtied the pages: written once, as on stock */
	ASSERT_EQ(0, fsync(self->c.fd));
	churn_go(&self->c);
	if (rounds < 1)
		rounds = 1;
	for (r = 1; r <= rounds; r++) {
		t = churn_now_ms();
		ASSERT_EQ(0, churn_run(&self->c, seconds * 1000 / rounds));
		EXPECT_EQ(0, fsync(self->c.fd))
			TH_LOG("fsync: %s", strerror(errno));
		/* EIO here: a block failed its checksum (btrfs) */
		rd = vt_read_file(self->dfd, self->buf, CHURN_LEN) ?
		     (errno ?: EIO) : 0;
		EXPECT_EQ(0, rd) TH_LOG("O_DIRECT read: %s", strerror(rd));
		on_disk = rd ? 0 :
			  vt_count(self->buf, CHURN_LEN, churn_seed(self->c.gen));
		if (!rd)
			churn_tally(self->buf, CHURN_LEN, self->c.gen,
				    self->c.gen, &tl);
		printf("# test=churn fs=%s round=%u gens=%ld writes=%ld fsyncs=%ld syncs=%ld on_disk=%zu/%zu stale=%zu zero=%zu garbage=%zu read=%s ms=%ld\n",
		       variant->fs, r, self->c.gen, self->c.writes,
		       self->c.sh->fsyncs, self->c.sh->syncs, on_disk,
		       CHURN_LEN, tl.stale, tl.zero, tl.garbage,
		       rd ? strerror(rd) : "ok", churn_now_ms() - t);
		fflush(stdout);
		EXPECT_EQ(CHURN_LEN, on_disk)
			TH_LOG("round %u: generation %ld not on disk", r,
			       self->c.gen);
	}
	EXPECT_EQ(0, churn_stop_syncer(&self->c));
	printf("# test=churn fs=%s seconds=%.1f gens=%ld writes=%ld fsyncs=%ld syncs=%ld redirtied=%+ld bounced=%+ld\n",
	       variant->fs, (churn_now_ms() - t0) / 1000.0, self->c.gen,
	       self->c.writes, self->c.sh->fsyncs, self->c.sh->syncs,
	       redirtied0 < 0 ? 0 : vt_vmstat("longterm_file_pin_redirtied") -
				    redirtied0,
	       bounced0 < 0 ? 0 : vt_vmstat("longterm_file_pin_bounced") -
				  bounced0);
	fflush(stdout);
	/* The syncer did sync while the device wrote, many times */
	EXPECT_LE(rounds, self->c.sh->fsyncs);
}

#define MEM_LEN		((size_t)8 << 20)
#define MEM_LIMIT	"64M"		/* memory.max of the memcg variant */
#define MEM_PRESS_LEN	((size_t)128 << 20)	/* file streamed per pass */
#define MEM_ANON_LEN	((size_t)8 << 20)	/* anon touched per pass */
#define MEM_BALLOON_LEFT ((size_t)160 << 20)	/* what the balloon leaves */
#define MEM_DEFAULT_S	10
#define CGROUP_ROOT	"/sys/fs/cgroup"

/* Shared between the test and the presser */
struct mem_shared {
	volatile int	ready;		/* the balloon is inflated */
	volatile int	go;
	volatile int	stop;
	volatile long	passes;		/* files streamed */
	volatile long	balloon_mib;	/* held by the balloon */
};

FIXTURE(churn_mem) {
	struct churn c;
	char path[PATH_MAX];
	char dir[32];
	char cg[64];			/* the memcg, when made */
	int dfd;
	void *buf, *anon;
	struct ibv_mr *anon_mr;
	struct mem_shared *psh;
	pid_t presser;
	long scan0;
};

FIXTURE_VARIANT(churn_mem) {
	const char *fs;
	int balloon;
};

FIXTURE_VARIANT_ADD(churn_mem, ext4_memcg) { .fs = "ext4", };
FIXTURE_VARIANT_ADD(churn_mem, xfs_memcg) { .fs = "xfs", };
FIXTURE_VARIANT_ADD(churn_mem, btrfs_memcg) { .fs = "btrfs", };
FIXTURE_VARIANT_ADD(churn_mem, ext4_balloon) { .fs = "ext4", .balloon = 1, };

/* Pages scanned by reclaim: in the memcg, or everywhere */
static long mem_scanned(FIXTURE_DATA(churn_mem) *self)
{
	char path[PATH_MAX];

	if (self->cg[0]) {
		snprintf(path, sizeof(path), "%s/memory.stat", self->cg);
		return churn_stat(path, "pgscan");
	}
	return vt_vmstat("pgscan_kswapd") + vt_vmstat("pgscan_direct");
}

/* A memory cgroup limited to MEM_LIMIT with this process in it */
static int mem_enter_cgroup(FIXTURE_DATA(churn_mem) *self)
{
	struct statfs sfs;

	if (statfs(CGROUP_ROOT, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		if (mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL)) {
			fprintf(stderr, "Couldn't mount cgroup2: %s\n",
				strerror(errno));
			return -1;
		}
	}
	if (churn_write_knob(CGROUP_ROOT, "cgroup.subtree_control", "+memory"))
		return -1;
	snprintf(self->cg, sizeof(self->cg), "%s/vt-churn-%d", CGROUP_ROOT,
		 getpid());
	if (mkdir(self->cg, 0755)) {
		fprintf(stderr, "Couldn't make %s: %s\n", self->cg,
			strerror(errno));
		self->cg[0] = '\0';
		return -1;
	}
	if (churn_write_knob(self->cg, "memory.max", MEM_LIMIT))
		return -1;
	return churn_write_knob(self->cg, "cgroup.procs", "0");
}

/* Back to the root cgroup, and remove ours (its charges go to the parent) */
static int mem_leave_cgroup(FIXTURE_DATA(churn_mem) *self)
{
	int ret;

	if (!self->cg[0])
		return 0;
	ret = churn_write_knob(CGROUP_ROOT, "cgroup.procs", "0");
	if (rmdir(self->cg)) {
		fprintf(stderr, "Couldn't remove %s: %s\n", self->cg,
			strerror(errno));
		ret = -1;
	}
	return ret;
}

/* Available memory in bytes, from /proc/meminfo */
static size_t mem_available(void)
{
	long kb = vt_meminfo("MemAvailable");

	return kb > 0 ? (size_t)kb << 10 : 0;
}

/*
 * The presser (a child): with a balloon, first hold and touch all but
 * MEM_BALLOON_LEFT of the available memory; then, until stopped, write a
 * file in @dir, read it back, unlink it and touch MEM_ANON_LEN of fresh
 * anonymous memory.  The file is MEM_PRESS_LEN, more than the memory
 * cgroup allows, or with a balloon twice what it leaves: MemAvailable
 * leaves out the reserves, which THP raises (min_free_kbytes), and a file
 * of 128 MiB then fit without reclaim ever scanning.
 */
static void mem_presser(struct mem_shared *psh, const char *dir,
			int balloon)
{
	size_t press_len = balloon ? 2 * MEM_BALLOON_LEFT : MEM_PRESS_LEN;
	size_t chunk = 1 << 20, held = 0, want = 0, n;
	char path[PATH_MAX];
	char *buf, *anon;
	int fd;

	/* The first victim of the OOM killer, if it comes to that */
	churn_write_knob("/proc/self", "oom_score_adj", "1000");
	if (balloon && mem_available() > MEM_BALLOON_LEFT)
		want = mem_available() - MEM_BALLOON_LEFT;
	for (; held < want; held += n) {
		n = want - held < ((size_t)64 << 20) ? want - held :
			(size_t)64 << 20;
		/* Populated up front, kept to the end: the balloon */
		anon = vt_alloc(n, MAP_POPULATE);
		if (!anon)
			break;
	}
	psh->balloon_mib = held >> 20;
	psh->ready = 1;
	buf = malloc(chunk);
	if (!buf)
		_exit(2);
	memset(buf, 0xa5, chunk);
	snprintf(path, sizeof(path), "%s/vt-press-%d", dir, getpid());
	while (!psh->go && !psh->stop)
		usleep(1000);
	while (!psh->stop) {
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(2);
		for (n = 0; n < press_len && !psh->stop; n += chunk)
			if (write(fd, buf, chunk) != (ssize_t)chunk)
				_exit(3);
		for (n = 0; n < press_len && !psh->stop; n += chunk)
			if (pread(fd, buf, chunk, n) != (ssize_t)chunk)
				_exit(4);
		close(fd);
		unlink(path);
		anon = vt_alloc(MEM_ANON_LEN, 0);
		if (anon) {
			memset(anon, 0x3c, MEM_ANON_LEN);
			vt_free(anon, MEM_ANON_LEN);
		}
		psh->passes++;
	}
	unlink(path);
	_exit(0);
}

static int mem_stop_presser(FIXTURE_DATA(churn_mem) *self)
{
	int status;

	if (self->presser <= 0)
		return 0;
	self->psh->stop = 1;
	if (waitpid(self->presser, &status, 0) != self->presser)
		return -1;
	self->presser = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "presser failed (status %#x)\n", status);
		return -1;
	}
	return 0;
}

FIXTURE_SETUP(churn_mem)
{
	self->c.fd = self->dfd = -1;
	snprintf(self->dir, sizeof(self->dir), "/mnt/%s", variant->fs);
	if (!vt_fs_is(self->dir, variant->fs))
		SKIP(return, "%s is not a mounted %s", self->dir, variant->fs);
	if (!variant->balloon && mem_enter_cgroup(self))
		SKIP(return, "no memory cgroup v2 to run in");
	self->psh = mmap(NULL, sizeof(*self->psh), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->psh);

	/* The file's pages are charged to the memcg that faults them in */
	ASSERT_EQ(0, churn_make_file(self->dir, MEM_LEN, self->path));
	self->dfd = open(self->path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->dfd) TH_LOG("open O_DIRECT: %s", strerror(errno));

	/*
	 * Forked before any MR exists: it shares no pinned page.  Tied to the
	 * test: a setup that fails after this must not leave the balloon.
	 */
	self->presser = vt_fork_tied();
	ASSERT_LE(0, self->presser);
	if (!self->presser)
		mem_presser(self->psh, self->dir, variant->balloon);

	self->buf = vt_alloc(MEM_LEN, 0);
	ASSERT_NE(NULL, self->buf);
	VT_TODO_IF_FILE_PINS_REFUSED();
	ASSERT_EQ(0, churn_init(&self->c, self->path, MEM_LEN, CHURN_CHUNK, 0));
	self->anon = vt_alloc(MEM_LEN, 0);
	ASSERT_NE(NULL, self->anon);
	self->anon_mr = ibv_reg_mr(self->c.vt.pd, self->anon, MEM_LEN,
				   VT_MR_ACCESS);
	ASSERT_NE(NULL, self->anon_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(churn_mem)
{
	EXPECT_EQ(0, mem_stop_presser(self));
	EXPECT_EQ(0, vt_dereg_mr(self->anon_mr));
	EXPECT_EQ(0, churn_close(&self->c));
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->anon, MEM_LEN);
	vt_free(self->buf, MEM_LEN);
	if (self->dfd >= 0)
		close(self->dfd);
	if (self->path[0])
		unlink(self->path);
	if (self->psh && self->psh != MAP_FAILED)
		munmap(self->psh, sizeof(*self->psh));
	EXPECT_EQ(0, mem_leave_cgroup(self));
}

/*
 * Generations into the file MR, each also RDMA-written into the anonymous
 * MR, while the presser runs; then the checks in memory and, with
 * @on_disk, on disk.
 */
static void mem_churn(struct __test_metadata *_metadata,
		      FIXTURE_DATA(churn_mem) *self,
		      const FIXTURE_VARIANT(churn_mem) *variant, int on_disk)
{
	long ms = churn_env("CHURN_MEM_SECONDS", MEM_DEFAULT_S) * 1000;
	long end, scanned, events = -1, wait_ms = 0;
	char path[PATH_MAX];
	unsigned int seed;
	size_t disk = 0;
	int rd = 0;

	/* Let the balloon inflate first */
	for (; !self->psh->ready && wait_ms < 300000; wait_ms += 10)
		usleep(10000);
	ASSERT_EQ(1, self->psh->ready) TH_LOG("the presser never got ready");
	self->scan0 = mem_scanned(self);
	self->psh->go = 1;
	end = churn_now_ms() + ms;
	do {
		ASSERT_EQ(0, churn_gen(&self->c, 0));
		ASSERT_EQ(0, vt_rdma_write(&self->c.vt, self->c.src_mr,
					   self->anon_mr, MEM_LEN));
		/*
		 * On a slow or loaded host the presser may need longer than
		 * CHURN_MEM_SECONDS before reclaim runs: go on (up to a
		 * minute more) until it did a pass and reclaim scanned.
		 */
	} while (churn_now_ms() < end ||
		 ((!self->psh->passes || mem_scanned(self) == self->scan0) &&
		  churn_now_ms() < end + 60000));
	seed = churn_seed(self->c.gen);
	EXPECT_EQ(0, mem_stop_presser(self));
	scanned = mem_scanned(self) - self->scan0;
	if (self->cg[0]) {
		snprintf(path, sizeof(path), "%s/memory.events", self->cg);
		events = churn_stat(path, "max");
	}

	/* In memory: the CPU's view of the file, the anon MR, an RDMA READ */
	EXPECT_EQ(MEM_LEN, vt_count(self->c.map, MEM_LEN, seed));
	EXPECT_EQ(MEM_LEN, vt_count(self->anon, MEM_LEN, seed));
	memset(self->anon, 0, MEM_LEN);
	ASSERT_EQ(0, vt_rdma_read(&self->c.vt, self->c.map_mr, self->anon_mr,
				  MEM_LEN));
	EXPECT_EQ(MEM_LEN, vt_count(self->anon, MEM_LEN, seed))
		TH_LOG("RDMA READ of the file MR");
	if (on_disk) {
		EXPECT_EQ(0, fsync(self->c.fd))
			TH_LOG("fsync: %s", strerror(errno));
		/* EIO here: a block failed its checksum (btrfs) */
		rd = vt_read_file(self->dfd, self->buf, MEM_LEN) ?
		     (errno ?: EIO) : 0;
		EXPECT_EQ(0, rd) TH_LOG("O_DIRECT read: %s", strerror(rd));
		if (!rd)
			disk = vt_count(self->buf, MEM_LEN, seed);
	}
	printf("# test=churn_mem fs=%s pressure=%s gens=%ld writes=%ld passes=%ld balloon_mib=%ld pgscan=%+ld memcg_max_events=%ld on_disk=%zu/%zu read=%s\n",
	       variant->fs, variant->balloon ? "balloon" : "memcg",
	       self->c.gen, self->c.writes, self->psh->passes,
	       self->psh->balloon_mib, scanned, events, disk,
	       on_disk ? MEM_LEN : 0, rd ? strerror(rd) : "ok");
	fflush(stdout);
	/* The pressure was real: reclaim scanned pages while the MRs lived */
	EXPECT_LT(0, scanned);
	EXPECT_LT(0, self->psh->passes);
	if (on_disk)
		EXPECT_EQ(MEM_LEN, disk) TH_LOG("generation %ld not on disk",
						self->c.gen);
}

TEST_F_TIMEOUT(churn_mem, in_memory, 300)
{
	VT_RETURN_IF_SKIPPED();
	mem_churn(_metadata, self, variant, 0);
}

TEST_F_TIMEOUT(churn_mem, on_disk, 300)
{
	VT_TODO_WITHOUT_PIN_RECORDS("the device's writes after a writeback are lost");
	VT_RETURN_IF_SKIPPED();
	mem_churn(_metadata, self, variant, 1);
}

VT_HARNESS_MAIN
