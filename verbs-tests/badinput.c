// SPDX-License-Identifier: GPL-2.0
/*
 * ibv_reg_mr() with bad input.  Each row of the table below is one variant:
 * a kind of memory, a start and a length into it, the access flags, and
 * the errno the registration must fail with (0: it must work).  A row with
 * a step registers first and then does something to the MR or its memory
 * (register the range again, seal the memfd, deregister from a child); the
 * errno is then the step's.  Whatever the outcome, no MR may be left on the
 * PD, and the FOLL_PIN counters must be as balanced afterwards as they were
 * before; so must the long-term file pin records where the kernel counts
 * them (longterm_file_pin_* in /proc/vmstat), and a row marked .record must
 * have recorded every page of its shared file range while registered.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/magic.h>
#include <linux/pci.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
/* The errno of each registration is what it checks (vt_harness.h) */
#define VT_REG_MR_AS_IS
#include "vt_harness.h"

#define MAP_PAGES	16		/* pages mapped for the valid cases */
#define HUGE_LEN	((size_t)1 << 45)	/* more than UINT_MAX pages */
#define MEMLOCK_LIMIT	(64 << 10)	/* RLIMIT_MEMLOCK of the memlock child */
#define MEMLOCK_LEN	((size_t)1 << 20)	/* what that child registers */
#define RO_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)
#define HPAGE		((size_t)2 << 20)	/* the hugetlbfs page size used */
#define HUGETLBFS_DIR	"/dev/hugepages"	/* rxe-setup/guest-init mounts it */
#define FILE_FS_DIR	"/mnt/ext4"	/* the files' home, else /tmp */
#define MINIX_DIR	"/mnt/minix"	/* a minix filesystem on a loop device */
#define MINIX_IMG	"/tmp/minix.img"
#define MINIX_LOG	"/tmp/badinput-minix.log"

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
	MEM_FILE,		/* a file on ext4 (else tmpfs), MAP_SHARED rw */
	MEM_FILE_RDONLY,	/* the same file opened O_RDONLY, PROT_READ */
	MEM_9P,			/* this program's own file (9p), PROT_READ */
	MEM_PCI_SYSFS,		/* a PCI memory BAR, /sys/.../resourceN */
	MEM_PCI_PROC,		/* the same BAR through /proc/bus/pci */
	MEM_MEMFD,		/* a memfd, MAP_SHARED rw */
	MEM_MEMFD_SEALED,	/* F_SEAL_WRITE, MAP_SHARED of an O_RDONLY reopen */
	MEM_MEMFD_SEALED_PRIV,	/* F_SEAL_WRITE, MAP_PRIVATE rw */
	MEM_HUGETLBFS,		/* a hugetlbfs file, MAP_SHARED rw */
	MEM_FUSE,		/* a file on FUSE */
	MEM_MINIX,		/* a file on minix (a loop device), MAP_SHARED rw */
};

/* What a row does after a registration that must work */
enum bad_step {
	STEP_NONE,
	STEP_REG_AGAIN,		/* register the same range a second time */
	STEP_SEAL_WRITE,	/* munmap, then F_SEAL_WRITE the memfd */
	STEP_DEREG_CHILD,	/* fork; the child deregisters the MR */
};

static const char *const step_names[] = {
	[STEP_REG_AGAIN]	= "reg_again",
	[STEP_SEAL_WRITE]	= "seal_write",
	[STEP_DEREG_CHILD]	= "dereg_in_child",
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
	struct ibv_mr *mr2;	/* STEP_REG_AGAIN's second MR */
	void *map;
	size_t map_len;
	char *addr;		/* where the registration starts */
	size_t len;
	int fd;
	int fd2;		/* a second descriptor of the same file */
	char path[PATH_MAX];	/* a file to unlink in teardown */
	bool minix;		/* MINIX_DIR is mounted */
};

