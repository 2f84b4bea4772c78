/*
 * rnn_ext.c -- module entry point: settings and the engine's memory hooks.
 *
 * Settings (all under the reserved prefix "rnn."):
 *   rnn.blas_threads      threads OpenBLAS may use for one backend (1)
 *   rnn.max_train_memory  memory one training run may take (1GB)
 *   rnn.progress          per-epoch NOTICEs of training (on)
 *
 * The engine allocates through rnn_alloc(); here that is palloc in
 * CurrentMemoryContext, so an error or a cancelled query unwinding through
 * engine code frees everything with the memory context it was working in.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "rnn_ext.h"

PG_MODULE_MAGIC;

int			rnn_blas_threads_guc = 1;
int			rnn_max_train_memory_kb = 1024 * 1024;	/* 1GB */
bool		rnn_progress_guc = true;

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

	MarkGUCPrefixReserved("rnn");
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
