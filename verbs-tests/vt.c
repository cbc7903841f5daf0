// SPDX-License-Identifier: GPL-2.0
/*
 * vt - the common part of the verbs tests.  Verbs code follows rdma-core's
 * libibverbs/examples/rc_pingpong.c.  Every function returns 0 (or a valid
 * object) on success and -1 (or NULL) after printing why on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <rdma/rdma_cma.h>

#include "vt.h"

#define VT_TIMEOUT_MS	30000	/* no completion for this long: give up */
#define VT_LANES	0x7f7f7f7f7f7f7f7fULL

const char *vt_dev_name(void)
{
	const char *name = getenv("VT_DEV");

	return name ? name : "rxe0";
}

int vt_gid_index(void)
{
	const char *gidx = getenv("VT_GID");

	return gidx ? atoi(gidx) : 1;
}

struct ibv_context *vt_open_device(const char *name)
{
	struct ibv_context *context = NULL;
	struct ibv_device **dev_list;
	int i;

	dev_list = ibv_get_device_list(NULL);
	if (!dev_list) {
		fprintf(stderr, "Couldn't get device list: %s\n", strerror(errno));
		return NULL;
	}
	for (i = 0; dev_list[i]; i++)
		if (!strcmp(ibv_get_device_name(dev_list[i]), name))
			break;
	if (!dev_list[i]) {
		fprintf(stderr, "IB device %s not found\n", name);
	} else {
		context = ibv_open_device(dev_list[i]);
		if (!context)
			fprintf(stderr, "Couldn't get context for %s\n", name);
	}
	ibv_free_device_list(dev_list);
	return context;
}

/**
 * vt_dev_is_iwarp - is the IB device @name an iWARP device (siw)?
 * @name: IB device name
 *
 * Return: true when it exists and its transport is iWARP.
 */
bool vt_dev_is_iwarp(const char *name)
{
	struct ibv_device **dev_list;
	bool iwarp = false;
	int i;

	dev_list = ibv_get_device_list(NULL);
	if (!dev_list)
		return false;
	for (i = 0; dev_list[i]; i++)
		if (!strcmp(ibv_get_device_name(dev_list[i]), name))
			iwarp = dev_list[i]->transport_type == IBV_TRANSPORT_IWARP;
	ibv_free_device_list(dev_list);
	return iwarp;
}

/* INIT for @qp: the access its peer's RDMA READs and WRITEs need */
static int vt_init_qp(struct vt_ctx *ctx, struct ibv_qp *qp)
{
	struct ibv_qp_attr attr = {
		.qp_state		= IBV_QPS_INIT,
		.pkey_index		= 0,
		.port_num		= ctx->port,
		.qp_access_flags	= IBV_ACCESS_REMOTE_WRITE |
					  IBV_ACCESS_REMOTE_READ |
					  IBV_ACCESS_REMOTE_ATOMIC,
	};

	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE              |
			  IBV_QP_PKEY_INDEX         |
			  IBV_QP_PORT               |
			  IBV_QP_ACCESS_FLAGS)) {
		fprintf(stderr, "Failed to modify QP to INIT\n");
		return -1;
	}
	return 0;
}

/**
 * vt_connect_qp - bring the QP from RESET through INIT and RTR to RTS
 * @ctx: context from vt_open_ctx()
 * @my_psn: first PSN of our sends
 * @dest: the QP to send to (our own for a loopback)
 *
 * Return: 0, or -1.
 */
int vt_connect_qp(struct vt_ctx *ctx, uint32_t my_psn,
		  const struct vt_dest *dest)
{
	const struct ibv_device_attr *dev_attr = &ctx->dev_attr;
	struct ibv_qp_attr attr;

	if (vt_init_qp(ctx, ctx->qp))
		return -1;

	attr = (struct ibv_qp_attr) {
		.qp_state		= IBV_QPS_RTR,
		.path_mtu		= ctx->portinfo.active_mtu,
		.dest_qp_num		= dest->qpn,
		.rq_psn			= dest->psn,
		.max_dest_rd_atomic	= dev_attr->max_qp_rd_atom < VT_MAX_WR ?
					  dev_attr->max_qp_rd_atom : VT_MAX_WR,
		.min_rnr_timer		= 12,
		.ah_attr		= {
			.is_global	= 1,
			.grh		= {
				.dgid		= dest->gid,
				.sgid_index	= ctx->gidx,
				.hop_limit	= 1,
			},
			.sl		= 0,
			.src_path_bits	= 0,
			.port_num	= ctx->port,
		},
	};
	if (ibv_modify_qp(ctx->qp, &attr,
			  IBV_QP_STATE              |
			  IBV_QP_AV                 |
			  IBV_QP_PATH_MTU           |
			  IBV_QP_DEST_QPN           |
			  IBV_QP_RQ_PSN             |
			  IBV_QP_MAX_DEST_RD_ATOMIC |
			  IBV_QP_MIN_RNR_TIMER)) {
		fprintf(stderr, "Failed to modify QP to RTR\n");
		return -1;
	}

	attr = (struct ibv_qp_attr) {
		.qp_state		= IBV_QPS_RTS,
		.timeout		= 14,
		.retry_cnt		= 7,
		.rnr_retry		= 7,
		.sq_psn			= my_psn,
		.max_rd_atomic		= dev_attr->max_qp_init_rd_atom < VT_MAX_WR ?
					  dev_attr->max_qp_init_rd_atom : VT_MAX_WR,
	};
	if (ibv_modify_qp(ctx->qp, &attr,
			  IBV_QP_STATE              |
			  IBV_QP_TIMEOUT            |
			  IBV_QP_RETRY_CNT          |
			  IBV_QP_RNR_RETRY          |
			  IBV_QP_SQ_PSN             |
			  IBV_QP_MAX_QP_RD_ATOMIC)) {
		fprintf(stderr, "Failed to modify QP to RTS\n");
		return -1;
	}
	return 0;
}

/* One RC QP in RESET on the context's PD and CQ, or NULL */
static struct ibv_qp *vt_create_qp(struct vt_ctx *ctx)
{
	struct ibv_qp_init_attr init_attr = {
		.send_cq = ctx->cq,
		.recv_cq = ctx->cq,
		.cap     = {
			.max_send_wr  = VT_MAX_WR,
			.max_recv_wr  = VT_MAX_WR,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
		.qp_type = IBV_QPT_RC,
	};
	struct ibv_qp *qp;

