/*
 * network.c -- the model's forward and backward passes over a packed batch:
 * embedding -> stacked (bi)directional recurrent layers with dropout between
 * them -> pooling over time -> dense head (+ linear skip path).
 *
 * Reading order is math order: rnn_forward is the list of layer calls, and
 * rnn_backward walks the same list in reverse.  Each recurrent layer does
 * its input projection for all steps as one sgemm, and in backward forms
 * dW_ih, dW_hh and dX as one sgemm each over all packed rows; only
 * h . W_hh^T (forward) and dgates . W_hh (backward) run per step.
 *
 * All buffers come from one arena allocated when the trainer is created;
 * nothing is allocated per batch or per step.
 */
#include <float.h>
#include <string.h>

#include "network.h"

/* ---------------------------------------------------------------------------
 * Arena layout: one function computes sizes (base == NULL) and assigns
 * pointers (base != NULL), so the two can never disagree.
 */
#define ARENA_ALIGN 64

static void *
take(char *base, size_t *off, size_t bytes)
{
	void	   *p = base ? base + *off : NULL;

	*off += (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
	return p;
}

#define TAKE_F(n) ((float *) take(base, &off, sizeof(float) * (size_t) (n)))
#define TAKE_I(n) ((int *) take(base, &off, sizeof(int) * (size_t) (n)))

static size_t
layout(RnnTrainer *tr, const RnnConfig *cfg, int B, int T, int with_grads, char *base)
{
	size_t		off = 0;
	size_t		N = (size_t) B * T;
	int			L = cfg->num_layers;
	int			dirs = cfg->bidirectional ? 2 : 1;
	int			H = cfg->hidden_size;
	int			GH = rnn_cell_gates(cfg->cell) * H;
	int			F = rnn_feature_size(cfg);
	int			E = cfg->vocab_size > 0 ? cfg->embedding_dim : 0;
	int			O = cfg->output_size;
	int			DW = F > E ? F : E;
	RnnTrainer	dummy;

	if (tr == NULL)
		tr = &dummy;

	tr->lengths = TAKE_I(B);
	tr->batch_sizes = TAKE_I(T);
	tr->offsets = TAKE_I(T);
	tr->emb_out = E ? TAKE_F(N * E) : NULL;
	tr->h_n = TAKE_F((size_t) L * dirs * B * H);
	tr->c_n = cfg->cell == RNN_CELL_LSTM ? TAKE_F((size_t) L * dirs * B * H) : NULL;
	tr->scratch = TAKE_F((size_t) B * GH);
	tr->pooled = TAKE_F((size_t) B * F);
	tr->pool_arg = TAKE_I((size_t) B * F);
	if (cfg->head == RNN_HEAD_STEPS)
	{
		/* (N, O) logits: the loss overwrites them with their gradient */
		tr->outputs = TAKE_F(N * O);
		tr->d_outputs = tr->outputs;
	}
	else
	{
		tr->outputs = TAKE_F((size_t) B * O);
		tr->d_outputs = TAKE_F((size_t) B * O);
	}
	/* a narrow first-layer input: W_ih^T per direction, refreshed by every
	 * forward, for the cells to form x . W_ih^T in the step (input_small.c) */
	for (int d = 0; d < 2; d++)
		tr->w_ih_t[d] = d < dirs && rnn_layer_input_size(cfg, 0) <= RNN_SMALL_INPUT ?
			TAKE_F((size_t) rnn_layer_input_size(cfg, 0) * GH) : NULL;

	if (with_grads)
	{
		for (int l = 0; l < L; l++)
		{
			tr->layer_out[l] = TAKE_F(N * F);
			/* between layers, and before a per-step head */
			tr->drop_mask[l] = (l < L - 1 || cfg->head == RNN_HEAD_STEPS) && cfg->dropout > 0
				? TAKE_F(N * F) : NULL;
			for (int d = 0; d < dirs; d++)
			{
				RnnCellCache *c = &tr->cache[l][d];

				c->gates = TAKE_F(N * GH);
				c->h_prev = TAKE_F(N * H);
				c->c_prev = cfg->cell == RNN_CELL_LSTM ? TAKE_F(N * H) : NULL;
				c->tanh_c = cfg->cell == RNN_CELL_LSTM ? TAKE_F(N * H) : NULL;
				c->hn = cfg->cell == RNN_CELL_GRU ? TAKE_F(N * H) : NULL;
				/* refreshed by every forward (recurrent_forward) */
				tr->w_hh_t[l][d] = TAKE_F((size_t) GH * H);
			}
		}
		tr->pool_mask = cfg->dropout > 0 ? TAKE_F((size_t) B * F) : NULL;
		tr->dgi = TAKE_F(N * GH);
		tr->dgh = cfg->cell == RNN_CELL_GRU ? TAKE_F(N * GH) : tr->dgi;
		tr->d_a = TAKE_F(N * DW);
		tr->d_b = TAKE_F(N * DW);
		tr->dh_state = TAKE_F((size_t) B * H);
		tr->dc_state = TAKE_F((size_t) B * H);
		tr->d_pooled = TAKE_F((size_t) B * F);
	}
	else
	{
		/* inference: layers ping-pong two outputs and share one gate buffer */
		float	   *out[2],
				   *gates;

		out[0] = TAKE_F(N * F);
		out[1] = L > 1 ? TAKE_F(N * F) : out[0];
		gates = TAKE_F(N * GH);
		for (int l = 0; l < L; l++)
		{
			tr->layer_out[l] = out[l % 2];
			tr->drop_mask[l] = NULL;
			for (int d = 0; d < dirs; d++)
			{
				memset(&tr->cache[l][d], 0, sizeof(RnnCellCache));
				tr->cache[l][d].gates = gates;
			}
		}
		tr->pool_mask = NULL;
		tr->dgi = tr->dgh = tr->d_a = tr->d_b = NULL;
		tr->dh_state = tr->dc_state = tr->d_pooled = NULL;
	}
	return off;
}

#undef TAKE_F
#undef TAKE_I

static int
shape_ok(const RnnConfig *cfg, int max_batch, int max_steps)
{
	/* keep max_batch * max_steps * widest row far inside size_t and int */
	double		rows = (double) max_batch * max_steps;
	double		widest = (double) rnn_cell_gates(cfg->cell) * cfg->hidden_size +
		rnn_feature_size(cfg) + cfg->embedding_dim +
		(cfg->head == RNN_HEAD_STEPS ? cfg->output_size : 0);

	return max_batch >= 1 && max_steps >= 1 && rows <= 1e9 && rows * widest <= 4e11;
}

size_t
rnn_trainer_memory(const RnnConfig *cfg, int max_batch, int max_steps)
{
	if (rnn_config_validate(cfg, NULL) != RNN_OK || !shape_ok(cfg, max_batch, max_steps))
		return SIZE_MAX;
	return layout(NULL, cfg, max_batch, max_steps, 1, NULL) +
		3 * sizeof(float) * rnn_param_count(cfg) + sizeof(RnnTrainer);
}

void
rnn_optim_defaults(RnnOptimConfig *opt)
{
	opt->learning_rate = 1e-3f;
	opt->beta1 = 0.9f;
	opt->beta2 = 0.999f;
	opt->eps = 1e-8f;
	opt->weight_decay = 0.0f;
	opt->clip_norm = 1.0f;
	opt->frozen_prefix = 0;
	opt->frozen_suffix = 0;
}

RnnStatus
rnn_trainer_create_mode(RnnTrainer **out, RnnModel *model,
						int max_batch, int max_steps,
						const RnnOptimConfig *opt, uint64_t seed, int with_grads)
{
	const RnnConfig *cfg = &model->cfg;
	RnnTrainer *tr;
	size_t		bytes;

	*out = NULL;
	if (rnn_config_validate(cfg, NULL) != RNN_OK || !shape_ok(cfg, max_batch, max_steps))
		return RNN_ERR_CONFIG;
	tr = rnn_alloc(sizeof(RnnTrainer));
	if (tr == NULL)
		return RNN_ERR_NOMEM;
	tr->model = model;
	tr->cfg = *cfg;
	tr->max_B = max_batch;
	tr->max_T = max_steps;
	tr->has_grads = with_grads;
	rnn_rng_seed(&tr->rng, seed);
	if (opt)
		tr->opt = *opt;
	else
		rnn_optim_defaults(&tr->opt);

	bytes = layout(NULL, cfg, max_batch, max_steps, with_grads, NULL);
	tr->arena = rnn_alloc(bytes);
	if (tr->arena == NULL)
	{
		rnn_free(tr);
		return RNN_ERR_NOMEM;
	}
	layout(tr, cfg, max_batch, max_steps, with_grads, tr->arena);

	if (with_grads)
	{
		tr->grads = rnn_alloc(3 * sizeof(float) * model->n_params);
		if (tr->grads == NULL)
		{
			rnn_free(tr->arena);
			rnn_free(tr);
			return RNN_ERR_NOMEM;
		}
		tr->adam_m = tr->grads + model->n_params;
		tr->adam_v = tr->adam_m + model->n_params;
		rnn_params_bind(&tr->dp, cfg, tr->grads);
	}
	*out = tr;
	return RNN_OK;
}

RnnStatus
rnn_trainer_create(RnnTrainer **out, RnnModel *model, int max_batch, int max_steps,
				   const RnnOptimConfig *opt, uint64_t seed)
{
	return rnn_trainer_create_mode(out, model, max_batch, max_steps, opt, seed, 1);
}

void
rnn_trainer_free(RnnTrainer *tr)
{
	if (tr == NULL)
		return;
	rnn_free(tr->grads);
	rnn_free(tr->fold);
	rnn_free(tr->fold_ready);
	rnn_free(tr->prep);
	rnn_free(tr->arena);
	rnn_free(tr);
}

float *
rnn_trainer_grads(RnnTrainer *tr)
{
	return tr->grads;
}

RnnModel *
rnn_trainer_model(RnnTrainer *tr)
{
	return tr->model;
}

const float *
rnn_trainer_top_output(RnnTrainer *tr)
{
	return tr->layer_out[tr->cfg.num_layers - 1];
}

void
rnn_trainer_set_state(RnnTrainer *tr, const float *h0, const float *c0)
{
	tr->init_h = h0;
	tr->init_c = c0;
}

const float *
rnn_trainer_h_n(RnnTrainer *tr)
{
	return tr->h_n;
}

const float *
rnn_trainer_c_n(RnnTrainer *tr)
{
	return tr->c_n;
}

void
rnn_zero_grad(RnnTrainer *tr)
{
	if (tr->grads)
		memset(tr->grads, 0, sizeof(float) * tr->model->n_params);
}

/* ---------------------------------------------------------------------------
 * Small pieces
 */

/* dst (cols) += column sums of m (rows, cols) (bias_input_grads, input_small.c) */
static void
add_colsum(float *dst, const float *m, size_t rows, int cols)
{
	rnn_kernels()->bias_input_grads(dst, NULL, NULL, m, NULL, rows, cols, 0);
}

/* Inverted dropout: keep with probability 1-p and scale by 1/(1-p). */
static void
dropout_forward(float *x, float *mask, size_t n, float p, RnnRng *rng)
{
	float		scale = 1.0f / (1.0f - p);

	for (size_t i = 0; i < n; i++)
	{
		mask[i] = rnn_rng_uniform(rng) >= p ? scale : 0.0f;
		x[i] *= mask[i];
	}
}

static void
mul_inplace(float *x, const float *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] *= mask[i];
}

