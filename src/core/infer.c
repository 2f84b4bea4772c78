/*
 * infer.c -- scoring without training buffers: no gradients, no Adam
 * moments, no per-step caches; layers reuse two output buffers and one gate
 * buffer, so an RnnInfer for a model is a fraction of its trainer's size.
 *
 * rnn_infer_prepare makes one text at a time cheap (rnn.sentiment scores
 * rows one by one): W_hh transposed, for the matrix-vector product of
 * cell_recur_product (cells.h), and the first layer folded per token,
 * fold[id] = embedding[id] . W_ih^T for each direction, computed the first
 * time id is seen (network.c, recurrent_forward), so the input projection
 * of a step is a row copy and a short query pays only for its own tokens.
 * Profile of a bidirectional GRU 128 over MR sentences (perf, one backend):
 * before, 48% in OpenBLAS's small-matrix sgemm for h . W_hh^T and 28% in
 * the per-text input-projection sgemm; after, ~63% in the matrix-vector
 * product, which streams 192 KB of W_hh per step and direction from L2
 * (about 36 bytes per cycle: it is bound by L2 bandwidth and zmm FMA rate
 * together), 17% in the gate nonlinearities, 9% copying folded rows.
 */
#include <string.h>

#include "network.h"

struct RnnInfer
{
	RnnTrainer *tr;
};

RnnStatus
rnn_infer_create(RnnInfer **out, const RnnModel *model, int max_batch, int max_steps)
{
	RnnInfer   *inf;
	RnnStatus	st;

	*out = NULL;
	inf = rnn_alloc(sizeof(RnnInfer));
	if (inf == NULL)
		return RNN_ERR_NOMEM;
	/* the trainer only reads the model's parameters in forward */
	st = rnn_trainer_create_mode(&inf->tr, (RnnModel *) model, max_batch, max_steps,
								 NULL, 0, 0);
	if (st != RNN_OK)
	{
		rnn_free(inf);
		return st;
	}
	*out = inf;
	return RNN_OK;
}

void
rnn_infer_free(RnnInfer *inf)
{
	if (inf == NULL)
		return;
	rnn_trainer_free(inf->tr);
	rnn_free(inf);
}

RnnStatus
rnn_infer(RnnInfer *inf, const RnnBatch *batch, float *outputs)
{
	const float *out;
	RnnStatus	st = rnn_forward(inf->tr, batch, 0, &out);

	if (st == RNN_OK)
	{
		size_t		rows = inf->tr->cfg.head == RNN_HEAD_STEPS ? (size_t) inf->tr->pk.N
			: (size_t) batch->B;

		memcpy(outputs, out, sizeof(float) * rows * inf->tr->cfg.output_size);
	}
	return st;
}

RnnStatus
rnn_infer_prepare(RnnInfer *inf, size_t max_fold_bytes, int *folded)
{
	RnnTrainer *tr = inf->tr;
	const RnnConfig *cfg = &tr->cfg;
	const RnnParams *p = &tr->model->p;
	int			dirs = cfg->bidirectional ? 2 : 1;
	int			H = cfg->hidden_size;
	int			GH = rnn_cell_gates(cfg->cell) * H;
	size_t		per = (size_t) GH * H;
	float	   *wt;

	if (folded)
		*folded = tr->fold != NULL;
	if (tr->prep != NULL)
		return RNN_OK;			/* already prepared */

	/* W_hh^T (H, GH) for every layer-direction */
	wt = rnn_alloc(sizeof(float) * per * cfg->num_layers * dirs);
	if (wt == NULL)
		return RNN_ERR_NOMEM;
	for (int l = 0; l < cfg->num_layers; l++)
		for (int d = 0; d < dirs; d++)
		{
			float	   *dst = wt + per * (size_t) (l * dirs + d);
			const float *src = p->w_hh[l][d];	/* (GH, H) */

			for (int g = 0; g < GH; g++)
				for (int k = 0; k < H; k++)
					dst[(size_t) k * GH + g] = src[(size_t) g * H + k];
			tr->w_hh_t[l][d] = dst;
		}
	tr->prep = wt;

	/* the folded first layer, rows computed on first use */
	if (cfg->vocab_size > 0)
	{
		double		bytes = (double) cfg->vocab_size * dirs * GH * sizeof(float);

		if (bytes <= (double) max_fold_bytes)
		{
			tr->fold = rnn_alloc((size_t) bytes);
			tr->fold_ready = rnn_alloc((size_t) cfg->vocab_size);
			if (tr->fold == NULL || tr->fold_ready == NULL)
			{
				/* not fatal: score unfolded */
				rnn_free(tr->fold);
				rnn_free(tr->fold_ready);
				tr->fold = NULL;
				tr->fold_ready = NULL;
			}
		}
	}
	if (folded)
		*folded = tr->fold != NULL;
	return RNN_OK;
}

void
rnn_infer_set_state(RnnInfer *inf, const float *h0, const float *c0)
{
	inf->tr->init_h = h0;
	inf->tr->init_c = c0;
}

const float *
rnn_infer_h_n(RnnInfer *inf)
{
	return inf->tr->h_n;
}

const float *
rnn_infer_c_n(RnnInfer *inf)
{
	return inf->tr->c_n;
}

void
rnn_head_forward(const RnnModel *model, const float *features, int B, float *outputs)
{
	const RnnConfig *cfg = &model->cfg;
	int			F = rnn_feature_size(cfg);
	int			O = cfg->output_size;

	for (int b = 0; b < B; b++)
		memcpy(outputs + (size_t) b * O, model->p.head_b, sizeof(float) * O);
	rnn_sgemm(0, 1, B, O, F, 1.0f, features, F, model->p.head_w, F, 1.0f, outputs, O);
}
