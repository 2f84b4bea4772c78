/*
 * cell_tanh.c -- vanilla (Elman) RNN layer, one direction (torch.nn.RNN,
 * nonlinearity 'tanh'):
 *   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 *
 * Not a translation unit of its own: kernels_impl.h includes it once per
 * code path (kernels.h), so these functions are static there.
 */
#include <string.h>

#include "kernels.h"

static void
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
		cell_recur_product(scratch, h_state, bt, w, H, H);

		for (int b = 0; b < bt; b++)
		{
			size_t		row = r0 + b;
			float	   *g = cache->gates + row * H;
			const float *gh = scratch + (size_t) b * H;
			float	   *h = h_state + (size_t) b * H;
			float	   *y = out + row * ldo;

			if (cache->h_prev)
				memcpy(cache->h_prev + row * H, h, sizeof(float) * H);
			for (int j = 0; j < H; j += RNN_VW)
			{
				int			n = H - j < RNN_VW ? H - j : RNN_VW;
				v8f			a = v8_tanh(cell_input_gates(g, w, row, j, n, H) + v8_load(w->b_ih + j, n) +
										v8_load(gh + j, n) + v8_load(w->b_hh + j, n));

				v8_store(g + j, a, n);
				v8_store(h + j, a, n);
				v8_store(y + j, a, n);
			}
		}
	}
}

static void
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

			for (int j = 0; j < H; j += RNN_VW)
			{
				int			n = H - j < RNN_VW ? H - j : RNN_VW;
				v8f			av = v8_load(a + j, n);

				v8_store(dpre + j, (v8_load(dh + j, n) + v8_load(dy + j, n)) *
						 (v8_set1(1.0f) - av * av), n);
			}
		}
		/* dh (bt, H) = dpre (bt, H) . W_hh (H, H): no direct path */
		cell_recur_backprop(dh_state, dgi + r0 * H, bt, w, H, H, 0);
	}
}
