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

.PHONY: all deps kernels verbs-tests check demo checkpatch bench-reg clean FORCE

all: kernels verbs-tests

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
check: deps
	scripts/check

demo: deps
	scripts/demo

checkpatch: $(BUILD)/patched/bzImage
	scripts/checkpatch

# Registration cost per page, stock vs patched in one run.
bench-reg: kernels
	bench/reg-compare

clean:
	rm -rf $(BUILD)/stock $(BUILD)/patched $(BUILD)/vm $(BUILD)/verbs-tests

FORCE:
