/*
 * cells.h -- one direction of one recurrent layer over a packed batch.
 *
 * Internal to the engine.  The caller (network.c) has already computed the
 * input projection for every step in one sgemm:
 *     gates (N, G*H) = X (N, I) . W_ih^T          (b_ih is added here)
 * (for a narrow input the cell forms it: RnnCellWeights.w_ih_t)
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
	const float *w_hh_t;		/* (H, G*H) W_hh transposed, or NULL (then the
								 * per-step products are sgemm calls) */
	/*
	 * A narrow input (I <= RNN_SMALL_INPUT, kernels.h): W_ih transposed and
	 * the layer input, and the cell forms x . W_ih^T of each row as it goes
	 * (cell_input_gates, input_small.c) instead of reading it from gates.
	 * NULL: gates holds it.
	 */
	const float *w_ih_t;		/* (I, G*H) or NULL */
	const float *x;				/* (N, I) packed layer input */
	int			I;
} RnnCellWeights;

/*
 * The per-step recurrent products, in recur_product.c (a kernel source):
 *   cell_recur_product   scratch (bt, GH) = h (bt, H) . W_hh^T
 *   cell_recur_backprop  dh (bt, H) (+)= dG (bt, GH) . W_hh
 */

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