/* dst (cols, rows) = src (rows, cols)^T */
static void
transpose(float *dst, const float *src, int rows, int cols)
{
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++)
			dst[(size_t) c * rows + r] = src[(size_t) r * cols + c];
}

static RnnCellWeights
cell_weights(const RnnTrainer *tr, int l, int d)
{
	const RnnParams *p = &tr->model->p;
	RnnCellWeights w = {.w_hh = p->w_hh[l][d], .b_ih = p->b_ih[l][d],
	.b_hh = p->b_hh[l][d], .w_hh_t = tr->w_hh_t[l][d]};

	return w;
}

/* ---------------------------------------------------------------------------
 * Embedding: out (N, E) = table[tokens]
 */
static RnnStatus
embedding_forward(float *out, const int32_t *tokens, const float *table,
				  size_t N, int V, int E)
{
	for (size_t r = 0; r < N; r++)
	{
		int32_t		id = tokens[r];

		if (id < 0 || id >= V)
			return RNN_ERR_INPUT;
		memcpy(out + r * E, table + (size_t) id * E, sizeof(float) * E);
	}
	return RNN_OK;
}

static void
embedding_backward(float *dtable, const float *dout, const int32_t *tokens,
				   size_t N, int E)
{
	for (size_t r = 0; r < N; r++)
	{
		float	   *dst = dtable + (size_t) tokens[r] * E;
		const float *src = dout + r * E;

		for (int e = 0; e < E; e++)
			dst[e] += src[e];
	}
}

