/*
 * infer.c -- scoring without training buffers: no gradients, no Adam
 * moments, no per-step caches; layers reuse two output buffers and one gate
 * buffer, so an RnnInfer for a model is a fraction of its trainer's size.
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
		memcpy(outputs, out, sizeof(float) * (size_t) batch->B * inf->tr->cfg.output_size);
	return st;
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
