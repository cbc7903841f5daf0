# SPDX-License-Identifier: GPL-2.0
#
# make demo     the main job: durability of RDMA writes into a registered
#               file MR, stock vs patched, as one table
# make check    every test on both kernels; ends with "N passed, N failed"
#
# make kernels  build/stock/bzImage and build/patched/bzImage (DEBUG=1: the
#               debug profile); make deps  Debian packages; make clean

BUILD      := build
KSFT       := $(BUILD)/src/stock/tools/testing/selftests
KERNELS    := $(BUILD)/stock/bzImage $(BUILD)/patched/bzImage

.PHONY: all deps kernels verbs-tests rxe-tools check demo checkpatch bench-reg \
	peer-tests two-node fio-mr powercut clean FORCE

all: kernels verbs-tests rxe-tools

$(BUILD)/.deps: scripts/deps
	scripts/deps
	@mkdir -p $(BUILD) && touch $@

deps: $(BUILD)/.deps

# The build script knows what changed (series, fragment, sources); always ask it.
$(BUILD)/stock/bzImage: $(BUILD)/.deps FORCE
	scripts/build-kernel stock
$(BUILD)/patched/bzImage: $(BUILD)/.deps $(BUILD)/stock/bzImage FORCE
	scripts/build-kernel patched

kernels: $(KERNELS)

verbs-tests: $(BUILD)/stock/bzImage
	$(MAKE) -s -C verbs-tests O=$(CURDIR)/$(BUILD)/verbs-tests KSFT=$(CURDIR)/$(KSFT)

# The drivers build what is missing themselves, and time it.
rxe-tools:
	$(MAKE) -s -C rxe-setup O=$(CURDIR)/$(BUILD)/rxe-setup

check: deps
	scripts/check

demo: deps
	scripts/demo

checkpatch: $(BUILD)/patched/bzImage
	scripts/checkpatch

# Registration cost per page, stock vs patched in one run.
bench-reg: kernels
	bench/reg-compare

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

clean:
	rm -rf $(BUILD)/stock $(BUILD)/patched $(BUILD)/vm $(BUILD)/verbs-tests \
		$(BUILD)/rxe-setup $(BUILD)/peer-tests $(BUILD)/two-node $(BUILD)/fio-mr

FORCE:
