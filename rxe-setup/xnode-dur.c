// SPDX-License-Identifier: GPL-2.0
/*
 * xnode-dur - durability of RDMA writes into a file-backed MR, across a wire.
 *
 * The server (node B) creates a file of --size bytes with allocated blocks,
 * maps it MAP_SHARED, registers the mapping as a remotely writable MR and
 * hands its address and rkey to the client (node A) over TCP, together with
 * its QPN, PSN and GID, as rc_pingpong does.  The client RDMA-writes a new
 * pattern over the whole MR in each of --rounds rounds and tells the server
 * over TCP; the server fsyncs the file, reads it back with O_DIRECT, counts
 * the bytes of that round's pattern and prints
 *
 *	# XDUR round=N on_disk=X/Y
 *
 * Linux 6.1 writes the pinned pages back once after registration: from
 * round 2 on, none of the pattern reaches the disk.
 *
 * Exit status: 0 when every round is entirely on disk (the server; the
 * client when every round went through), 1 when a round is short, 2 on any
 * other error (usage, verbs, network, file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>

#define XD_TIMEOUT_SEC	30	/* no completion for this long: give up */
#define XD_LANES	0x7f7f7f7f7f7f7f7fULL

/* What each side tells the other; the client's addr, rkey, len are 0 */
struct xd_dest {
	uint32_t	qpn;
	uint32_t	psn;
	union ibv_gid	gid;
	uint64_t	addr;
	uint32_t	rkey;
	uint64_t	len;
};

/* "qpn:psn:gid:addr:rkey:len", fixed width, NUL included */
#define XD_MSG_FMT	"%06x:%06x:%32s:%016" PRIx64 ":%08x:%016" PRIx64
#define XD_MSG_SIZE	(6 + 1 + 6 + 1 + 32 + 1 + 16 + 1 + 8 + 1 + 16 + 1)

struct xd_ctx {
	struct ibv_context	*context;
	struct ibv_pd		*pd;
	struct ibv_cq		*cq;
	struct ibv_qp		*qp;
	struct ibv_mr		*mr;
	struct ibv_port_attr	portinfo;
	void			*buf;	/* client: anonymous; server: the file */
	size_t			len;
	int			fd;	/* server: the file, and O_DIRECT */
	int			dfd;
	void			*dbuf;	/* server: O_DIRECT read buffer */
	int			sock;
	struct xd_dest		my_dest;
	struct xd_dest		rem_dest;
};

struct xd_opts {
	const char	*ib_devname;
	int		ib_port;
	int		gidx;
	int		tcp_port;
	const char	*file;
	size_t		size;
	unsigned int	rounds;
	int		timeout;
	const char	*servername;
};

/* Pattern of round @seed: as verbs-tests/vt.c, every byte differs per seed */
static uint64_t xd_seed_word(unsigned int seed)
{
	return (0x80 | (seed & 0x7f)) * 0x0101010101010101ULL;
}

static uint64_t xd_next(uint64_t w)
{
	return ((w | ~XD_LANES) + 1) & XD_LANES;
}

static void xd_fill(void *buf, size_t len, unsigned int seed)
{
	uint64_t *p = buf, s = xd_seed_word(seed), w = 0;
	size_t i;

	for (i = 0; i < len / 8; i++, w = xd_next(w))
		p[i] = w ^ s;
}

