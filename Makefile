# SPDX-License-Identifier: GPL-2.0
#
# make demo     the main job: durability of RDMA writes into a registered
#               file MR, stock vs patched, as one table
# make check    every test on the kernels that carry the series (patched,
#               patched-6.12); ends with "N passed, N failed";
#               scripts/results --from build/check prints it again
# make check-full  the same on all four kernels: the stock ones too, where
#               the bugs are expected failures (about 90 min cold)
# make check-debug  the same, plus the verbs suite on the debug kernel
#               (lockdep, DEBUG_VM, KASAN; builds it: about an hour cold)
#
# make crash    every crash state of the churn, replayed from a dm
#               log-writes log and checked (FS=, STATES=, KERNEL=)
# make stress   the adversarial matrix: failed allocations under the copies
#               and a balloon, 8 KiB bios, md raid5, dm-crypt, btrfs raid1
#               with compression, 10,000 file MRs (CASES=, SECS=, KERNEL=)
# make kernels  build/{stock,patched}/bzImage (Debian's 6.1) and
#               build/{stock,patched}-6.12/bzImage (Debian's 6.12; DEBUG=1:
#               the debug profile); make deps  Debian packages; make clean

BUILD      := build
# The kselftest harness: the patched 6.1 tree's (the series leaves it alone)
KSFT       := $(BUILD)/src/patched/tools/testing/selftests
KERNEL_IMAGES := $(BUILD)/stock/bzImage $(BUILD)/patched/bzImage \
		 $(BUILD)/stock-6.12/bzImage $(BUILD)/patched-6.12/bzImage

.PHONY: all deps kernels verbs-tests umem rxe-tools check check-full demo checkpatch bench \
	bench-reg check-debug peer-tests two-node fio-mr powercut churn powercut-churn crash stress clean FORCE

# One kernel build at a time (2 cores): kernels builds its images in the
# order listed, each line's stock before its patched (ccache shares what
# the series does not change).
.NOTPARALLEL:

all: kernels verbs-tests umem rxe-tools

$(BUILD)/.deps: scripts/deps
	scripts/deps
	@mkdir -p $(BUILD) && touch $@

deps: $(BUILD)/.deps

# The build script knows what changed (series, fragment, sources); always ask it.
$(BUILD)/stock/bzImage: $(BUILD)/.deps FORCE
	scripts/build-kernel stock
$(BUILD)/patched/bzImage: $(BUILD)/.deps FORCE
	scripts/build-kernel patched
# The 6.12 line (Debian's linux-source-6.12, kernel-patches/6.12/)
$(BUILD)/stock-6.12/bzImage: $(BUILD)/.deps FORCE
	scripts/build-kernel stock-6.12
$(BUILD)/patched-6.12/bzImage: $(BUILD)/.deps FORCE
	scripts/build-kernel patched-6.12

kernels: $(KERNEL_IMAGES)

verbs-tests: $(BUILD)/patched/bzImage
	$(MAKE) -s -C verbs-tests O=$(CURDIR)/$(BUILD)/verbs-tests KSFT=$(CURDIR)/$(KSFT)

# umem/filepins, and its test (linked with the verbs tests' library)
umem: verbs-tests
	$(MAKE) -s -C umem O=$(CURDIR)/$(BUILD)/umem KSFT=$(CURDIR)/$(KSFT) \
		VT=$(CURDIR)/$(BUILD)/verbs-tests

# What two-node runs in its guests (verbs-tests' helpers: xnode_dur); no
# kernel needed.  The drivers build what is missing themselves, and time it.
rxe-tools:
	$(MAKE) -s -C verbs-tests O=$(CURDIR)/$(BUILD)/verbs-tests KSFT=$(CURDIR)/$(KSFT) helpers

check: deps
	scripts/check

# make crash [FS="ext4 xfs btrfs"] [STATES=1000] [KERNEL=patched|...|PATH]:
# every crash state of the churn replayed from a dm log-writes log and
# checked (crash/README.md)
CRASH_KERNEL := $(or $(KERNEL),patched)
crash: deps
	$(if $(findstring /,$(CRASH_KERNEL)),,$(MAKE) $(BUILD)/$(CRASH_KERNEL)/bzImage)
	scripts/crash --kernel $(CRASH_KERNEL) $(if $(FS),--fs "$(FS)") \
		$(if $(STATES),--states $(STATES))