	qp = ibv_create_qp(ctx->pd, &init_attr);
	if (!qp)
		fprintf(stderr, "Couldn't create QP: %s\n", strerror(errno));
	return qp;
}

/**
 * vt_open_ctx - open a device and set up PD, CQ and one RC QP (in RESET)
 * @ctx: zeroed context to fill in
 * @devname: IB device
 * @port: its port
 * @gidx: index of the local GID
 *
 * Return: 0, or -1 with @ctx left empty.
 */
int vt_open_ctx(struct vt_ctx *ctx, const char *devname, int port, int gidx)
{
	ctx->port = port;
	ctx->gidx = gidx;
	ctx->context = vt_open_device(devname);
	if (!ctx->context)
		return -1;

	if (ibv_query_device(ctx->context, &ctx->dev_attr)) {
		fprintf(stderr, "Couldn't query device\n");
		goto clean_device;
	}
	if (ibv_query_port(ctx->context, port, &ctx->portinfo)) {
		fprintf(stderr, "Couldn't get port info\n");
		goto clean_device;
	}
	if (ibv_query_gid(ctx->context, port, gidx, &ctx->gid)) {
		fprintf(stderr, "Couldn't read sgid of index %d\n", gidx);
		goto clean_device;
	}

	ctx->pd = ibv_alloc_pd(ctx->context);
	if (!ctx->pd) {
		fprintf(stderr, "Couldn't allocate PD\n");
		goto clean_device;
	}

	ctx->channel = ibv_create_comp_channel(ctx->context);
	if (!ctx->channel) {
		fprintf(stderr, "Couldn't create completion channel\n");
		goto clean_pd;
	}

	/* Room for the completions of VT_MAX_WR sends and as many receives */
	ctx->cq = ibv_create_cq(ctx->context, 2 * VT_MAX_WR, NULL,
				ctx->channel, 0);
	if (!ctx->cq) {
		fprintf(stderr, "Couldn't create CQ\n");
		goto clean_comp_channel;
	}
	if (ibv_req_notify_cq(ctx->cq, 0)) {
		fprintf(stderr, "Couldn't request CQ notification\n");
		goto clean_cq;
	}

	/* Connected to itself, the QP receives its own SENDs */
	ctx->qp = vt_create_qp(ctx);
	if (!ctx->qp)
		goto clean_cq;
	ctx->rqp = ctx->qp;
	return 0;

clean_cq:
	ibv_destroy_cq(ctx->cq);
clean_comp_channel:
	ibv_destroy_comp_channel(ctx->channel);
clean_pd:
	ibv_dealloc_pd(ctx->pd);
clean_device:
	ibv_close_device(ctx->context);
	memset(ctx, 0, sizeof(*ctx));
	return -1;
}

/*
 * Wait for the next rdma_cm event on the context's channel, which must be
 * @want without error; its cm_id goes to *@id (may be NULL).
 */
static int vt_cm_event(struct vt_ctx *ctx, enum rdma_cm_event_type want,
		       struct rdma_cm_id **id)
{
	struct pollfd pfd = { .fd = ctx->cm_channel->fd, .events = POLLIN };
	struct rdma_cm_event *event;
	int ret = 0;

	if (poll(&pfd, 1, VT_TIMEOUT_MS) != 1) {
		fprintf(stderr, "No rdma_cm event in %d ms (waiting for %s)\n",
			VT_TIMEOUT_MS, rdma_event_str(want));
		return -1;
	}
	if (rdma_get_cm_event(ctx->cm_channel, &event)) {
		fprintf(stderr, "Couldn't get rdma_cm event: %s\n",
			strerror(errno));
		return -1;
	}
	if (event->event != want || event->status) {
		fprintf(stderr, "rdma_cm event %s (status %d), not %s\n",
			rdma_event_str(event->event), event->status,
			rdma_event_str(want));
		ret = -1;
	} else if (id) {
		*id = event->id;
	}
	rdma_ack_cm_event(event);
	return ret;
}

/*
 * Connect ctx->qp to ctx->rqp through rdma_cm, in this one thread: a
 * listening cm_id on $VT_CM_ADDR (the address of the iWARP device's
 * netdev) and a port the kernel picks, a cm_id that resolves it and
 * connects with qp, and the accepted one, with rqp.  The QPs are the
 * context's own (ibv_create_qp() on the PD of the ibv_context that
 * vt_open_ctx() opened), not rdma_create_qp()'s: librdmacm's context of a
 * device is shared by the whole process and never closed, so a child
 * forked after its first use would register its MRs through its parent's
 * uverbs file, and a SIGKILLed child would leave them pinned.  The kernel
 * finds an iWARP QP by its number on the device (conn_param.qp_num) and
 * moves it to RTS itself.
 */
static int vt_cm_connect(struct vt_ctx *ctx)
{
	const char *ip = getenv("VT_CM_ADDR") ?: VT_CM_ADDR;
	const struct ibv_device_attr *dev_attr = &ctx->dev_attr;
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct rdma_conn_param param = {
		.responder_resources	= dev_attr->max_qp_rd_atom < VT_MAX_WR ?
					  dev_attr->max_qp_rd_atom : VT_MAX_WR,
		.initiator_depth	= dev_attr->max_qp_init_rd_atom < VT_MAX_WR ?
					  dev_attr->max_qp_init_rd_atom : VT_MAX_WR,
		.retry_count		= 7,
		.rnr_retry_count	= 7,
	};
	struct rdma_cm_id *id = NULL;
	const char *on;
	int i, up = 0;

	if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
		fprintf(stderr, "VT_CM_ADDR %s is not an IPv4 address\n", ip);
		return -1;
	}
	ctx->cm_channel = rdma_create_event_channel();
	if (!ctx->cm_channel) {
		fprintf(stderr, "Couldn't create rdma_cm event channel: %s\n",
			strerror(errno));
		return -1;
	}

