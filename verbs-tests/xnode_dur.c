// SPDX-License-Identifier: GPL-2.0
/*
 * xnode_dur - durability of RDMA writes into a file-backed MR, across a wire
 * (the guest half of rxe-setup/two-node's xnode_dur test).
 *
 * The server (node B) creates a file of --size bytes with allocated blocks,
 * maps it MAP_SHARED, registers the mapping as a remotely writable MR and
 * hands its address and rkey to the client (node A) over TCP, together with
 * its QPN, PSN and GID, as rc_pingpong does.  The client RDMA-writes a new
 * pattern over the whole MR in each of --rounds rounds and tells the server
 * over TCP; the server fsyncs the file, reads it back with O_DIRECT, counts
 * the bytes of that round's pattern and prints
 *
 *	# round=N on_disk=X/Y
 *
 * Linux 6.1 writes the pinned pages back once after registration: from
 * round 2 on, none of the pattern reaches the disk.
 *
 * Exit status: 0 when every round is entirely on disk (the server; the
 * client when every round went through), 1 when a round is short, 2 on any
 * other error (usage, verbs, network, file), 3 when the server's kernel
 * refuses writable file MRs (EFAULT, upstream since 6.5).
 */
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

#include "vt.h"

/* What each side tells the other; the client's addr, rkey, len are 0 */
struct xd_dest {
	struct vt_dest	qp;
	uint64_t	addr;
	uint32_t	rkey;
	uint64_t	len;
};

/* "qpn:psn:gid:addr:rkey:len", fixed width, NUL included */
#define XD_MSG_FMT	"%06x:%06x:%32s:%016" PRIx64 ":%08x:%016" PRIx64
#define XD_MSG_SIZE	(6 + 1 + 6 + 1 + 32 + 1 + 16 + 1 + 8 + 1 + 16 + 1)

