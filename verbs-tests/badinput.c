// SPDX-License-Identifier: GPL-2.0
/*
 * ibv_reg_mr() with bad input.  Each row of the table below is one variant:
 * a kind of memory, a start and a length into it, the access flags, and
 * the errno the registration must fail with (0: it must work).  Whatever
 * the outcome, no MR may be left on the PD, and the FOLL_PIN counters must
 * be as balanced afterwards as they were before.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "vt_harness.h"

#define MAP_PAGES	16		/* pages mapped for the valid cases */
#define HUGE_LEN	((size_t)1 << 45)	/* more than UINT_MAX pages */
#define MEMLOCK_LIMIT	(64 << 10)	/* RLIMIT_MEMLOCK of the memlock child */
#define MEMLOCK_LEN	((size_t)1 << 20)	/* what that child registers */
#define RO_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)

/* Exit statuses of the memlock child besides the errno it got */
#define CHILD_NOCAP	254		/* could not drop CAP_IPC_LOCK: skip */
#define CHILD_SETUP	255		/* anything else went wrong */

enum bad_mem {
	MEM_NULL,		/* nothing: the address is NULL */
	MEM_UNMAPPED,		/* a hole: mapped and unmapped again */
	MEM_PART_UNMAPPED,	/* two pages, the second unmapped */
	MEM_PROT_NONE,		/* a PROT_NONE mapping */
	MEM_ANON,		/* private anonymous, read-write */
	MEM_ANON_RO,		/* private anonymous, PROT_READ */
	MEM_ZERO_PRIVATE,	/* /dev/zero MAP_PRIVATE: anonymous memory */
	MEM_ZERO_SHARED,	/* /dev/zero MAP_SHARED: shmem */
	MEM_SYSV_SHM,		/* a SysV shared memory segment, attached */
	MEM_PACKET_RING,	/* an AF_PACKET receive ring: kernel pages */
};

enum bad_len {
	LEN_BYTES,		/* .len bytes */
	LEN_WRAP,		/* addr + len wraps around to the first page */
	LEN_HUGE,		/* HUGE_LEN: no rlimit or address space has it */
};

FIXTURE(badinput) {
	struct vt_ctx ctx;
	struct ibv_pd *pd;	/* the MR's own PD: deallocating it proves no MR */
	struct ibv_mr *mr;
	void *map;
	size_t map_len;
	char *addr;		/* where the registration starts */
	size_t len;
	int fd;
};

FIXTURE_VARIANT(badinput) {
	const char *name;
	enum bad_mem mem;
	size_t off;		/* start, in bytes from the start of the mapping */
	enum bad_len len_kind;
	size_t len;
	int access;
	bool memlock;		/* register in a child without CAP_IPC_LOCK */
	int want;		/* documented errno, or 0: must register */
	int want_alt;		/* the other errno a layer may give, or 0 */
};

/* The table: one row per case, named as the variant */
#define BAD_CASE(_name, ...)						\
	FIXTURE_VARIANT_ADD(badinput, _name) { .name = #_name, __VA_ARGS__ }

BAD_CASE(null_addr, .mem = MEM_NULL, .len = 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
BAD_CASE(unmapped, .mem = MEM_UNMAPPED, .len = 2 * 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
BAD_CASE(partly_unmapped, .mem = MEM_PART_UNMAPPED, .len = 2 * 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
BAD_CASE(prot_none, .mem = MEM_PROT_NONE, .len = 2 * 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
/* Read-only too: the device may not read what the process cannot */
BAD_CASE(prot_none_ro, .mem = MEM_PROT_NONE, .len = 2 * 4096,
	 .access = IBV_ACCESS_REMOTE_READ, .want = EFAULT);
/* rdma-core passes a zero length on; ib_umem_get() finds no pages */
BAD_CASE(zero_len, .mem = MEM_ANON, .len = 0,
	 .access = VT_MR_ACCESS, .want = EINVAL);
BAD_CASE(len_wraps, .mem = MEM_ANON, .len_kind = LEN_WRAP,
	 .access = VT_MR_ACCESS, .want = EINVAL);
/* Over UINT_MAX pages is EINVAL; a layer checking RLIMIT first, ENOMEM */
BAD_CASE(len_huge, .mem = MEM_ANON, .len_kind = LEN_HUGE,
	 .access = VT_MR_ACCESS, .want = EINVAL, .want_alt = ENOMEM);
BAD_CASE(write_on_ro_anon, .mem = MEM_ANON_RO, .len = MAP_PAGES * 4096,
	 .access = RO_ACCESS, .want = EFAULT);
BAD_CASE(memlock_exceeded, .mem = MEM_ANON, .len = MEMLOCK_LEN,
	 .access = VT_MR_ACCESS, .memlock = true, .want = ENOMEM);
/* Anonymous memory, and shmem: both must register */
BAD_CASE(devzero_private, .mem = MEM_ZERO_PRIVATE, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .want = 0);
BAD_CASE(devzero_shared, .mem = MEM_ZERO_SHARED, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .want = 0);
/* No writeback, no ->page_mkwrite (shm_vm_ops): a writable MR is fine */
BAD_CASE(sysv_shm, .mem = MEM_SYSV_SHM, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .want = 0);
/* A shared mapping of pages no file owns (the socket's): nothing to record */
BAD_CASE(packet_ring, .mem = MEM_PACKET_RING, .len = MAP_PAGES * 4096,
	 .access = IBV_ACCESS_REMOTE_READ, .want = 0);
/* An MR may start and end anywhere in a page */
BAD_CASE(unaligned_start, .mem = MEM_ANON, .off = 123, .len = 4096 + 1000,
	 .access = VT_MR_ACCESS, .want = 0);

static const char *errname(int err)
{
	const char *name = err ? strerrorname_np(err) : "0";

	return name ? name : "E?";
}

/*
 * The memlock child: RLIMIT_MEMLOCK of 64 KiB and no CAP_IPC_LOCK, then a
 * context of its own and a 1 MiB registration.  The capability goes with
 * capset() before the device is opened: any credential change after the
 * open makes the uverbs write() path refuse the file (ib_safe_file_access()).
 * Return: the errno of the registration (0: it worked), or CHILD_*.
 */
static int memlock_child(void *buf, size_t len)
{
	struct __user_cap_header_struct hdr = {
		.version	= _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	struct rlimit rl = { .rlim_cur = MEMLOCK_LIMIT, .rlim_max = MEMLOCK_LIMIT };
	unsigned int i = CAP_TO_INDEX(CAP_IPC_LOCK);
	struct vt_ctx ctx = {};
	struct ibv_mr *mr;
	int err;

	if (syscall(SYS_capget, &hdr, data))
		return CHILD_NOCAP;
	data[i].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	data[i].permitted &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	data[i].inheritable &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	if (syscall(SYS_capset, &hdr, data))
		return CHILD_NOCAP;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return CHILD_NOCAP;

	if (vt_init_ctx(&ctx))
		return CHILD_SETUP;
	mr = ibv_reg_mr(ctx.pd, buf, len, VT_MR_ACCESS);
	err = mr ? 0 : errno;
	if (vt_dereg_mr(mr))
		err = CHILD_SETUP;
	vt_close_ctx(&ctx);
	return err;
}

FIXTURE_SETUP(badinput)
{
	long page = sysconf(_SC_PAGESIZE);
	int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;

	self->fd = -1;
	ASSERT_EQ(4096, page) TH_LOG("the table assumes 4 KiB pages");
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->pd = ibv_alloc_pd(self->ctx.context);
	ASSERT_NE(NULL, self->pd) TH_LOG("Couldn't allocate PD");

	self->map_len = MAP_PAGES * page;
	switch (variant->mem) {
	case MEM_NULL:
		self->map_len = 0;
		break;
	case MEM_PROT_NONE:
		prot = PROT_NONE;
		break;
	case MEM_ANON_RO:
		prot = PROT_READ;
		break;
	case MEM_ZERO_PRIVATE:
	case MEM_ZERO_SHARED:
		flags = variant->mem == MEM_ZERO_SHARED ? MAP_SHARED : MAP_PRIVATE;
		self->fd = open("/dev/zero", O_RDWR);
		ASSERT_LE(0, self->fd) TH_LOG("open /dev/zero: %s", strerror(errno));
		break;
	default:
		break;
	}
	if (variant->memlock)
		self->map_len = MEMLOCK_LEN;
	if (variant->mem == MEM_PACKET_RING) {
		struct tpacket_req req = {
			.tp_block_size	= page,
			.tp_block_nr	= MAP_PAGES,
			.tp_frame_size	= page,
			.tp_frame_nr	= MAP_PAGES,
		};

		self->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
		ASSERT_LE(0, self->fd) TH_LOG("AF_PACKET socket: %s", strerror(errno));
		ASSERT_EQ(0, setsockopt(self->fd, SOL_PACKET, PACKET_RX_RING,
					&req, sizeof(req)))
			TH_LOG("PACKET_RX_RING: %s", strerror(errno));
		self->map = mmap(NULL, self->map_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED, self->fd, 0);
		ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap ring: %s", strerror(errno));
	} else if (variant->mem == MEM_SYSV_SHM) {
		int id = shmget(IPC_PRIVATE, self->map_len, IPC_CREAT | 0600);

		ASSERT_LE(0, id) TH_LOG("shmget: %s", strerror(errno));
		self->map = shmat(id, NULL, 0);
		/* Gone once detached, whatever happens next */
		shmctl(id, IPC_RMID, NULL);
		ASSERT_NE((void *)-1, self->map)
			TH_LOG("shmat: %s", strerror(errno));
	} else if (self->map_len) {
		self->map = mmap(NULL, self->map_len, prot, flags, self->fd, 0);
		ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
	}
	self->addr = (char *)self->map + variant->off;

	switch (variant->mem) {
	case MEM_UNMAPPED:
		/* A two-page hole with mappings on both sides */
		self->addr += page;
		ASSERT_EQ(0, munmap(self->addr, 2 * page));
		break;
	case MEM_PART_UNMAPPED:
		/* The first page present, the second gone */
		memset(self->addr, 1, page);
		ASSERT_EQ(0, munmap(self->addr + page, page));
		break;
	default:
		break;
	}

	switch (variant->len_kind) {
	case LEN_BYTES:
		self->len = variant->len;
		break;
	case LEN_WRAP:
		self->len = -(uintptr_t)self->addr + page;
		break;
	case LEN_HUGE:
		self->len = HUGE_LEN;
		break;
	}
}

FIXTURE_TEARDOWN(badinput)
{
	EXPECT_EQ(0, vt_dereg_mr(self->mr));
	if (self->pd)
		EXPECT_EQ(0, ibv_dealloc_pd(self->pd));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	if (self->map)
		munmap(self->map, self->map_len);
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(badinput, reg_mr)
{
	long acq0, rel0, acq, rel;
	int want, want_alt, got, status;
	pid_t pid;

	VT_RETURN_IF_SKIPPED();
	/* What the documentation says first, then what happens */
	want = variant->want;
	want_alt = variant->want_alt ?: variant->want;

	ASSERT_EQ(0, vt_pins(&acq0, &rel0));
	if (variant->memlock) {
		pid = fork();
		ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
		if (!pid)
			_exit(memlock_child(self->addr, self->len));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status))
			TH_LOG("memlock child: wait status %#x", status);
		got = WEXITSTATUS(status);
		if (got == CHILD_NOCAP)
			SKIP(return, "cannot drop CAP_IPC_LOCK or lower RLIMIT_MEMLOCK");
		ASSERT_NE(CHILD_SETUP, got)
			TH_LOG("memlock child could not set up its context");
	} else {
		self->mr = ibv_reg_mr(self->pd, self->addr, self->len,
				      variant->access);
		got = self->mr ? 0 : errno;
	}
	if (want == want_alt)
		ksft_print_msg("case=%s errno=%s want=%s\n", variant->name,
			       errname(got), errname(want));
	else
		ksft_print_msg("case=%s errno=%s want=%s|%s\n",
			       variant->name, errname(got), errname(want),
			       errname(want_alt));
	/* The harness ends the test with _exit(): flush the BAD line */
	fflush(stdout);

	EXPECT_TRUE(got == want || got == want_alt)
		TH_LOG("ibv_reg_mr(%p, %#zx): errno %d (%s), want %s",
		       self->addr, self->len, got, errname(got), errname(want));
	if (!want) {
		ASSERT_NE(NULL, self->mr);
		EXPECT_EQ(self->addr, self->mr->addr);
		EXPECT_EQ(self->len, self->mr->length);
	} else {
		EXPECT_EQ(NULL, self->mr);
	}
	EXPECT_EQ(0, vt_dereg_mr(self->mr));
	self->mr = NULL;

	/* A PD with an MR on it is busy: this fails if one was left */
	EXPECT_EQ(0, ibv_dealloc_pd(self->pd))
		TH_LOG("PD busy: an MR is left behind");
	self->pd = NULL;

	ASSERT_EQ(0, vt_pins(&acq, &rel));
	EXPECT_EQ(acq0 - rel0, acq - rel)
		TH_LOG("%ld pins acquired, %ld released", acq - acq0, rel - rel0);
}

VT_HARNESS_MAIN