	if (rdma_create_id(ctx->cm_channel, &ctx->listen_id, NULL,
			   RDMA_PS_TCP)) {
		fprintf(stderr, "Couldn't create listening cm_id: %s\n",
			strerror(errno));
		goto clean_cm_channel;
	}
	if (rdma_bind_addr(ctx->listen_id, (struct sockaddr *)&addr)) {
		fprintf(stderr, "Couldn't bind cm_id to %s: %s\n", ip,
			strerror(errno));
		goto clean_listen_id;
	}
	on = ctx->listen_id->verbs ?
	     ibv_get_device_name(ctx->listen_id->verbs->device) : "no device";
	if (strcmp(on, ibv_get_device_name(ctx->context->device))) {
		fprintf(stderr, "VT_CM_ADDR %s is on %s, not on %s\n", ip, on,
			ibv_get_device_name(ctx->context->device));
		goto clean_listen_id;
	}
	if (rdma_listen(ctx->listen_id, 1)) {
		fprintf(stderr, "Couldn't listen on %s: %s\n", ip,
			strerror(errno));
		goto clean_listen_id;
	}
	addr.sin_port = rdma_get_src_port(ctx->listen_id);

	if (rdma_create_id(ctx->cm_channel, &ctx->cm_id, NULL, RDMA_PS_TCP)) {
		fprintf(stderr, "Couldn't create cm_id: %s\n", strerror(errno));
		goto clean_listen_id;
	}
	if (rdma_resolve_addr(ctx->cm_id, NULL, (struct sockaddr *)&addr,
			      VT_TIMEOUT_MS)) {
		fprintf(stderr, "Couldn't resolve address %s: %s\n", ip,
			strerror(errno));
		goto clean_cm_id;
	}
	if (vt_cm_event(ctx, RDMA_CM_EVENT_ADDR_RESOLVED, NULL))
		goto clean_cm_id;
	if (rdma_resolve_route(ctx->cm_id, VT_TIMEOUT_MS)) {
		fprintf(stderr, "Couldn't resolve route to %s: %s\n", ip,
			strerror(errno));
		goto clean_cm_id;
	}
	if (vt_cm_event(ctx, RDMA_CM_EVENT_ROUTE_RESOLVED, NULL))
		goto clean_cm_id;

	if (vt_init_qp(ctx, ctx->qp) || vt_init_qp(ctx, ctx->rqp))
		goto clean_cm_id;
	param.qp_num = ctx->qp->qp_num;
	if (rdma_connect(ctx->cm_id, &param)) {
		fprintf(stderr, "Couldn't connect to %s: %s\n", ip,
			strerror(errno));
		goto clean_cm_id;
	}
	if (vt_cm_event(ctx, RDMA_CM_EVENT_CONNECT_REQUEST, &ctx->peer_id))
		goto clean_cm_id;
	param.qp_num = ctx->rqp->qp_num;
	if (rdma_accept(ctx->peer_id, &param)) {
		fprintf(stderr, "Couldn't accept connection: %s\n",
			strerror(errno));
		goto clean_peer_id;
	}
	/* Both sides report it, in either order */
	for (i = 0; i < 2; i++) {
		if (vt_cm_event(ctx, RDMA_CM_EVENT_ESTABLISHED, &id))
			goto clean_peer_id;
		up |= id == ctx->cm_id ? 1 : id == ctx->peer_id ? 2 : 0;
	}
	if (up != 3) {
		fprintf(stderr, "rdma_cm established %#x of the two sides\n", up);
		goto clean_peer_id;
	}
	return 0;

clean_peer_id:
	rdma_destroy_id(ctx->peer_id);
	ctx->peer_id = NULL;
clean_cm_id:
	rdma_destroy_id(ctx->cm_id);
	ctx->cm_id = NULL;
clean_listen_id:
	rdma_destroy_id(ctx->listen_id);
	ctx->listen_id = NULL;
clean_cm_channel:
	rdma_destroy_event_channel(ctx->cm_channel);
	ctx->cm_channel = NULL;
	return -1;
}

/* Disconnect and release what vt_cm_connect() set up: 0, or -1 */
static int vt_cm_close(struct vt_ctx *ctx)
{
	struct rdma_cm_id **ids[] = {
		&ctx->peer_id, &ctx->cm_id, &ctx->listen_id,
	};
	int i, ret = 0;

	if (!ctx->cm_channel)
		return 0;
	if (rdma_disconnect(ctx->cm_id)) {
		fprintf(stderr, "Couldn't disconnect: %s\n", strerror(errno));
		ret = -1;
	}
	for (i = 0; !ret && i < 2; i++)
		if (vt_cm_event(ctx, RDMA_CM_EVENT_DISCONNECTED, NULL))
			ret = -1;
	for (i = 0; i < 3; i++) {
		if (rdma_destroy_id(*ids[i])) {
			fprintf(stderr, "Couldn't destroy cm_id: %s\n",
				strerror(errno));
			ret = -1;
		}
		*ids[i] = NULL;
	}
	rdma_destroy_event_channel(ctx->cm_channel);
	ctx->cm_channel = NULL;
	return ret;
}

/**
 * vt_init_ctx - open $VT_DEV and bring up an RC QP connected to a peer
 * @ctx: zeroed context to fill in
 *
 * On Soft-RoCE the QP is connected to itself (GID index $VT_GID).  An
 * iWARP QP cannot be: there a second QP on the same PD and CQ is its peer,
 * connected through rdma_cm on $VT_CM_ADDR (vt_cm_connect()), and receives
 * the SENDs (ctx->rqp).  Either way the MRs of ctx->pd are the local and
 * the remote buffers of the data movers.
 *
 * Return: 0, or -1 with @ctx left empty.
 */
int vt_init_ctx(struct vt_ctx *ctx)
{
	const char *name = vt_dev_name();
	struct vt_dest self;

	if (vt_dev_is_iwarp(name)) {
		/* No IP GIDs on iWARP: rdma_cm finds the device by address */
		if (vt_open_ctx(ctx, name, VT_PORT, 0))
			return -1;
		ctx->rqp = vt_create_qp(ctx);
		if (!ctx->rqp || vt_cm_connect(ctx)) {
			vt_close_ctx(ctx);
			return -1;
		}
		return 0;
	}

	if (vt_open_ctx(ctx, name, VT_PORT, vt_gid_index()))
		return -1;
	self = (struct vt_dest) { .qpn = ctx->qp->qp_num, .gid = ctx->gid };
	if (vt_connect_qp(ctx, self.psn, &self)) {
		vt_close_ctx(ctx);
		return -1;
	}
	return 0;
}

