// SPDX-License-Identifier: GPL-2.0
/*
 * MRs over anonymous memory, from one page to 256 MiB and on huge pages:
 * RDMA WRITE, RDMA READ and SEND deliver every byte, and registering pins
 * exactly the pages of the MR and deregistering unpins them all.
 */
#include "vt_harness.h"

#define SEED_SRC	1
#define SEED_DST	2
#define REG_ROUNDS	8

FIXTURE(anon_mr) {
	struct vt_ctx ctx;
	void *src, *dst;
	struct ibv_mr *src_mr, *dst_mr;
};

FIXTURE_VARIANT(anon_mr) {
	size_t size;
	int flags;
};

FIXTURE_VARIANT_ADD(anon_mr, 4k) { .size = 4UL << 10, };

FIXTURE_VARIANT_ADD(anon_mr, 64k) { .size = 64UL << 10, };

FIXTURE_VARIANT_ADD(anon_mr, 1m) { .size = 1UL << 20, };

FIXTURE_VARIANT_ADD(anon_mr, 16m) { .size = 16UL << 20, };

FIXTURE_VARIANT_ADD(anon_mr, 256m) { .size = 256UL << 20, };

FIXTURE_VARIANT_ADD(anon_mr, hugetlb) {
	.size = 16UL << 20,
	.flags = MAP_HUGETLB,
};

FIXTURE_SETUP(anon_mr)
{
	self->src = vt_alloc(variant->size, variant->flags);
	self->dst = self->src ? vt_alloc(variant->size, variant->flags) : NULL;
	if (!self->dst && errno == ENOMEM && variant->flags & MAP_HUGETLB)
		SKIP(return, "%zu MiB of free huge pages needed",
		     2 * variant->size >> 20);
	ASSERT_NE(NULL, self->dst) TH_LOG("mmap: %s", strerror(errno));
	vt_fill(self->src, variant->size, SEED_SRC);
	vt_fill(self->dst, variant->size, SEED_DST);

	ASSERT_EQ(0, vt_init_ctx(&self->ctx));
	self->src_mr = ibv_reg_mr(self->ctx.pd, self->src, variant->size,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->src_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
	self->dst_mr = ibv_reg_mr(self->ctx.pd, self->dst, variant->size,
				  VT_MR_ACCESS);
	ASSERT_NE(NULL, self->dst_mr)
		TH_LOG("Couldn't register MR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(anon_mr)
{
	EXPECT_EQ(0, vt_dereg_mr(self->src_mr));
	EXPECT_EQ(0, vt_dereg_mr(self->dst_mr));
	vt_close_ctx(&self->ctx);
	VT_EXPECT_PINS_BALANCED();
	vt_free(self->src, variant->size);
	vt_free(self->dst, variant->size);
}

TEST_F_TIMEOUT(anon_mr, rdma_write, 300)
{
	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vt_rdma_write(&self->ctx, self->src_mr, self->dst_mr,
				   variant->size));
	EXPECT_EQ(variant->size, vt_count(self->dst, variant->size, SEED_SRC));
}

TEST_F_TIMEOUT(anon_mr, rdma_read, 300)
{
	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vt_rdma_read(&self->ctx, self->src_mr, self->dst_mr,
				  variant->size));
	EXPECT_EQ(variant->size, vt_count(self->dst, variant->size, SEED_SRC));
}

TEST_F_TIMEOUT(anon_mr, send, 300)
{
	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vt_send(&self->ctx, self->src_mr, self->dst_mr,
			     variant->size));
	EXPECT_EQ(variant->size, vt_count(self->dst, variant->size, SEED_SRC));
}

/* Each registration holds one pin per base page, each deregistration drops them */
TEST_F_TIMEOUT(anon_mr, reg_dereg, 300)
{
	long pages = variant->size / getpagesize();
	long acquired, released, base;
	struct ibv_mr *mr;
	int i;

	VT_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vt_pins(&acquired, &released));
	base = acquired - released;
	for (i = 0; i < REG_ROUNDS; i++) {
		mr = ibv_reg_mr(self->ctx.pd, self->src, variant->size,
				VT_MR_ACCESS);
		ASSERT_NE(NULL, mr)
			TH_LOG("Couldn't register MR: %s", strerror(errno));
		EXPECT_EQ(0, vt_pins(&acquired, &released));
		EXPECT_EQ(pages, acquired - released - base)
			TH_LOG("pins held while registered, round %d", i);
		ASSERT_EQ(0, ibv_dereg_mr(mr));
		EXPECT_EQ(0, vt_pins(&acquired, &released));
		EXPECT_EQ(base, acquired - released)
			TH_LOG("pins held after deregistration, round %d", i);
	}
}

VT_HARNESS_MAIN