/* ---------------------------------------------------------------------------
 * One recurrent layer-direction
 */
static void
recurrent_forward(RnnTrainer *tr, int l, int d, const float *in, int I)
{
	const RnnConfig *cfg = &tr->cfg;
	const RnnParams *p = &tr->model->p;
	const RnnPack *pk = &tr->pk;
	int			H = cfg->hidden_size;
	int			GH = rnn_cell_gates(cfg->cell) * H;
	int			F = rnn_feature_size(cfg);
	size_t		state = (size_t) (l * (cfg->bidirectional ? 2 : 1) + d) * pk->B * H;
	float	   *h = tr->h_n + state;
	float	   *out = tr->layer_out[l] + d * H;
	RnnCellCache *cache = &tr->cache[l][d];
	RnnCellWeights w;

	/* training: W_hh^T (H, GH) of the current weights, for the per-step
	 * products (recur_product.c); 64 KB for LSTM-64, once a forward */
	if (tr->has_grads)
		transpose(tr->w_hh_t[l][d], p->w_hh[l][d], GH, H);
	w = cell_weights(tr, l, d);

	if (l == 0 && tr->fold != NULL && !tr->has_grads)
	{
		/* gates (N, GH) = rows of the folded table: embedding . W_ih^T */
		const int32_t *tokens = tr->batch.tokens;
		int			dirs = cfg->bidirectional ? 2 : 1;
		int			E = cfg->embedding_dim;
		size_t		ld = (size_t) dirs * GH;

		for (int r = 0; r < pk->N; r++)
		{
			int32_t		id = tokens[r];	/* range checked in rnn_forward */
			float	   *row = tr->fold + (size_t) id * ld;

			if (!tr->fold_ready[id])
			{
				for (int dd = 0; dd < dirs; dd++)
					rnn_sgemm(0, 1, 1, GH, E, 1.0f, p->embedding + (size_t) id * E, E,
							  p->w_ih[0][dd], E, 0.0f, row + (size_t) dd * GH, GH);
				tr->fold_ready[id] = 1;
			}
			memcpy(cache->gates + (size_t) r * GH, row + (size_t) d * GH, sizeof(float) * GH);
		}
	}
	else if (l == 0 && tr->w_ih_t[d] != NULL)
	{
		/* the cells form x . W_ih^T row by row (input_small.c) */
		transpose(tr->w_ih_t[d], p->w_ih[0][d], GH, I);
		w.w_ih_t = tr->w_ih_t[d];
		w.x = in;
		w.I = I;
	}
	else
	{
		/* gates (N, GH) = in (N, I) . W_ih^T: every step at once */
		rnn_sgemm(0, 1, pk->N, GH, I, 1.0f, in, I, p->w_ih[l][d], I, 0.0f, cache->gates, GH);
	}

	if (tr->init_h)
		memcpy(h, tr->init_h + state, sizeof(float) * (size_t) pk->B * H);
	else
		memset(h, 0, sizeof(float) * (size_t) pk->B * H);	/* h0 = 0 */
	switch (cfg->cell)
	{
		case RNN_CELL_TANH:
			rnn_kernels()->tanh_forward(out, F, h, tr->scratch, cache, &w, pk, H, d);
			break;
		case RNN_CELL_GRU:
			rnn_kernels()->gru_forward(out, F, h, tr->scratch, cache, &w, pk, H, d);
			break;
		case RNN_CELL_LSTM:
			{
				float	   *c = tr->c_n + state;

				if (tr->init_c)
					memcpy(c, tr->init_c + state, sizeof(float) * (size_t) pk->B * H);
				else
					memset(c, 0, sizeof(float) * (size_t) pk->B * H);
				rnn_kernels()->lstm_forward(out, F, h, c, tr->scratch, cache, &w, pk, H, d);
				break;
			}
	}
}