/**
 * vt_close_ctx - release what vt_open_ctx() or vt_init_ctx() set up
 * @ctx: context; may be zeroed, as after a skipped or failed setup
 *
 * Return: 0, or -1 when a release failed (all are tried).
 */
int vt_close_ctx(struct vt_ctx *ctx)
{
	int ret = 0;

	if (!ctx->context)
		return 0;
	if (vt_cm_close(ctx))
		ret = -1;
	if (ctx->rqp && ctx->rqp != ctx->qp && ibv_destroy_qp(ctx->rqp)) {
		fprintf(stderr, "Couldn't destroy QP\n");
		ret = -1;
	}
	if (ibv_destroy_qp(ctx->qp)) {
		fprintf(stderr, "Couldn't destroy QP\n");
		ret = -1;
	}
	if (ibv_destroy_cq(ctx->cq)) {
		fprintf(stderr, "Couldn't destroy CQ\n");
		ret = -1;
	}
	if (ibv_destroy_comp_channel(ctx->channel)) {
		fprintf(stderr, "Couldn't destroy completion channel\n");
		ret = -1;
	}
	if (ibv_dealloc_pd(ctx->pd)) {
		fprintf(stderr, "Couldn't deallocate PD\n");
		ret = -1;
	}
	if (ibv_close_device(ctx->context)) {
		fprintf(stderr, "Couldn't release context\n");
		ret = -1;
	}
	memset(ctx, 0, sizeof(*ctx));
	return ret;
}

/* ibv_dereg_mr() that takes NULL, for teardowns */
int vt_dereg_mr(struct ibv_mr *mr)
{
	return mr ? ibv_dereg_mr(mr) : 0;
}

/*
 * Take up to @n completions, sleeping on the channel while there are none.
 * The CQ is always either armed or has an unread event, so no wakeup is lost.
 */
static int vt_poll(struct vt_ctx *ctx, struct ibv_wc *wc, int n)
{
	struct pollfd pfd = { .fd = ctx->channel->fd, .events = POLLIN };
	struct ibv_cq *ev_cq;
	void *ev_ctx;
	int ne;

	while (!(ne = ibv_poll_cq(ctx->cq, n, wc))) {
		if (poll(&pfd, 1, VT_TIMEOUT_MS) != 1) {
			fprintf(stderr, "No completion in %d ms\n", VT_TIMEOUT_MS);
			return -1;
		}
		if (ibv_get_cq_event(ctx->channel, &ev_cq, &ev_ctx)) {
			fprintf(stderr, "Failed to get cq_event\n");
			return -1;
		}
		ibv_ack_cq_events(ev_cq, 1);
		if (ibv_req_notify_cq(ctx->cq, 0)) {
			fprintf(stderr, "Couldn't request CQ notification\n");
			return -1;
		}
	}
	if (ne < 0)
		fprintf(stderr, "Poll CQ failed %d\n", ne);
	return ne;
}

static int vt_post(struct vt_ctx *ctx, enum ibv_wr_opcode opcode,
		   struct ibv_mr *local, struct ibv_mr *remote,
		   size_t off, uint32_t len, uint64_t wr_id)
{
	struct ibv_sge list = {
		.addr	= (uintptr_t)local->addr + off,
		.length	= len,
		.lkey	= local->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id		= wr_id,
		.sg_list	= &list,
		.num_sge	= 1,
		.opcode		= opcode,
		.send_flags	= IBV_SEND_SIGNALED,
		.wr.rdma	= {
			.remote_addr	= (uintptr_t)remote->addr + off,
			.rkey		= remote->rkey,
		},
	};
	struct ibv_send_wr *bad_wr;
	int ret;

	if (opcode == IBV_WR_SEND) {
		struct ibv_sge rlist = {
			.addr	= (uintptr_t)remote->addr + off,
			.length	= len,
			.lkey	= remote->lkey,
		};
		struct ibv_recv_wr rwr = {
			.wr_id		= wr_id,
			.sg_list	= &rlist,
			.num_sge	= 1,
		};
		struct ibv_recv_wr *bad_rwr;

		ret = ibv_post_recv(ctx->rqp, &rwr, &bad_rwr);
		if (ret) {
			fprintf(stderr, "Couldn't post receive: %s\n", strerror(ret));
			return -1;
		}
	}
	if (opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		/* add 1 to the 8 bytes at @off; the old value lands in @local */
		list.length = sizeof(uint64_t);
		wr.wr.atomic.remote_addr = (uintptr_t)remote->addr + off;
		wr.wr.atomic.compare_add = 1;
		wr.wr.atomic.rkey = remote->rkey;
	}
	ret = ibv_post_send(ctx->qp, &wr, &bad_wr);
	if (ret)
		fprintf(stderr, "Couldn't post send: %s\n", strerror(ret));
	return ret ? -1 : 0;
}

/*
 * Move @len bytes between the starts of two MRs in VT_CHUNK pieces with at
 * most VT_MAX_WR of them in flight.  A receive completes before the ACK for
 * its send is generated, so bounding the sends bounds the receives too.
 */
static int vt_xfer(struct vt_ctx *ctx, enum ibv_wr_opcode opcode,
		   struct ibv_mr *local, struct ibv_mr *remote, size_t base,
		   size_t len)
{
	size_t nwr = (len + VT_CHUNK - 1) / VT_CHUNK;
	size_t posted = 0, sent = 0, received = 0;
	bool send = opcode == IBV_WR_SEND;
	struct ibv_wc wc[2 * VT_MAX_WR];
	int i, ne;

	while (sent < nwr || (send && received < nwr)) {
		for (; posted < nwr && posted - sent < VT_MAX_WR; posted++) {
			size_t off = posted * VT_CHUNK;
			size_t n = len - off < VT_CHUNK ? len - off : VT_CHUNK;

			if (vt_post(ctx, opcode, local, remote, base + off, n,
				    posted))
				return -1;
		}
		ne = vt_poll(ctx, wc, 2 * VT_MAX_WR);
		if (ne < 0)
			return -1;
		for (i = 0; i < ne; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "Failed status %s (%d) for wr_id %d\n",
					ibv_wc_status_str(wc[i].status),
					wc[i].status, (int)wc[i].wr_id);
				return -1;
			}
			if (wc[i].opcode == IBV_WC_RECV)
				received++;
			else
				sent++;
		}
	}
	return 0;
}

