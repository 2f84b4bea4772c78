/*
 * optim_loops.c -- the flat loops of clipping and Adam (optim.c), over every
 * parameter of a model: with a 20,000-word embedding, 3 million floats a
 * step, 14% of a biGRU-128 training step.
 *
 * Not a translation unit of its own: kernels_impl.h includes it once per
 * code path (kernels.h), so these functions are static there.
 */
#include <math.h>

#include "kernels.h"

typedef double v8d __attribute__((vector_size(64)));

/*
 * sum of g[i]^2 in double, 32 lanes at a time in four independent sums: one
 * chain of double adds waits on its own latency every 8 floats (13% of a
 * biGRU-128 training step on AVX2, where a v8d is two ymm halves)
 */
static double
sum_squares(const float *g, size_t n)
{
	v8d			acc[4] = {{0}, {0}, {0}, {0}};
	double		sq = 0.0;
	size_t		i = 0;

	for (; i + 4 * RNN_VW <= n; i += 4 * RNN_VW)
		for (int a = 0; a < 4; a++)
		{
			v8d			x = __builtin_convertvector(v8_load(g + i + a * RNN_VW, RNN_VW), v8d);

			acc[a] += x * x;
		}
	for (; i + RNN_VW <= n; i += RNN_VW)
	{
		v8d			x = __builtin_convertvector(v8_load(g + i, RNN_VW), v8d);

		acc[0] += x * x;
	}
	acc[0] += acc[1] + acc[2] + acc[3];
	for (int k = 0; k < RNN_VW; k++)
		sq += acc[0][k];
	for (; i < n; i++)
		sq += (double) g[i] * g[i];
	return sq;
}

/*
 * torch.optim.Adam, 8 lanes at a time:
 *   g = clip * g + wd * w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
static void
adam_update(float *w, float *m, float *v, const float *g, size_t n,
			const RnnAdamStep *s)
{
	const v8f	vb1 = v8_set1(s->beta1),
				vb2 = v8_set1(s->beta2),
				vb1c = v8_set1(1.0f - s->beta1),
				vb2c = v8_set1(1.0f - s->beta2),
				vwd = v8_set1(s->weight_decay),
				vclip = v8_set1(s->clip),
				vstep = v8_set1(s->step_size),
				vsbc2 = v8_set1(s->sqrt_bc2),
				veps = v8_set1(s->eps);

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
