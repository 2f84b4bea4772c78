/*
 * recur_product.c -- the per-step recurrent products of the cells: forward
 * scratch (bt, GH) = h (bt, H) . W_hh^T (H, GH), backward dh (bt, H) (+)=
 * dG (bt, GH) . W_hh (GH, H), bt the sequences still running at the step.
 * One running sequence (scoring one text) is a matrix-vector product
 * (recur_matvec); a batch is a small GEMM (gemm_small).
 *
 * gemm_small: C (M, N) = A (M, K) . B (K, N) (+ C), all row-major.
 * Why not sgemm: these products are small (LSTM-64: 64 x 256 x 64, ~1
 * MFLOP) and run once per step, and OpenBLAS packs both operands on every
 * call, the same W_hh 96 times a sequence (its copy routines took 10% of an
 * LSTM-64 training step).  Here B is read in place: W_hh^T is transposed
 * once per forward (network.c), W_hh is used as it is.
 *
 * Register blocking for the ISA this is compiled for (kernels.h): a tile of
 * MR rows x NV vectors of C stays in registers while k runs; each step
 * loads NV vectors of B's row k and broadcasts MR values of A's column k:
 *   AVX-512  6 x 4 zmm = 24 accumulators + 4 B vectors of 32 registers
 *   AVX2     6 x 2 ymm = 12 accumulators + 2 B + 1 broadcast of 16
 *   generic  4 x 2 xmm =  8 accumulators + 2 B + broadcast and temporary
 * Rows left over use tiles of fewer rows, columns left over tiles of one
 * vector, the last N mod VW columns a scalar loop.  Each C element is a
 * sum over k in order.
 *
 * Not a translation unit of its own: kernels_impl.h includes it once per
 * code path (kernels.h), so these functions are static there.
 */
#include <string.h>

#include "kernels.h"

/*
 * out (GH) = h (H) . W_hh^T, one running sequence, from the transposed copy
 * w_hh_t (H, GH): a matrix-vector product.  A block of NV vectors of VW
 * output columns is held in registers while the rows of W_hh^T stream
 * through in address order, so the weights are read once per step with no
 * horizontal sums and no BLAS call overhead (W_hh of a GRU of 128 is
 * 192 KB: the loop is bound by L2 bandwidth).  The blocking fits the
 * register file of the ISA this is compiled for (kernels.h):
 *   AVX-512  24 zmm accumulators of 16 floats (of 32 registers), 384 columns
 *   AVX2     12 ymm accumulators of 8 (of 16: the broadcast h[k] and the
 *            FMA's memory operand need no more), 96 columns
 *   generic  12 xmm accumulators of 4 (SSE2: mul + add, one temporary)
 * 24 zmm-sized accumulators on AVX2 would be 48 ymm registers: spilled to
 * the stack on every FMA, 3x slower than this (issue 16).  Columns left
 * over after the full blocks go in blocks of 16, 8, 4, 2, 1 vectors, each
 * with its accumulators in registers; the last GH mod VW columns are scalar.
 */
#if defined(__AVX512F__)
#define RECUR_VW 16
#define RECUR_NV 24
#elif defined(__AVX__)
#define RECUR_VW 8
#define RECUR_NV 12
#else
#define RECUR_VW 4
#define RECUR_NV 12
#endif

typedef float recur_vec __attribute__((vector_size(RECUR_VW * sizeof(float))));

/* columns c0 .. c0 + nv*VW - 1; nv is a constant where this is inlined */
static inline __attribute__((always_inline)) void
recur_block(float *out, const float *h, const float *w_hh_t, int GH, int H,
			int c0, const int nv)
{
	recur_vec	acc[RECUR_NV];

	for (int v = 0; v < nv; v++)
		acc[v] = (recur_vec) {0};
	for (int k = 0; k < H; k++)
	{
		const float *row = w_hh_t + (size_t) k * GH + c0;
		float		hk = h[k];

#pragma GCC unroll 24
		for (int v = 0; v < nv; v++)
		{
			recur_vec	x;

			memcpy(&x, row + v * RECUR_VW, sizeof(x));
			acc[v] += hk * x;
		}
	}
	for (int v = 0; v < nv; v++)
		memcpy(out + c0 + v * RECUR_VW, &acc[v], sizeof(recur_vec));
}