/* RDMA WRITE @len bytes from the start of @src to the start of @dst */
int vt_rdma_write(struct vt_ctx *ctx, struct ibv_mr *src, struct ibv_mr *dst,
		  size_t len)
{
	return vt_xfer(ctx, IBV_WR_RDMA_WRITE, src, dst, 0, len);
}

/**
 * vt_xfer_at - one transfer between the same offset of two MRs
 * @ctx: the context from vt_init_ctx()
 * @opcode: IBV_WR_RDMA_WRITE (@local to @remote), IBV_WR_RDMA_READ (@remote
 *	into @local), IBV_WR_SEND (@local into a receive on @remote), or
 *	IBV_WR_ATOMIC_FETCH_AND_ADD (add 1 to the u64 of @remote at @off; its
 *	old value lands in @local)
 * @local: the MR of the local side
 * @remote: the MR of the remote side
 * @off: the byte offset in both
 * @len: bytes (8 for the atomic)
 *
 * Return: 0 once every work request completed successfully, else -1.
 */
int vt_xfer_at(struct vt_ctx *ctx, enum ibv_wr_opcode opcode,
	       struct ibv_mr *local, struct ibv_mr *remote, size_t off,
	       size_t len)
{
	return vt_xfer(ctx, opcode, local, remote, off, len);
}

/* RDMA READ @len bytes of (remote) @src into (local) @dst */
int vt_rdma_read(struct vt_ctx *ctx, struct ibv_mr *src, struct ibv_mr *dst,
		 size_t len)
{
	return vt_xfer(ctx, IBV_WR_RDMA_READ, dst, src, 0, len);
}

/* SEND @len bytes of @src into receives posted on @dst */
int vt_send(struct vt_ctx *ctx, struct ibv_mr *src, struct ibv_mr *dst,
	    size_t len)
{
	return vt_xfer(ctx, IBV_WR_SEND, src, dst, 0, len);
}

/*
 * vt_fork_tied - fork() a child that dies with its parent, whatever ends it
 *
 * Returns as fork() does.
 */
pid_t vt_fork_tied(void)
{
	pid_t parent = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (!pid && (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent))
		_exit(1);
	return pid;
}

/**
 * vt_vmstat - read one /proc/vmstat counter
 * @name: the counter, "nr_foll_pin_acquired" for instance
 *
 * Return: its value, or -1 when /proc/vmstat has no such counter.
 */
long vt_vmstat(const char *name)
{
	long ret;

	return vt_vmstat2(name, &ret, NULL, NULL) ? -1 : ret;
}

/**
 * vt_vmstat2 - read two /proc/vmstat counters from one snapshot
 * @name1: the first counter
 * @val1: receives its value
 * @name2: the second counter, or NULL
 * @val2: receives its value
 *
 * /proc/vmstat computes every counter when it is opened: two counters read
 * from one open are one moment's, where two opens let a pin and its
 * release land in between (9p's zero-copy I/O pins pages all the time).
 *
 * Return: 0, or -1 when a counter is missing.
 */
int vt_vmstat2(const char *name1, long *val1, const char *name2, long *val2)
{
	int found = 0, want = name2 ? 2 : 1;
	char key[64];
	long val;
	FILE *f;

	/* Fold the per-CPU deltas first, or the sums lag (needs root) */
	f = fopen("/proc/sys/vm/stat_refresh", "w");
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}

	f = fopen("/proc/vmstat", "r");
	if (!f) {
		perror("/proc/vmstat");
		return -1;
	}
	while (found < want && fscanf(f, "%63s %ld", key, &val) == 2) {
		if (!strcmp(key, name1)) {
			*val1 = val;
			found++;
		} else if (name2 && !strcmp(key, name2)) {
			*val2 = val;
			found++;
		}
	}
	fclose(f);
	return found == want ? 0 : -1;
}

/*
 * Does the kernel record long-term file pins (the series' counters in
 * /proc/vmstat)?  A kernel without them has none of what the series makes
 * safe: tests that can see it decide to expect their failure (VT_TODO).
 */
bool vt_kernel_records_pins(void)
{
	return vt_vmstat("longterm_file_pin_acquired") >= 0;
}

/* One page of a new file in @dir, registered for local write: errno or 0 */
static int reg_file_page(struct ibv_pd *pd, const char *dir)
{
	char path[PATH_MAX];
	struct ibv_mr *mr;
	int fd, err = 0;
	void *map;

	fd = vt_make_file(dir, 4096, 1, path);
	if (fd < 0)
		return -1;
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		err = -1;
	} else {
		mr = ibv_reg_mr(pd, map, 4096, IBV_ACCESS_LOCAL_WRITE);
		if (!mr)
			err = errno;
		else if (ibv_dereg_mr(mr))
			err = -1;
		munmap(map, 4096);
	}
	close(fd);
	unlink(path);
	return err;
}

/**
 * vt_kernel_refuses_file_pins - are writable file MRs refused?
 *
 * Since 6.5 upstream refuses a writable long-term pin of a shared mapping of
 * a file that needs dirty tracking (writable_file_mapping_allowed()), so a
 * writable MR on an ext4, xfs or btrfs file is EFAULT there; 6.1 registers
 * it (and loses what the device writes), the series registers it safely.
 * The probe registers one page of a new file on the first of /mnt/ext4,
 * /mnt/xfs and /mnt/btrfs that is mounted, through a context of its own;
 * the answer is kept for the process.
 *
 * Return: true when that registration is EFAULT.
 */
bool vt_kernel_refuses_file_pins(void)
{
	static const char * const dirs[] = { "/mnt/ext4", "/mnt/xfs", "/mnt/btrfs" };
	static int refused = -1;
	struct ibv_context *context;
	struct ibv_pd *pd;
	unsigned int i;
	int err = -1;

	if (refused >= 0)
		return refused;
	context = vt_open_device(vt_dev_name());
	if (!context)
		return false;
	pd = ibv_alloc_pd(context);
	for (i = 0; pd && i < sizeof(dirs) / sizeof(dirs[0]) && err < 0; i++)
		if (vt_is_mountpoint(dirs[i]) > 0)
			err = reg_file_page(pd, dirs[i]);
	if (pd)
		ibv_dealloc_pd(pd);
	ibv_close_device(context);
	if (err < 0)
		return false;
	refused = err == EFAULT;
	return refused;
}