FIXTURE_VARIANT(badinput) {
	const char *name;
	enum bad_mem mem;
	size_t off;		/* start, in bytes from the start of the mapping */
	enum bad_len len_kind;
	size_t len;
	int access;
	bool memlock;		/* register in a child without CAP_IPC_LOCK */
	size_t map_len;		/* bytes mapped, if not MAP_PAGES pages */
	size_t file_len;	/* file size, if not what is mapped */
	enum bad_step step;	/* done after the registration, which must work */
	bool record;		/* a shared file range: recorded while registered */
	int want;		/* documented errno, or 0: must register */
	int want_alt;		/* the other errno a layer may give, or 0 */
	const char *foll_force;	/* how pinning with FOLL_FORCE (before 6.2) differs */
	const char *no_refusal;	/* how a kernel that pins any file for write
				 * (before 6.5, without the series) differs */
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
	 .access = IBV_ACCESS_REMOTE_READ, .want = EFAULT,
	 .foll_force = "FOLL_FORCE lets the read-only MR register");
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

/*
 * Access flags, checked by ib_check_mr_access() before anything is pinned:
 * remote write or atomic access needs local write; rxe has no on-demand
 * paging before 6.15 (IBK_ON_DEMAND_PAGING), so IBV_ACCESS_ON_DEMAND is
 * refused: EOPNOTSUPP since 6.2, EINVAL in 6.1.  MW bind alone is valid,
 * and ib_access_writable(): the memory is pinned for write.
 */
BAD_CASE(mw_bind, .mem = MEM_ANON, .len = MAP_PAGES * 4096,
	 .access = IBV_ACCESS_MW_BIND, .want = 0);
BAD_CASE(mw_bind_on_ro_anon, .mem = MEM_ANON_RO, .len = MAP_PAGES * 4096,
	 .access = IBV_ACCESS_MW_BIND, .want = EFAULT);
BAD_CASE(atomic_no_local_write, .mem = MEM_ANON, .len = MAP_PAGES * 4096,
	 .access = IBV_ACCESS_REMOTE_ATOMIC, .want = EINVAL);
BAD_CASE(remote_write_no_local_write, .mem = MEM_ANON, .len = MAP_PAGES * 4096,
	 .access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
	 .want = EINVAL);
BAD_CASE(on_demand, .mem = MEM_ANON, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS | IBV_ACCESS_ON_DEMAND, .want = EOPNOTSUPP,
	 .want_alt = EINVAL);

/* A page wholly past EOF has nothing to pin (SIGBUS to the CPU) */
BAD_CASE(eof_straddle, .mem = MEM_FILE, .file_len = 2 * 4096,
	 .len = 4 * 4096, .access = VT_MR_ACCESS, .want = EFAULT);
/* The partial page holding EOF is the file's: it pins */
BAD_CASE(eof_partial_page, .mem = MEM_FILE, .file_len = 4096 + 1000,
	 .len = 4096 + 1000, .access = VT_MR_ACCESS, .record = true,
	 .want = 0);