static inline void
recur_matvec(float *out, const float *h, const float *w_hh_t, int GH, int H)
{
	int			nvec = GH / RECUR_VW;
	int			c0 = 0;

	for (; nvec >= RECUR_NV; nvec -= RECUR_NV, c0 += RECUR_NV * RECUR_VW)
		recur_block(out, h, w_hh_t, GH, H, c0, RECUR_NV);
#if RECUR_NV > 16
	for (; nvec >= 16; nvec -= 16, c0 += 16 * RECUR_VW)
		recur_block(out, h, w_hh_t, GH, H, c0, 16);
#endif
	for (; nvec >= 8; nvec -= 8, c0 += 8 * RECUR_VW)
		recur_block(out, h, w_hh_t, GH, H, c0, 8);
	for (; nvec >= 4; nvec -= 4, c0 += 4 * RECUR_VW)
		recur_block(out, h, w_hh_t, GH, H, c0, 4);
	for (; nvec >= 2; nvec -= 2, c0 += 2 * RECUR_VW)
		recur_block(out, h, w_hh_t, GH, H, c0, 2);
	for (; nvec >= 1; nvec -= 1, c0 += RECUR_VW)
		recur_block(out, h, w_hh_t, GH, H, c0, 1);
	if (c0 < GH)
	{
		for (int c = c0; c < GH; c++)
			out[c] = 0.0f;
		for (int k = 0; k < H; k++)
		{
			const float *row = w_hh_t + (size_t) k * GH;

			for (int c = c0; c < GH; c++)
				out[c] += h[k] * row[c];
		}
	}
}


#if defined(__AVX512F__)
#define GEMM_VW 16
#define GEMM_MR 6
#define GEMM_NV 4
#elif defined(__AVX__)
#define GEMM_VW 8
#define GEMM_MR 6
#define GEMM_NV 2
#else
#define GEMM_VW 4
#define GEMM_MR 4
#define GEMM_NV 2
#endif

typedef float gemm_vec __attribute__((vector_size(GEMM_VW * sizeof(float))));

/* the mr x nv*VW tile of C at (C, A, B), mr and nv constants where inlined */
static inline __attribute__((always_inline)) void
gemm_tile(float *C, int ldc, const float *A, int lda, const float *B, int ldb,
		  int K, int accumulate, const int mr, const int nv)
{
	gemm_vec	acc[GEMM_MR][GEMM_NV];

#pragma GCC unroll 8
	for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			acc[r][v] = (gemm_vec) {0};
	for (int k = 0; k < K; k++)
	{
		gemm_vec	b[GEMM_NV];

#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			memcpy(&b[v], B + (size_t) k * ldb + v * GEMM_VW, sizeof(gemm_vec));
#pragma GCC unroll 8
		for (int r = 0; r < mr; r++)
		{
			float		a = A[(size_t) r * lda + k];

#pragma GCC unroll 4
			for (int v = 0; v < nv; v++)
				acc[r][v] += a * b[v];
		}
	}
#pragma GCC unroll 8
	for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
		{
			float	   *c = C + (size_t) r * ldc + v * GEMM_VW;

			if (accumulate)
			{
				gemm_vec	old;

				memcpy(&old, c, sizeof(old));
				acc[r][v] += old;
			}
			memcpy(c, &acc[r][v], sizeof(gemm_vec));
		}
}

/* rows i0 .. M-1 of one column block of nv vectors */
static inline __attribute__((always_inline)) void
gemm_column_block(float *C, int ldc, const float *A, int lda, const float *B, int ldb,
				  int M, int K, int accumulate, const int nv)
{
	int			i = 0;

	for (; i + GEMM_MR <= M; i += GEMM_MR)
		gemm_tile(C + (size_t) i * ldc, ldc, A + (size_t) i * lda, lda, B, ldb,
				  K, accumulate, GEMM_MR, nv);
	switch (M - i)
	{
#if GEMM_MR > 5
		case 5:
			gemm_tile(C + (size_t) i * ldc, ldc, A + (size_t) i * lda, lda, B, ldb, K, accumulate, 5, nv);
			break;
		case 4:
			gemm_tile(C + (size_t) i * ldc, ldc, A + (size_t) i * lda, lda, B, ldb, K, accumulate, 4, nv);
			break;
#endif
		case 3:
			gemm_tile(C + (size_t) i * ldc, ldc, A + (size_t) i * lda, lda, B, ldb, K, accumulate, 3, nv);
			break;
		case 2:
			gemm_tile(C + (size_t) i * ldc, ldc, A + (size_t) i * lda, lda, B, ldb, K, accumulate, 2, nv);
			break;
		case 1:
			gemm_tile(C + (size_t) i * ldc, ldc, A + (size_t) i * lda, lda, B, ldb, K, accumulate, 1, nv);
			break;
		default:
			break;
	}
}

static void
gemm_small(float *C, int ldc, const float *A, int lda, const float *B, int ldb,
		   int M, int N, int K, int accumulate)
{
	int			j = 0;

	for (; j + GEMM_NV * GEMM_VW <= N; j += GEMM_NV * GEMM_VW)
		gemm_column_block(C + j, ldc, A, lda, B + j, ldb, M, K, accumulate, GEMM_NV);
	for (; j + GEMM_VW <= N; j += GEMM_VW)
		gemm_column_block(C + j, ldc, A, lda, B + j, ldb, M, K, accumulate, 1);
	for (int i = 0; j < N && i < M; i++)
		for (int c = j; c < N; c++)
		{
			float		s = 0.0f;

			for (int k = 0; k < K; k++)
				s += A[(size_t) i * lda + k] * B[(size_t) k * ldb + c];
			C[(size_t) i * ldc + c] = accumulate ? C[(size_t) i * ldc + c] + s : s;
		}
}

/*
 * gemm_small or sgemm: with one BLAS thread and K <= 512 (hidden sizes up
 * to 128 backward, 512 forward), where the operands of a step fit L2 and
 * packing costs more than it saves; OpenBLAS otherwise (big hidden sizes,
 * and threads, which gemm_small does not use).
 */
static inline int
gemm_small_fits(int K)
{
	return K <= 512 && rnn_blas_threads() == 1;
}

/*
 * scratch (bt, GH) = h (bt, H) . W_hh^T: recur_matvec for one running
 * sequence, gemm_small for a batch, both from the transposed copy; one
 * sgemm when there is none.
 */
static inline void
cell_recur_product(float *scratch, const float *h, int bt, const RnnCellWeights *w,
				   int GH, int H)
{
	if (w->w_hh_t != NULL && bt == 1)
		recur_matvec(scratch, h, w->w_hh_t, GH, H);
	else if (w->w_hh_t != NULL && gemm_small_fits(H))
		gemm_small(scratch, GH, h, H, w->w_hh_t, GH, bt, GH, H, 0);
	else
		rnn_sgemm(0, 1, bt, GH, H, 1.0f, h, H, w->w_hh, H, 0.0f, scratch, GH);
}

/* dh (bt, H) = dg (bt, GH) . W_hh (GH, H), or += when accumulate */
static inline void
cell_recur_backprop(float *dh, const float *dg, int bt, const RnnCellWeights *w,
					int GH, int H, int accumulate)
{
	if (gemm_small_fits(GH))
		gemm_small(dh, H, dg, GH, w->w_hh, H, bt, H, GH, accumulate);
	else
		rnn_sgemm(0, 0, bt, H, GH, 1.0f, dg, GH, w->w_hh, H,
				  accumulate ? 1.0f : 0.0f, dh, H);
}
