/*
 * blas.c -- the one door to BLAS.
 *
 * Everything heavy in the engine is a row-major sgemm.  Two builds:
 *
 *  - default (unit tests, benchmarks): cblas_sgemm linked directly.
 *  - RNN_BLAS_DLOPEN (the PostgreSQL module): OpenBLAS starts its worker
 *    threads when the library is loaded.  Linked into the module, that would
 *    happen while the backend loads rnn_ext.so, with every signal unblocked,
 *    and the kernel may then deliver the backend's SIGINT (query cancel),
 *    SIGTERM or SIGUSR1 (latches) to a BLAS thread instead of the backend's
 *    main thread.  So we dlopen() OpenBLAS on first use with all signals
 *    blocked; its threads inherit the blocked mask and never see a signal.
 *    Growing the thread pool later (openblas_set_num_threads) creates
 *    threads too, so it is wrapped the same way.
 *
 * A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU's model number,
 * and a model newer than the library falls back to "Prescott" (SSE3):
 * Debian 12's 0.3.21 does so on Sapphire Rapids, where its sgemm then runs
 * at half the speed of its SkylakeX kernels (23 vs 46 GFLOP/s, 512^3, one
 * thread).  When OpenBLAS chose a core without AVX2 on a CPU that has
 * AVX2+FMA, and nobody set OPENBLAS_CORETYPE, we load it again with the
 * core that fits the CPU's features (SkylakeX for AVX-512, else Haswell).
 * A core OpenBLAS recognizes is never overridden, nor a user's setting.
 */
#include <stddef.h>

#include "rnn.h"

/* CBLAS enum values, fixed by the reference CBLAS interface */
#define RNN_CBLAS_ROW_MAJOR 101
#define RNN_CBLAS_NO_TRANS 111
#define RNN_CBLAS_TRANS 112

typedef void (*sgemm_fn) (int order, int ta, int tb, int M, int N, int K,
						  float alpha, const float *A, int lda,
						  const float *B, int ldb,
						  float beta, float *C, int ldc);
typedef void (*set_threads_fn) (int n);
typedef char *(*corename_fn) (void);

static int	blas_threads = 1;

#ifdef RNN_BLAS_DLOPEN

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static sgemm_fn sgemm_ptr = NULL;
static set_threads_fn set_threads_ptr = NULL;
static char blas_core[64] = "";

/* Debian installs OpenBLAS through alternatives: try the stable names. */
static const char *const blas_candidates[] = {
	"libopenblas.so.0",
	"libopenblasp.so.0",
	"libopenblas.so",
	NULL
};

/* OpenBLAS cores whose sgemm uses AVX2+FMA or wider (names as
 * openblas_get_corename spells them) */
static const char *const blas_wide_cores[] = {
	"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator", NULL
};

static void *
open_blas(void)
{
	void	   *handle = NULL;

	for (int i = 0; blas_candidates[i] != NULL && handle == NULL; i++)
		handle = dlopen(blas_candidates[i], RTLD_NOW | RTLD_LOCAL);
	return handle;
}

static const char *
core_of(void *handle)
{
	corename_fn corename = (corename_fn) dlsym(handle, "openblas_get_corename");
	const char *name = corename ? corename() : NULL;

	return name ? name : "";
}

/* The core to ask for when OpenBLAS fell back below this CPU, or NULL. */
static const char *
better_core(void *handle)
{
	const char *core = core_of(handle);
	RnnIsa		isa = rnn_isa_best();

	if (getenv("OPENBLAS_CORETYPE") != NULL || isa == RNN_ISA_GENERIC || core[0] == '\0')
		return NULL;
	for (int i = 0; blas_wide_cores[i] != NULL; i++)
		if (strcasecmp(core, blas_wide_cores[i]) == 0)
			return NULL;
	return isa == RNN_ISA_AVX512 ? "SkylakeX" : "Haswell";
}

