/*
 * cells.h -- one direction of one recurrent layer over a packed batch.
 *
 * Internal to the engine.  The caller (network.c) has already computed the
 * input projection for every step in one sgemm:
 *     gates (N, G*H) = X (N, I) . W_ih^T          (b_ih is added here)
 * and each cell_*_forward runs only the per-step part: h . W_hh^T and the
 * gate nonlinearities, overwriting gates in place with the activated gates,
 * which is exactly what backward needs.
 *
 * Forward direction runs t = 0 .. T-1, reverse runs t = T-1 .. 0; at step t
 * the running sequences are rows 0 .. batch_sizes[t]-1, so a sequence that
 * has ended keeps its final state in h_state, and in the reverse direction
 * a sequence starts (from h0) at its own last step.
 */
#ifndef RNN_CELLS_H
#define RNN_CELLS_H

#include "rnn.h"
#include "vmath.h"

typedef struct RnnPack
{
	int			B;				/* sequences */
	int			T;				/* steps */
	int			N;				/* packed rows = sum(lengths) */
	const int  *lengths;		/* (B) descending */
	const int  *batch_sizes;	/* (T) */
	const int  *offsets;		/* (T) first packed row of step t */
} RnnPack;

/* What forward keeps for backward; every pointer but gates may be NULL in
 * inference. */
typedef struct RnnCellCache
{
	float	   *gates;			/* (N, G*H) in: x.W_ih^T; out: activated gates */
	float	   *h_prev;			/* (N, H) state each row started from */
	float	   *c_prev;			/* (N, H) LSTM cell state each row started from */
	float	   *tanh_c;			/* (N, H) LSTM tanh(c') */
	float	   *hn;				/* (N, H) GRU W_hn h + b_hn */
} RnnCellCache;

/* Weights of one layer-direction. */
typedef struct RnnCellWeights
{
	const float *w_hh;			/* (G*H, H) */
	const float *b_ih;			/* (G*H) */
	const float *b_hh;			/* (G*H) */
	const float *w_hh_t;		/* (H, G*H) W_hh transposed, or NULL; inference
								 * uses it for one running sequence (bt == 1) */
} RnnCellWeights;

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

/*
 * scratch (bt, GH) = h (bt, H) . W_hh^T, the per-step recurrent product:
 * recur_matvec with one running sequence and the transposed copy
 * (inference), otherwise one sgemm.
 */
static inline void
cell_recur_product(float *scratch, const float *h, int bt, const RnnCellWeights *w,
				   int GH, int H)
{
	if (bt != 1 || w->w_hh_t == NULL)
		rnn_sgemm(0, 1, bt, GH, H, 1.0f, h, H, w->w_hh, H, 0.0f, scratch, GH);
	else
		recur_matvec(scratch, h, w->w_hh_t, GH, H);
}

/*
 * The cells (cell_tanh.c, cell_gru.c, cell_lstm.c) are static functions of
 * each kernels_<isa>.c, reached through the RnnKernels table (kernels.h).
 *
 * Forward: out (N rows, stride ldo) receives h at every packed row; h_state
 * (B, H) holds h0 on entry and the final state of each sequence on return
 * (c_state likewise for LSTM).  scratch is (B, G*H).
 *
 * Backward through time: dout (N rows, stride ld_dout) is the gradient of
 * the loss w.r.t. every packed output h.  Writes the gate pre-activation
 * gradients for the input side, dgi (N, G*H), and for the recurrent side,
 * dgh (N, G*H); they differ only for GRU's n gate (dgh may alias dgi for
 * tanh and LSTM).  dh_state/dc_state (B, H) are scratch, zeroed here.  The
 * caller then forms dW_ih, dW_hh, dX and the bias gradients with one sgemm
 * (or column sum) each over all N rows.
 */

#endif							/* RNN_CELLS_H */