/*
 * Is the file of the mapping [@start, @end) at offset @off one with dirty
 * tracking (ext4, xfs, btrfs), holding every page of the mapping up to @hi?
 */
static bool map_file_tracked(unsigned long start, unsigned long end,
			     unsigned long long off, unsigned long hi)
{
	char path[64];
	struct statfs sfs;
	struct stat st;
	int fd;
	bool ret;

	/* map_files/ opens the file the mapping holds, unlinked ones too */
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", start, end);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ret = !fstat(fd, &st) && S_ISREG(st.st_mode) && !fstatfs(fd, &sfs) &&
	      (sfs.f_type == EXT4_SUPER_MAGIC || sfs.f_type == XFS_SUPER_MAGIC ||
	       sfs.f_type == BTRFS_SUPER_MAGIC);
	/* Only pages the file has: a page past EOF is EFAULT on any kernel */
	if (ret)
		ret = off + (hi - start) <=
		      (((unsigned long long)st.st_size + 4095) & ~4095ULL);
	close(fd);
	return ret;
}

/**
 * vt_reg_refused_as_file_pin - is a failed registration the 6.5 refusal?
 * @addr: the MR's start
 * @len: its length
 * @access: its IBV_ACCESS_* flags
 *
 * True when the kernel refuses writable file MRs (vt_kernel_refuses_file_pins())
 * and this one is such an MR: writable access over pages all of which are
 * in shared, writable mappings of regular files on ext4, xfs or btrfs,
 * within the files' sizes.  Its EFAULT is then the refusal and nothing
 * else: what the test wanted to do needs what upstream refuses.
 */
bool vt_reg_refused_as_file_pin(const void *addr, size_t len, int access)
{
	unsigned long lo = (unsigned long)addr & ~4095UL;
	unsigned long hi = ((unsigned long)addr + len + 4095) & ~4095UL;
	unsigned long start, end, covered = lo;
	unsigned long long off;
	char line[512], perms[8];
	bool ok = true;
	FILE *f;

	if (!len || !(access & (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND)))
		return false;
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return false;
	while (ok && covered < hi && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s %llx", &start, &end, perms, &off) != 4)
			continue;
		if (end <= covered)
			continue;
		/* A hole, or a mapping that is not a shared writable file */
		if (start > covered || perms[1] != 'w' || perms[3] != 's' ||
		    !map_file_tracked(start, end, off, end < hi ? end : hi))
			ok = false;
		covered = end;
	}
	fclose(f);
	return ok && covered >= hi && vt_kernel_refuses_file_pins();
}

/* Entry @idx (8 bytes) of /proc/self/pagemap or /proc/kpageflags */
static int read_u64_at(const char *path, unsigned long idx, uint64_t *val)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, val, sizeof(*val), (off_t)idx * sizeof(*val));
	close(fd);
	return n == sizeof(*val) ? 0 : -1;
}

#define KPF_HEAD	(1ULL << 15)	/* KPF_COMPOUND_HEAD */
#define KPF_TAIL	(1ULL << 16)	/* KPF_COMPOUND_TAIL */

/**
 * vt_folio_of - the folio mapped at @addr
 * @addr: an address in a mapped, present page of the caller
 * @head: set to the PFN of the folio's first page
 *
 * Reads /proc/self/pagemap and /proc/kpageflags (root): a compound page's
 * tail pages follow its head.  Filesystems with large folios (xfs, whose
 * buffered writes make them since 6.6) dirty and write a folio whole, so a
 * test that counts pages dirtied or written for a page touched counts the
 * folio's.
 *
 * Return: the number of pages of the folio, or -1 when it cannot be told.
 */
long vt_folio_of(const void *addr, unsigned long *head)
{
	unsigned long pfn, n;
	uint64_t pm, fl;

	if (read_u64_at("/proc/self/pagemap", (uintptr_t)addr / 4096, &pm) ||
	    !(pm & (1ULL << 63)))
		return -1;
	pfn = pm & ((1ULL << 55) - 1);
	if (!pfn || read_u64_at("/proc/kpageflags", pfn, &fl))
		return -1;
	while (fl & KPF_TAIL) {
		if (!pfn || read_u64_at("/proc/kpageflags", --pfn, &fl))
			return -1;
	}
	*head = pfn;
	if (!(fl & KPF_HEAD))
		return 1;
	for (n = 1; !read_u64_at("/proc/kpageflags", pfn + n, &fl) &&
		    (fl & KPF_TAIL); n++)
		;
	return n;
}

/**
 * vt_folio_pages - pages of the folios holding a list of pages
 * @addrs: addresses of the pages, in increasing order
 * @n: how many
 *
 * Return: the sum of the sizes, in pages, of the distinct folios mapped at
 * @addrs (a page of a folio already counted adds nothing), or -1.
 */
long vt_folio_pages(const void * const *addrs, long n)
{
	unsigned long head, last = 0;
	long i, nr, sum = 0;

	for (i = 0; i < n; i++) {
		nr = vt_folio_of(addrs[i], &head);
		if (nr < 0)
			return -1;
		if (i && head == last)
			continue;
		last = head;
		sum += nr;
	}
	return sum;
}

/**
 * vt_kernel_older_than - is the running kernel older than @major.@minor?
 * @major: major version
 * @minor: minor version
 *
 * For behaviour upstream changed at a known release, where no probe other
 * than the test itself can see it.
 */
bool vt_kernel_older_than(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma < major || (ma == major && mi < minor);
}

/**
 * vt_meminfo - read one /proc/meminfo value
 * @name: its key without the colon, "MemAvailable" for instance
 *
 * Return: its value in the file's unit (kB, or pages for HugePages_*), or
 * -1 when /proc/meminfo cannot be read or has no such key.
 */
long vt_meminfo(const char *name)
{
	char line[128];
	size_t len = strlen(name);
	long val = -1;
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':') {
			if (sscanf(line + len + 1, "%ld", &val) != 1)
				val = -1;
			break;
		}
	fclose(f);
	return val;
}

/**
 * vt_pins - read the global FOLL_PIN counters
 * @acquired: nr_foll_pin_acquired
 * @released: nr_foll_pin_released
 *
 * Return: 0, or -1 when /proc/vmstat has no such counters.
 */
