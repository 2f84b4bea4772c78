/*
 * optim.c -- global gradient-norm clipping and Adam, as flat loops over the
 * one gradient buffer (torch.nn.utils.clip_grad_norm_ + torch.optim.Adam);
 * the loops themselves are kernels (optim_loops.c).
 */
#include <math.h>

#include "network.h"

RnnStatus
rnn_optim_step(RnnTrainer *tr, double *grad_norm)
{
	const RnnOptimConfig *o = &tr->opt;
	size_t		skip = o->frozen_prefix < tr->model->n_params ? o->frozen_prefix : tr->model->n_params;
	size_t		tail = o->frozen_suffix < tr->model->n_params - skip ? o->frozen_suffix :
		tr->model->n_params - skip;
	size_t		n = tr->model->n_params - skip - tail;
	float	   *w = tr->model->params + skip;
	float	   *g = tr->grads + skip;
	float	   *m = tr->adam_m + skip;
	float	   *v = tr->adam_v + skip;
	double		sq = 0.0;
	float		clip = 1.0f;
	float		bc1,
				bc2,
				step_size;

	if (!tr->has_grads)
		return RNN_ERR_INPUT;
	sq = rnn_kernels()->sum_squares(g, n);
	if (grad_norm)
		*grad_norm = sqrt(sq);
	if (!isfinite(sq))
		return RNN_ERR_NONFINITE;	/* exploding: leave the weights as they are */

	/* clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1 */
	if (o->clip_norm > 0.0f)
	{
		double		coef = o->clip_norm / (sqrt(sq) + 1e-6);

		if (coef < 1.0)
			clip = (float) coef;
	}

	tr->step++;
	bc1 = 1.0f - powf(o->beta1, (float) tr->step);
	bc2 = 1.0f - powf(o->beta2, (float) tr->step);
	step_size = o->learning_rate / bc1;
	{
		RnnAdamStep as = {o->beta1, o->beta2, o->weight_decay, clip, step_size,
		sqrtf(bc2), o->eps};

		rnn_kernels()->adam_update(w, m, v, g, n, &as);
	}
	return RNN_OK;
}
