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
 *
 * Not a translation unit of its own: kernels_impl.h includes it once per
 * code path (kernels.h), so these functions are static there.
 */
#include <string.h>

#include "kernels.h"

static void
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
		cell_recur_product(scratch, h_state, bt, w, G4, H);

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
			for (int j = 0; j < H; j += RNN_VW)
			{
				int			n = H - j < RNN_VW ? H - j : RNN_VW;
				const float *bi = w->b_ih + j,
						   *bh = w->b_hh + j;
				v8f			ig = v8_sigmoid(cell_input_gates(g, w, row, j, n, G4) + v8_load(bi, n) + v8_load(gh + j, n) + v8_load(bh, n));
				v8f			fg = v8_sigmoid(cell_input_gates(g, w, row, H + j, n, G4) + v8_load(bi + H, n) + v8_load(gh + H + j, n) + v8_load(bh + H, n));
				v8f			gg = v8_tanh(cell_input_gates(g, w, row, 2 * H + j, n, G4) + v8_load(bi + 2 * H, n) + v8_load(gh + 2 * H + j, n) + v8_load(bh + 2 * H, n));
				v8f			og = v8_sigmoid(cell_input_gates(g, w, row, 3 * H + j, n, G4) + v8_load(bi + 3 * H, n) + v8_load(gh + 3 * H + j, n) + v8_load(bh + 3 * H, n));
				v8f			cn = fg * v8_load(c + j, n) + ig * gg;
				v8f			tc = v8_tanh(cn);
				v8f			hv = og * tc;

				v8_store(g + j, ig, n);
				v8_store(g + H + j, fg, n);
				v8_store(g + 2 * H + j, gg, n);
				v8_store(g + 3 * H + j, og, n);
				if (tc_row)
					v8_store(tc_row + j, tc, n);
				v8_store(c + j, cn, n);
				v8_store(h + j, hv, n);
				v8_store(y + j, hv, n);
			}
		}
	}
}

static void
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

			for (int j = 0; j < H; j += RNN_VW)
			{
				int			n = H - j < RNN_VW ? H - j : RNN_VW;
				const v8f	one = v8_set1(1.0f);
				v8f			ig = v8_load(g + j, n),
							fg = v8_load(g + H + j, n),
							gg = v8_load(g + 2 * H + j, n),
							og = v8_load(g + 3 * H + j, n);
				v8f			tcv = v8_load(tc + j, n);
				v8f			d = v8_load(dh + j, n) + v8_load(dy + j, n);

				/* h' = o * tanh(c'): into o and into c' */
				v8f			dct = v8_load(dc + j, n) + d * og * (one - tcv * tcv);

				v8_store(dpre + j, dct * gg * ig * (one - ig), n);
				v8_store(dpre + H + j, dct * v8_load(cp + j, n) * fg * (one - fg), n);
				v8_store(dpre + 2 * H + j, dct * ig * (one - gg * gg), n);
				v8_store(dpre + 3 * H + j, d * tcv * og * (one - og), n);
				v8_store(dc + j, dct * fg, n);	/* c' = f * c + ... */
			}
		}
		/* dh (bt, H) = dpre (bt, 4H) . W_hh (4H, H): h reaches c' only via gates */
		cell_recur_backprop(dh_state, dgi + r0 * G4, bt, w, G4, H, 0);
	}
}