int vt_pins(long *acquired, long *released)
{
	if (vt_vmstat2("nr_foll_pin_acquired", acquired,
		       "nr_foll_pin_released", released)) {
		fprintf(stderr, "No nr_foll_pin_* counters in /proc/vmstat\n");
		return -1;
	}
	return 0;
}

/**
 * vt_lt_pins - read the long-term file pin counters of the series
 * @acquired: longterm_file_pin_acquired
 * @released: longterm_file_pin_released
 *
 * Return: 0, or -1 when /proc/vmstat has no such counters (stock 6.1).
 */
int vt_lt_pins(long *acquired, long *released)
{
	return vt_vmstat2("longterm_file_pin_acquired", acquired,
			  "longterm_file_pin_released", released);
}

/**
 * vt_pins_settle - wait for the pins to come back to what they were
 * @held: FOLL_PIN pins (acquired - released) that should be left
 * @lt_held: long-term file pins that should be left (ignored without them)
 * @ms: how long to wait: a dying process unpins on its way out
 *
 * Return: 0 once both are back, else the FOLL_PIN pins left over @held
 * (or, those being back, the long-term file pins left over @lt_held).
 */
int vt_pins_settle(long held, long lt_held, int ms)
{
	long acquired = 0, released = 0, lt_acquired = 0, lt_released = 0;
	bool lt = !vt_lt_pins(&lt_acquired, &lt_released);
	int waited;

	for (waited = 0;; waited += 10) {
		if (vt_pins(&acquired, &released))
			return -1;
		if (lt)
			vt_lt_pins(&lt_acquired, &lt_released);
		if (acquired - released == held &&
		    (!lt || lt_acquired - lt_released == lt_held))
			return 0;
		if (waited >= ms)
			break;
		usleep(10000);
	}
	if (acquired - released != held)
		return acquired - released - held;
	return lt_acquired - lt_released - lt_held;
}

/* What vm-run counts as a kernel splat (rxe-setup/vm-run) */
static const char *const vt_splats[] = {
	"WARNING:", "BUG:", "Oops", "general protection fault", "Kernel panic",
	"possible circular locking", "possible recursive locking",
	"inconsistent lock state", "KASAN:", "UBSAN:", "does not have buffers",
	"blocked for more than",
};

/**
 * vt_kmsg_open - open the kernel log at its current end
 *
 * Return: a descriptor for vt_kmsg_splats(), or -1 (no /dev/kmsg).
 */
int vt_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/**
 * vt_kmsg_splats - scan what the kernel logged since vt_kmsg_open()
 * @fd: from vt_kmsg_open(); -1 finds nothing
 * @report: receives the first splat lines (may be NULL)
 * @len: size of @report
 *
 * Return: the number of records that look like a kernel splat.
 */
int vt_kmsg_splats(int fd, char *report, size_t len)
{
	char rec[2048], *msg;
	size_t used = 0, i;
	ssize_t n;
	int found = 0;

	if (report && len)
		report[0] = '\0';
	while (fd >= 0) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: read on */
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		for (i = 0; i < sizeof(vt_splats) / sizeof(vt_splats[0]); i++)
			if (strstr(msg, vt_splats[i]))
				break;
		if (i == sizeof(vt_splats) / sizeof(vt_splats[0]))
			continue;
		found++;
		if (report && used + 1 < len)
			used += snprintf(report + used, len - used, "%s", msg);
		if (report && used >= len)
			used = len - 1;
	}
	return found;
}

/*
 * Pattern: 64-bit word i holds i spread over the low 7 bits of its bytes,
 * XORed with 0x80 | (seed & 0x7f) in every byte.  Words of one buffer are
 * distinct, no byte is zero, and patterns whose seeds differ in the low
 * 7 bits differ in every byte, so stale data never counts as a match.
 * Lengths are multiples of 8.
 */
static uint64_t vt_seed_word(unsigned int seed)
{
	return (0x80 | (seed & 0x7f)) * 0x0101010101010101ULL;
}

/* Next index in spread form: carries ripple through the 8th bits */
static uint64_t vt_next(uint64_t w)
{
	return ((w | ~VT_LANES) + 1) & VT_LANES;
}

void vt_fill(void *buf, size_t len, unsigned int seed)
{
	uint64_t *p = buf, s = vt_seed_word(seed), w = 0;
	size_t i;

	for (i = 0; i < len / 8; i++, w = vt_next(w))
		p[i] = w ^ s;
}

/* Return how many bytes of @buf match the pattern of @seed */
size_t vt_count(const void *buf, size_t len, unsigned int seed)
{
	const uint64_t *p = buf;
	uint64_t s = vt_seed_word(seed), w = 0, x;
	size_t i, n = 0;
	int b;

	for (i = 0; i < len / 8; i++, w = vt_next(w)) {
		x = p[i] ^ w ^ s;
		if (!x) {
			n += 8;
			continue;
		}
		for (b = 0; b < 64; b += 8)
			n += !((x >> b) & 0xff);
	}
	return n;
}

/* Anonymous private memory, or NULL with errno set (MAP_HUGETLB: ENOMEM) */
void *vt_alloc(size_t len, int flags)
{
	void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	return buf == MAP_FAILED ? NULL : buf;
}

void vt_free(void *buf, size_t len)
{
	if (buf)
		munmap(buf, len);
}

/* 1 if @path is the root of a mount */
int vt_is_mountpoint(const char *path)
{
	char parent[PATH_MAX];
	struct stat st, pst;

	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(path, &st) || stat(parent, &pst))
		return 0;
	return st.st_dev != pst.st_dev || st.st_ino == pst.st_ino;
}

/**
 * vt_mount_dev - the device a directory is mounted from
 * @dir: a mount point
 * @dev: receives the device (mnt_fsname of the last mount on @dir, the
 *	one on top)
 * @len: size of @dev
 *
 * Return: 0, or -1 when nothing is mounted on @dir.
 */
int vt_mount_dev(const char *dir, char *dev, size_t len)
{
	struct mntent *m;
	FILE *f;

	dev[0] = '\0';
	f = setmntent("/proc/mounts", "r");
	if (!f)
		return -1;
	while ((m = getmntent(f)))
		if (!strcmp(m->mnt_dir, dir))
			snprintf(dev, len, "%s", m->mnt_fsname);
	endmntent(f);
	return dev[0] ? 0 : -1;
}

