/*
 * rnn_ext.c -- module entry point: settings and the engine's memory hooks.
 *
 * Settings (all under the reserved prefix "rnn."):
 *   rnn.blas_threads      threads OpenBLAS may use for one backend (1)
 *   rnn.max_train_memory  memory one training run may take (1GB)
 *   rnn.progress          per-epoch NOTICEs of training (on)
 *   rnn.isa               code path of the engine's kernels (auto)
 *
 * The engine allocates through rnn_alloc(); here that is palloc in
 * CurrentMemoryContext, so an error or a cancelled query unwinding through
 * engine code frees everything with the memory context it was working in.
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "rnn_ext.h"

PG_MODULE_MAGIC;

int			rnn_blas_threads_guc = 1;
int			rnn_max_train_memory_kb = 1024 * 1024;	/* 1GB */
bool		rnn_progress_guc = true;
int			rnn_isa_guc = -1;	/* -1: auto, else an RnnIsa */

void		_PG_init(void);

/* ---------------------------------------------------------------------------
 * Engine allocation hooks
 */

/* Zeroed, may exceed 1GB (big embeddings), NULL on failure: the engine
 * reports RNN_ERR_NOMEM and the caller turns that into an error. */
static void *
rnn_palloc(size_t size)
{
	return palloc_extended(size,
						   MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM | MCXT_ALLOC_ZERO);
}

static void
rnn_pfree(void *ptr)
{
	pfree(ptr);
}

/* ---------------------------------------------------------------------------
 * Settings
 */

/* Applied at once when OpenBLAS is loaded, else remembered for its load. */
static void
assign_blas_threads(int newval, void *extra)
{
	rnn_blas_set_threads(newval);
}

/*
 * rnn.isa: auto (the best path the CPU supports) or a path by name
 * (src/core/kernels.h).  A path the CPU lacks is refused here, so the
 * setting never names a path that is not running.
 */
static const struct config_enum_entry isa_options[] = {
	{"auto", -1, false},
	{"generic", RNN_ISA_GENERIC, false},
	{"avx2", RNN_ISA_AVX2, false},
	{"avx512", RNN_ISA_AVX512, false},
	{NULL, 0, false}
};

/* "generic, avx2" */
static void
supported_isas(char *buf, size_t len)
{
	buf[0] = '\0';
	for (int i = 0; i < RNN_ISA_COUNT; i++)
		if (rnn_isa_supported((RnnIsa) i))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
					 buf[0] ? ", " : "", rnn_isa_name((RnnIsa) i));
}

static bool
check_isa(int *newval, void **extra, GucSource source)
{
	char		have[64];

	if (*newval < 0 || rnn_isa_supported((RnnIsa) *newval))
		return true;
	supported_isas(have, sizeof(have));
	GUC_check_errcode(ERRCODE_FEATURE_NOT_SUPPORTED);
	GUC_check_errmsg("this CPU does not support the %s code path",
					 rnn_isa_name((RnnIsa) *newval));
	GUC_check_errdetail("This CPU (or RNN_ISA_MAX) supports %s.", have);
	GUC_check_errhint("Set rnn.isa to auto to use the best of them.");
	return false;
}

static void
assign_isa(int newval, void *extra)
{
	/* check_isa has ruled out an unsupported path */
	(void) rnn_isa_set(newval < 0 ? rnn_isa_best() : (RnnIsa) newval);
}