static size_t xd_count(const void *buf, size_t len, unsigned int seed)
{
	const uint64_t *p = buf;
	uint64_t s = xd_seed_word(seed), w = 0, x;
	size_t i, n = 0;
	int b;

	for (i = 0; i < len / 8; i++, w = xd_next(w)) {
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

static void gid_to_wire(const union ibv_gid *gid, char wgid[33])
{
	int i;

	for (i = 0; i < 16; i++)
		sprintf(wgid + 2 * i, "%02x", gid->raw[i]);
}

static void wire_to_gid(const char *wgid, union ibv_gid *gid)
{
	char tmp[3] = "";
	int i;

	for (i = 0; i < 16; i++) {
		memcpy(tmp, wgid + 2 * i, 2);
		gid->raw[i] = strtoul(tmp, NULL, 16);
	}
}

static int xd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int xd_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Send ours, receive theirs: both sides write first, the socket buffers */
static int xd_exchange_dest(struct xd_ctx *ctx)
{
	char msg[XD_MSG_SIZE], wgid[33];
	struct xd_dest *d = &ctx->my_dest;

	gid_to_wire(&d->gid, wgid);
	snprintf(msg, sizeof(msg), XD_MSG_FMT, d->qpn, d->psn, wgid, d->addr,
		 d->rkey, d->len);
	if (xd_write_all(ctx->sock, msg, sizeof(msg))) {
		fprintf(stderr, "Couldn't send local address: %s\n", strerror(errno));
		return -1;
	}
	if (xd_read_all(ctx->sock, msg, sizeof(msg))) {
		fprintf(stderr, "Couldn't read remote address\n");
		return -1;
	}
	msg[sizeof(msg) - 1] = '\0';
	d = &ctx->rem_dest;
	if (sscanf(msg, XD_MSG_FMT, &d->qpn, &d->psn, wgid, &d->addr, &d->rkey,
		   &d->len) != 6) {
		fprintf(stderr, "Couldn't parse remote address '%s'\n", msg);
		return -1;
	}
	wire_to_gid(wgid, &d->gid);
	return 0;
}

static int xd_tcp_listen_accept(int port)
{
	struct sockaddr_in sin = {
		.sin_family	= AF_INET,
		.sin_port	= htons(port),
		.sin_addr	= { .s_addr = htonl(INADDR_ANY) },
	};
	int one = 1, lfd, fd;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0) {
		perror("socket");
		return -1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 1)) {
		fprintf(stderr, "Couldn't listen to port %d: %s\n", port,
			strerror(errno));
		close(lfd);
		return -1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		perror("accept");
	close(lfd);
	return fd;
}

/* Keep trying for @timeout seconds: the server's node may still be booting */
static int xd_tcp_connect(const char *server, int port, int timeout)
{
	struct addrinfo hints = {
		.ai_family	= AF_INET,
		.ai_socktype	= SOCK_STREAM,
	};
	struct addrinfo *res;
	time_t end = time(NULL) + timeout;
	char service[8];
	int fd, ret;

	snprintf(service, sizeof(service), "%d", port);
	ret = getaddrinfo(server, service, &hints, &res);
	if (ret) {
		fprintf(stderr, "%s for %s:%d\n", gai_strerror(ret), server, port);
		return -1;
	}
	for (;;) {
		fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
		if (fd < 0) {
			perror("socket");
			break;
		}
		if (!connect(fd, res->ai_addr, res->ai_addrlen))
			break;
		close(fd);
		fd = -1;
		if (time(NULL) >= end) {
			fprintf(stderr, "Couldn't connect to %s:%d: %s\n", server,
				port, strerror(errno));
			break;
		}
		sleep(1);
	}
	freeaddrinfo(res);
	return fd;
}

/* A file of @len bytes with allocated blocks, on stable storage */
static int xd_make_file(struct xd_ctx *ctx, const char *path)
{
	char *zero;
	size_t done;
	ssize_t ret;

	ctx->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (ctx->fd < 0) {
		fprintf(stderr, "Couldn't create %s: %s\n", path, strerror(errno));
		return -1;
	}
	zero = calloc(1, ctx->len);
	if (!zero) {
		perror("calloc");
		return -1;
	}
	for (done = 0; done < ctx->len; done += ret) {
		ret = pwrite(ctx->fd, zero + done, ctx->len - done, done);
		if (ret <= 0) {
			fprintf(stderr, "Couldn't write %s: %s\n", path,
				ret ? strerror(errno) : "short write");
			free(zero);
			return -1;
		}
	}
	free(zero);
	if (fsync(ctx->fd)) {
		fprintf(stderr, "Couldn't fsync %s: %s\n", path, strerror(errno));
		return -1;
	}
	ctx->dfd = open(path, O_RDONLY | O_DIRECT);
	if (ctx->dfd < 0) {
		fprintf(stderr, "Couldn't open %s O_DIRECT: %s\n", path,
			strerror(errno));
		return -1;
	}
	ctx->dbuf = aligned_alloc(4096, ctx->len);
	if (!ctx->dbuf) {
		perror("aligned_alloc");
		return -1;
	}
	ctx->buf = mmap(NULL, ctx->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			ctx->fd, 0);
	if (ctx->buf == MAP_FAILED) {
		ctx->buf = NULL;
		fprintf(stderr, "Couldn't mmap %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static struct ibv_context *xd_open_device(const char *name)
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
	if (!dev_list[i])
		fprintf(stderr, "IB device %s not found\n", name);
	else if (!(context = ibv_open_device(dev_list[i])))
		fprintf(stderr, "Couldn't get context for %s\n", name);
	ibv_free_device_list(dev_list);
	return context;
}

/**
 * xd_init_ctx - the node's half: buffer, device, PD, MR, CQ, QP (in INIT)
 * @ctx: zeroed context to fill in
 * @o: options; a server (no servername) maps and registers the file
 *
 * Return: 0, or -1 with what was set up left for xd_close_ctx().
 */
static int xd_init_ctx(struct xd_ctx *ctx, const struct xd_opts *o)
{
	bool server = !o->servername;

	ctx->len = o->size;
	ctx->fd = -1;
	ctx->dfd = -1;
	ctx->sock = -1;

	if (server) {
		if (xd_make_file(ctx, o->file))
			return -1;
	} else {
		ctx->buf = mmap(NULL, ctx->len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ctx->buf == MAP_FAILED) {
			ctx->buf = NULL;
			perror("mmap");
			return -1;
		}
	}

	ctx->context = xd_open_device(o->ib_devname);
	if (!ctx->context)
		return -1;
	if (ibv_query_port(ctx->context, o->ib_port, &ctx->portinfo)) {
		fprintf(stderr, "Couldn't get port info\n");
		return -1;
	}
	if (ibv_query_gid(ctx->context, o->ib_port, o->gidx, &ctx->my_dest.gid)) {
		fprintf(stderr, "Couldn't read sgid of index %d\n", o->gidx);
		return -1;
	}

	ctx->pd = ibv_alloc_pd(ctx->context);
	if (!ctx->pd) {
		fprintf(stderr, "Couldn't allocate PD\n");
		return -1;
	}

	ctx->mr = ibv_reg_mr(ctx->pd, ctx->buf, ctx->len,
			     IBV_ACCESS_LOCAL_WRITE |
			     IBV_ACCESS_REMOTE_WRITE |
			     IBV_ACCESS_REMOTE_READ);
	if (!ctx->mr) {
		fprintf(stderr, "Couldn't register MR: %s\n", strerror(errno));
		return -1;
	}

	ctx->cq = ibv_create_cq(ctx->context, 16, NULL, NULL, 0);
	if (!ctx->cq) {
		fprintf(stderr, "Couldn't create CQ\n");
		return -1;
	}

	{
		struct ibv_qp_init_attr init_attr = {
			.send_cq = ctx->cq,
			.recv_cq = ctx->cq,
			.cap     = {
				.max_send_wr  = 1,
				.max_recv_wr  = 1,
				.max_send_sge = 1,
				.max_recv_sge = 1,
			},
			.qp_type = IBV_QPT_RC,
		};

		ctx->qp = ibv_create_qp(ctx->pd, &init_attr);
		if (!ctx->qp) {
			fprintf(stderr, "Couldn't create QP: %s\n", strerror(errno));
			return -1;
		}
	}

	{
		struct ibv_qp_attr attr = {
			.qp_state        = IBV_QPS_INIT,
			.pkey_index      = 0,
			.port_num        = o->ib_port,
			.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
					   IBV_ACCESS_REMOTE_READ,
		};

		if (ibv_modify_qp(ctx->qp, &attr,
				  IBV_QP_STATE              |
				  IBV_QP_PKEY_INDEX         |
				  IBV_QP_PORT               |
				  IBV_QP_ACCESS_FLAGS)) {
			fprintf(stderr, "Failed to modify QP to INIT\n");
			return -1;
		}
	}

	ctx->my_dest.qpn = ctx->qp->qp_num;
	ctx->my_dest.psn = lrand48() & 0xffffff;
	if (server) {
		ctx->my_dest.addr = (uintptr_t)ctx->buf;
		ctx->my_dest.rkey = ctx->mr->rkey;
		ctx->my_dest.len = ctx->len;
	}
	return 0;
}

/* Release in reverse order whatever xd_init_ctx() got to */
static int xd_close_ctx(struct xd_ctx *ctx)
{
	int ret = 0;

	if (ctx->sock >= 0)
		close(ctx->sock);
	if (ctx->qp && ibv_destroy_qp(ctx->qp)) {
		fprintf(stderr, "Couldn't destroy QP\n");
		ret = -1;
	}
	if (ctx->cq && ibv_destroy_cq(ctx->cq)) {
		fprintf(stderr, "Couldn't destroy CQ\n");
		ret = -1;
	}
	if (ctx->mr && ibv_dereg_mr(ctx->mr)) {
		fprintf(stderr, "Couldn't deregister MR\n");
		ret = -1;
	}
	if (ctx->pd && ibv_dealloc_pd(ctx->pd)) {
		fprintf(stderr, "Couldn't deallocate PD\n");
		ret = -1;
	}
	if (ctx->context && ibv_close_device(ctx->context)) {
		fprintf(stderr, "Couldn't release context\n");
		ret = -1;
	}
	if (ctx->buf)
		munmap(ctx->buf, ctx->len);
	free(ctx->dbuf);
	if (ctx->dfd >= 0)
		close(ctx->dfd);
	if (ctx->fd >= 0)
		close(ctx->fd);
	return ret;
}

/* INIT -> RTR -> RTS towards the peer */
static int xd_connect_qp(struct xd_ctx *ctx, const struct xd_opts *o)
{
	struct ibv_qp_attr attr = {
		.qp_state		= IBV_QPS_RTR,
		.path_mtu		= ctx->portinfo.active_mtu,
		.dest_qp_num		= ctx->rem_dest.qpn,
		.rq_psn			= ctx->rem_dest.psn,
		.max_dest_rd_atomic	= 1,
		.min_rnr_timer		= 12,
		.ah_attr		= {
			.is_global	= 1,
			.grh		= {
				.dgid		= ctx->rem_dest.gid,
				.sgid_index	= o->gidx,
				.hop_limit	= 1,
			},
			.sl		= 0,
			.src_path_bits	= 0,
			.port_num	= o->ib_port,
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
		.qp_state	= IBV_QPS_RTS,
		.timeout	= 14,
		.retry_cnt	= 7,
		.rnr_retry	= 7,
		.sq_psn		= ctx->my_dest.psn,
		.max_rd_atomic	= 1,
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

/* Client: one RDMA WRITE of the whole buffer over the remote MR */
static int xd_rdma_write(struct xd_ctx *ctx)
{
	struct ibv_sge list = {
		.addr	= (uintptr_t)ctx->buf,
		.length	= ctx->len,
		.lkey	= ctx->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id		= 1,
		.sg_list	= &list,
		.num_sge	= 1,
		.opcode		= IBV_WR_RDMA_WRITE,
		.send_flags	= IBV_SEND_SIGNALED,
		.wr.rdma	= {
			.remote_addr	= ctx->rem_dest.addr,
			.rkey		= ctx->rem_dest.rkey,
		},
	};
	struct ibv_send_wr *bad_wr;
	time_t end = time(NULL) + XD_TIMEOUT_SEC;
	struct ibv_wc wc;
	int ne, ret;

	ret = ibv_post_send(ctx->qp, &wr, &bad_wr);
	if (ret) {
		fprintf(stderr, "Couldn't post send: %s\n", strerror(ret));
		return -1;
	}
	while (!(ne = ibv_poll_cq(ctx->cq, 1, &wc))) {
		if (time(NULL) > end) {
			fprintf(stderr, "No completion in %d s\n", XD_TIMEOUT_SEC);
			return -1;
		}
		usleep(100);
	}
	if (ne < 0) {
		fprintf(stderr, "Poll CQ failed %d\n", ne);
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "Failed status %s (%d) for wr_id %d\n",
			ibv_wc_status_str(wc.status), wc.status, (int)wc.wr_id);
		return -1;
	}
	return 0;
}

/* Server: fsync, read the file back with O_DIRECT, count the pattern */
static int xd_check_round(struct xd_ctx *ctx, unsigned int round,
			  size_t *on_disk)
{
	size_t done;
	ssize_t ret;

	if (fsync(ctx->fd)) {
		fprintf(stderr, "Couldn't fsync: %s\n", strerror(errno));
		return -1;
	}
	for (done = 0; done < ctx->len; done += ret) {
		ret = pread(ctx->dfd, (char *)ctx->dbuf + done, ctx->len - done,
			    done);
		if (ret <= 0) {
			fprintf(stderr, "Couldn't read the file O_DIRECT: %s\n",
				ret ? strerror(errno) : "short read");
			return -1;
		}
	}
	*on_disk = xd_count(ctx->dbuf, ctx->len, round);
	return 0;
}

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s --file PATH [options]   start a server (node B: owns the file MR)\n", argv0);
	printf("  %s [options] SERVER        connect to SERVER and RDMA-write (node A)\n", argv0);
	printf("\nOptions:\n");
	printf("  -d, --ib-dev=DEV       use IB device DEV (default rxe0)\n");
	printf("  -i, --ib-port=PORT     use port PORT of the IB device (default 1)\n");
	printf("  -g, --gid-idx=N        local GID index (default 1: RoCEv2 IPv4)\n");
	printf("  -p, --port=PORT        TCP port of the address exchange (default 18516)\n");
	printf("  -f, --file=PATH        server: file to create, map and register (required)\n");
	printf("  -s, --size=BYTES       file and MR size, a multiple of 4096 (default 1048576)\n");
	printf("  -r, --rounds=N         rounds of RDMA WRITE + fsync + check (default 4)\n");
	printf("  -t, --timeout=SEC      client: keep trying to connect for SEC (default 120)\n");
}

int main(int argc, char *argv[])
{
	struct xd_opts o = {
		.ib_devname	= "rxe0",
		.ib_port	= 1,
		.gidx		= 1,
		.tcp_port	= 18516,
		.size		= 1 << 20,
		.rounds		= 4,
		.timeout	= 120,
	};
	static const struct option long_options[] = {
		{ .name = "ib-dev",  .has_arg = 1, .val = 'd' },
		{ .name = "ib-port", .has_arg = 1, .val = 'i' },
		{ .name = "gid-idx", .has_arg = 1, .val = 'g' },
		{ .name = "port",    .has_arg = 1, .val = 'p' },
		{ .name = "file",    .has_arg = 1, .val = 'f' },
		{ .name = "size",    .has_arg = 1, .val = 's' },
		{ .name = "rounds",  .has_arg = 1, .val = 'r' },
		{ .name = "timeout", .has_arg = 1, .val = 't' },
		{ .name = "help",    .has_arg = 0, .val = 'h' },
		{}
	};
	struct xd_ctx ctx = {};
	unsigned int round;
	size_t on_disk;
	char ack[32];
	int c, ret = 2, short_rounds = 0;

	while ((c = getopt_long(argc, argv, "d:i:g:p:f:s:r:t:h", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'd': o.ib_devname = optarg; break;
		case 'i': o.ib_port = strtol(optarg, NULL, 0); break;
		case 'g': o.gidx = strtol(optarg, NULL, 0); break;
		case 'p': o.tcp_port = strtol(optarg, NULL, 0); break;
		case 'f': o.file = optarg; break;
		case 's': o.size = strtoull(optarg, NULL, 0); break;
		case 'r': o.rounds = strtoul(optarg, NULL, 0); break;
		case 't': o.timeout = strtol(optarg, NULL, 0); break;
		case 'h': usage(argv[0]); return 0;
		default: usage(argv[0]); return 2;
		}
	}
	if (optind == argc - 1)
		o.servername = argv[optind];
	else if (optind < argc || !o.file) {
		usage(argv[0]);
		return 2;
	}
	if (!o.size || o.size % 4096 || o.rounds < 1 || o.rounds > 127) {
		fprintf(stderr, "--size must be a multiple of 4096, --rounds 1..127\n");
		return 2;
	}
	srand48(getpid() * time(NULL));

	if (xd_init_ctx(&ctx, &o))
		goto out;
	ctx.sock = o.servername ?
		xd_tcp_connect(o.servername, o.tcp_port, o.timeout) :
		xd_tcp_listen_accept(o.tcp_port);
	if (ctx.sock < 0 || xd_exchange_dest(&ctx) || xd_connect_qp(&ctx, &o))
		goto out;
	if (o.servername && ctx.rem_dest.len != ctx.len) {
		fprintf(stderr, "Server's MR is %" PRIu64 " bytes, ours %zu\n",
			ctx.rem_dest.len, ctx.len);
		goto out;
	}
	/* Both QPs are in RTS before the first write: one more round trip */
	if (xd_write_all(ctx.sock, "R", 1) || xd_read_all(ctx.sock, ack, 1)) {
		fprintf(stderr, "Couldn't sync with the peer\n");
		goto out;
	}

	for (round = 1; round <= o.rounds; round++) {
		if (o.servername) {
			xd_fill(ctx.buf, ctx.len, round);
			if (xd_rdma_write(&ctx))
				goto out;
			snprintf(ack, sizeof(ack), "%03u", round);
			if (xd_write_all(ctx.sock, ack, 4) ||
			    xd_read_all(ctx.sock, ack, 21)) {
				fprintf(stderr, "Lost the server in round %u\n", round);
				goto out;
			}
			ack[20] = '\0';
			on_disk = strtoull(ack, NULL, 10);
		} else {
			if (xd_read_all(ctx.sock, ack, 4) ||
			    strtoul(ack, NULL, 10) != round) {
				fprintf(stderr, "Lost the client in round %u\n", round);
				goto out;
			}
			if (xd_check_round(&ctx, round, &on_disk))
				goto out;
			snprintf(ack, sizeof(ack), "%020zu", on_disk);
			if (xd_write_all(ctx.sock, ack, 21)) {
				fprintf(stderr, "Lost the client in round %u\n", round);
				goto out;
			}
		}
		if (o.servername)
			printf("# xnode-dur: round %u written, the server found %zu/%zu on disk\n",
			       round, on_disk, ctx.len);
		else
			printf("# XDUR round=%u on_disk=%zu/%zu\n", round, on_disk,
			       ctx.len);
		fflush(stdout);
		short_rounds += on_disk != ctx.len;
	}
	/* The client's status says the writes went through; the server's, the disk */
	ret = o.servername ? 0 : !!short_rounds;
out:
	if (xd_close_ctx(&ctx) && !ret)
		ret = 2;
	return ret;
}
