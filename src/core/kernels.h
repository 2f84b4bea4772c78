/*
 * kernels.h -- the engine's hot loops, compiled once per x86-64 level and
 * chosen at run time.  Internal to the engine.
 *
 * What is hot (perf, one backend or one training thread): the per-step part
 * of each recurrent cell (h . W_hh^T as a matrix-vector product when one
 * sequence runs, as a small GEMM for a batch, the gate nonlinearities, their derivatives in BPTT) and
 * Adam's pass over every parameter.  Those loops live in cell_tanh.c,
 * cell_gru.c, cell_lstm.c and optim_loops.c, which are not compiled on their
 * own: each of kernels_generic.c, kernels_avx2.c and kernels_avx512.c
 * includes them (through kernels_impl.h) under a target pragma, as
 * PostgreSQL's like.c includes like_match.c, and exports one RnnKernels
 * table.  kernels.c picks the table once, from the CPU (cpuid), the
 * environment variable RNN_ISA or rnn_isa_set(); every call site goes
 * through rnn_kernels(), one indirect call per layer-direction and batch.
 *
 * So a portable package (OPTFLAGS=) runs the same vector code as a
 * -march=native build, and a path no machine here has natively is still
 * run by the tests (forced with RNN_ISA).  The code inside a kernel
 * specializes on the ISA macros the pragma defines (__AVX512F__, __AVX2__),
 * e.g. the register blocking of cell_recur_product (cells.h).
 */
#ifndef RNN_KERNELS_H
#define RNN_KERNELS_H

#include "cells.h"

/* Adam's per-step scalars (optim.c computes them, adam_update applies them) */
typedef struct RnnAdamStep
{
	float		beta1;
	float		beta2;
	float		weight_decay;
	float		clip;			/* gradient scale from norm clipping (1: none) */
	float		step_size;		/* lr / (1 - beta1^t) */
	float		sqrt_bc2;		/* sqrt(1 - beta2^t) */
	float		eps;
} RnnAdamStep;

/* inputs this narrow skip the all-steps sgemm calls on the input side
 * (input_small.c) */
#define RNN_SMALL_INPUT 8

typedef struct RnnKernels
{
	RnnIsa		isa;

	/* cells.h documents the arguments */
	void		(*tanh_forward) (float *out, int ldo, float *h_state, float *scratch,
								 RnnCellCache *cache, const RnnCellWeights *w,
								 const RnnPack *pk, int H, int reverse);
	void		(*gru_forward) (float *out, int ldo, float *h_state, float *scratch,
								RnnCellCache *cache, const RnnCellWeights *w,
								const RnnPack *pk, int H, int reverse);
	void		(*lstm_forward) (float *out, int ldo, float *h_state, float *c_state,
								 float *scratch, RnnCellCache *cache,
								 const RnnCellWeights *w, const RnnPack *pk,
								 int H, int reverse);
	void		(*tanh_backward) (float *dgi, float *dh_state,
								  const float *dout, int ld_dout,
								  const RnnCellCache *cache, const RnnCellWeights *w,
								  const RnnPack *pk, int H, int reverse);
	void		(*gru_backward) (float *dgi, float *dgh, float *dh_state,
								 const float *dout, int ld_dout,
								 const RnnCellCache *cache, const RnnCellWeights *w,
								 const RnnPack *pk, int H, int reverse);
	void		(*lstm_backward) (float *dgi, float *dh_state, float *dc_state,
								  const float *dout, int ld_dout,
								  const RnnCellCache *cache, const RnnCellWeights *w,
								  const RnnPack *pk, int H, int reverse);

	/* out (GH) = h (H) . W_hh^T from w_hh_t (H, GH): one running sequence */
	void		(*recur_matvec) (float *out, const float *h, const float *w_hh_t,
								 int GH, int H);

	/* C (M, N) = A (M, K) . B (K, N), or += when accumulate; row-major */
	void		(*gemm_small) (float *C, int ldc, const float *A, int lda,
							   const float *B, int ldb, int M, int N, int K,
							   int accumulate);

	/* db (GH) += column sums of dg (N, GH), db2 too unless NULL, and unless
	 * x is NULL dw_ih (GH, I) += dg^T x (N, I), I <= RNN_SMALL_INPUT */
	void		(*bias_input_grads) (float *db, float *db2, float *dw_ih, const float *dg,
									 const float *x, size_t N, int GH, int I);

	/* sig[i] = sigmoid(x[i]), th[i] = tanh(x[i]) as the cells compute them
	 * (vmath.h), for the tests */
	void		(*sigmoid_tanh) (float *sig, float *th, const float *x, size_t n);

	/* sum of g[i]^2 over n floats, in double */
	double		(*sum_squares) (const float *g, size_t n);

	/* one Adam step over n parameters (torch.optim.Adam) */
	void		(*adam_update) (float *w, float *m, float *v, const float *g,
								size_t n, const RnnAdamStep *s);
} RnnKernels;

/* the table in use (chosen at first call unless rnn_isa_set ran) */
const RnnKernels *rnn_kernels(void);

/* one table per path; a path not built for this compiler/architecture has
 * a table whose isa is RNN_ISA_GENERIC and whose entries are generic */
extern const RnnKernels rnn_kernels_generic;
extern const RnnKernels rnn_kernels_avx2;
extern const RnnKernels rnn_kernels_avx512;

#endif							/* RNN_KERNELS_H */
