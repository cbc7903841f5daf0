/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vt_churn - continuous RDMA WRITEs into a registered file while a child
 * process syncs it (vt_churn.c, in libvt.a): what the churn test and
 * helpers/churn_writer use.
 */
#ifndef VT_CHURN_H
#define VT_CHURN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vt.h"

#define CHURN_SEEDS		126	/* generation g writes seed 1 + (g-1) % 126 */

/* Shared (MAP_SHARED | MAP_ANONYMOUS) between the writer and the syncer */
struct churn_shared {
	volatile int	go;		/* the syncer may start */
	volatile int	stop;		/* the syncer must stop */
	volatile long	gen_started;	/* last generation whose writes were posted */
	volatile long	gen_done;	/* last generation with every write completed */
	volatile long	synced_gen;	/* gen_done seen before the last fsync that returned */
	volatile long	fsyncs;
	volatile long	syncs;
	volatile int	sync_err;	/* errno of a failed fsync() or 0 */
	volatile long	hook_gen;	/* the last synced_gen after_fsync() took */
	volatile long	fsync_max_ms;	/* the longest fsync() so far */
};

struct churn {
	struct vt_ctx		vt;
	int			fd;
	size_t			len;
	size_t			chunk;
	void			*map;	/* the file, mapped shared, registered */
	void			*src;	/* the generation's pattern, registered */
	struct ibv_mr		*map_mr;
	struct ibv_mr		*src_mr;
	uint32_t		*order;	/* chunk indices, shuffled per generation */
	struct churn_shared	*sh;
	pid_t			syncer;
	long			gen;	/* last generation started */
	long			writes;	/* work requests completed */
	uint64_t		rng;
	/*
	 * Called by the syncer after each fsync() that returned, with the
	 * generation it covered (set before churn_init(); NULL: none); a
	 * nonzero return is an error (an errno) that stops the syncer.
	 */
	int			(*after_fsync)(struct churn *c, long synced_gen);
	void			*hook_data;
};

/* Where the bytes of a file read back come from */
struct churn_tally {
	size_t	current;	/* one of the generations expected */
	size_t	stale;		/* the pattern of an older generation */
	size_t	zero;		/* zero bytes: generation 0, or a hole */
	size_t	garbage;	/* no pattern at all: torn bytes */
};

unsigned int churn_seed(long gen);
long churn_now_ms(void);

int churn_init(struct churn *c, const char *path, size_t len, size_t chunk,
	       int sync_every);
int churn_close(struct churn *c);
void churn_go(struct churn *c);
int churn_stop_syncer(struct churn *c);
int churn_gen(struct churn *c, long cut_at_ms);
int churn_run(struct churn *c, long ms);

void churn_tally(const void *buf, size_t len, long lo, long hi,
		 struct churn_tally *t);

#endif /* VT_CHURN_H */
