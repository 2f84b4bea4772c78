/*
 * loss.c -- losses on the last forward's outputs: each returns the mean loss
 * (accumulated in double) and writes d(loss)/d(outputs) for rnn_backward.
 */
#include <math.h>
#include <string.h>

#include "network.h"

/*
 * A NaN target is masked: no loss, no gradient, and the mean is over the
 * other values (a forecaster's target that missing => 'interpolate' filled
 * is not an observation).  n counts the unmasked values; all masked: loss 0.
 */
static size_t
count_targets(const float *targets, size_t n)
{
	size_t		counted = 0;

	for (size_t i = 0; i < n; i++)
		counted += !isnan(targets[i]);
	return counted;
}

/*
 * Mean squared (l1 = 0) or absolute (l1 = 1) error over the B*O values, as
 * torch.nn.MSELoss / L1Loss(reduction='mean'); L1's gradient is
 * sign(diff) / n, 0 at a tie.
 */
static RnnStatus
regression_loss(RnnTrainer *tr, const float *targets, int l1, double *loss)
{
	size_t		n = (size_t) tr->pk.B * tr->cfg.output_size;
	size_t		counted = count_targets(targets, n);
	double		sum = 0.0;
	float		scale = counted ? (l1 ? 1.0f : 2.0f) / (float) counted : 0.0f;

	for (size_t i = 0; i < n; i++)
	{
		float		diff = isnan(targets[i]) ? 0.0f : tr->outputs[i] - targets[i];

		if (l1)
		{
			sum += fabsf(diff);
			tr->d_outputs[i] = diff > 0.0f ? scale : diff < 0.0f ? -scale : 0.0f;
		}
		else
		{
			sum += (double) diff * diff;
			tr->d_outputs[i] = scale * diff;
		}
	}
	*loss = counted ? sum / (double) counted : 0.0;
	return isfinite(*loss) ? RNN_OK : RNN_ERR_NONFINITE;
}

RnnStatus
rnn_loss_mse(RnnTrainer *tr, const float *targets, double *loss)
{
	return regression_loss(tr, targets, 0, loss);
}

RnnStatus
rnn_loss_mae(RnnTrainer *tr, const float *targets, double *loss)
{
	return regression_loss(tr, targets, 1, loss);
}

/*
 * Softmax cross-entropy over output_size classes, mean over the batch
 * (weighted: sum(w * loss) / sum(w)), as torch.nn.CrossEntropyLoss.
 * Log-sum-exp is shifted by the row maximum so large logits do not overflow.
 */
RnnStatus
rnn_loss_xent(RnnTrainer *tr, const int *labels, const float *weights, double *loss)
{
	int			B = tr->pk.B;
	int			C = tr->cfg.output_size;
	double		sum = 0.0,
				wsum = 0.0;

	for (int b = 0; b < B; b++)
	{
		if (labels[b] < 0 || labels[b] >= C)
			return RNN_ERR_INPUT;
		wsum += weights ? weights[b] : 1.0f;
	}
	if (!(wsum > 0.0))
		return RNN_ERR_INPUT;

	for (int b = 0; b < B; b++)
	{
		const float *z = tr->outputs + (size_t) b * C;
		float	   *dz = tr->d_outputs + (size_t) b * C;
		float		w = weights ? weights[b] : 1.0f;
		float		mx = z[0];
		double		se = 0.0;
		double		lse;

		for (int c = 1; c < C; c++)
			if (z[c] > mx)
				mx = z[c];
		for (int c = 0; c < C; c++)
			se += exp((double) z[c] - mx);
		lse = mx + log(se);
		sum += w * (lse - z[labels[b]]);
		for (int c = 0; c < C; c++)
			dz[c] = (float) (w * (exp((double) z[c] - lse) - (c == labels[b])) / wsum);
	}
	*loss = sum / wsum;
	return isfinite(*loss) ? RNN_OK : RNN_ERR_NONFINITE;
}

/*
 * Per-step softmax cross-entropy of RNN_HEAD_STEPS over the N packed rows,
 * mean over the rows whose target is >= 0 (ignore_index = -1).  The logits
 * are overwritten by their gradient (d_outputs is the same buffer).
 */
RnnStatus
rnn_loss_xent_steps(RnnTrainer *tr, const int32_t *targets, double *loss, int *counted)
{
	int			N = tr->pk.N;
	int			C = tr->cfg.output_size;
	int			n = 0;
	double		sum = 0.0;

	if (tr->cfg.head != RNN_HEAD_STEPS)
		return RNN_ERR_INPUT;
	for (int r = 0; r < N; r++)
	{
		if (targets[r] >= C)
			return RNN_ERR_INPUT;
		n += targets[r] >= 0;
	}
	for (int r = 0; r < N; r++)
	{
		float	   *z = tr->outputs + (size_t) r * C;
		float		mx = z[0];
		double		se = 0.0;
		double		lse;

		if (targets[r] < 0)
		{
			memset(z, 0, sizeof(float) * C);
			continue;
		}
		for (int c = 1; c < C; c++)
			if (z[c] > mx)
				mx = z[c];
		for (int c = 0; c < C; c++)
			se += exp((double) z[c] - mx);
		lse = mx + log(se);
		sum += lse - z[targets[r]];
		/* z[c] becomes (softmax_c - [c == target]) / n */
		for (int c = 0; c < C; c++)
			z[c] = (float) ((exp((double) z[c] - lse) - (c == targets[r])) / n);
	}
	*loss = n > 0 ? sum / n : 0.0;
	if (counted)
		*counted = n;
	return isfinite(*loss) ? RNN_OK : RNN_ERR_NONFINITE;
}

/*
 * Offsets added to the last forward's outputs before a loss: a fixed
 * per-example term beside the network (a classifier's n-gram path, see
 * ngram.h).  Its gradient is the outputs' own, so backward is unchanged.
 */
void
rnn_add_output_offsets(RnnTrainer *tr, const float *offsets)
{
	size_t		n = (size_t) tr->pk.B * tr->cfg.output_size;

	for (size_t i = 0; i < n; i++)
		tr->outputs[i] += offsets[i];
}
