# Sharded pipeline runs with make: every per-example stage runs as SHARDS part files
# (`STAGE ... --shard K/N --out X.partK-of-N.h5`), then bin/merge concatenates them into X.h5.
# `make -j4 SHARDS=4 ...` runs four shards at once; deleting one part and re-running remakes only
# that part and the merge. Include it from the top Makefile, or use it alone once bin/ is built:
#   make -f tests/cluster/shards.mk -j2 SHARDS=4 RUN_DIR=runs/x MODEL=m.h5 shards-run
# Chains: benign (load -> infer) and one per name in CHAINS (attack -> infer), each in
# $(RUN_DIR)/<chain>/. SHARDS=1 runs every stage once, without parts or merge.

SHARDS      ?= 1
RUN_DIR     ?= runs/default
THREADS     ?= 2
MODEL       ?= data/models/fashion-scenes.h5
LOAD_ARGS   ?= --coco data/fashion-scenes/test/annotations.json --images data/fashion-scenes/test
CHAINS      ?= pgd noise
ATTACK_pgd  ?= --attack pgd --eps 8/255 --step 2/255 --iters 10
ATTACK_fgsm ?= --attack fgsm --eps 8/255
ATTACK_noise ?= --attack noise --sigma 8/255
ATTACK_blur ?= --attack blur --sigma 1
ATTACK_jpeg ?= --attack jpeg --quality 50
# infer writes per-shard summaries: counts are added up, accuracy/mAP/confusion are left out of
# merged files (recompute them from the merged table, as aggregate does)
MERGE_predictions ?= --sum n_examples --drop-differing

ifeq ($(filter-out 0,$(SHARDS)),)
$(error SHARDS must be 1 or more, not '$(SHARDS)')
endif
SHARD_IDS := $(shell seq 0 $$(($(SHARDS) - 1)))
# the part files of X (X without .h5), in shard order
shard_parts = $(foreach k,$(SHARD_IDS),$(1).part$(k)-of-$(SHARDS).h5)

# SHARDED_STAGE, OUT (no .h5), COMMAND without --shard/--out, PREREQUISITES, MERGE FLAGS
define SHARDED_STAGE
ifeq ($(SHARDS),1)
$(1).h5: $(3)
	@mkdir -p $$(@D)
	$(2) --threads $(THREADS) --out $$@
else
$(1).part%.h5: $(3)
	@mkdir -p $$(@D)
	$(2) --threads $(THREADS) --shard $$(subst -of-,/,$$*) --out $$@
$(1).h5: $(call shard_parts,$(1)) bin/merge
	bin/merge $(4) --out $$@ $(call shard_parts,$(1))
endif
endef

B := $(RUN_DIR)/benign
$(eval $(call SHARDED_STAGE,$(B)/examples,bin/load $(LOAD_ARGS),bin/load))
$(eval $(call SHARDED_STAGE,$(B)/predictions,bin/infer --model $(MODEL) --examples $(B)/examples.h5,bin/infer $(MODEL) $(B)/examples.h5,$(MERGE_predictions)))
$(foreach c,$(CHAINS),$(eval $(call SHARDED_STAGE,$(RUN_DIR)/$(c)/examples,bin/attack --model $(MODEL) --examples $(B)/examples.h5 $(ATTACK_$(c)),bin/attack $(MODEL) $(B)/examples.h5)))
$(foreach c,$(CHAINS),$(eval $(call SHARDED_STAGE,$(RUN_DIR)/$(c)/predictions,bin/infer --model $(MODEL) --examples $(RUN_DIR)/$(c)/examples.h5,bin/infer $(MODEL) $(RUN_DIR)/$(c)/examples.h5,$(MERGE_predictions))))

.PHONY: shards-run
shards-run: $(B)/predictions.h5 $(foreach c,$(CHAINS),$(RUN_DIR)/$(c)/predictions.h5)

.DELETE_ON_ERROR:
.SECONDARY:
