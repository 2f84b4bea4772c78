/*
 * network.h -- the trainer's insides, shared by network.c (forward and
 * backward), loss.c, optim.c and infer.c.  Not part of the public API.
 */
#ifndef RNN_NETWORK_H
#define RNN_NETWORK_H

#include "kernels.h"

struct RnnTrainer
{
	RnnModel   *model;
	RnnConfig	cfg;
	int			max_B;
	int			max_T;
	int			has_grads;		/* 0: inference only, no caches for backward */

	/* optimizer state: grads, adam_m, adam_v are one allocation */
	float	   *grads;			/* (n_params) */
	float	   *adam_m;			/* (n_params) */
	float	   *adam_v;			/* (n_params) */
	RnnParams	dp;				/* views into grads */
	RnnOptimConfig opt;
	long		step;			/* Adam steps taken */
	RnnRng		rng;			/* dropout masks */

	/* the last forward's batch; its x/tokens/skip must outlive backward */
	RnnBatch	batch;
	int		   *lengths;		/* (max_B) */
	int		   *batch_sizes;	/* (max_T) */
	int		   *offsets;		/* (max_T) */
	RnnPack		pk;
	int			last_training;	/* last forward kept caches and masks */
	const float *init_h;		/* (L*dirs, B, H) initial states, or NULL = 0 */
	const float *init_c;		/* (L*dirs, B, H) LSTM, or NULL = 0 */

	/* activations, sized for max_B * max_T packed rows */
	float	   *emb_out;		/* (N, E) embedded tokens */
	float	   *layer_out[RNN_MAX_LAYERS];	/* (N, F); ping-pong in inference */
	float	   *drop_mask[RNN_MAX_LAYERS];	/* (N, F) for layers 0..L-2 */
	RnnCellCache cache[RNN_MAX_LAYERS][2];
	float	   *h_n;			/* (L*dirs, B, H) */
	float	   *c_n;			/* (L*dirs, B, H) LSTM only */
	float	   *scratch;		/* (B, G*H) per-step h . W_hh^T */
	float	   *pooled;			/* (B, F) features fed to the head */
	int		   *pool_arg;		/* (B, F) max pooling: winning step */
	float	   *pool_mask;		/* (B, F) dropout on pooled features */
	float	   *outputs;		/* (B, O) */
	float	   *d_outputs;		/* (B, O) */

	/* backward scratch */
	float	   *dgi;			/* (N, G*H) */
	float	   *dgh;			/* (N, G*H) GRU only, else == dgi */
	float	   *d_a;			/* (N, max(F, E)) */
	float	   *d_b;			/* (N, max(F, E)) */
	float	   *dh_state;		/* (B, H) */
	float	   *dc_state;		/* (B, H) */
	float	   *d_pooled;		/* (B, F) */

	void	   *arena;			/* one allocation behind every buffer above */

	/*
	 * W_hh transposed per layer-direction, for the per-step products
	 * (recur_product.c): in training in the arena, refreshed by every
	 * forward; in inference made by rnn_infer_prepare (prep), else NULL.
	 */
	float	   *w_hh_t[RNN_MAX_LAYERS][2];	/* (H, GH) or NULL */
	float	   *w_ih_t[2];		/* (I, GH) layer 0 when I <= RNN_SMALL_INPUT, else NULL */

	/*
	 * Inference only (rnn_infer_prepare; NULL otherwise, and never in
	 * training): the first layer's input projection folded per token,
	 * fold row id = embedding[id] . W_ih^T for each direction ((V, dirs*GH),
	 * filled lazily: fold_ready[id] says whether row id is computed).
	 */
	float	   *fold;			/* (V, dirs * GH) or NULL */
	unsigned char *fold_ready;	/* (V) */
	void	   *prep;			/* one allocation behind w_hh_t (inference) */
};

RnnStatus	rnn_trainer_create_mode(RnnTrainer **out, RnnModel *model,
									int max_batch, int max_steps,
									const RnnOptimConfig *opt, uint64_t seed,
									int with_grads);

#endif							/* RNN_NETWORK_H */
