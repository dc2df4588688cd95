# salbench: build the library and stage executables, drive pipeline runs, run tests.
# Knobs (override on the command line: make OPT=-O0 OMP=0 ...):
# C compiler
CC      ?= cc
# optimisation; no -ffast-math, ever: results must be exact IEEE
OPT     ?= -O2 -march=native -ffp-contract=fast
# 1: OpenMP kernels, 0: serial build
OMP     ?= 1
# 1 in CI: warnings are errors
WERROR  ?= 0
# internal: sanitizer flags (use 'make sanitize')
SAN     ?=
# one build directory per flavour, so objects never mix
BUILD   ?= build/release
# OpenMP threads for runs
THREADS ?= 2
# where 'make run' writes
RUN_DIR ?= runs/default

ifneq ($(OMP),0)
ifneq ($(OMP),1)
$(error OMP must be 0 or 1, not '$(OMP)')
endif
endif

HDF5_CFLAGS ?= $(shell pkg-config --cflags hdf5-serial 2>/dev/null)
HDF5_LIBS   ?= $(shell pkg-config --libs hdf5-serial 2>/dev/null) -lhdf5_hl
LIB_CFLAGS  := $(HDF5_CFLAGS) $(shell pkg-config --cflags libpng libcjson libxxhash 2>/dev/null)
LIB_LIBS    := $(HDF5_LIBS) $(shell pkg-config --libs libpng libcjson libxxhash zlib 2>/dev/null) -lm

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif
OMPFLAG := $(if $(filter 1,$(OMP)),-fopenmp,)
# Without OpenMP the pragmas are ignored on purpose.
WARN += $(if $(filter 0,$(OMP)),-Wno-unknown-pragmas,)
CFLAGS_ALL := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DH5_USE_110_API \
              $(OPT) $(WARN) $(OMPFLAG) $(SAN) -g -MMD -MP -I. $(LIB_CFLAGS)
LDFLAGS_ALL := $(OMPFLAG) $(SAN)

PIPELINE_SRC := $(sort $(wildcard pipeline/*.c))
FORMATS_SRC  := $(sort $(wildcard formats/*.c))
# A stage is any stages/*.c that defines main(); the rest is shared CLI code.
STAGE_NAMES  := $(sort $(basename $(notdir $(shell grep -l '^int main' stages/*.c 2>/dev/null))))
STAGES_LIB   := $(filter-out $(addprefix stages/,$(addsuffix .c,$(STAGE_NAMES))),$(sort $(wildcard stages/*.c)))
TEST_NAMES   := $(sort $(basename $(notdir $(wildcard tests/test_*.c))))
TEST_LIB     := $(filter-out $(addprefix tests/,$(addsuffix .c,$(TEST_NAMES))),$(sort $(wildcard tests/*.c)))

LIBPIPELINE := $(BUILD)/libpipeline.a
LIBFORMATS  := $(BUILD)/libformats.a
LIBSTAGES   := $(BUILD)/libstages.a
BINS        := $(addprefix bin/,$(STAGE_NAMES))
TESTBINS    := $(addprefix $(BUILD)/tests/,$(TEST_NAMES))

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all test sanitize bench clean deps deps-test run data model help
all: $(BINS)
	@echo "built $(words $(BINS)) stages (OpenMP $(if $(filter 1,$(OMP)),on,off)): $(notdir $(BINS))"

# V=1 shows the full commands.
Q := $(if $(filter 1,$(V)),,@)
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(LIBPIPELINE): $(PIPELINE_SRC:%.c=$(BUILD)/%.o)
	@mkdir -p $(dir $@) && rm -f $@ && $(if $^,ar rcs $@ $^,printf '!<arch>\n' > $@)
$(LIBFORMATS): $(FORMATS_SRC:%.c=$(BUILD)/%.o)
	@mkdir -p $(dir $@) && rm -f $@ && $(if $^,ar rcs $@ $^,printf '!<arch>\n' > $@)
$(LIBSTAGES): $(STAGES_LIB:%.c=$(BUILD)/%.o)
	@mkdir -p $(dir $@) && rm -f $@ && $(if $^,ar rcs $@ $^,printf '!<arch>\n' > $@)

# Stage binaries in bin/ come from the release flavour only.
bin/%: $(BUILD)/stages/%.o $(LIBSTAGES) $(LIBFORMATS) $(LIBPIPELINE)
	@mkdir -p bin
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIB_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LIB:%.c=$(BUILD)/%.o) $(LIBSTAGES) $(LIBFORMATS) $(LIBPIPELINE)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIB_LIBS)

# Installs missing Debian packages when root, else prints the apt-get line.
deps:
	@build-aux/deps.sh build
deps-test:
	@build-aux/deps.sh test

test: deps-test
	@$(MAKE) --no-print-directory all $(TESTBINS)
	@BUILD=$(BUILD) tests/run.sh

sanitize: deps-test
	@$(MAKE) --no-print-directory BUILD=build/sanitize OPT="-O1 -march=native" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  $(addprefix build/sanitize/tests/,$(TEST_NAMES))
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 BUILD=build/sanitize UNIT_ONLY=1 tests/run.sh

# ---- the shipped default data set (data/README.md) ----
.PHONY: data data-train
# the shipped test split, bit for bit from Debian's dataset-fashion-mnist (leaves git clean)
data: bin/make_scenes
	@build-aux/deps.sh data
	bin/make_scenes --split test --count 1000 --seed 1 --out data/fashion-scenes/test
# training split for the model (~30 s, 136 MB, git-ignored)
data-train: data/fashion-scenes-train/annotations.json
data/fashion-scenes-train/annotations.json: | bin/make_scenes
	@build-aux/deps.sh data
	bin/make_scenes --split train --count 30000 --seed 1 --out data/fashion-scenes-train

help:
	@sed -n '1,12p' Makefile

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
