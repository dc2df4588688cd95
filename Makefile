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
# OpenMP threads per stage in pipeline runs (make run; more knobs in the "evaluations" section)
THREADS ?= 2

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
# Stage binaries: bin/ for the release flavour, $(BUILD)/bin for any other (make BUILD=... never
# replaces the release stages that make run uses; run another flavour with BIN=$(BUILD)/bin).
BINDIR      := $(if $(filter build/release,$(BUILD)),bin,$(BUILD)/bin)
BINS        := $(addprefix $(BINDIR)/,$(STAGE_NAMES))
TESTBINS    := $(addprefix $(BUILD)/tests/,$(TEST_NAMES))

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all test sanitize bench clean deps deps-test run data model roar help FORCE
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

$(BINDIR)/%: $(BUILD)/stages/%.o $(LIBSTAGES) $(LIBFORMATS) $(LIBPIPELINE)
	@mkdir -p $(BINDIR)
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
# training split for the model (~1 min, 270 MB, git-ignored); make data-train also replaces an
# older, smaller split (30000 scenes until 2026-12-06), recognised by its missing last image
TRAIN_SCENES := 60000
TRAIN_LAST   := data/fashion-scenes-train/images/$(shell printf %05d $$(($(TRAIN_SCENES) - 1))).png
MAKE_TRAIN_SPLIT = build-aux/deps.sh data && $\
  bin/make_scenes --split train --count $(TRAIN_SCENES) --seed 1 --out data/fashion-scenes-train
data-train: | bin/make_scenes
	@test -f $(TRAIN_LAST) || { echo '$(MAKE_TRAIN_SPLIT)'; $(MAKE_TRAIN_SPLIT); }
data/fashion-scenes-train/annotations.json: | bin/make_scenes
	$(MAKE_TRAIN_SPLIT)

help:
	@echo "make                 build bin/<stage> (knobs: OPT, OMP=0|1, WERROR=1, BUILD=DIR, CC)"
	@echo "make test            unit and stage tests; make sanitize: unit tests under ASan+UBSan"
	@echo "make run [EVAL=default|smoke|full|NAME] [SHARDS=N] [THREADS=N] [VAR=value ...]"
	@echo "                     an evaluation into runs/EVAL/ (README: Running an evaluation)"
	@echo "make run-tables      the same without export and aggregate"
	@echo "make redo-STAGE      rerun one stage (load attack infer attribute score export aggregate)"
	@echo "make data            regenerate the shipped test scenes; make data-train: training scenes"
	@echo "make model           retrain the default model (data/models/README.md)"
	@echo "make roar            ROAR retraining on the default evaluation's maps"
	@echo "make bench           engine and saliency benchmarks against PyTorch"
	@echo "make fuzz            fuzz every reader (tests/fuzz/README.md); make clean"

clean:
	rm -rf build bin

# ---- evaluations: make run (README "Running an evaluation") -------------------------------------
# An evaluation is a set of make variables, read from pipeline/$(EVAL).json when that file exists
# (build-aux/evalvars.sh turns it into build/eval/$(EVAL).mk), overridable on the command line.
# Tables go to runs/$(EVAL)/<chain>/, the MLflow store to runs/$(EVAL)/mlruns/. Every stage
# output is a file target whose prerequisites are its input tables, its binary and an options
# stamp (<chain>/<stage>.opts: the stage's command line without --threads/--out/--shard,
# rewritten only when it changes, as git's GIT-CFLAGS), so a changed option reruns that stage
# and what follows it only.
EVAL      ?= default
EVAL_FILE ?= $(wildcard pipeline/$(EVAL).json)
ifneq ($(strip $(EVAL_FILE)),)
EVAL_MK := build/eval/$(EVAL).mk
$(EVAL_MK): $(EVAL_FILE) build-aux/evalvars.sh
	@mkdir -p $(@D)
	@build-aux/evalvars.sh $(EVAL_FILE) >$@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@
include $(EVAL_MK)
endif

comma := ,
empty :=
space := $(empty) $(empty)
ALL_METHODS := center,random,gradient,input_x_gradient,deconvnet,guided_backprop,gradcam,$\
  guided_gradcam,linear_approx,excitation_backprop,contrastive_excitation_backprop,$\
  integrated_gradients,smoothgrad,smoothgrad_sq,vargrad,occlusion,rise,extremal_perturbation
# localisation, faithfulness, complexity, randomisation ($(BIN)/score --help)
ALL_METRICS := pointing_game,energy_pointing_game,relevance_mass,relevance_rank,$\
  top_k_intersection,localisation_auc,deletion,insertion,faithfulness_correlation,infidelity,$\
  sparseness,complexity,sanity_check,random_logit