# make stress [CASES="noio sectors8 raid5 crypt raid1z mrs"] [SECS=20]
# [KERNEL=patched|...|PATH]: the adversarial matrix of issue #17, each case
# bounded in time (stress/README.md)
STRESS_KERNEL := $(or $(KERNEL),patched)
stress: deps
	$(if $(findstring /,$(STRESS_KERNEL)),,$(MAKE) $(BUILD)/$(STRESS_KERNEL)/bzImage)
	scripts/stress --kernel $(STRESS_KERNEL) $(if $(CASES),--cases "$(CASES)") \
		$(if $(SECS),--secs $(SECS))

check-full: deps
	KERNELS="stock patched stock-6.12 patched-6.12" scripts/check

check-debug: deps
	CHECK_DEBUG=1 scripts/check

demo: deps
	scripts/demo

checkpatch: $(BUILD)/patched/bzImage
	scripts/checkpatch

# perftest bandwidth, registration and fsync cost, stock vs patched in one
# run (BENCH_ROUNDS=3 alternating boots per kernel): build/bench/summary.md,
# results.json and plots.  Both measure the kernels already built ('make
# kernels' first); bench/run warns when a bzImage is older than the series.
bench: deps
	bench/run
	bench/run --icount --steps "reg gup perf"

# Registration cost per page only: build/bench/reg/summary.md
bench-reg: deps
	bench/run --steps reg --out $(BUILD)/bench/reg

# rdma-core's pyverbs suite, stock vs patched; fails on any regression
peer-tests: kernels
	scripts/peer-tests

# two guests on one virtual wire: perftest and the cross-node durability case
two-node: kernels rxe-tools
	rxe-setup/two-node

# fio's rdma engine on a file-backed MR, checked on disk
fio-mr: kernels
	scripts/fio-mr

# fsync, then a power cut; the image is checked on the host (RUNS=20 FS=btrfs)
powercut: kernels verbs-tests
	scripts/powercut --kernel patched --fs $(or $(FS),ext4) --runs $(or $(RUNS),1)

# RDMA writes for 60 s while a child fsyncs, every fs, data checked on disk;
# memory pressure while pinned (KERNEL=patched|stock|PATH, CHURN_SECONDS=60)
CHURN_KERNEL = $(or $(KERNEL),patched)
CHURN_NAME   = $(notdir $(CHURN_KERNEL))
churn: $(if $(filter stock patched,$(CHURN_KERNEL)),kernels) verbs-tests
	rm -rf $(BUILD)/churn-$(CHURN_NAME)
	rxe-setup/vm-run --kernel $(CHURN_KERNEL) --smp 1 --timeout 2400 \
		--disk ext4 --disk xfs --disk btrfs --name churn-$(CHURN_NAME) \
		--env CHURN_SECONDS=$(or $(CHURN_SECONDS),60) -- \
		verbs-tests/run-tests --bin $(BUILD)/verbs-tests churn
	scripts/results add $(BUILD)/churn-$(CHURN_NAME) --kernel $(CHURN_NAME) \
		--format tap --vm $(BUILD)/vm/churn-$(CHURN_NAME) \
		$(BUILD)/vm/churn-$(CHURN_NAME)/stdout >/dev/null
	scripts/results --from $(BUILD)/churn-$(CHURN_NAME)

# a power cut in the middle of RDMA writes and fsyncs; btrfs data checksums
# checked on the host (FS=btrfs RUNS=20 KERNEL=patched|stock|PATH)
powercut-churn: $(if $(filter stock patched,$(CHURN_KERNEL)),kernels)
	scripts/powercut-churn --kernel $(CHURN_KERNEL) --fs $(or $(FS),btrfs) \
		--runs $(or $(RUNS),1)

clean:
	rm -rf $(BUILD)/stock $(BUILD)/patched $(BUILD)/stock-6.12 $(BUILD)/patched-6.12 \
		$(BUILD)/vm $(BUILD)/verbs-tests $(BUILD)/gup-longterm \
		$(BUILD)/umem $(BUILD)/peer-tests $(BUILD)/two-node $(BUILD)/fio-mr

FORCE:
