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
 * scratch (bt, GH) = h (bt, H) . W_hh^T, the per-step recurrent product.
 * With one running sequence and the transposed copy this is a matrix-vector
 * product: up to 384 output columns are held in 24 accumulators of 16
 * floats (zmm registers with AVX-512; pairs of ymm otherwise) while the
 * rows of W_hh^T stream through sequentially, so the weights are read once
 * per step in address order (the loop is bound by L2 bandwidth: W_hh of a
 * GRU of 128 is 192 KB), with no horizontal sums and no BLAS call overhead.
 * Otherwise one sgemm.
 */
typedef float v16f __attribute__((vector_size(64)));

static inline void
cell_recur_product(float *scratch, const float *h, int bt, const RnnCellWeights *w,
				   int GH, int H)
{
	enum
	{
		VW = 16,
		NV = 24
	};
	int			full = GH / VW * VW;

	if (bt != 1 || w->w_hh_t == NULL)
	{
		rnn_sgemm(0, 1, bt, GH, H, 1.0f, h, H, w->w_hh, H, 0.0f, scratch, GH);
		return;
	}
	for (int c0 = 0; c0 < full; c0 += NV * VW)
	{
		int			nv = (full - c0) / VW;
		v16f		acc[NV];

		if (nv > NV)
			nv = NV;
		for (int v = 0; v < NV; v++)
			acc[v] = (v16f) {0};
		if (nv == NV)
		{
			for (int k = 0; k < H; k++)
			{
				const float *row = w->w_hh_t + (size_t) k * GH + c0;
				float		hk = h[k];

#pragma GCC unroll 24
				for (int v = 0; v < NV; v++)
				{
					v16f		x;

					memcpy(&x, row + v * VW, sizeof(x));
					acc[v] += hk * x;
				}
			}
		}
		else
		{
			for (int k = 0; k < H; k++)
			{
				const float *row = w->w_hh_t + (size_t) k * GH + c0;
				float		hk = h[k];

				for (int v = 0; v < nv; v++)
				{
					v16f		x;

					memcpy(&x, row + v * VW, sizeof(x));
					acc[v] += hk * x;
				}
			}
		}
		for (int v = 0; v < nv; v++)
			memcpy(scratch + c0 + v * VW, &acc[v], sizeof(v16f));
	}
	if (full < GH)
	{
		for (int c = full; c < GH; c++)
			scratch[c] = 0.0f;
		for (int k = 0; k < H; k++)
		{
			const float *row = w->w_hh_t + (size_t) k * GH;

			for (int c = full; c < GH; c++)
				scratch[c] += h[k] * row[c];
		}
	}
}

/*
 * out (N rows, stride ldo) receives h at every packed row; h_state (B, H)
 * holds h0 on entry and the final state of each sequence on return (c_state
 * likewise for LSTM).  scratch is (B, G*H).
 */
void		cell_tanh_forward(float *out, int ldo, float *h_state, float *scratch,
							  RnnCellCache *cache, const RnnCellWeights *w,
							  const RnnPack *pk, int H, int reverse);
void		cell_gru_forward(float *out, int ldo, float *h_state, float *scratch,
							 RnnCellCache *cache, const RnnCellWeights *w,
							 const RnnPack *pk, int H, int reverse);
void		cell_lstm_forward(float *out, int ldo, float *h_state, float *c_state,
							  float *scratch, RnnCellCache *cache,
							  const RnnCellWeights *w, const RnnPack *pk,
							  int H, int reverse);

/*
 * Backward through time.  dout (N rows, stride ld_dout) is the gradient of
 * the loss w.r.t. every packed output h.  Writes the gate pre-activation
 * gradients for the input side, dgi (N, G*H), and for the recurrent side,
 * dgh (N, G*H); they differ only for GRU's n gate (dgh may alias dgi for
 * tanh and LSTM).  dh_state/dc_state (B, H) are scratch, zeroed here.  The
 * caller then forms dW_ih, dW_hh, dX and the bias gradients with one sgemm
 * (or column sum) each over all N rows.
 */
void		cell_tanh_backward(float *dgi, float *dh_state,
							   const float *dout, int ld_dout,
							   const RnnCellCache *cache, const RnnCellWeights *w,
							   const RnnPack *pk, int H, int reverse);
void		cell_gru_backward(float *dgi, float *dgh, float *dh_state,
							  const float *dout, int ld_dout,
							  const RnnCellCache *cache, const RnnCellWeights *w,
							  const RnnPack *pk, int H, int reverse);
void		cell_lstm_backward(float *dgi, float *dh_state, float *dc_state,
							   const float *dout, int ld_dout,
							   const RnnCellCache *cache, const RnnCellWeights *w,
							   const RnnPack *pk, int H, int reverse);

#endif							/* RNN_CELLS_H */
