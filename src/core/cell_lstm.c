/*
 * cell_lstm.c -- LSTM layer, one direction, forward and backward through time.
 *
 * PyTorch's gate order (torch.nn.LSTM), gate blocks i, f, g, o:
 *   i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
 *   f  = sigmoid(W_if x + b_if + W_hf h + b_hf)
 *   g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
 *   o  = sigmoid(W_io x + b_io + W_ho h + b_ho)
 *   c' = f * c + i * g
 *   h' = o * tanh(c')
 */
#include <string.h>

#include "cells.h"

void
cell_lstm_forward(float *out, int ldo, float *h_state, float *c_state,
				  float *scratch, RnnCellCache *cache,
				  const RnnCellWeights *w, const RnnPack *pk,
				  int H, int reverse)
{
	const int	G4 = 4 * H;

	for (int k = 0; k < pk->T; k++)
	{
		int			t = reverse ? pk->T - 1 - k : k;
		int			bt = pk->batch_sizes[t];
		size_t		r0 = (size_t) pk->offsets[t];

		/* scratch (bt, 4H) = h (bt, H) . W_hh^T */
		rnn_sgemm(0, 1, bt, G4, H, 1.0f, h_state, H, w->w_hh, H, 0.0f, scratch, G4);

		for (int b = 0; b < bt; b++)
		{
			size_t		row = r0 + b;
			float	   *g = cache->gates + row * G4;
			const float *gh = scratch + (size_t) b * G4;
			float	   *h = h_state + (size_t) b * H;
			float	   *c = c_state + (size_t) b * H;
			float	   *y = out + row * ldo;
			float	   *tc_row = cache->tanh_c ? cache->tanh_c + row * H : NULL;

			if (cache->h_prev)
				memcpy(cache->h_prev + row * H, h, sizeof(float) * H);
			if (cache->c_prev)
				memcpy(cache->c_prev + row * H, c, sizeof(float) * H);
			for (int j = 0; j < H; j++)
			{
				float		ig = sigmoidf(g[j] + w->b_ih[j] + gh[j] + w->b_hh[j]);
				float		fg = sigmoidf(g[H + j] + w->b_ih[H + j] + gh[H + j] + w->b_hh[H + j]);
				float		gg = tanhf(g[2 * H + j] + w->b_ih[2 * H + j] + gh[2 * H + j] + w->b_hh[2 * H + j]);
				float		og = sigmoidf(g[3 * H + j] + w->b_ih[3 * H + j] + gh[3 * H + j] + w->b_hh[3 * H + j]);
				float		cn = fg * c[j] + ig * gg;
				float		tc = tanhf(cn);

				g[j] = ig;
				g[H + j] = fg;
				g[2 * H + j] = gg;
				g[3 * H + j] = og;
				if (tc_row)
					tc_row[j] = tc;
				c[j] = cn;
				h[j] = og * tc;
				y[j] = og * tc;
			}
		}
	}
}

void
cell_lstm_backward(float *dgi, float *dh_state, float *dc_state,
				   const float *dout, int ld_dout,
				   const RnnCellCache *cache, const RnnCellWeights *w,
				   const RnnPack *pk, int H, int reverse)
{
	const int	G4 = 4 * H;

	memset(dh_state, 0, sizeof(float) * (size_t) pk->B * H);
	memset(dc_state, 0, sizeof(float) * (size_t) pk->B * H);
	for (int k = pk->T - 1; k >= 0; k--)
	{
		int			t = reverse ? pk->T - 1 - k : k;
		int			bt = pk->batch_sizes[t];
		size_t		r0 = (size_t) pk->offsets[t];

		for (int b = 0; b < bt; b++)
		{
			size_t		row = r0 + b;
			const float *g = cache->gates + row * G4;
			const float *tc = cache->tanh_c + row * H;
			const float *cp = cache->c_prev + row * H;
			const float *dy = dout + row * ld_dout;
			const float *dh = dh_state + (size_t) b * H;
			float	   *dc = dc_state + (size_t) b * H;
			float	   *dpre = dgi + row * G4;

			for (int j = 0; j < H; j++)
			{
				float		ig = g[j],
							fg = g[H + j],
							gg = g[2 * H + j],
							og = g[3 * H + j];
				float		d = dh[j] + dy[j];

				/* h' = o * tanh(c'): into o and into c' */
				float		dct = dc[j] + d * og * (1.0f - tc[j] * tc[j]);

				dpre[j] = dct * gg * ig * (1.0f - ig);
				dpre[H + j] = dct * cp[j] * fg * (1.0f - fg);
				dpre[2 * H + j] = dct * ig * (1.0f - gg * gg);
				dpre[3 * H + j] = d * tc[j] * og * (1.0f - og);
				dc[j] = dct * fg;	/* c' = f * c + ... */
			}
		}
		/* dh (bt, H) = dpre (bt, 4H) . W_hh (4H, H): h reaches c' only via gates */
		rnn_sgemm(0, 0, bt, H, G4, 1.0f, dgi + r0 * G4, G4, w->w_hh, H, 0.0f, dh_state, H);
	}
}
