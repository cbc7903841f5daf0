// SPDX-License-Identifier: GPL-2.0
/*
 * The device the other tests need: $VT_DEV with port 1 ACTIVE, an IPv4
 * RoCEv2 GID at $VT_GID, room for 256 MiB MRs, and a loopback QP reaching RTS.
 */
#include "vt_harness.h"

#define MIN_MR_SIZE	((uint64_t)256 << 20)

FIXTURE(query) {
	struct ibv_context *context;
	struct ibv_device_attr dev_attr;
	struct ibv_port_attr port_attr;
};

FIXTURE_SETUP(query)
{
	self->context = vt_open_device(vt_dev_name());
	ASSERT_NE(NULL, self->context);
	ASSERT_EQ(0, ibv_query_device(self->context, &self->dev_attr));
	ASSERT_EQ(0, ibv_query_port(self->context, VT_PORT, &self->port_attr));
}

FIXTURE_TEARDOWN(query)
{
	EXPECT_EQ(0, ibv_close_device(self->context));
	VT_EXPECT_PINS_BALANCED();
}

TEST_F(query, device_found)
{
	EXPECT_STREQ(vt_dev_name(), ibv_get_device_name(self->context->device));
}

TEST_F(query, port_active)
{
	EXPECT_EQ(IBV_PORT_ACTIVE, (int)self->port_attr.state);
	EXPECT_EQ(IBV_LINK_LAYER_ETHERNET, self->port_attr.link_layer);
}

/* ::ffff:a.b.c.d with a.b.c.d != 0.0.0.0 */
TEST_F(query, gid_ipv4_mapped)
{
	static const uint8_t v4_prefix[12] = { [10] = 0xff, [11] = 0xff };
	struct ibv_gid_entry entry;
	uint32_t addr;

	ASSERT_EQ(0, ibv_query_gid_ex(self->context, VT_PORT, vt_gid_index(),
				      &entry, 0));
	memcpy(&addr, &entry.gid.raw[12], sizeof(addr));
	EXPECT_EQ(0, memcmp(entry.gid.raw, v4_prefix, sizeof(v4_prefix)));
	EXPECT_NE(0U, addr);
	EXPECT_EQ((uint32_t)IBV_GID_TYPE_ROCE_V2, entry.gid_type);
}

TEST_F(query, max_mr_size)
{
	EXPECT_LE(MIN_MR_SIZE, self->dev_attr.max_mr_size);
}

TEST_F(query, loopback_qp)
{
	struct ibv_qp_init_attr init_attr;
	struct ibv_qp_attr attr;
	struct vt_ctx ctx = {};

	ASSERT_EQ(0, vt_init_ctx(&ctx));
	EXPECT_EQ(0, ibv_query_qp(ctx.qp, &attr, IBV_QP_STATE, &init_attr));
	EXPECT_EQ(IBV_QPS_RTS, (int)attr.qp_state);
	vt_close_ctx(&ctx);
}

VT_HARNESS_MAIN