void
_PG_init(void)
{
	rnn_set_allocator(rnn_palloc, rnn_pfree);

	DefineCustomIntVariable("rnn.blas_threads",
							"Sets the number of threads OpenBLAS may use in one backend.",
							"Each backend that trains or scores has its own pool; "
							"keep the total across concurrent sessions within the "
							"machine's cores.",
							&rnn_blas_threads_guc,
							1, 1, 64,
							PGC_USERSET, 0,
							NULL, assign_blas_threads, NULL);

	DefineCustomIntVariable("rnn.max_train_memory",
							"Sets the maximum memory one training run may use.",
							"Covers the rows read (a forecaster's while they are put "
							"in order, also for rnn.evaluate), the weights, gradients, "
							"optimizer moments and activations kept for backpropagation.",
							&rnn_max_train_memory_kb,
							1024 * 1024, 1024, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("rnn.progress",
							 "Reports each training epoch as a NOTICE.",
							 "Off silences the per-epoch NOTICEs of rnn.train_forecaster "
							 "and rnn.train_classifier; pg_stat_activity still shows "
							 "the progress.",
							 &rnn_progress_guc,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("rnn.isa",
							 "Sets the code path of the engine's kernels.",
							 "auto runs the best this CPU supports (avx512, avx2, "
							 "generic); naming one pins it, e.g. to compare them. "
							 "rnn.isa_info() shows the path in use.",
							 &rnn_isa_guc,
							 -1, isa_options,
							 PGC_USERSET, 0,
							 check_isa, assign_isa, NULL);

	MarkGUCPrefixReserved("rnn");
}

/* ---------------------------------------------------------------------------
 * rnn.isa_info()
 *
 *   SELECT * FROM rnn.isa_info();
 *     isa   | setting |     cpu_supports      | blas_core
 *   --------+---------+-----------------------+-----------
 *    avx512 | auto    | {generic,avx2,avx512} | SkylakeX
 *
 * isa: the code path this backend's kernels run; setting: rnn.isa;
 * cpu_supports: the paths this CPU (capped by RNN_ISA_MAX) runs;
 * blas_core: the kernels OpenBLAS runs for the big products (blas.c: a
 * fallback below the CPU is corrected), loading OpenBLAS if need be.
 */
PG_FUNCTION_INFO_V1(rnn_isa_info);
Datum
rnn_isa_info(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Datum		names[RNN_ISA_COUNT];
	int			n = 0;
	const char *core;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (int i = 0; i < RNN_ISA_COUNT; i++)
		if (rnn_isa_supported((RnnIsa) i))
			names[n++] = CStringGetTextDatum(rnn_isa_name((RnnIsa) i));
	values[0] = CStringGetTextDatum(rnn_isa_name(rnn_isa_current()));
	values[1] = CStringGetTextDatum(rnn_isa_guc < 0 ? "auto" : rnn_isa_name((RnnIsa) rnn_isa_guc));
	values[2] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	rnn_require_blas();
	core = rnn_blas_core();
	if (core != NULL)
		values[3] = CStringGetTextDatum(core);
	else
		nulls[3] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* ---------------------------------------------------------------------------
 * Progress in pg_stat_activity
 */
void
rnn_report_progress(const char *fmt,...)
{
	char		activity[256];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(activity, sizeof(activity), fmt, args);
	va_end(args);
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
rnn_progress_done(void)
{
	pgstat_report_activity(STATE_RUNNING, debug_query_string ? debug_query_string : "");
}

/* ---------------------------------------------------------------------------
 * Limits
 */
void
rnn_check_memory(Size bytes, const char *what, const char *hint)
{
	Size		limit = (Size) rnn_max_train_memory_kb * 1024;

	if (bytes > limit)
	{
		char		need[64];
		char		have[64];

		snprintf(need, sizeof(need), "%zu kB", (bytes + 1023) / 1024);
		snprintf(have, sizeof(have), "%d kB", rnn_max_train_memory_kb);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s needs %s of memory, more than rnn.max_train_memory (%s)",
						what, need, have),
				 errhint("%s", hint)));
	}
}

void
rnn_check_train_memory(Size bytes, const char *what)
{
	rnn_check_memory(bytes, what,
					 "raise rnn.max_train_memory or lower batch_size/window_size/hidden_size");
}

void
rnn_require_blas(void)
{
	const char *detail = NULL;

	if (rnn_blas_load(&detail) != RNN_OK)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not load OpenBLAS"),
				 errdetail("%s.", detail ? detail : "dlopen() failed"),
				 errhint("Install the libopenblas0 package on the database server.")));
}