/*
 * dy (N, F) is d(loss)/d(layer output); accumulates the layer-direction's
 * parameter gradients and, when dx != NULL, writes (d == 0) or adds
 * (d == 1) d(loss)/d(input) into dx (N, I).
 */
static void
recurrent_backward(RnnTrainer *tr, int l, int d, const float *dy,
				   const float *in, int I, float *dx)
{
	const RnnConfig *cfg = &tr->cfg;
	const RnnParams *p = &tr->model->p;
	RnnParams  *dp = &tr->dp;
	const RnnPack *pk = &tr->pk;
	int			H = cfg->hidden_size;
	int			GH = rnn_cell_gates(cfg->cell) * H;
	int			F = rnn_feature_size(cfg);
	const RnnCellCache *cache = &tr->cache[l][d];
	RnnCellWeights w = cell_weights(tr, l, d);

	switch (cfg->cell)
	{
		case RNN_CELL_TANH:
			rnn_kernels()->tanh_backward(tr->dgi, tr->dh_state, dy + d * H, F, cache, &w, pk, H, d);
			break;
		case RNN_CELL_GRU:
			rnn_kernels()->gru_backward(tr->dgi, tr->dgh, tr->dh_state, dy + d * H, F, cache, &w, pk, H, d);
			break;
		case RNN_CELL_LSTM:
			rnn_kernels()->lstm_backward(tr->dgi, tr->dh_state, tr->dc_state, dy + d * H, F, cache, &w, pk, H, d);
			break;
	}

	/* dW_ih (GH, I) += dgi^T (GH, N) . in (N, I); narrow inputs: with db_ih */
	if (I > RNN_SMALL_INPUT)
		rnn_sgemm(1, 0, GH, I, pk->N, 1.0f, tr->dgi, GH, in, I, 1.0f, dp->w_ih[l][d], I);
	/* dW_hh (GH, H) += dgh^T (GH, N) . h_prev (N, H) */
	rnn_sgemm(1, 0, GH, H, pk->N, 1.0f, tr->dgh, GH, cache->h_prev, H, 1.0f, dp->w_hh[l][d], H);
	/* db_ih, db_hh: column sums of dgi, dgh (the same for tanh and LSTM) */
	rnn_kernels()->bias_input_grads(dp->b_ih[l][d], tr->dgh == tr->dgi ? dp->b_hh[l][d] : NULL,
									dp->w_ih[l][d], tr->dgi,
									I <= RNN_SMALL_INPUT ? in : NULL, (size_t) pk->N, GH, I);
	if (tr->dgh != tr->dgi)
		add_colsum(dp->b_hh[l][d], tr->dgh, (size_t) pk->N, GH);
	/* dx (N, I) (+)= dgi (N, GH) . W_ih (GH, I) */
	if (dx)
		rnn_sgemm(0, 0, pk->N, I, GH, 1.0f, tr->dgi, GH, p->w_ih[l][d], I,
				  d == 0 ? 0.0f : 1.0f, dx, I);
}