/* Write access, or MW bind, over a file opened O_RDONLY: no VM_WRITE */
BAD_CASE(rdonly_file_write, .mem = MEM_FILE_RDONLY, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
BAD_CASE(rdonly_file_mw_bind, .mem = MEM_FILE_RDONLY,
	 .len = MAP_PAGES * 4096, .access = IBV_ACCESS_MW_BIND, .want = EFAULT);
/*
 * 9p: the guest's root (cache=loose) and this checkout (no cache, whose
 * mmap is generic_file_readonly_mmap()) are read-only mounts, and the only
 * writable 9p mount of the guest has no cache: no shared mapping of a 9p
 * file can be writable there, so a writable MR on one is EFAULT.  A
 * read-only MR must register (stock: EFAULT, FOLL_FORCE on a shared
 * mapping) and is recorded.
 */
BAD_CASE(ninep_write, .mem = MEM_9P, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
BAD_CASE(ninep_read, .mem = MEM_9P, .len = MAP_PAGES * 4096,
	 .access = IBV_ACCESS_REMOTE_READ, .record = true, .want = 0,
	 .foll_force = "FOLL_FORCE on a shared mapping is EFAULT");
/*
 * minix: a disk filesystem with ->page_mkwrite and writeback that does not
 * keep the pin contract (no FS_PIN_CONTRACT): a writable MR is refused as
 * 6.5 refuses it everywhere; 6.1 registers it and drops what the device
 * writes after the first writeback.  Reading is always fine.
 */
BAD_CASE(minix_write, .mem = MEM_MINIX, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT,
	 .no_refusal = "any file is pinned for write, and loses what the device writes");
BAD_CASE(minix_read, .mem = MEM_MINIX, .len = MAP_PAGES * 4096,
	 .access = IBV_ACCESS_REMOTE_READ, .record = true, .want = 0);
/* FUSE (not built into the rig's kernels, no server here): skipped */
BAD_CASE(fuse_write, .mem = MEM_FUSE, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
/* Device memory mapped through sysfs or /proc: VM_IO | VM_PFNMAP */
BAD_CASE(sysfs_pci_bar, .mem = MEM_PCI_SYSFS, .map_len = 4096, .len = 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
BAD_CASE(proc_pci_bar, .mem = MEM_PCI_PROC, .map_len = 4096, .len = 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
/*
 * A write-sealed memfd: its shared mapping can only be read-only (6.1
 * refuses even that through a writable descriptor), so a writable MR is
 * EFAULT; a private mapping of it is anonymous memory and registers.
 */
BAD_CASE(sealed_memfd_shared, .mem = MEM_MEMFD_SEALED, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .want = EFAULT);
BAD_CASE(sealed_memfd_private, .mem = MEM_MEMFD_SEALED_PRIV,
	 .len = MAP_PAGES * 4096, .access = VT_MR_ACCESS, .want = 0);
/* Pinned for write, unmapped: F_SEAL_WRITE must wait for the pins, EBUSY */
BAD_CASE(seal_after_reg, .mem = MEM_MEMFD, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .step = STEP_SEAL_WRITE, .record = true,
	 .want = EBUSY);
/* hugetlbfs: no writeback, no DAX; a page truncated away is SIGBUS */
BAD_CASE(hugetlbfs_shared, .mem = MEM_HUGETLBFS, .map_len = HPAGE,
	 .len = HPAGE, .access = VT_MR_ACCESS, .record = true, .want = 0);
BAD_CASE(hugetlbfs_past_eof, .mem = MEM_HUGETLBFS, .map_len = 2 * HPAGE,
	 .file_len = HPAGE, .len = 2 * HPAGE, .access = VT_MR_ACCESS,
	 .want = EFAULT);
/* The same file range twice: two MRs, each with its own pins and record */
BAD_CASE(same_range_twice, .mem = MEM_FILE, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .step = STEP_REG_AGAIN, .record = true,
	 .want = 0);
/*
 * After a fork the child shares the uverbs file, which owns the MR: its
 * ibv_dereg_mr() works and releases the parent's pins and records; the
 * parent's own deregistration then finds no such MR.
 */
BAD_CASE(dereg_in_child, .mem = MEM_FILE, .len = MAP_PAGES * 4096,
	 .access = VT_MR_ACCESS, .step = STEP_DEREG_CHILD, .record = true,
	 .want = 0);

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

/* Where the file rows put their file: ext4 when the guest has it, else tmpfs */
static const char *file_dir(void)
{
	return vt_fs_is(FILE_FS_DIR, "ext4") ? FILE_FS_DIR : "/tmp";
}

/* Pages an MR of @len bytes from @addr spans */
static long span_pages(const char *addr, size_t len)
{
	uintptr_t first = (uintptr_t)addr & ~(uintptr_t)4095;
	uintptr_t end = ((uintptr_t)addr + len + 4095) & ~(uintptr_t)4095;

	return (end - first) / 4096;
}

/*
 * Map the first page of a PCI memory BAR, through sysfs (resourceN) or
 * /proc/bus/pci (whose mmap offset is the BAR's address).
 * Return: the mapping, or MAP_FAILED (no device has a BAR that maps).
 */
static void *map_pci_bar(bool proc, int *fdp)
{
	unsigned long long start, end, flags;
	void *map = MAP_FAILED;
	char path[PATH_MAX];
	struct dirent *de;
	int bar, fd;
	DIR *d;
	FILE *f;

	d = opendir("/sys/bus/pci/devices");
	if (!d)
		return MAP_FAILED;
	while (map == MAP_FAILED && (de = readdir(d))) {
		unsigned int dom, bus, dev, fn;

		if (sscanf(de->d_name, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource",
			 de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		for (bar = 0; map == MAP_FAILED && bar < 6 &&
		     fscanf(f, "%llx %llx %llx", &start, &end, &flags) == 3; bar++) {
			if (!(flags & 0x200) || !start || end - start + 1 < 4096)
				continue;	/* not IORESOURCE_MEM, or too small */
			if (proc)
				snprintf(path, sizeof(path), "/proc/bus/pci/%02x/%02x.%x",
					 bus, dev, fn);
			else
				snprintf(path, sizeof(path),
					 "/sys/bus/pci/devices/%s/resource%d",
					 de->d_name, bar);
			fd = open(path, O_RDWR);
			if (fd < 0)
				continue;
			if (proc && ioctl(fd, PCIIOC_MMAP_IS_MEM) < 0) {
				close(fd);
				continue;
			}
			map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
				   fd, proc ? (off_t)start : 0);
			if (map == MAP_FAILED) {
				close(fd);
				continue;
			}
			*fdp = fd;
			ksft_print_msg("%s: BAR %d at %#llx\n", path, bar, start);
		}
		fclose(f);
	}
	closedir(d);
	return map;
}

/*
 * The filesystem type of the mount @fd's file is on, from mountinfo:
 * statfs() will not tell 9p, whose f_type is the server's own filesystem's.
 */
static int mount_fstype(int fd, char *type, size_t len)
{
	unsigned int major, minor;
	char line[4096], found[64], *sep;
	struct stat st;
	int ret = -1;
	FILE *f;

	if (fstat(fd, &st))
		return -1;
	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -1;
	while (ret && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*d %*d %u:%u", &major, &minor) != 2 ||
		    makedev(major, minor) != st.st_dev)
			continue;
		sep = strstr(line, " - ");
		if (sep && sscanf(sep + 3, "%63s", found) == 1) {
			snprintf(type, len, "%s", found);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

FIXTURE_SETUP(badinput)
{
	long page = sysconf(_SC_PAGESIZE);
	int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
	size_t file_len;
	struct statfs sfs;
	struct stat st;
	char proc[64];
	char fstype[64];

	self->fd = -1;
	self->fd2 = -1;
	ASSERT_EQ(4096, page) TH_LOG("the table assumes 4 KiB pages");
	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->pd = ibv_alloc_pd(self->ctx.context);
	ASSERT_NE(NULL, self->pd) TH_LOG("Couldn't allocate PD");

	self->map_len = variant->map_len ?: (size_t)MAP_PAGES * page;
	file_len = variant->file_len ?: self->map_len;
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
	case MEM_FILE:
	case MEM_FILE_RDONLY:
		flags = MAP_SHARED;
		self->fd = vt_make_file(file_dir(), (file_len + 7) & ~(size_t)7,
					0x5a, self->path);
		ASSERT_LE(0, self->fd);
		ASSERT_EQ(0, ftruncate(self->fd, file_len));
		if (variant->mem == MEM_FILE)
			break;
		close(self->fd);
		self->fd = open(self->path, O_RDONLY);
		ASSERT_LE(0, self->fd) TH_LOG("open O_RDONLY: %s", strerror(errno));
		prot = PROT_READ;
		break;
	case MEM_9P:
		/* This program: on 9p in the guest (the checkout's mount) */
		self->fd = open("/proc/self/exe", O_RDONLY);
		ASSERT_LE(0, self->fd) TH_LOG("open /proc/self/exe: %s", strerror(errno));
		ASSERT_EQ(0, mount_fstype(self->fd, fstype, sizeof(fstype)));
		if (strcmp(fstype, "9p"))
			SKIP(return, "this program is not on 9p but on %s", fstype);
		ASSERT_EQ(0, fstat(self->fd, &st));
		ASSERT_LE((off_t)self->map_len, st.st_size);
		flags = MAP_SHARED;
		prot = PROT_READ;
		break;
	case MEM_MINIX:
		if (vt_run(MINIX_LOG, "which mkfs.minix"))
			SKIP(return, "no mkfs.minix");
		mkdir(MINIX_DIR, 0755);
		vt_run(MINIX_LOG, "umount " MINIX_DIR);	/* left by an aborted run */
		ASSERT_EQ(0, vt_run(MINIX_LOG, "truncate -s 8M " MINIX_IMG
				    " && mkfs.minix -3 " MINIX_IMG
				    " && mount -t minix -o loop " MINIX_IMG " "
				    MINIX_DIR))
			TH_LOG("minix on a loop device: see " MINIX_LOG);
		self->minix = true;
		self->fd = vt_make_file(MINIX_DIR, file_len, 0x5a, self->path);
		ASSERT_LE(0, self->fd);
		flags = MAP_SHARED;
		break;
	case MEM_FUSE:
		if (access("/dev/fuse", F_OK))
			SKIP(return, "no FUSE in this kernel (CONFIG_FUSE_FS, /dev/fuse)");
		SKIP(return, "no FUSE server in the guest to mount one");
		break;
	case MEM_PCI_SYSFS:
	case MEM_PCI_PROC:
		self->map = map_pci_bar(variant->mem == MEM_PCI_PROC, &self->fd);
		if (self->map == MAP_FAILED) {
			self->map = NULL;
			SKIP(return, "no PCI memory BAR maps through %s",
			     variant->mem == MEM_PCI_PROC ? "/proc/bus/pci" : "sysfs");
		}
		break;
	case MEM_MEMFD:
	case MEM_MEMFD_SEALED:
	case MEM_MEMFD_SEALED_PRIV:
		flags = MAP_SHARED;
		self->fd = memfd_create("badinput", MFD_ALLOW_SEALING);
		ASSERT_LE(0, self->fd) TH_LOG("memfd_create: %s", strerror(errno));
		ASSERT_EQ(0, ftruncate(self->fd, file_len));
		if (variant->mem == MEM_MEMFD)
			break;
		ASSERT_EQ(0, fcntl(self->fd, F_ADD_SEALS, F_SEAL_WRITE))
			TH_LOG("F_SEAL_WRITE: %s", strerror(errno));
		if (variant->mem == MEM_MEMFD_SEALED_PRIV) {
			flags = MAP_PRIVATE;
			break;
		}
		/* 6.1 maps a write-sealed file shared only without FMODE_WRITE */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", self->fd);
		self->fd2 = open(proc, O_RDONLY);
		ASSERT_LE(0, self->fd2) TH_LOG("reopen O_RDONLY: %s", strerror(errno));
		prot = PROT_READ;
		break;
	case MEM_HUGETLBFS:
		if (statfs(HUGETLBFS_DIR, &sfs) || sfs.f_type != HUGETLBFS_MAGIC ||
		    sfs.f_bsize != (long)HPAGE)
			SKIP(return, "no hugetlbfs of 2 MiB pages at %s", HUGETLBFS_DIR);
		if (vt_meminfo("HugePages_Free") <
		    (long)(self->map_len / HPAGE))
			SKIP(return, "needs %zu free huge pages", self->map_len / HPAGE);
		flags = MAP_SHARED;
		snprintf(self->path, sizeof(self->path), "%s/vt-XXXXXX", HUGETLBFS_DIR);
		self->fd = mkstemp(self->path);
		ASSERT_LE(0, self->fd) TH_LOG("mkstemp: %s", strerror(errno));
		ASSERT_EQ(0, ftruncate(self->fd, self->map_len));
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
	} else if (variant->mem == MEM_PCI_SYSFS || variant->mem == MEM_PCI_PROC) {
		/* Mapped above */
	} else if (self->map_len) {
		self->map = mmap(NULL, self->map_len, prot, flags,
				 self->fd2 >= 0 ? self->fd2 : self->fd, 0);
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
	case MEM_HUGETLBFS:
		/* A writable shared mmap() extends the file: shrink it after */
		if (file_len < self->map_len)
			ASSERT_EQ(0, ftruncate(self->fd, file_len));
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
	EXPECT_EQ(0, vt_dereg_mr(self->mr2));
	if (self->pd)
		EXPECT_EQ(0, ibv_dealloc_pd(self->pd));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	if (self->map)
		munmap(self->map, self->map_len);
	if (self->fd2 >= 0)
		close(self->fd2);
	if (self->fd >= 0)
		close(self->fd);
	if (self->path[0])
		unlink(self->path);
	if (self->minix)
		EXPECT_EQ(0, vt_run(MINIX_LOG, "umount " MINIX_DIR
				    " && rm -f " MINIX_IMG));
}

/*
 * The step of a row after its registration worked.
 * Return: the step's errno (0: it worked), or -1 (could not run it).
 */
static int do_step(FIXTURE_DATA(badinput) *self,
		   const FIXTURE_VARIANT(badinput) *variant,
		   long lt_acq0, long *recorded2, char *diag, size_t len)
{
	long acq, rel;
	int status, ret;
	pid_t pid;

	switch (variant->step) {
	case STEP_REG_AGAIN:
		self->mr2 = ibv_reg_mr(self->pd, self->addr, self->len,
				       variant->access);
		if (!self->mr2)
			return errno;
		/* Two owners, two records of the range */
		if (!vt_lt_pins(&acq, &rel)) {
			*recorded2 = acq - lt_acq0;
			snprintf(diag, len, " recorded_twice=%ld", *recorded2);
		}
		return 0;
	case STEP_SEAL_WRITE:
		/* No mapping left: only the pins can hold the seal off */
		if (munmap(self->map, self->map_len))
			return -1;
		self->map = NULL;
		return fcntl(self->fd, F_ADD_SEALS, F_SEAL_WRITE) ? errno : 0;
	case STEP_DEREG_CHILD:
		pid = vt_fork_tied();
		if (pid < 0)
			return -1;
		if (!pid)
			_exit(ibv_dereg_mr(self->mr) & 0xff);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
			return -1;
		if (!WEXITSTATUS(status)) {
			/* The MR is gone: the parent's handle names nothing */
			ret = ibv_dereg_mr(self->mr);
			snprintf(diag, len, " parent_dereg=%s",
				 ret ? strerrorname_np(ret) ?: "E?" : "0");
			if (!ret)
				return -1;
			/* Its user-space half stays allocated */
			self->mr = NULL;
		}
		return WEXITSTATUS(status);
	default:
		return -1;
	}
}

TEST_F(badinput, reg_mr)
{
	long acq0, rel0, acq, rel, lt_acq0 = 0, lt_rel0 = 0, lt_acq, lt_rel;
	long recorded = -1, recorded2 = -1, pages;
	int want, want_alt, got, status;
	char diag[128] = "";
	bool lt;
	pid_t pid;

	if (variant->foll_force)
		VT_TODO_FOLL_FORCE(variant->foll_force);
	if (variant->no_refusal && !vt_kernel_records_pins() &&
	    vt_kernel_older_than(6, 5))
		VT_TODO("%s", variant->no_refusal);
	VT_RETURN_IF_SKIPPED();
	/* A writable MR on a disk filesystem's file: upstream since 6.5 refuses */
	if (variant->mem == MEM_FILE && !variant->want &&
	    strcmp(file_dir(), "/tmp") &&
	    (variant->access & (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND)) &&
	    vt_kernel_refuses_file_pins())
		VT_TODO("writable file MRs refused (EFAULT)");
	/* What the documentation says first, then what happens */
	want = variant->want;
	want_alt = variant->want_alt ?: variant->want;
	pages = span_pages(self->addr, self->len);

	ASSERT_EQ(0, vt_pins(&acq0, &rel0));
	/* Long-term file pin records: counted by the patched kernel only */
	lt = !vt_lt_pins(&lt_acq0, &lt_rel0);
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
	/* Pages the registration recorded, taken back again where it failed */
	if (lt && !vt_lt_pins(&lt_acq, &lt_rel))
		recorded = lt_acq - lt_acq0;
	if (variant->step) {
		ASSERT_NE(NULL, self->mr)
			TH_LOG("registration before %s: %s", step_names[variant->step],
			       errname(got));
		got = do_step(self, variant, lt_acq0, &recorded2, diag,
			      sizeof(diag));
		ASSERT_LE(0, got) TH_LOG("%s could not run", step_names[variant->step]);
	}
	ksft_print_msg("case=%s%s%s errno=%s want=%s%s%s%s",
		       variant->name, variant->step ? " step=" : "",
		       variant->step ? step_names[variant->step] : "",
		       errname(got), errname(want), want == want_alt ? "" : "|",
		       want == want_alt ? "" : errname(want_alt), diag);
	if (recorded >= 0)
		printf(" recorded=%ld", recorded);
	printf("\n");
	/* The harness ends the test with _exit(): flush the BAD line */
	fflush(stdout);

	EXPECT_TRUE(got == want || got == want_alt)
		TH_LOG("ibv_reg_mr(%p, %#zx): errno %d (%s), want %s",
		       self->addr, self->len, got, errname(got), errname(want));
	if (variant->step == STEP_DEREG_CHILD) {
		EXPECT_EQ(NULL, self->mr) TH_LOG("the child's deregistration failed");
	} else if (!want || variant->step) {
		ASSERT_NE(NULL, self->mr);
		EXPECT_EQ(self->addr, self->mr->addr);
		EXPECT_EQ(self->len, self->mr->length);
	} else {
		EXPECT_EQ(NULL, self->mr);
	}
	/* Registered over a shared file: every page recorded, once */
	if (variant->record && recorded >= 0)
		EXPECT_EQ(pages, recorded)
			TH_LOG("%ld of %ld pages recorded", recorded, pages);
	if (variant->step == STEP_REG_AGAIN) {
		ASSERT_NE(NULL, self->mr2);
		EXPECT_NE(self->mr->lkey, self->mr2->lkey);
		if (recorded2 >= 0)
			EXPECT_EQ(2 * pages, recorded2)
				TH_LOG("%ld of %ld pages recorded for two MRs",
				       recorded2, 2 * pages);
	}
	EXPECT_EQ(0, vt_dereg_mr(self->mr));
	self->mr = NULL;
	EXPECT_EQ(0, vt_dereg_mr(self->mr2));
	self->mr2 = NULL;

	/* A PD with an MR on it is busy: this fails if one was left */
	EXPECT_EQ(0, ibv_dealloc_pd(self->pd))
		TH_LOG("PD busy: an MR is left behind");
	self->pd = NULL;

	ASSERT_EQ(0, vt_pins(&acq, &rel));
	EXPECT_EQ(acq0 - rel0, acq - rel)
		TH_LOG("%ld pins acquired, %ld released", acq - acq0, rel - rel0);
	if (lt) {
		ASSERT_EQ(0, vt_lt_pins(&lt_acq, &lt_rel));
		EXPECT_EQ(lt_acq0 - lt_rel0, lt_acq - lt_rel)
			TH_LOG("%ld file pins recorded, %ld released",
			       lt_acq - lt_acq0, lt_rel - lt_rel0);
	}
	/* The pins gone, the seal goes on */
	if (variant->step == STEP_SEAL_WRITE)
		EXPECT_EQ(0, fcntl(self->fd, F_ADD_SEALS, F_SEAL_WRITE))
			TH_LOG("F_SEAL_WRITE after deregistration: %s",
			       strerror(errno));
}

VT_HARNESS_MAIN
