/*
 * model.c -- architecture, the flat parameter layout and initialisation.
 *
 * Every parameter of a model lives in one float buffer, in PyTorch
 * state_dict order, so that serialization is one memcpy, the optimizer and
 * gradient clipping are flat loops, and a PyTorch state_dict maps onto it
 * tensor by tensor.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rnn.h"

int
rnn_cell_gates(RnnCellKind cell)
{
	switch (cell)
	{
		case RNN_CELL_TANH:
			return 1;
		case RNN_CELL_GRU:
			return 3;
		case RNN_CELL_LSTM:
			return 4;
	}
	return 0;
}

int
rnn_layer_input_size(const RnnConfig *cfg, int layer)
{
	if (layer > 0)
		return cfg->hidden_size * (cfg->bidirectional ? 2 : 1);
	return cfg->vocab_size > 0 ? cfg->embedding_dim : cfg->input_size;
}

int
rnn_feature_size(const RnnConfig *cfg)
{
	return cfg->hidden_size * (cfg->bidirectional ? 2 : 1);
}

/* Largest model we accept: 2^30 floats (4 GB) keeps every size in range. */
#define RNN_MAX_PARAMS ((size_t) 1 << 30)

RnnStatus
rnn_config_validate(const RnnConfig *cfg, const char **why)
{
	const char *bad = NULL;

	if (rnn_cell_gates(cfg->cell) == 0)
		bad = "cell";
	else if (cfg->num_layers < 1 || cfg->num_layers > RNN_MAX_LAYERS)
		bad = "num_layers";
	else if (cfg->bidirectional != 0 && cfg->bidirectional != 1)
		bad = "bidirectional";
	else if (cfg->hidden_size < 1 || cfg->hidden_size > RNN_MAX_HIDDEN)
		bad = "hidden_size";
	else if (cfg->vocab_size < 0 || cfg->vocab_size > RNN_MAX_VOCAB)
		bad = "vocab_size";
	else if (cfg->vocab_size > 0 && (cfg->embedding_dim < 1 || cfg->embedding_dim > RNN_MAX_INPUT))
		bad = "embedding_dim";
	else if (cfg->vocab_size == 0 && (cfg->input_size < 1 || cfg->input_size > RNN_MAX_INPUT))
		bad = "input_size";
	else if (cfg->output_size < 1 || cfg->output_size > RNN_MAX_OUTPUT)
		bad = "output_size";
	else if (cfg->head != RNN_HEAD_REGRESSION && cfg->head != RNN_HEAD_CLASSIFIER &&
			 cfg->head != RNN_HEAD_STEPS)
		bad = "head";
	else if (cfg->head != RNN_HEAD_REGRESSION && cfg->output_size < 2)
		bad = "output_size";
	else if (cfg->pooling != RNN_POOL_LAST && cfg->pooling != RNN_POOL_MAX &&
			 cfg->pooling != RNN_POOL_MEAN)
		bad = "pooling";
	else if (cfg->head == RNN_HEAD_STEPS && cfg->pooling != RNN_POOL_LAST)
		bad = "pooling";		/* a per-step head pools nothing: one spelling */
	else if (cfg->skip_size < 0 || cfg->skip_size > RNN_MAX_INPUT ||
			 (cfg->skip_size > 0 && (cfg->head != RNN_HEAD_REGRESSION || cfg->vocab_size > 0)))
		bad = "skip_size";
	else if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))	/* also NaN */
		bad = "dropout";
	else
	{
		/* Parameter count in double first: no size_t overflow possible. */
		double		G = rnn_cell_gates(cfg->cell),
					H = cfg->hidden_size,
					dirs = cfg->bidirectional ? 2 : 1,
					total = (double) cfg->vocab_size * cfg->embedding_dim;

		for (int l = 0; l < cfg->num_layers; l++)
			total += dirs * G * H * ((double) rnn_layer_input_size(cfg, l) + H + 2);
		total += (double) cfg->output_size * (H * dirs + 1 + cfg->skip_size);
		if (total > (double) RNN_MAX_PARAMS)
			bad = "parameter count";
	}

	if (why)
		*why = bad;
	return bad ? RNN_ERR_CONFIG : RNN_OK;
}

/*
 * Walks the layout once; both counting and binding use it, so the two can
 * never disagree.  info may be NULL.
 */
static size_t
walk_layout(const RnnConfig *cfg, RnnTensorInfo *info, int max, int *count)
{
	size_t		off = 0;
	int			n = 0;
	int			G = rnn_cell_gates(cfg->cell);
	int			H = cfg->hidden_size;
	int			F = rnn_feature_size(cfg);

#define TENSOR(nm, r, c) \
	do { \
		if (info && n < max) \
		{ \
			snprintf(info[n].name, sizeof(info[n].name), "%s", nm); \
			info[n].offset = off; \
			info[n].rows = (r); \
			info[n].cols = (c); \
		} \
		n++; \
		off += (size_t) (r) * (size_t) (c); \
	} while (0)

	if (cfg->vocab_size > 0)
		TENSOR("embedding.weight", cfg->vocab_size, cfg->embedding_dim);
	for (int l = 0; l < cfg->num_layers; l++)
		for (int d = 0; d < (cfg->bidirectional ? 2 : 1); d++)
		{
			char		name[48];
			const char *sfx = d ? "_reverse" : "";
			int			I = rnn_layer_input_size(cfg, l);

			snprintf(name, sizeof(name), "rnn.weight_ih_l%d%s", l, sfx);
			TENSOR(name, G * H, I);
			snprintf(name, sizeof(name), "rnn.weight_hh_l%d%s", l, sfx);
			TENSOR(name, G * H, H);
			snprintf(name, sizeof(name), "rnn.bias_ih_l%d%s", l, sfx);
			TENSOR(name, G * H, 1);
			snprintf(name, sizeof(name), "rnn.bias_hh_l%d%s", l, sfx);
			TENSOR(name, G * H, 1);
		}
	TENSOR("head.weight", cfg->output_size, F);
	TENSOR("head.bias", cfg->output_size, 1);
	if (cfg->skip_size > 0)
		TENSOR("skip.weight", cfg->output_size, cfg->skip_size);
#undef TENSOR

	if (count)
		*count = n;
	return off;
}