# data set: a COCO directory (DATA/annotations.json, images relative to DATA) or an ImageFolder
DATA     ?= data/fashion-scenes/test
COCO     ?= $(wildcard $(DATA)/annotations.json)
IMAGES   ?= $(DATA)
MODEL    ?= data/models/fashion-scenes-cnn.h5
# scenes of the data set the evaluation uses (load --limit, source order; 0: all)
LIMIT    ?= 0
METHODS  ?= $(ALL_METHODS)
METRICS  ?= $(ALL_METRICS)
# benign first; every other chain attacks benign's examples with ATTACK_<chain>
CHAINS   ?= benign,pgd
SEED     ?= 0
# stages as SHARDS parts: load, attack, infer, attribute merged by bin/merge, score by score --merge
SHARDS   ?= 1
RUN_DIR  ?= runs/$(EVAL)
# stage binaries (tests point it at a private copy of bin/)
BIN      ?= bin
DESCRIPTION ?= salbench evaluation $(EVAL)
# per-stage options; METHODS_<chain>, METRICS_<chain>, ATTRIBUTE_OPTS_<chain>, SCORE_OPTS_<chain>
# and EXPORT_OPTS_<chain> override one chain
LOAD_OPTS      ?=
INFER_OPTS     ?=
ATTRIBUTE_OPTS ?=
SCORE_OPTS     ?=
EXPORT_OPTS    ?= --first 16
AGGREGATE_OPTS ?=
ATTACK_pgd   ?= --attack pgd --eps 8/255 --step 2/255 --iters 10
ATTACK_fgsm  ?= --attack fgsm --eps 8/255
ATTACK_noise ?= --attack noise --sigma 8/255
ATTACK_blur  ?= --attack blur --sigma 1
ATTACK_jpeg  ?= --attack jpeg --quality 50
# $(BIN)/merge flags per table: per-shard summaries are summed (counts) or left out
MERGE_examples    ?=
MERGE_predictions ?= --sum n_examples --drop-differing
MERGE_saliency    ?= --drop-differing

R := $(RUN_DIR)
CHAIN_LIST := $(sort $(subst $(comma),$(space),$(CHAINS)))
CHAIN_LIST := $(filter benign,$(CHAIN_LIST)) $(filter-out benign,$(CHAIN_LIST))
ATTACK_CHAINS := $(filter-out benign,$(CHAIN_LIST))
$(foreach c,$(ATTACK_CHAINS),$(if $(ATTACK_$(c)),,$(error chain '$(c)' needs ATTACK_$(c) ($(BIN)/attack options))))
ifneq ($(shell [ "$(SHARDS)" -ge 1 ] 2>/dev/null && echo ok),ok)
$(error SHARDS must be 1 or more, not '$(SHARDS)')
endif
# a chain's value of VAR: VAR_<chain> when set, else VAR
cvar = $(if $(filter undefined,$(origin $(1)_$(2))),$($(1)),$($(1)_$(2)))
# single-quoted for sh
shq = '$(subst ','\'',$(1))'
LOAD_SOURCE ?= $(if $(COCO),--coco $(COCO) --images $(IMAGES),--imagefolder $(DATA))
# export and aggregate are optional until their stages exist in the tree
HAVE_EXPORT    := $(wildcard stages/export.c)
HAVE_AGGREGATE := $(wildcard stages/aggregate.c)

# Stage commands (without --threads, --shard, --out), one variable per chain and stage.
CMD.benign/load := $(BIN)/load $(LOAD_SOURCE) $(if $(filter-out 0,$(LIMIT)),--limit $(LIMIT)) $(LOAD_OPTS)
define CHAIN_CMDS
CMD.$(1)/attack := $(BIN)/attack --model $(MODEL) --examples $(R)/benign/examples.h5 $(ATTACK_$(1)) --seed $(SEED)
CMD.$(1)/infer := $(BIN)/infer --model $(MODEL) --examples $(R)/$(1)/examples.h5 $(INFER_OPTS)
CMD.$(1)/attribute := $(BIN)/attribute --model $(MODEL) --examples $(R)/$(1)/examples.h5 $\
  --methods $(call cvar,METHODS,$(1)) --seed $(SEED) $(call cvar,ATTRIBUTE_OPTS,$(1))
CMD.$(1)/score := $(BIN)/score --model $(MODEL) --examples $(R)/$(1)/examples.h5 $\
  --saliency $(R)/$(1)/saliency.h5 --predictions $(R)/$(1)/predictions.h5 $\
  --metrics $(call cvar,METRICS,$(1)) --seed $(SEED) $(call cvar,SCORE_OPTS,$(1)) $\
  $(if $(filter benign,$(1)),,--reference-saliency $(R)/benign/saliency.h5)
CMD.$(1)/export := $(BIN)/export --examples $(R)/$(1)/examples.h5 --predictions $(R)/$(1)/predictions.h5 $\
  --saliency $(R)/$(1)/saliency.h5 --scores $(R)/$(1)/scores.h5 $(call cvar,EXPORT_OPTS,$(1))
endef
$(foreach c,$(CHAIN_LIST),$(eval $(call CHAIN_CMDS,$(c))))
CMD.aggregate := $(BIN)/aggregate --run-dir $(R) --evaluation $(EVAL) --chains $(subst $(space),$(comma),$(CHAIN_LIST)) $\
  --description $(call shq,$(DESCRIPTION)) --param data=$(DATA) --param model=$(MODEL) $\
  --param limit=$(LIMIT) --param seed=$(SEED) $(AGGREGATE_OPTS)

# Options stamps: the recipe always runs, the file changes only with the command text.
$(R)/%.opts: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(call shq,$(strip $(CMD.$*))) | cmp -s - $@ 2>/dev/null || \
	  printf '%s\n' $(call shq,$(strip $(CMD.$*))) >$@
FORCE:

say = @printf 'salbench: %-8s %-10s %s\n' '$(1)' '$(2)' '$(3)' >&2
# STAGE_RULE chain, stage, table (no .h5), inputs: one file, or SHARDS parts and a merge
define STAGE_RULE
ifeq ($(SHARDS),1)
$(R)/$(1)/$(3).h5: $(4) $(BIN)/$(2) $(R)/$(1)/$(2).opts
	$(call say,$(1),$(2),-> $$@)
	$$(CMD.$(1)/$(2)) --threads $(THREADS) --out $$@
else
$(R)/$(1)/$(3).part%-of-$(SHARDS).h5: $(4) $(BIN)/$(2) $(R)/$(1)/$(2).opts
	$(call say,$(1),$(2),shard $$*/$(SHARDS) -> $$@)
	$$(CMD.$(1)/$(2)) --threads $(THREADS) --shard $$*/$(SHARDS) --out $$@
$(R)/$(1)/$(3).h5: $(foreach k,$(shell seq 0 $$(($(SHARDS) - 1))),$(R)/$(1)/$(3).part$(k)-of-$(SHARDS).h5) $(BIN)/merge
	$(call say,$(1),merge,-> $$@)
	$(BIN)/merge $(MERGE_$(3)) --out $$@ $$(filter %.h5,$$^)
endif
endef
# SCORE_RULE chain, inputs: score's parts are merged by score --merge itself, which checks them
# and summarises every trial (bootstrap, paired comparisons), as one unsharded run would
define SCORE_RULE
ifeq ($(SHARDS),1)
$(R)/$(1)/scores.h5: $(2) $(BIN)/score $(R)/$(1)/score.opts
	$(call say,$(1),score,-> $$@)
	$$(CMD.$(1)/score) --threads $(THREADS) --out $$@
else
$(R)/$(1)/scores.part%-of-$(SHARDS).h5: $(2) $(BIN)/score $(R)/$(1)/score.opts
	$(call say,$(1),score,shard $$*/$(SHARDS) -> $$@)
	$$(CMD.$(1)/score) --threads $(THREADS) --shard $$*/$(SHARDS) --out $$@
$(R)/$(1)/scores.h5: $(foreach k,$(shell seq 0 $$(($(SHARDS) - 1))),$(R)/$(1)/scores.part$(k)-of-$(SHARDS).h5)
	$(call say,$(1),score,merge -> $$@)
	$$(CMD.$(1)/score) --threads $(THREADS) --out $$@ --merge $$^
endif
endef
$(eval $(call STAGE_RULE,benign,load,examples,))
define CHAIN_RULES
$(if $(filter benign,$(1)),,$(call STAGE_RULE,$(1),attack,examples,$(MODEL) $(R)/benign/examples.h5))
$(call STAGE_RULE,$(1),infer,predictions,$(MODEL) $(R)/$(1)/examples.h5)
$(call STAGE_RULE,$(1),attribute,saliency,$(MODEL) $(R)/$(1)/examples.h5)
$(call SCORE_RULE,$(1),$(MODEL) $(R)/$(1)/examples.h5 $(R)/$(1)/saliency.h5 $\
  $(R)/$(1)/predictions.h5 $(if $(filter benign,$(1)),,$(R)/benign/saliency.h5))
