// SPDX-License-Identifier: GPL-2.0
/*
 * The rig's own check of the harness watchdog (vt_harness.h), not a test of
 * the kernel: its one test blocks in pause() past a 3 s timeout, so the
 * harness must print the child's "# watchdog:" lines (syscall 34, pause, on
 * x86_64) before it kills it.  scripts/check runs it as rig.watchdog_reports_hang.
 */
#include "vt_harness.h"

FIXTURE(watchdog) {
	int unused;
};

FIXTURE_SETUP(watchdog)
{
}

FIXTURE_TEARDOWN(watchdog)
{
}

TEST_F_TIMEOUT(watchdog, blocks_past_timeout, 3)
{
	pause();
}

VT_HARNESS_MAIN