/* ---------------------------------------------------------------------------
 * Pooling over time: top layer (N, F) -> features (B, F)
 */
static void
pool_forward(RnnTrainer *tr)
{
	const RnnConfig *cfg = &tr->cfg;
	const RnnPack *pk = &tr->pk;
	int			H = cfg->hidden_size;
	int			F = rnn_feature_size(cfg);
	int			dirs = cfg->bidirectional ? 2 : 1;
	int			top = cfg->num_layers - 1;
	const float *y = tr->layer_out[top];

	for (int b = 0; b < pk->B; b++)
	{
		float	   *f = tr->pooled + (size_t) b * F;
		int			len = pk->lengths[b];

		switch (cfg->pooling)
		{
			case RNN_POOL_LAST:
				/* forward: state after the last valid step; reverse: after step 0 */
				for (int d = 0; d < dirs; d++)
					memcpy(f + d * H, tr->h_n + ((size_t) (top * dirs + d) * pk->B + b) * H,
						   sizeof(float) * H);
				break;
			case RNN_POOL_MAX:
				if (!tr->has_grads)
				{
					/* inference: no winning steps to keep, so a plain max */
					memcpy(f, y + (size_t) b * F, sizeof(float) * F);	/* step 0 */
					for (int t = 1; t < len; t++)
					{
						const float *row = y + ((size_t) pk->offsets[t] + b) * F;

						for (int j = 0; j < F; j++)
							f[j] = row[j] > f[j] ? row[j] : f[j];
					}
					break;
				}
				{
					int		   *arg = tr->pool_arg + (size_t) b * F;

					for (int j = 0; j < F; j++)
					{
						f[j] = -FLT_MAX;
						arg[j] = 0;
					}
					for (int t = 0; t < len; t++)
					{
						const float *row = y + ((size_t) pk->offsets[t] + b) * F;

						for (int j = 0; j < F; j++)
							if (row[j] > f[j])
							{
								f[j] = row[j];
								arg[j] = t;
							}
					}
					break;
				}
			case RNN_POOL_MEAN:
				memset(f, 0, sizeof(float) * F);
				for (int t = 0; t < len; t++)
				{
					const float *row = y + ((size_t) pk->offsets[t] + b) * F;

					for (int j = 0; j < F; j++)
						f[j] += row[j];
				}
				for (int j = 0; j < F; j++)
					f[j] /= (float) len;
				break;
		}
	}
}