# export replaces the directory <chain>/exports whole
$(R)/$(1)/exports: $(R)/$(1)/examples.h5 $(R)/$(1)/predictions.h5 $(R)/$(1)/saliency.h5 $\
    $(R)/$(1)/scores.h5 $(BIN)/export $(R)/$(1)/export.opts
	$(call say,$(1),export,-> $$@/)
	$$(CMD.$(1)/export) --threads $(THREADS) --out $(R)/$(1)
endef
$(foreach c,$(CHAIN_LIST),$(eval $(call CHAIN_RULES,$(c))))

CHAIN_TABLES := $(foreach c,$(CHAIN_LIST),$(addprefix $(R)/$(c)/,examples.h5 predictions.h5 saliency.h5 scores.h5))
CHAIN_EXPORTS := $(if $(HAVE_EXPORT),$(foreach c,$(CHAIN_LIST),$(R)/$(c)/exports))
# aggregate: the MLflow store and report.html; its stdout (the summary) is kept for 'make run'
$(R)/report.html: $(CHAIN_TABLES) $(CHAIN_EXPORTS) $(BIN)/aggregate $(R)/aggregate.opts
	$(call say,all,aggregate,-> $(R)/mlruns $@)
	$(CMD.aggregate) --threads $(THREADS) >$(R)/summary.txt.tmp
	@mv $(R)/summary.txt.tmp $(R)/summary.txt

.PHONY: run run-eval run-tables redo-load redo-attack redo-infer redo-attribute redo-score redo-export redo-aggregate
# the Debian packages first (as 'make test' does), then the evaluation
run:
	@build-aux/deps.sh build
	@$(MAKE) --no-print-directory run-eval
ifneq ($(HAVE_AGGREGATE),)
run-eval: $(R)/report.html
	@cat $(R)/summary.txt
else
run-eval: $(CHAIN_TABLES) $(CHAIN_EXPORTS)
	@echo "salbench: stages/aggregate.c is not in this tree yet: no mlruns/ or report.html; tables in $(R)/" >&2
endif
ifeq ($(HAVE_EXPORT),)
	@echo "salbench: stages/export.c is not in this tree yet: no exports/" >&2
endif
# the tables alone, without exports and aggregate
run-tables: $(CHAIN_TABLES)

# make redo-STAGE: reruns STAGE (and what follows) on the same options. Touching the stamps is
# enough (they are newer than the outputs); attribute's outputs are deleted too, because it keeps
# maps of unchanged methods from an existing saliency.h5.
stamps_of = $(foreach c,$(if $(filter load,$(1)),benign,$(if $(filter attack,$(1)),$(ATTACK_CHAINS),$(CHAIN_LIST))),$(R)/$(c)/$(1).opts)
redo-load redo-attack redo-infer redo-attribute redo-score redo-export:
	$(if $(call stamps_of,$(@:redo-%=%)),@$(MAKE) --no-print-directory $(call stamps_of,$(@:redo-%=%)) && \
	  touch $(call stamps_of,$(@:redo-%=%)))
	$(if $(filter redo-attribute,$@),rm -f $(foreach c,$(CHAIN_LIST),$(R)/$(c)/saliency.h5 $(R)/$(c)/saliency.part*.h5))
	@$(MAKE) --no-print-directory run-eval
redo-aggregate:
	@$(MAKE) --no-print-directory $(R)/aggregate.opts
	@touch $(R)/aggregate.opts
	@$(MAKE) --no-print-directory run-eval

# ---- make roar: remove-and-retrain on the evaluation's benign saliency ---------------------------
# Retrains the model's architecture on ROAR_TRAIN scenes of the training split (make data-train)
# with pixels removed by each method's maps, and tests on the evaluation's benign examples and
# saliency. Scaled down for minutes, not hours: 3 fractions, 1 trial, 3 epochs, 2 methods.
ROAR_TRAIN   ?= 1000
ROAR_METHODS ?= gradient,gradcam
ROAR_OPTS    ?= --fractions 0.1,0.5,0.9 --trials 1 --epochs 3
# attribute options of the training maps (use the benign chain's parameters of ROAR_METHODS)
ROAR_ATTRIBUTE_OPTS ?=
RR := $(R)/roar
CMD.roar/load := $(BIN)/load --coco data/fashion-scenes-train/annotations.json $\
  --images data/fashion-scenes-train --split train --limit $(ROAR_TRAIN)
