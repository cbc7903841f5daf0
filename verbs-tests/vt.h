/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vt - the common part of the verbs tests: one RC QP on $VT_DEV, connected
 * to itself (Soft-RoCE) or through rdma_cm to a second QP of the same
 * context (iWARP: Soft-iWARP), data movers, pin accounting and data
 * patterns.
 */
#ifndef VT_H
#define VT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#define VT_PORT		1
#define VT_CHUNK	(1 << 20)	/* bytes per work request */
#define VT_MAX_WR	16		/* work requests in flight */
#define VT_CM_ADDR	"10.78.0.1"	/* iWARP: rdma_cm's address, $VT_CM_ADDR */
#define VT_MR_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

struct rdma_cm_id;
struct rdma_event_channel;

/*
 * qp sends; rqp receives the SENDs and serves the RDMA READs and WRITEs,
 * both QPs on one PD and one CQ.  A Soft-RoCE QP is connected to itself
 * (rqp == qp); an iWARP QP cannot be, so there rqp is the passive side of
 * an rdma_cm connection to the device's own address, and the cm objects
 * are kept for vt_close_ctx().
 */
struct vt_ctx {
	struct ibv_context	*context;
	struct ibv_comp_channel	*channel;
	struct ibv_pd		*pd;
	struct ibv_cq		*cq;
	struct ibv_qp		*qp;
	struct ibv_qp		*rqp;
	struct rdma_event_channel *cm_channel;
	struct rdma_cm_id	*listen_id;
	struct rdma_cm_id	*cm_id;		/* qp's, the active side */
	struct rdma_cm_id	*peer_id;	/* rqp's, the accepted one */
	struct ibv_device_attr	dev_attr;
	struct ibv_port_attr	portinfo;
	union ibv_gid		gid;
	int			port;
	int			gidx;
};

/* Where a QP sends to: the peer QP's number, first PSN and GID */
struct vt_dest {
	uint32_t		qpn;
	uint32_t		psn;
	union ibv_gid		gid;
};

const char *vt_dev_name(void);
int vt_gid_index(void);
bool vt_dev_is_iwarp(const char *name);
struct ibv_context *vt_open_device(const char *name);

int vt_open_ctx(struct vt_ctx *ctx, const char *devname, int port, int gidx);
int vt_connect_qp(struct vt_ctx *ctx, uint32_t my_psn,
		  const struct vt_dest *dest);
int vt_init_ctx(struct vt_ctx *ctx);
int vt_close_ctx(struct vt_ctx *ctx);
int vt_dereg_mr(struct ibv_mr *mr);

int vt_rdma_write(struct vt_ctx *ctx, struct ibv_mr *src, struct ibv_mr *dst,
		  size_t len);
int vt_rdma_read(struct vt_ctx *ctx, struct ibv_mr *src, struct ibv_mr *dst,
		 size_t len);
int vt_send(struct vt_ctx *ctx, struct ibv_mr *src, struct ibv_mr *dst,
	    size_t len);
int vt_xfer_at(struct vt_ctx *ctx, enum ibv_wr_opcode opcode,
	       struct ibv_mr *local, struct ibv_mr *remote, size_t off,
	       size_t len);
int vt_mount_dev(const char *dir, char *dev, size_t len);
long long vt_dev_sectors_written(const char *dir);
int vt_run(const char *log, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

long vt_vmstat(const char *name);
int vt_vmstat2(const char *name1, long *val1, const char *name2, long *val2);
bool vt_kernel_records_pins(void);
bool vt_kernel_refuses_file_pins(void);
bool vt_reg_refused_as_file_pin(const void *addr, size_t len, int access);
bool vt_kernel_older_than(int major, int minor);
long vt_folio_of(const void *addr, unsigned long *head);
long vt_folio_pages(const void * const *addrs, long n);
long vt_meminfo(const char *name);
pid_t vt_fork_tied(void);
int vt_pins(long *acquired, long *released);
int vt_lt_pins(long *acquired, long *released);
int vt_pins_settle(long held, long lt_held, int ms);

int vt_kmsg_open(void);
int vt_kmsg_splats(int fd, char *report, size_t len);

void vt_fill(void *buf, size_t len, unsigned int seed);
size_t vt_count(const void *buf, size_t len, unsigned int seed);

void *vt_alloc(size_t len, int flags);
void vt_free(void *buf, size_t len);
int vt_is_mountpoint(const char *path);
int vt_fs_is(const char *dir, const char *fs);
int vt_write_file(int fd, size_t len, unsigned int seed);
int vt_make_file(const char *dir, size_t len, unsigned int seed, char *path);
int vt_read_file(int fd, void *buf, size_t len);

int vt_vm_sysctl(const char *name, const char *val, char *old, size_t len);
int vt_write_knob(const char *path, const char *val);
void *vt_slurp(const char *path, size_t size, size_t *got);

#endif /* VT_H */