/* d_pooled (B, F) -> dy (N, F), which is zeroed first */
static void
pool_backward(RnnTrainer *tr, float *dy)
{
	const RnnConfig *cfg = &tr->cfg;
	const RnnPack *pk = &tr->pk;
	int			H = cfg->hidden_size;
	int			F = rnn_feature_size(cfg);

	memset(dy, 0, sizeof(float) * (size_t) pk->N * F);
	for (int b = 0; b < pk->B; b++)
	{
		const float *g = tr->d_pooled + (size_t) b * F;
		int			len = pk->lengths[b];

		switch (cfg->pooling)
		{
			case RNN_POOL_LAST:
				{
					float	   *last = dy + ((size_t) pk->offsets[len - 1] + b) * F;
					float	   *first = dy + (size_t) b * F;	/* step 0 */

					for (int j = 0; j < H; j++)
						last[j] += g[j];
					if (cfg->bidirectional)
						for (int j = H; j < 2 * H; j++)
							first[j] += g[j];
					break;
				}
			case RNN_POOL_MAX:
				{
					const int  *arg = tr->pool_arg + (size_t) b * F;

					for (int j = 0; j < F; j++)
						dy[((size_t) pk->offsets[arg[j]] + b) * F + j] += g[j];
					break;
				}
			case RNN_POOL_MEAN:
				for (int t = 0; t < len; t++)
				{
					float	   *row = dy + ((size_t) pk->offsets[t] + b) * F;

					for (int j = 0; j < F; j++)
						row[j] += g[j] / (float) len;
				}
				break;
		}
	}
}

/* ---------------------------------------------------------------------------
 * The model
 */