RnnStatus
rnn_blas_load(const char **detail)
{
	sigset_t	all,
				old;
	void	   *handle;
	const char *core;

	if (sgemm_ptr != NULL)
		return RNN_OK;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	handle = open_blas();
	if (handle != NULL && (core = better_core(handle)) != NULL)
	{
		/* read by OpenBLAS's constructor: reload so that it runs again */
		dlclose(handle);
		setenv("OPENBLAS_CORETYPE", core, 0);
		handle = open_blas();
	}
	if (handle != NULL)
	{
		sgemm_ptr = (sgemm_fn) dlsym(handle, "cblas_sgemm");
		set_threads_ptr = (set_threads_fn) dlsym(handle, "openblas_set_num_threads");
		if (set_threads_ptr != NULL)
			set_threads_ptr(blas_threads);
		snprintf(blas_core, sizeof(blas_core), "%s", core_of(handle));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (handle == NULL)
	{
		if (detail)
			*detail = "could not load libopenblas.so.0 (install libopenblas0)";
		return RNN_ERR_CONFIG;
	}
	if (sgemm_ptr == NULL)
	{
		if (detail)
			*detail = "libopenblas.so.0 has no cblas_sgemm symbol";
		return RNN_ERR_CONFIG;
	}
	return RNN_OK;
}

const char *
rnn_blas_core(void)
{
	return blas_core[0] ? blas_core : NULL;
}

void
rnn_blas_set_threads(int n)
{
	sigset_t	all,
				old;

	blas_threads = n < 1 ? 1 : n;
	if (set_threads_ptr == NULL)
		return;					/* applied at load */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	set_threads_ptr(blas_threads);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * Reference loop, used only if OpenBLAS could not be loaded and the caller
 * ignored rnn_blas_load()'s error: slow, but never a crash.
 */
static void
naive_sgemm(int order, int ta, int tb, int M, int N, int K,
			float alpha, const float *A, int lda,
			const float *B, int ldb,
			float beta, float *C, int ldc)
{
	(void) order;
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
		{
			double		acc = 0.0;

			for (int k = 0; k < K; k++)
			{
				float		a = ta == RNN_CBLAS_TRANS ? A[(size_t) k * lda + i] : A[(size_t) i * lda + k];
				float		b = tb == RNN_CBLAS_TRANS ? B[(size_t) j * ldb + k] : B[(size_t) k * ldb + j];

				acc += (double) a * b;
			}
			C[(size_t) i * ldc + j] = (float) (alpha * acc) +
				(beta == 0.0f ? 0.0f : beta * C[(size_t) i * ldc + j]);
		}
}

static sgemm_fn
resolve_sgemm(void)
{
	if (sgemm_ptr == NULL && rnn_blas_load(NULL) != RNN_OK)
		return naive_sgemm;
	return sgemm_ptr;
}

#define SGEMM resolve_sgemm()

#else							/* linked directly */

#include <cblas.h>

RnnStatus
rnn_blas_load(const char **detail)
{
	(void) detail;
	return RNN_OK;
}

const char *
rnn_blas_core(void)
{
	return openblas_get_corename();
}

void
rnn_blas_set_threads(int n)
{
	blas_threads = n < 1 ? 1 : n;
	openblas_set_num_threads(blas_threads);
}

#define SGEMM(o, ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc) \
	cblas_sgemm((enum CBLAS_ORDER) (o), (enum CBLAS_TRANSPOSE) (ta), \
				(enum CBLAS_TRANSPOSE) (tb), M, N, K, al, A, lda, B, ldb, be, C, ldc)

#endif

int
rnn_blas_threads(void)
{
	return blas_threads;
}

void
rnn_sgemm(int trans_a, int trans_b, int M, int N, int K,
		  float alpha, const float *A, int lda,
		  const float *B, int ldb,
		  float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	if (K <= 0)
	{
		/* BLAS would still scale C by beta; keep that meaning */
		if (beta != 1.0f)
			for (int i = 0; i < M; i++)
				for (int j = 0; j < N; j++)
					C[(size_t) i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t) i * ldc + j];
		return;
	}
	SGEMM(RNN_CBLAS_ROW_MAJOR,
		  trans_a ? RNN_CBLAS_TRANS : RNN_CBLAS_NO_TRANS,
		  trans_b ? RNN_CBLAS_TRANS : RNN_CBLAS_NO_TRANS,
		  M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