struct xd_ctx {
	struct vt_ctx		vt;
	struct ibv_mr		*mr;
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

/* All of @len on the blocking stream socket @sock, or -1 */
static int xd_send(int sock, const void *buf, size_t len)
{
	return send(sock, buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static int xd_recv(int sock, void *buf, size_t len)
{
	return recv(sock, buf, len, MSG_WAITALL) == (ssize_t)len ? 0 : -1;
}

/* Send ours, receive theirs: both sides write first, the socket buffers */
static int xd_exchange_dest(struct xd_ctx *ctx)
{
	char msg[XD_MSG_SIZE], wgid[33];
	struct xd_dest *d = &ctx->my_dest;

	gid_to_wire(&d->qp.gid, wgid);
	snprintf(msg, sizeof(msg), XD_MSG_FMT, d->qp.qpn, d->qp.psn, wgid,
		 d->addr, d->rkey, d->len);
	if (xd_send(ctx->sock, msg, sizeof(msg))) {
		fprintf(stderr, "Couldn't send local address: %s\n", strerror(errno));
		return -1;
	}
	if (xd_recv(ctx->sock, msg, sizeof(msg))) {
		fprintf(stderr, "Couldn't read remote address\n");
		return -1;
	}
	msg[sizeof(msg) - 1] = '\0';
	d = &ctx->rem_dest;
	if (sscanf(msg, XD_MSG_FMT, &d->qp.qpn, &d->qp.psn, wgid, &d->addr,
		   &d->rkey, &d->len) != 6) {
		fprintf(stderr, "Couldn't parse remote address '%s'\n", msg);
		return -1;
	}
	wire_to_gid(wgid, &d->qp.gid);
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
		/*
		 * A node that is gone answers no SYN: without a send timeout
		 * one connect() waits out TCP's retries (2 min), past @timeout
		 */
		struct timeval tv = { .tv_sec = 2 };

		fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
		if (fd < 0) {
			perror("socket");
			break;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
			perror("setsockopt(SO_SNDTIMEO)");
		if (!connect(fd, res->ai_addr, res->ai_addrlen)) {
			tv.tv_sec = 0;
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			break;
		}
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

/* A file of @len bytes with allocated blocks, on stable storage, mapped */
static int xd_make_file(struct xd_ctx *ctx, const char *path)
{
	ctx->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (ctx->fd < 0) {
		fprintf(stderr, "Couldn't create %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (vt_write_file(ctx->fd, ctx->len, 0))
		return -1;
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

/**
 * xd_init_ctx - the node's half: buffer, device, PD, CQ, QP (in RESET), MR
 * @ctx: zeroed context to fill in
 * @o: options; a server (no servername) maps and registers the file
 *
 * Return: 0, -2 when the kernel refuses the file MR as a writable file
 * pin, or -1; what was set up is left for xd_close_ctx().
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
		ctx->buf = vt_alloc(ctx->len, 0);
		if (!ctx->buf) {
			perror("mmap");
			return -1;
		}
	}

	if (vt_open_ctx(&ctx->vt, o->ib_devname, o->ib_port, o->gidx))
		return -1;
	ctx->mr = ibv_reg_mr(ctx->vt.pd, ctx->buf, ctx->len, VT_MR_ACCESS);
	if (!ctx->mr) {
		int err = errno;

		fprintf(stderr, "Couldn't register MR: %s\n", strerror(err));
		if (server && err == EFAULT &&
		    vt_reg_refused_as_file_pin(ctx->buf, ctx->len, VT_MR_ACCESS)) {
			printf("# xnode_dur: writable file MRs refused (EFAULT)\n");
			return -2;
		}
		return -1;
	}

	ctx->my_dest.qp = (struct vt_dest) {
		.qpn	= ctx->vt.qp->qp_num,
		.psn	= lrand48() & 0xffffff,
		.gid	= ctx->vt.gid,
	};
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
	if (ctx->mr && ibv_dereg_mr(ctx->mr)) {
		fprintf(stderr, "Couldn't deregister MR\n");
		ret = -1;
	}
	if (vt_close_ctx(&ctx->vt))
		ret = -1;
	if (ctx->buf)
		munmap(ctx->buf, ctx->len);
	free(ctx->dbuf);
	if (ctx->dfd >= 0)
		close(ctx->dfd);
	if (ctx->fd >= 0)
		close(ctx->fd);
	return ret;
}

/* Server: fsync, read the file back with O_DIRECT, count the pattern */
static int xd_check_round(struct xd_ctx *ctx, unsigned int round,
			  size_t *on_disk)
{
	if (fsync(ctx->fd)) {
		fprintf(stderr, "Couldn't fsync: %s\n", strerror(errno));
		return -1;
	}
	if (vt_read_file(ctx->dfd, ctx->dbuf, ctx->len))
		return -1;
	*on_disk = vt_count(ctx->dbuf, ctx->len, round);
	return 0;
}

/* Client: RDMA WRITE the whole buffer over the server's MR */
static int xd_rdma_write(struct xd_ctx *ctx)
{
	/* The server's MR as far as an RDMA WRITE needs it */
	struct ibv_mr rem_mr = {
		.addr	= (void *)(uintptr_t)ctx->rem_dest.addr,
		.length	= ctx->rem_dest.len,
		.rkey	= ctx->rem_dest.rkey,
	};

	return vt_rdma_write(&ctx->vt, ctx->mr, &rem_mr, ctx->len);
}

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s --file PATH [options]   start a server (node B: owns the file MR)\n", argv0);
	printf("  %s [options] SERVER        connect to SERVER and RDMA-write (node A)\n", argv0);
	printf("  %s --refuses-file-pins     exit 0 if this kernel refuses writable file MRs\n", argv0);
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
		{ .name = "refuses-file-pins", .has_arg = 0, .val = 'R' },
		{}
	};
	struct xd_ctx ctx = {};
	unsigned int round;
	size_t on_disk;
	char ack[32];
	int c, ret = 2, short_rounds = 0;

	while ((c = getopt_long(argc, argv, "d:i:g:p:f:s:r:t:hR", long_options,
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
		case 'R': return !vt_kernel_refuses_file_pins();
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

	c = xd_init_ctx(&ctx, &o);
	if (c) {
		ret = c == -2 ? 3 : 2;
		goto out;
	}
	ctx.sock = o.servername ?
		xd_tcp_connect(o.servername, o.tcp_port, o.timeout) :
		xd_tcp_listen_accept(o.tcp_port);
	if (ctx.sock < 0 || xd_exchange_dest(&ctx) ||
	    vt_connect_qp(&ctx.vt, ctx.my_dest.qp.psn, &ctx.rem_dest.qp))
		goto out;
	if (o.servername && ctx.rem_dest.len != ctx.len) {
		fprintf(stderr, "Server's MR is %" PRIu64 " bytes, ours %zu\n",
			ctx.rem_dest.len, ctx.len);
		goto out;
	}
	/* Both QPs are in RTS before the first write: one more round trip */
	if (xd_send(ctx.sock, "R", 1) || xd_recv(ctx.sock, ack, 1)) {
		fprintf(stderr, "Couldn't sync with the peer\n");
		goto out;
	}

	for (round = 1; round <= o.rounds; round++) {
		if (o.servername) {
			vt_fill(ctx.buf, ctx.len, round);
			if (xd_rdma_write(&ctx))
				goto out;
			snprintf(ack, sizeof(ack), "%03u", round);
			if (xd_send(ctx.sock, ack, 4) ||
			    xd_recv(ctx.sock, ack, 21)) {
				fprintf(stderr, "Lost the server in round %u\n", round);
				goto out;
			}
			ack[20] = '\0';
			on_disk = strtoull(ack, NULL, 10);
		} else {
			if (xd_recv(ctx.sock, ack, 4) ||
			    strtoul(ack, NULL, 10) != round) {
				fprintf(stderr, "Lost the client in round %u\n", round);
				goto out;
			}
			if (xd_check_round(&ctx, round, &on_disk))
				goto out;
			snprintf(ack, sizeof(ack), "%020zu", on_disk);
			if (xd_send(ctx.sock, ack, 21)) {
				fprintf(stderr, "Lost the client in round %u\n", round);
				goto out;
			}
		}
		if (o.servername)
			printf("# xnode_dur: round %u written, the server found %zu/%zu on disk\n",
			       round, on_disk, ctx.len);
		else
			printf("# round=%u on_disk=%zu/%zu\n", round, on_disk,
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