RnnStatus
rnn_forward(RnnTrainer *tr, const RnnBatch *batch, int training, const float **outputs)
{
	const RnnConfig *cfg = &tr->cfg;
	const RnnParams *p = &tr->model->p;
	int			L = cfg->num_layers;
	int			F = rnn_feature_size(cfg);
	int			O = cfg->output_size;
	int			B = batch->B;
	int			N;
	const float *in;
	int			I;

	tr->last_training = 0;
	if (training && !tr->has_grads)
		return RNN_ERR_INPUT;
	if (B < 1 || B > tr->max_B || batch->lengths == NULL ||
		batch->lengths[0] < 1 || batch->lengths[0] > tr->max_T)
		return RNN_ERR_INPUT;
	memcpy(tr->lengths, batch->lengths, sizeof(int) * B);
	N = rnn_pack_layout(tr->lengths, B, tr->batch_sizes, tr->offsets);
	if (N < 0)
		return RNN_ERR_INPUT;
	if (cfg->vocab_size > 0 ? batch->tokens == NULL : batch->x == NULL)
		return RNN_ERR_INPUT;
	if (cfg->skip_size > 0 && batch->skip == NULL)
		return RNN_ERR_INPUT;

	tr->batch = *batch;
	tr->batch.T = tr->lengths[0];
	tr->batch.lengths = tr->lengths;
	tr->pk.B = B;
	tr->pk.T = tr->lengths[0];
	tr->pk.N = N;
	tr->pk.lengths = tr->lengths;
	tr->pk.batch_sizes = tr->batch_sizes;
	tr->pk.offsets = tr->offsets;

	/* embedding */
	if (cfg->vocab_size > 0)
	{
		RnnStatus	st;

		if (tr->fold != NULL && !training)
		{
			/* layer 0 reads the folded table; only check the ids */
			st = RNN_OK;
			for (int r = 0; r < N; r++)
				if (batch->tokens[r] < 0 || batch->tokens[r] >= cfg->vocab_size)
					st = RNN_ERR_INPUT;
		}
		else
			st = embedding_forward(tr->emb_out, batch->tokens, p->embedding,
								   (size_t) N, cfg->vocab_size, cfg->embedding_dim);

		if (st != RNN_OK)
			return st;
		in = tr->emb_out;
		I = cfg->embedding_dim;
	}
	else
	{
		in = batch->x;
		I = cfg->input_size;
	}

	/* recurrent layers, dropout between them */
	for (int l = 0; l < L; l++)
	{
		for (int d = 0; d < (cfg->bidirectional ? 2 : 1); d++)
			recurrent_forward(tr, l, d, in, I);
		if (training && tr->drop_mask[l])
			dropout_forward(tr->layer_out[l], tr->drop_mask[l], (size_t) N * F,
							cfg->dropout, &tr->rng);
		in = tr->layer_out[l];
		I = F;
	}

	if (cfg->head == RNN_HEAD_STEPS)
	{
		/* outputs (N, O) = top (N, F) . W^T + b: every step (dropout applied above) */
		for (int r = 0; r < N; r++)
			memcpy(tr->outputs + (size_t) r * O, p->head_b, sizeof(float) * O);
		rnn_sgemm(0, 1, N, O, F, 1.0f, tr->layer_out[L - 1], F, p->head_w, F, 1.0f,
				  tr->outputs, O);
		tr->last_training = training;
		if (outputs)
			*outputs = tr->outputs;
		return RNN_OK;
	}

	/* pooling over time, dropout before the head */
	pool_forward(tr);
	if (training && tr->pool_mask)
		dropout_forward(tr->pooled, tr->pool_mask, (size_t) B * F, cfg->dropout, &tr->rng);

	/* head: outputs (B, O) = pooled (B, F) . W^T + b  [+ skip (B, K) . W_skip^T] */
	for (int b = 0; b < B; b++)
		memcpy(tr->outputs + (size_t) b * O, p->head_b, sizeof(float) * O);
	rnn_sgemm(0, 1, B, O, F, 1.0f, tr->pooled, F, p->head_w, F, 1.0f, tr->outputs, O);
	if (cfg->skip_size > 0)
		rnn_sgemm(0, 1, B, O, cfg->skip_size, 1.0f, batch->skip, cfg->skip_size,
				  p->skip_w, cfg->skip_size, 1.0f, tr->outputs, O);

	tr->last_training = training;
	if (outputs)
		*outputs = tr->outputs;
	return RNN_OK;
}

