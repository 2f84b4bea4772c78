# rnn_ext -- GRU/LSTM forecasting and sentiment inside PostgreSQL.
#
#   make && make install        build and install into the server of pg_config
#   make installcheck           pg_regress tests against a running server
#   make check-core             engine unit tests (test/core, no server needed)

EXTENSION = rnn_ext
# The version CREATE EXTENSION installs: default_version in rnn_ext.control.
# Its install script sql/rnn_ext--$(EXTVERSION).sql is built from the one
# source sql/rnn_ext.sql (as pgvector builds vector--X.Y.sql from
# sql/vector.sql); every older version is reached by the chain of upgrade
# scripts sql/rnn_ext--OLD--NEW.sql, each hop present.
EXTVERSION = 0.4

MODULE_big = rnn_ext
# The install scripts of older versions (CREATE EXTENSION rnn_ext VERSION
# '0.1' still works), every upgrade script (ALTER EXTENSION rnn_ext UPDATE),
# and the install script of this version, built.  The pg_regress tests live
# in sql/ too, hence the rnn_ext-- prefix.
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))
ifneq ($(shell sed -n "s/^default_version = '\(.*\)'$$/\1/p" $(EXTENSION).control),$(EXTVERSION))
$(error default_version in $(EXTENSION).control is not EXTVERSION = $(EXTVERSION))
endif

# kernels_<isa>.o: the hot loops once per code path (src/core/kernels.h);
# each includes KERNEL_SRCS, which are not compiled on their own
CORE_OBJS = src/core/alloc.o src/core/rng.o src/core/blas.o src/core/model.o \
	src/core/codec.o src/core/kernels.o src/core/kernels_generic.o \
	src/core/kernels_avx2.o src/core/kernels_avx512.o src/core/network.o \
	src/core/loss.o src/core/optim.o src/core/fit.o src/core/fit_stream.o src/core/infer.o \
	src/core/tokenizer.o src/core/ngram.o
KERNEL_SRCS = src/core/recur_product.c src/core/cell_tanh.c src/core/cell_gru.c \
	src/core/cell_lstm.c src/core/input_small.c src/core/optim_loops.c
PG_OBJS = src/pg/forecast_data.o src/pg/forecast_calendar.o src/pg/forecast_train.o src/pg/forecast_score.o src/pg/forecast_linear.o src/pg/forecast_warm.o src/pg/forecast_anomaly.o src/pg/forecast_known.o src/pg/jsonb_util.o \
	src/pg/rnn_ext.o src/pg/errors.o src/pg/model_store.o src/pg/model_placement.o \
	src/pg/model_cache.o src/pg/model_sql.o \
	src/pg/text_data.o src/pg/classify.o src/pg/classify_train.o src/pg/classify_ngram.o src/pg/classify_embeddings.o src/pg/classify_pretrain.o src/pg/stream.o \
	src/pg/lm_train.o src/pg/lm.o src/pg/tag_train.o src/pg/tag.o
OBJS = $(CORE_OBJS) $(PG_OBJS)
HEADERS = src/core/rnn.h

# RNN_BLAS_DLOPEN: src/core/blas.c dlopen()s OpenBLAS at first use with every
# signal blocked, so the threads OpenBLAS starts never take a backend's
# SIGINT/SIGTERM/SIGUSR1.  Linking -lopenblas would start them when the
# server loads rnn_ext.so, with signals unblocked.
PG_CPPFLAGS += -Isrc/core -DRNN_BLAS_DLOPEN

# PGXS compiles with -O2 and no -march.  The hot loops need no flag: they
# are built for each x86-64 level and picked at run time (kernels.h), so a
# portable package (OPTFLAGS=) runs them as fast as a native build.  The
# rest of the engine still gains a little from the machine's ISA.
OPTFLAGS ?= -march=native
PG_CFLAGS += $(OPTFLAGS)

# Because OpenBLAS is dlopen()ed (see above), the module links only libdl and
# needs OpenBLAS's runtime (libopenblas0) at run time, not at link time.
SHLIB_LINK = -ldl

REGRESS = create_extension model_store corrupt_weights gucs ownership lifecycle forecast calendar covariates bad_input retrain train_linear \
	language_model tagger \
	model_cache sentiment ngram embeddings pretrain drop_extension

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

# A server built --with-llvm makes PGXS compile LLVM bitcode with the clang
# it was built with (for JIT inlining).  rnn_ext's functions are far too big
# to inline, so when that clang is not installed, skip the bitcode rather
# than fail the build.
PG_CLANG := $(shell sed -n 's/^CLANG *= *//p' $(dir $(PGXS))../Makefile.global 2>/dev/null)
ifeq ($(wildcard $(firstword $(PG_CLANG))),)
override with_llvm = no
endif

include $(PGXS)

# The engine is C11 with declarations where first used (llm.c style);
# PostgreSQL's own -Wdeclaration-after-statement applies to src/pg only.
# -fno-math-errno: sqrtf in Adam's loop (optim.c) becomes a vector sqrt
# instead of a call that may set errno; the engine never reads errno after
# math functions.  -Wno-psabi: without AVX (OPTFLAGS=, kernels_generic.c)
# GCC notes that passing 32-byte vectors changed ABI in GCC 4.6; the engine
# passes them only between static functions.  Keep in step with
# test/core/Makefile and test/bench/engine_vs_torch.sh.
src/core/%.o: override CFLAGS += -Wno-declaration-after-statement -fno-math-errno -Wno-psabi

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

# PGXS tracks no header dependencies: rebuild everything when a header changes.
$(OBJS): $(wildcard src/core/*.h src/pg/*.h)
$(patsubst %,src/core/kernels_%.o,generic avx2 avx512): $(KERNEL_SRCS)

.PHONY: check-core
check-core:
	$(MAKE) -C test/core check

EXTRA_CLEAN = results regression.diffs regression.out
