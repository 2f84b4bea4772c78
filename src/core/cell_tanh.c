/*
 * cell_tanh.c -- vanilla (Elman) RNN layer, one direction (torch.nn.RNN,
 * nonlinearity 'tanh'):
 *   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 */
#include <string.h>

#include "cells.h"

void
cell_tanh_forward(float *out, int ldo, float *h_state, float *scratch,
				  RnnCellCache *cache, const RnnCellWeights *w,
				  const RnnPack *pk, int H, int reverse)
{
	for (int k = 0; k < pk->T; k++)
	{
		int			t = reverse ? pk->T - 1 - k : k;
		int			bt = pk->batch_sizes[t];
		size_t		r0 = (size_t) pk->offsets[t];

		/* scratch (bt, H) = h (bt, H) . W_hh^T */
		rnn_sgemm(0, 1, bt, H, H, 1.0f, h_state, H, w->w_hh, H, 0.0f, scratch, H);

		for (int b = 0; b < bt; b++)
		{
			size_t		row = r0 + b;
			float	   *g = cache->gates + row * H;
			const float *gh = scratch + (size_t) b * H;
			float	   *h = h_state + (size_t) b * H;
			float	   *y = out + row * ldo;

			if (cache->h_prev)
				memcpy(cache->h_prev + row * H, h, sizeof(float) * H);
			for (int j = 0; j < H; j++)
			{
				float		a = tanhf(g[j] + w->b_ih[j] + gh[j] + w->b_hh[j]);

				g[j] = a;
				h[j] = a;
				y[j] = a;
			}
		}
	}
}

void
cell_tanh_backward(float *dgi, float *dh_state,
				   const float *dout, int ld_dout,
				   const RnnCellCache *cache, const RnnCellWeights *w,
				   const RnnPack *pk, int H, int reverse)
{
	memset(dh_state, 0, sizeof(float) * (size_t) pk->B * H);
	for (int k = pk->T - 1; k >= 0; k--)
	{
		int			t = reverse ? pk->T - 1 - k : k;
		int			bt = pk->batch_sizes[t];
		size_t		r0 = (size_t) pk->offsets[t];

		for (int b = 0; b < bt; b++)
		{
			size_t		row = r0 + b;
			const float *a = cache->gates + row * H;
			const float *dy = dout + row * ld_dout;
			const float *dh = dh_state + (size_t) b * H;
			float	   *dpre = dgi + row * H;

			for (int j = 0; j < H; j++)
				dpre[j] = (dh[j] + dy[j]) * (1.0f - a[j] * a[j]);
		}
		/* dh (bt, H) = dpre (bt, H) . W_hh (H, H): no direct path */
		rnn_sgemm(0, 0, bt, H, H, 1.0f, dgi + r0 * H, H, w->w_hh, H, 0.0f, dh_state, H);
	}
}