/* Pooled heads: d_outputs (B, O) -> head and skip gradients -> dy (N, F). */
static void
head_backward(RnnTrainer *tr, float *dy)
{
	const RnnConfig *cfg = &tr->cfg;
	const RnnParams *p = &tr->model->p;
	RnnParams  *dp = &tr->dp;
	int			F = rnn_feature_size(cfg);
	int			O = cfg->output_size;
	int			B = tr->pk.B;

	/* head */
	rnn_sgemm(1, 0, O, F, B, 1.0f, tr->d_outputs, O, tr->pooled, F, 1.0f, dp->head_w, F);
	add_colsum(dp->head_b, tr->d_outputs, (size_t) B, O);
	if (cfg->skip_size > 0)
		rnn_sgemm(1, 0, O, cfg->skip_size, B, 1.0f, tr->d_outputs, O,
				  tr->batch.skip, cfg->skip_size, 1.0f, dp->skip_w, cfg->skip_size);
	rnn_sgemm(0, 0, B, F, O, 1.0f, tr->d_outputs, O, p->head_w, F, 0.0f, tr->d_pooled, F);

	/* dropout before the head, pooling */
	if (tr->pool_mask)
		mul_inplace(tr->d_pooled, tr->pool_mask, (size_t) B * F);
	pool_backward(tr, dy);
}

RnnStatus
rnn_backward(RnnTrainer *tr)
{
	const RnnConfig *cfg = &tr->cfg;
	const RnnParams *p = &tr->model->p;
	RnnParams  *dp = &tr->dp;
	const RnnBatch *batch = &tr->batch;
	int			L = cfg->num_layers;
	int			F = rnn_feature_size(cfg);
	int			O = cfg->output_size;
	size_t		N = (size_t) tr->pk.N;
	float	   *dy = tr->d_a,
			   *dx = tr->d_b;

	if (!tr->last_training)
		return RNN_ERR_INPUT;

	if (cfg->head == RNN_HEAD_STEPS)
	{
		/* per-step head: dW (O, F) += dout^T (O, N) . top (N, F); dy (N, F) = dout . W */
		const float *top = tr->layer_out[L - 1];

		rnn_sgemm(1, 0, O, F, (int) N, 1.0f, tr->d_outputs, O, top, F, 1.0f, dp->head_w, F);
		add_colsum(dp->head_b, tr->d_outputs, N, O);
		rnn_sgemm(0, 0, (int) N, F, O, 1.0f, tr->d_outputs, O, p->head_w, F, 0.0f, dy, F);
		if (tr->drop_mask[L - 1])
			mul_inplace(dy, tr->drop_mask[L - 1], N * F);
	}
	else
		head_backward(tr, dy);

	/* recurrent layers, top to bottom */
	for (int l = L - 1; l >= 0; l--)
	{
		const float *in;
		int			I;
		int			need_dx = l > 0 || cfg->vocab_size > 0;
		float	   *tmp;

		if (l > 0)
		{
			in = tr->layer_out[l - 1];
			I = F;
		}
		else if (cfg->vocab_size > 0)
		{
			in = tr->emb_out;
			I = cfg->embedding_dim;
		}
		else
		{
			in = batch->x;
			I = cfg->input_size;
		}

		for (int d = 0; d < (cfg->bidirectional ? 2 : 1); d++)
			recurrent_backward(tr, l, d, dy, in, I, need_dx ? dx : NULL);
		if (l > 0 && tr->drop_mask[l - 1])
			mul_inplace(dx, tr->drop_mask[l - 1], N * F);

		tmp = dy;
		dy = dx;
		dx = tmp;
	}

	/* embedding: dy now holds d(loss)/d(embedded tokens) */
	if (cfg->vocab_size > 0)
		embedding_backward(dp->embedding, dy, batch->tokens, N, cfg->embedding_dim);
	return RNN_OK;
}
