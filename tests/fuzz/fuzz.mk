# libFuzzer runs of the readers (tests/fuzz/README.md); the Makefile -includes this file.
#   make fuzz                         every target, FUZZ_SECONDS (60) each, one after the other
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="png coco"
#   make fuzz FUZZ_CPU=1 FUZZ_SECONDS=600   FUZZ_SECONDS of the fuzzer's CPU (run.sh restarts
#                                     it on its corpus until then, up to FUZZ_MAX_WALL s)
#   make fuzz-build                   just build build/fuzz/fuzz_*
# Needs clang with libFuzzer (build-aux/deps.sh fuzz installs it as root). run.sh builds the
# libraries into build/fuzz with ASan+UBSan and coverage, runs each target under nice -n 19
# and prints per target: CPU seconds, executions, exec/s, coverage (cov), features (ft),
# corpus size and crashes; it exits 1 when a target crashed.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: fuzz fuzz-build
fuzz:
	@build-aux/deps.sh fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build:
	@build-aux/deps.sh fuzz
	@FUZZ_BUILD_ONLY=1 tests/fuzz/run.sh $(FUZZ_TARGETS)
