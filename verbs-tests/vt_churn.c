// SPDX-License-Identifier: GPL-2.0
/*
 * vt_churn - continuous RDMA WRITEs into a registered file while another
 * process syncs it: the engine shared by the churn test and
 * helpers/churn_writer (the guest half of scripts/powercut-churn), part of
 * libvt.a; vt_churn.h declares it.
 *
 * A generation g writes the pattern of churn_seed(g) over the whole file,
 * one chunk per work request, the chunks in a new random order each time,
 * up to VT_MAX_WR of them in flight.  The source buffer holds the pattern
 * at the same offsets as the file, so a file that holds generation g
 * everywhere is vt_count(buf, len, churn_seed(g)) == len, and the
 * generation of any byte can be read back from the byte itself
 * (churn_byte_seed()).  Generation 0 is the file as created: zeroes.
 *
 * The syncer is a child process forked before any verbs resource exists
 * (so it shares no pinned anonymous page): it opens the file itself and
 * loops fsync(), calling sync() every sync_every fsyncs, until told to
 * stop.  Before each fsync it notes the last generation the writer had
 * completed; once fsync() has returned, that generation is synced_gen.
 *
 * Every function returns 0 (or a valid object) on success and -1 after
 * printing why on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "vt_churn.h"

#define CHURN_POLL_MS		30000	/* no completion for this long: give up */

unsigned int churn_seed(long gen)
{
	return gen ? 1 + (gen - 1) % CHURN_SEEDS : 0;
}

long churn_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * The seed whose pattern byte @off of a file holds (see vt_fill(): byte b
 * of word i is bits 7b..7b+6 of i XOR 0x80 | seed), or -1 when the byte is
 * no pattern byte at all (zeroes, garbage).
 */
static int churn_byte_seed(const unsigned char *buf, size_t off)
{
	uint64_t word = off / 8;
	unsigned char x = buf[off] ^ ((word >> (7 * (off % 8))) & 0x7f);

	return x & 0x80 ? x & 0x7f : -1;
}

/* xorshift64: the chunk order needs no more than that */
static uint64_t churn_rand(struct churn *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

/*
 * The syncer: fsync in a loop, sync() every @sync_every, until stopped;
 * after each fsync, c->after_fsync() if set
 */
static void churn_syncer(struct churn *c, const char *path, int sync_every)
{
	struct churn_shared *sh = c->sh;
	long gen, t, n = 0;
	int fd, err;

	fd = open(path, O_RDWR);
	if (fd < 0) {
		sh->sync_err = errno;
		_exit(2);
	}
	while (!sh->go && !sh->stop)
		usleep(1000);
	while (!sh->stop) {
		gen = sh->gen_done;
		t = churn_now_ms();
		if (fsync(fd)) {
			sh->sync_err = errno;
			_exit(1);
		}
		t = churn_now_ms() - t;
		if (t > sh->fsync_max_ms)
			sh->fsync_max_ms = t;
		sh->synced_gen = gen;
		sh->fsyncs++;
		if (c->after_fsync) {
			err = c->after_fsync(c, gen);
			if (err) {
				sh->sync_err = err;
				_exit(1);
			}
			sh->hook_gen = gen;
		}
		if (sync_every > 0 && ++n % sync_every == 0) {
			sync();
			sh->syncs++;
		}
	}
	close(fd);
	_exit(0);
}

/* Stop the syncer and reap it; 0 when it ran without an error */
int churn_stop_syncer(struct churn *c)
{
	int status;

	if (c->syncer <= 0)
		return 0;
	c->sh->stop = 1;
	if (waitpid(c->syncer, &status, 0) != c->syncer) {
		fprintf(stderr, "Couldn't wait for the syncer: %s\n",
			strerror(errno));
		return -1;
	}
	c->syncer = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "syncer failed (status %#x): %s\n", status,
			strerror(c->sh->sync_err));
		return -1;
	}
	return 0;
}

/**
 * churn_init - map and register @path, fork its syncer
 * @c: zeroed context
 * @path: the file, @len bytes, already on disk
 * @len: bytes to map and churn, a multiple of @chunk
 * @chunk: bytes per RDMA WRITE, a multiple of 8
 * @sync_every: the syncer calls sync() every this many fsyncs (0: never)
 *
 * The syncer waits for churn_go().  Return: 0, or -1 with @c released.
 */
int churn_init(struct churn *c, const char *path, size_t len, size_t chunk,
	       int sync_every)
{
	size_t i;

	c->len = len;
	c->chunk = chunk;
	c->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() ^
		 (uint64_t)churn_now_ms() << 20;
	c->fd = open(path, O_RDWR);
	if (c->fd < 0) {
		fprintf(stderr, "Couldn't open %s: %s\n", path, strerror(errno));
		return -1;
	}
	c->sh = mmap(NULL, sizeof(*c->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->sh == MAP_FAILED) {
		fprintf(stderr, "Couldn't map the shared page: %s\n",
			strerror(errno));
		c->sh = NULL;
		goto clean_fd;
	}
	c->order = calloc(len / chunk, sizeof(*c->order));
	if (!c->order) {
		perror("calloc");
		goto clean_sh;
	}
	for (i = 0; i < len / chunk; i++)
		c->order[i] = i;

	/* Before any verbs resource: the child shares no pinned page */
	fflush(NULL);
	c->syncer = fork();
	if (c->syncer < 0) {
		fprintf(stderr, "Couldn't fork the syncer: %s\n", strerror(errno));
		goto clean_order;
	}
	if (!c->syncer)
		churn_syncer(c, path, sync_every);

	if (vt_init_ctx(&c->vt))
		goto clean_syncer;
	c->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->map == MAP_FAILED) {
		fprintf(stderr, "Couldn't map %s: %s\n", path, strerror(errno));
		c->map = NULL;
		goto clean_vt;
	}
	c->map_mr = ibv_reg_mr(c->vt.pd, c->map, len, VT_MR_ACCESS);
	if (!c->map_mr) {
		fprintf(stderr, "Couldn't register file MR: %s\n", strerror(errno));
		goto clean_map;
	}
	c->src = vt_alloc(len, 0);
	if (!c->src) {
		fprintf(stderr, "Couldn't allocate the source: %s\n",
			strerror(errno));
		goto clean_map_mr;
	}
	c->src_mr = ibv_reg_mr(c->vt.pd, c->src, len, VT_MR_ACCESS);
	if (!c->src_mr) {
		fprintf(stderr, "Couldn't register MR: %s\n", strerror(errno));
		goto clean_src;
	}
	return 0;

clean_src:
	vt_free(c->src, len);
	c->src = NULL;
clean_map_mr:
	ibv_dereg_mr(c->map_mr);
	c->map_mr = NULL;
clean_map:
	munmap(c->map, len);
	c->map = NULL;
clean_vt:
	vt_close_ctx(&c->vt);
clean_syncer:
	churn_stop_syncer(c);
clean_order:
	free(c->order);
	c->order = NULL;
clean_sh:
	munmap(c->sh, sizeof(*c->sh));
	c->sh = NULL;
clean_fd:
	close(c->fd);
	c->fd = -1;
	return -1;
}

/* Release what churn_init() set up (any part of it); -1 if a release failed */
int churn_close(struct churn *c)
{
	int ret = 0;

	if (churn_stop_syncer(c))
		ret = -1;
	if (c->src_mr && ibv_dereg_mr(c->src_mr)) {
		fprintf(stderr, "Couldn't deregister MR\n");
		ret = -1;
	}
	vt_free(c->src, c->len);
	if (c->map_mr && ibv_dereg_mr(c->map_mr)) {
		fprintf(stderr, "Couldn't deregister file MR\n");
		ret = -1;
	}
	vt_free(c->map, c->len);
	if (vt_close_ctx(&c->vt))
		ret = -1;
	free(c->order);
	if (c->sh)
		munmap(c->sh, sizeof(*c->sh));
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	return ret;
}

void churn_go(struct churn *c)
{
	c->sh->go = 1;
}

static int churn_post(struct churn *c, size_t off, uint64_t wr_id)
{
	struct ibv_sge list = {
		.addr	= (uintptr_t)c->src + off,
		.length	= c->chunk,
		.lkey	= c->src_mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id		= wr_id,
		.sg_list	= &list,
		.num_sge	= 1,
		.opcode		= IBV_WR_RDMA_WRITE,
		.send_flags	= IBV_SEND_SIGNALED,
		.wr.rdma	= {
			.remote_addr	= (uintptr_t)c->map + off,
			.rkey		= c->map_mr->rkey,
		},
	};
	struct ibv_send_wr *bad_wr;
	int ret;

	ret = ibv_post_send(c->vt.qp, &wr, &bad_wr);
	if (ret)
		fprintf(stderr, "Couldn't post send: %s\n", strerror(ret));
	return ret ? -1 : 0;
}

