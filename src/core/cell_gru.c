/*
 * cell_gru.c -- GRU layer, one direction, forward and backward through time.
 *
 * PyTorch's gate order and bias layout (torch.nn.GRU), gate blocks r, z, n:
 *   r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 *
 * Not a translation unit of its own: kernels_impl.h includes it once per
 * code path (kernels.h), so these functions are static there.
 */
#include <string.h>

#include "kernels.h"

static inline int
step_at(const RnnPack *pk, int k, int reverse)
{
	return reverse ? pk->T - 1 - k : k;
}

static void
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
		cell_recur_product(scratch, h_state, bt, w, G3, H);

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
			for (int j = 0; j < H; j += RNN_VW)
			{
				int			n = H - j < RNN_VW ? H - j : RNN_VW;
				const float *bi = w->b_ih + j,
						   *bh = w->b_hh + j;

				/* r = sigmoid(W_ir x + b_ir + W_hr h + b_hr) */
				v8f			r = v8_sigmoid(cell_input_gates(g, w, row, j, n, G3) + v8_load(bi, n) + v8_load(gh + j, n) + v8_load(bh, n));

				/* z = sigmoid(W_iz x + b_iz + W_hz h + b_hz) */
				v8f			z = v8_sigmoid(cell_input_gates(g, w, row, H + j, n, G3) + v8_load(bi + H, n) + v8_load(gh + H + j, n) + v8_load(bh + H, n));

				/* n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) */
				v8f			hn = v8_load(gh + 2 * H + j, n) + v8_load(bh + 2 * H, n);
				v8f			nn = v8_tanh(cell_input_gates(g, w, row, 2 * H + j, n, G3) + v8_load(bi + 2 * H, n) + r * hn);

				/* h' = (1 - z) * n + z * h */
				v8f			hnew = (v8_set1(1.0f) - z) * nn + z * v8_load(h + j, n);

				v8_store(g + j, r, n);
				v8_store(g + H + j, z, n);
				v8_store(g + 2 * H + j, nn, n);
				if (hn_row)
					v8_store(hn_row + j, hn, n);
				v8_store(h + j, hnew, n);
				v8_store(y + j, hnew, n);
			}
		}
	}
}

static void
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

			for (int j = 0; j < H; j += RNN_VW)
			{
				int			nl = H - j < RNN_VW ? H - j : RNN_VW;
				const v8f	one = v8_set1(1.0f);
				v8f			r = v8_load(g + j, nl),
							z = v8_load(g + H + j, nl),
							n = v8_load(g + 2 * H + j, nl);
				v8f			d = v8_load(dh + j, nl) + v8_load(dy + j, nl);
				v8f			dn_pre = d * (one - z) * (one - n * n);
				v8f			dz_pre = d * (v8_load(hp + j, nl) - n) * z * (one - z);
				v8f			dr_pre = dn_pre * v8_load(hn + j, nl) * r * (one - r);

				v8_store(di + j, dr_pre, nl);
				v8_store(di + H + j, dz_pre, nl);
				v8_store(di + 2 * H + j, dn_pre, nl);
				v8_store(dr_h + j, dr_pre, nl);
				v8_store(dr_h + H + j, dz_pre, nl);
				v8_store(dr_h + 2 * H + j, dn_pre * r, nl);	/* n sees W_hn h through r */
				v8_store(dh + j, d * z, nl);	/* h' = ... + z * h */
			}
		}
		/* dh (bt, H) += dgh (bt, 3H) . W_hh (3H, H) */
		cell_recur_backprop(dh_state, dgh + r0 * G3, bt, w, G3, H, 1);
	}
}