/**
 * vt_dev_sectors_written - sectors written to the disk a directory is on
 * @dir: a mount point of a filesystem on one block device
 *
 * Return: the "write sectors" field of the device's /sys/class/block stat
 * (the disk mounted last on @dir), or -1.
 */
long long vt_dev_sectors_written(const char *dir)
{
	unsigned long long f[7];
	char dev[PATH_MAX], path[PATH_MAX + 32];
	const char *name;
	FILE *sf;
	int n;

	if (vt_mount_dev(dir, dev, sizeof(dev)))
		return -1;
	name = strrchr(dev, '/');
	if (!name)
		return -1;
	snprintf(path, sizeof(path), "/sys/class/block/%s/stat", name + 1);
	sf = fopen(path, "r");
	if (!sf)
		return -1;
	n = fscanf(sf, "%llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1],
		   &f[2], &f[3], &f[4], &f[5], &f[6]);
	fclose(sf);
	return n == 7 ? (long long)f[6] : -1;
}

/**
 * vt_run - run a shell command, its output appended to a log file
 * @log: the log file
 * @fmt: printf format of the command
 *
 * Return: the command's exit status (128 when it did not exit).
 */
int vt_run(const char *log, const char *fmt, ...)
{
	char cmd[1024];
	int n, status;
	va_list ap;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 64 - strlen(log), fmt, ap);
	va_end(ap);
	snprintf(cmd + n, sizeof(cmd) - n, " >>%s 2>&1", log);
	status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* 1 if @dir is a mount of filesystem type @fs ("ext4", "xfs", ...) */
int vt_fs_is(const char *dir, const char *fs)
{
	static const struct {
		const char	*name;
		long		magic;
	} fs_magic[] = {
		{ "ext4",	EXT4_SUPER_MAGIC },
		{ "xfs",	XFS_SUPER_MAGIC },
		{ "btrfs",	BTRFS_SUPER_MAGIC },
		{ "tmpfs",	TMPFS_MAGIC },
	};
	struct statfs sfs;
	size_t i;

	if (!vt_is_mountpoint(dir) || statfs(dir, &sfs))
		return 0;
	for (i = 0; i < sizeof(fs_magic) / sizeof(fs_magic[0]); i++)
		if (!strcmp(fs, fs_magic[i].name))
			return sfs.f_type == fs_magic[i].magic;
	return 0;
}

/**
 * vt_write_file - fill a file with @len bytes, on stable storage
 * @fd: writable descriptor
 * @len: bytes to write from offset 0, a multiple of 8
 * @seed: pattern to write, or 0 for zeroes
 *
 * Return: 0, or -1.
 */
int vt_write_file(int fd, size_t len, unsigned int seed)
{
	size_t done = 0;
	ssize_t ret;
	char *buf;

	buf = calloc(1, len);
	if (!buf) {
		perror("calloc");
		return -1;
	}
	if (seed)
		vt_fill(buf, len, seed);
	for (; done < len; done += ret) {
		ret = pwrite(fd, buf + done, len - done, done);
		if (ret <= 0) {
			fprintf(stderr, "Couldn't write file: %s\n",
				ret ? strerror(errno) : "short write");
			break;
		}
	}
	free(buf);
	if (done < len)
		return -1;
	if (fsync(fd)) {
		fprintf(stderr, "Couldn't fsync file: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/**
 * vt_make_file - create a file in @dir holding @len bytes, on stable storage
 * @dir: directory
 * @len: size, a multiple of 8
 * @seed: pattern to write, or 0 for zeroes
 * @path: PATH_MAX buffer receiving the file name
 *
 * Return: a read-write descriptor, or -1.
 */
int vt_make_file(const char *dir, size_t len, unsigned int seed, char *path)
{
	int fd;

	snprintf(path, PATH_MAX, "%s/vt-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "Couldn't create %s: %s\n", path, strerror(errno));
		goto out_clear;
	}
	if (vt_write_file(fd, len, seed))
		goto out_unlink;
	return fd;

out_unlink:
	close(fd);
	unlink(path);
out_clear:
	path[0] = '\0';
	return -1;
}

/* Read @len bytes from offset 0 of @fd */
int vt_read_file(int fd, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t ret;

	for (; done < len; done += ret) {
		ret = pread(fd, (char *)buf + done, len - done, done);
		if (ret <= 0) {
			fprintf(stderr, "Couldn't read file: %s\n",
				ret ? strerror(errno) : "short read");
			return -1;
		}
	}
	return 0;
}

/*
 * Read up to @size bytes of the file @path into a new zeroed buffer (a
 * short file leaves zeroes, not an error); *@got says how many were read.
 * The buffer is the caller's to free(); NULL, said on stderr, on error.
 */
void *vt_slurp(const char *path, size_t size, size_t *got)
{
	size_t done = 0;
	ssize_t ret;
	char *buf;
	int fd;

	buf = calloc(1, size);
	if (!buf) {
		perror("calloc");
		return NULL;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "Couldn't open %s: %s\n", path, strerror(errno));
		free(buf);
		return NULL;
	}
	while (done < size && (ret = read(fd, buf + done, size - done)) > 0)
		done += ret;
	close(fd);
	*got = done;
	return buf;
}

/*
 * Write @val to the knob @path (proc, sys, cgroup, debugfs) in one write();
 * 0, or -1 with errno set and nothing printed.
 */
int vt_write_knob(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), err;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	err = n < 0 ? errno : EIO;
	close(fd);
	if (n == (ssize_t)strlen(val))
		return 0;
	errno = err;
	return -1;
}

/*
 * Set /proc/sys/vm/@name to @val; with @old, first save its value there
 * (@len bytes at most) for the caller to restore.
 */
int vt_vm_sysctl(const char *name, const char *val, char *old, size_t len)
{
	char path[128];
	ssize_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/vm/%s", name);
	fd = open(path, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "Couldn't open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (old) {
		n = pread(fd, old, len - 1, 0);
		old[n > 0 ? n : 0] = '\0';
	}
	if (n >= 0)
		n = pwrite(fd, val, strlen(val), 0);
	if (n != (ssize_t)strlen(val))
		fprintf(stderr, "Couldn't set %s to %s: %s\n", path, val,
			strerror(errno));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}