size_t
rnn_param_count(const RnnConfig *cfg)
{
	return walk_layout(cfg, NULL, 0, NULL);
}

int
rnn_param_tensors(const RnnConfig *cfg, RnnTensorInfo *info, int max)
{
	int			n;

	walk_layout(cfg, info, max, &n);
	return n;
}

void
rnn_params_bind(RnnParams *p, const RnnConfig *cfg, float *base)
{
	RnnTensorInfo info[4 * 2 * RNN_MAX_LAYERS + 4];
	int			n = rnn_param_tensors(cfg, info, (int) (sizeof(info) / sizeof(info[0])));
	int			k = 0;

	memset(p, 0, sizeof(*p));
	if (cfg->vocab_size > 0)
		p->embedding = base + info[k++].offset;
	for (int l = 0; l < cfg->num_layers; l++)
		for (int d = 0; d < (cfg->bidirectional ? 2 : 1); d++)
		{
			p->w_ih[l][d] = base + info[k++].offset;
			p->w_hh[l][d] = base + info[k++].offset;
			p->b_ih[l][d] = base + info[k++].offset;
			p->b_hh[l][d] = base + info[k++].offset;
		}
	p->head_w = base + info[k++].offset;
	p->head_b = base + info[k++].offset;
	if (cfg->skip_size > 0)
		p->skip_w = base + info[k++].offset;
	(void) n;
}

RnnStatus
rnn_model_create(RnnModel **out, const RnnConfig *cfg)
{
	RnnModel   *m;
	RnnStatus	st = rnn_config_validate(cfg, NULL);

	*out = NULL;
	if (st != RNN_OK)
		return st;
	m = rnn_alloc(sizeof(RnnModel));
	if (m == NULL)
		return RNN_ERR_NOMEM;
	m->cfg = *cfg;
	m->n_params = rnn_param_count(cfg);
	m->params = rnn_alloc(m->n_params * sizeof(float));
	if (m->params == NULL)
	{
		rnn_free(m);
		return RNN_ERR_NOMEM;
	}
	rnn_params_bind(&m->p, cfg, m->params);
	*out = m;
	return RNN_OK;
}

void
rnn_model_free(RnnModel *model)
{
	if (model == NULL)
		return;
	rnn_free(model->params);
	rnn_free(model);
}

static void
fill_uniform(float *w, size_t n, float bound, RnnRng *rng)
{
	for (size_t i = 0; i < n; i++)
		w[i] = (2.0f * rnn_rng_uniform(rng) - 1.0f) * bound;
}

void
rnn_model_init(RnnModel *model, uint64_t seed)
{
	const RnnConfig *cfg = &model->cfg;
	RnnParams  *p = &model->p;
	RnnRng		rng;
	int			G = rnn_cell_gates(cfg->cell);
	int			H = cfg->hidden_size;
	int			F = rnn_feature_size(cfg);
	float		k = 1.0f / sqrtf((float) H);

	rnn_rng_seed(&rng, seed);
	if (p->embedding)
		for (size_t i = 0; i < (size_t) cfg->vocab_size * cfg->embedding_dim; i++)
			p->embedding[i] = rnn_rng_normal(&rng);
	for (int l = 0; l < cfg->num_layers; l++)
		for (int d = 0; d < (cfg->bidirectional ? 2 : 1); d++)
		{
			size_t		I = (size_t) rnn_layer_input_size(cfg, l);

			fill_uniform(p->w_ih[l][d], (size_t) G * H * I, k, &rng);
			fill_uniform(p->w_hh[l][d], (size_t) G * H * H, k, &rng);
			fill_uniform(p->b_ih[l][d], (size_t) G * H, k, &rng);
			fill_uniform(p->b_hh[l][d], (size_t) G * H, k, &rng);
			if (cfg->cell == RNN_CELL_LSTM)
				for (int j = 0; j < H; j++)
				{
					/* forget gate (block 1): remember by default */
					p->b_ih[l][d][H + j] = 1.0f;
					p->b_hh[l][d][H + j] = 0.0f;
				}
		}
	fill_uniform(p->head_w, (size_t) cfg->output_size * F, 1.0f / sqrtf((float) F), &rng);
	fill_uniform(p->head_b, (size_t) cfg->output_size, 1.0f / sqrtf((float) F), &rng);
	/* The skip path starts at zero: the model begins as "no change". */
	if (p->skip_w)
		memset(p->skip_w, 0, sizeof(float) * (size_t) cfg->output_size * cfg->skip_size);
}

int
rnn_pack_layout(const int *lengths, int B, int *batch_sizes, int *offsets)
{
	int			T,
				N = 0;

	if (B < 1 || lengths[0] < 1)
		return -1;
	T = lengths[0];
	for (int b = 1; b < B; b++)
		if (lengths[b] < 1 || lengths[b] > lengths[b - 1])
			return -1;
	for (int t = 0, b = B; t < T; t++)
	{
		while (b > 0 && lengths[b - 1] <= t)
			b--;
		batch_sizes[t] = b;
		offsets[t] = N;
		N += b;
	}
	return N;
}
