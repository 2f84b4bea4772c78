/*
 * cell_gru.c -- GRU layer, one direction, forward and backward through time.
 *
 * PyTorch's gate order and bias layout (torch.nn.GRU), gate blocks r, z, n:
 *   r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 */
#include <string.h>

#include "cells.h"

static inline int
step_at(const RnnPack *pk, int k, int reverse)
{
	return reverse ? pk->T - 1 - k : k;
}

void
cell_gru_forward(float *out, int ldo, float *h_state, float *scratch,
				 RnnCellCache *cache, const RnnCellWeights *w,
				 const RnnPack *pk, int H, int reverse)
{
	const int	G3 = 3 * H;

	for (int k = 0; k < pk->T; k++)
	{
		int			t = step_at(pk, k, reverse);
		int			bt = pk->batch_sizes[t];
		size_t		r0 = (size_t) pk->offsets[t];

		/* scratch (bt, 3H) = h (bt, H) . W_hh^T */
		rnn_sgemm(0, 1, bt, G3, H, 1.0f, h_state, H, w->w_hh, H, 0.0f, scratch, G3);

		for (int b = 0; b < bt; b++)
		{
			size_t		row = r0 + b;
			float	   *g = cache->gates + row * G3;
			const float *gh = scratch + (size_t) b * G3;
			float	   *h = h_state + (size_t) b * H;
			float	   *y = out + row * ldo;
			float	   *hn_row = cache->hn ? cache->hn + row * H : NULL;

			if (cache->h_prev)
				memcpy(cache->h_prev + row * H, h, sizeof(float) * H);
			for (int j = 0; j < H; j++)
			{
				/* r = sigmoid(W_ir x + b_ir + W_hr h + b_hr) */
				float		r = sigmoidf(g[j] + w->b_ih[j] + gh[j] + w->b_hh[j]);

				/* z = sigmoid(W_iz x + b_iz + W_hz h + b_hz) */
				float		z = sigmoidf(g[H + j] + w->b_ih[H + j] + gh[H + j] + w->b_hh[H + j]);

				/* n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) */
				float		hn = gh[2 * H + j] + w->b_hh[2 * H + j];
				float		n = tanhf(g[2 * H + j] + w->b_ih[2 * H + j] + r * hn);

				/* h' = (1 - z) * n + z * h */
				float		hnew = (1.0f - z) * n + z * h[j];

				g[j] = r;
				g[H + j] = z;
				g[2 * H + j] = n;
				if (hn_row)
					hn_row[j] = hn;
				h[j] = hnew;
				y[j] = hnew;
			}
		}
	}
}

void
cell_gru_backward(float *dgi, float *dgh, float *dh_state,
				  const float *dout, int ld_dout,
				  const RnnCellCache *cache, const RnnCellWeights *w,
				  const RnnPack *pk, int H, int reverse)
{
	const int	G3 = 3 * H;

	memset(dh_state, 0, sizeof(float) * (size_t) pk->B * H);
	/* backward visits the steps in the opposite order of forward */
	for (int k = pk->T - 1; k >= 0; k--)
	{
		int			t = step_at(pk, k, reverse);
		int			bt = pk->batch_sizes[t];
		size_t		r0 = (size_t) pk->offsets[t];

		for (int b = 0; b < bt; b++)
		{
			size_t		row = r0 + b;
			const float *g = cache->gates + row * G3;
			const float *hp = cache->h_prev + row * H;
			const float *hn = cache->hn + row * H;
			const float *dy = dout + row * ld_dout;
			float	   *dh = dh_state + (size_t) b * H;
			float	   *di = dgi + row * G3;
			float	   *dr_h = dgh + row * G3;

			for (int j = 0; j < H; j++)
			{
				float		r = g[j],
							z = g[H + j],
							n = g[2 * H + j];
				float		d = dh[j] + dy[j];
				float		dn_pre = d * (1.0f - z) * (1.0f - n * n);
				float		dz_pre = d * (hp[j] - n) * z * (1.0f - z);
				float		dr_pre = dn_pre * hn[j] * r * (1.0f - r);

				di[j] = dr_pre;
				di[H + j] = dz_pre;
				di[2 * H + j] = dn_pre;
				dr_h[j] = dr_pre;
				dr_h[H + j] = dz_pre;
				dr_h[2 * H + j] = dn_pre * r;	/* n sees W_hn h through r */
				dh[j] = d * z;	/* h' = ... + z * h */
			}
		}
		/* dh (bt, H) += dgh (bt, 3H) . W_hh (3H, H) */
		rnn_sgemm(0, 0, bt, H, G3, 1.0f, dgh + r0 * G3, G3, w->w_hh, H, 1.0f, dh_state, H);
	}
}