/* Reap completions, sleeping on the channel while there are none */
static int churn_poll(struct churn *c, int *done)
{
	struct pollfd pfd = { .fd = c->vt.channel->fd, .events = POLLIN };
	struct ibv_wc wc[VT_MAX_WR];
	struct ibv_cq *ev_cq;
	void *ev_ctx;
	int i, ne;

	while (!(ne = ibv_poll_cq(c->vt.cq, VT_MAX_WR, wc))) {
		if (poll(&pfd, 1, CHURN_POLL_MS) != 1) {
			fprintf(stderr, "No completion in %d ms\n", CHURN_POLL_MS);
			return -1;
		}
		if (ibv_get_cq_event(c->vt.channel, &ev_cq, &ev_ctx)) {
			fprintf(stderr, "Failed to get cq_event\n");
			return -1;
		}
		ibv_ack_cq_events(ev_cq, 1);
		if (ibv_req_notify_cq(c->vt.cq, 0)) {
			fprintf(stderr, "Couldn't request CQ notification\n");
			return -1;
		}
	}
	if (ne < 0) {
		fprintf(stderr, "Poll CQ failed %d\n", ne);
		return -1;
	}
	for (i = 0; i < ne; i++) {
		if (wc[i].status != IBV_WC_SUCCESS) {
			fprintf(stderr, "Failed status %s (%d) for wr_id %llu\n",
				ibv_wc_status_str(wc[i].status), wc[i].status,
				(unsigned long long)wc[i].wr_id);
			return -1;
		}
	}
	*done += ne;
	c->writes += ne;
	return 0;
}

/**
 * churn_gen - write the next generation over the whole file
 * @c: context from churn_init()
 * @cut_at_ms: 0, or a churn_now_ms() time at which to return at once,
 *	       writes still in flight (the power cut comes next)
 *
 * Return: 0 when every write of the generation completed (it is then
 * c->sh->gen_done), 1 when @cut_at_ms came first, -1 on errors.
 */
int churn_gen(struct churn *c, long cut_at_ms)
{
	size_t n = c->len / c->chunk, posted = 0, i, j;
	int done = 0;
	uint32_t t;

	c->gen++;
	c->sh->gen_started = c->gen;
	vt_fill(c->src, c->len, churn_seed(c->gen));
	for (i = n - 1; i > 0; i--) {
		j = churn_rand(c) % (i + 1);
		t = c->order[i];
		c->order[i] = c->order[j];
		c->order[j] = t;
	}
	while ((size_t)done < n) {
		for (; posted < n && posted - done < VT_MAX_WR; posted++)
			if (churn_post(c, (size_t)c->order[posted] * c->chunk,
				       posted))
				return -1;
		if (cut_at_ms && churn_now_ms() >= cut_at_ms)
			return 1;
		if (churn_poll(c, &done))
			return -1;
	}
	c->sh->gen_done = c->gen;
	return 0;
}

/**
 * churn_run - write whole generations until @ms milliseconds have passed
 * @c: context from churn_init(), syncer started with churn_go()
 * @ms: for how long; the generation running at the end completes
 *
 * Return: 0, or -1.
 */
int churn_run(struct churn *c, long ms)
{
	long end = churn_now_ms() + ms;

	do {
		if (churn_gen(c, 0))
			return -1;
	} while (churn_now_ms() < end);
	return 0;
}

/* Word @i of the pattern of @seed, as vt_fill() writes it */
static uint64_t churn_word(uint64_t i, unsigned int seed)
{
	uint64_t w = 0;
	int b;

	for (b = 0; b < 8; b++)
		w |= ((i >> (7 * b)) & 0x7f) << (8 * b);
	return w ^ (0x80 | (seed & 0x7f)) * 0x0101010101010101ULL;
}

/*
 * Classify every byte of @buf by the generation it holds, when each must
 * hold one of generations @lo..@hi (1 <= lo <= hi, hi - lo < CHURN_SEEDS).
 */
void churn_tally(const void *buf, size_t len, long lo, long hi,
		 struct churn_tally *t)
{
	const unsigned char *p = buf;
	unsigned char ok[128] = {};
	const uint64_t *w = buf;
	unsigned int last = churn_seed(hi);
	size_t i, b;
	long g;
	int s;

	memset(t, 0, sizeof(*t));
	for (g = lo; g <= hi && g - lo < CHURN_SEEDS; g++)
		ok[churn_seed(g)] = 1;
	for (i = 0; i < len / 8; i++) {
		if (w[i] == churn_word(i, last)) {
			t->current += 8;
			continue;
		}
		for (b = i * 8; b < i * 8 + 8; b++) {
			s = churn_byte_seed(p, b);
			if (!p[b])
				t->zero++;
			else if (s <= 0)
				t->garbage++;
			else if (ok[s])
				t->current++;
			else
				t->stale++;
		}
	}
}