CMD.roar/attribute := $(BIN)/attribute --model $(MODEL) --examples $(RR)/train-examples.h5 $\
  --methods $(ROAR_METHODS) --seed $(SEED) $(ROAR_ATTRIBUTE_OPTS)
CMD.roar/roar := $(BIN)/roar --model $(MODEL) --train-examples $(RR)/train-examples.h5 $\
  --train-saliency $(RR)/train-saliency.h5 --test-examples $(R)/benign/examples.h5 $\
  --test-saliency $(R)/benign/saliency.h5 --methods $(ROAR_METHODS) --seed $(SEED) $(ROAR_OPTS)
$(RR)/train-examples.h5: data/fashion-scenes-train/annotations.json $(BIN)/load $(RR)/load.opts
	$(call say,roar,load,-> $@)
	$(CMD.roar/load) --threads $(THREADS) --out $@
$(RR)/train-saliency.h5: $(RR)/train-examples.h5 $(MODEL) $(BIN)/attribute $(RR)/attribute.opts
	$(call say,roar,attribute,-> $@)
	$(CMD.roar/attribute) --threads $(THREADS) --out $@
$(RR)/roar.h5: $(RR)/train-saliency.h5 $(R)/benign/examples.h5 $(R)/benign/saliency.h5 $(MODEL) $\
    $(BIN)/roar $(RR)/roar.opts
	$(call say,roar,roar,-> $@)
	$(CMD.roar/roar) --threads $(THREADS) --out $@
roar: $(RR)/roar.h5

# ---- make model: reproduces the default model (data/models/README.md, about 1.5 hours) ---------
# Into build/model/ (MODEL_OUT=data/models/fashion-scenes-cnn.h5 replaces the shipped file).
# The binaries are order-only prerequisites: relinking bin/train must not restart a long training.
MODEL_OUT  ?= build/model/fashion-scenes-cnn.h5
TRAIN_OPTS ?= --arch data/models/fashion-scenes-cnn.json --epochs 16 --batch 64 --optimizer adamw $\
  --lr 0.003 --weight-decay 0.05 --warmup-epochs 1 --flip --seed 0
MODEL_TRAIN := build/model/train-$(TRAIN_SCENES).h5
OLD_SPLIT   := data/fashion-scenes-train is an older, smaller split: make data-train replaces it
$(MODEL_TRAIN): data/fashion-scenes-train/annotations.json | bin/load
	@test -f $(TRAIN_LAST) || { echo "salbench: $(OLD_SPLIT)" >&2; exit 1; }
	@mkdir -p $(@D)
	bin/load --coco $< --images data/fashion-scenes-train --split train --threads $(THREADS) --out $@
build/model/test.h5: data/fashion-scenes/test/annotations.json | bin/load
	@mkdir -p $(@D)
	bin/load --coco $< --images data/fashion-scenes/test --threads $(THREADS) --out $@
# --resume: a killed training continues from OUT.ckpt with the same result
$(MODEL_OUT): $(MODEL_TRAIN) data/models/fashion-scenes-cnn.json | bin/train
	@mkdir -p $(@D)
	bin/train --examples $< --out $@ $(TRAIN_OPTS) --resume --threads $(THREADS)
model: $(MODEL_OUT) build/model/test.h5 | bin/infer
	bin/infer --model $(MODEL_OUT) --examples build/model/test.h5 --threads $(THREADS) \
	  --out build/model/test-predictions.h5

# ---- make bench: engine and saliency benchmarks against PyTorch (tests/bench/) ------------------
# Both scripts read MODEL from the environment (an engine model name, a model file), as does an
# evaluation: each gets its own variable. REPEATS, ROUNDS, N, METHODS, SETS pass through.
BENCH_MODEL          ?= all
BENCH_SALIENCY_MODEL ?= data/models/fashion-scenes-cnn.h5
BENCH_BINS := $(BUILD)/bench/bench_engine $(BUILD)/bench/bench_saliency
$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(LIBSTAGES) $(LIBFORMATS) $(LIBPIPELINE)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIB_LIBS)
bench:
	@build-aux/deps.sh bench
	@$(MAKE) --no-print-directory $(BENCH_BINS)
	THREADS=$(THREADS) MODEL=$(BENCH_MODEL) tests/bench/run.sh $(BUILD)/bench/bench_engine
	THREADS=$(THREADS) MODEL=$(BENCH_SALIENCY_MODEL) tests/bench/saliency_run.sh $(BUILD)/bench/bench_saliency

# make fuzz, make fuzz-build (tests/fuzz/README.md)
-include tests/fuzz/fuzz.mk

-include $(shell find build -name '*.d' 2>/dev/null)
