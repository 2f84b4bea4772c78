/*
 * optim.c -- global gradient-norm clipping and Adam, as flat loops over the
 * one gradient buffer (torch.nn.utils.clip_grad_norm_ + torch.optim.Adam).
 */
#include <math.h>

#include "network.h"

typedef double v8d __attribute__((vector_size(64)));

/* sum of g[i]^2 in double, 8 lanes at a time */
static double
sum_squares(const float *g, size_t n)
{
	v8d			acc = {0, 0, 0, 0, 0, 0, 0, 0};
	double		sq = 0.0;
	size_t		i = 0;

	for (; i + RNN_VW <= n; i += RNN_VW)
	{
		v8d			x = __builtin_convertvector(v8_load(g + i, RNN_VW), v8d);

		acc += x * x;
	}
	for (int k = 0; k < RNN_VW; k++)
		sq += acc[k];
	for (; i < n; i++)
		sq += (double) g[i] * g[i];
	return sq;
}

RnnStatus
rnn_optim_step(RnnTrainer *tr, double *grad_norm)
{
	const RnnOptimConfig *o = &tr->opt;
	size_t		n = tr->model->n_params;
	float	   *w = tr->model->params;
	float	   *g = tr->grads;
	float	   *m = tr->adam_m;
	float	   *v = tr->adam_v;
	double		sq = 0.0;
	float		clip = 1.0f;
	float		bc1,
				bc2,
				step_size;

	if (!tr->has_grads)
		return RNN_ERR_INPUT;
	sq = sum_squares(g, n);
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
		/* torch: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), 8 lanes at a time */
		const float b1 = o->beta1,
					b2 = o->beta2,
					wd = o->weight_decay;
		const v8f	vb1 = v8_set1(b1),
					vb2 = v8_set1(b2),
					vb1c = v8_set1(1.0f - b1),
					vb2c = v8_set1(1.0f - b2),
					vwd = v8_set1(wd),
					vclip = v8_set1(clip),
					vstep = v8_set1(step_size),
					vsbc2 = v8_set1(sqrtf(bc2)),
					veps = v8_set1(o->eps);

		for (size_t i = 0; i < n; i += RNN_VW)
		{
			int			k = n - i < RNN_VW ? (int) (n - i) : RNN_VW;
			v8f			wi = v8_load(w + i, k);
			v8f			gi = v8_load(g + i, k) * vclip + vwd * wi;
			v8f			mi = vb1 * v8_load(m + i, k) + vb1c * gi;
			v8f			vi = vb2 * v8_load(v + i, k) + vb2c * gi * gi;
			v8f			sv;

			for (int l = 0; l < RNN_VW; l++)
				sv[l] = sqrtf(vi[l]);
			wi -= vstep * mi / (sv / vsbc2 + veps);
			v8_store(m + i, mi, k);
			v8_store(v + i, vi, k);
			v8_store(w + i, wi, k);
		}
	}
	return RNN_OK;
}
