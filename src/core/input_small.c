/*
 * input_small.c -- the input side of a recurrent layer whose input has few
 * features (a forecaster's series value and covariates: I = 1 + features),
 * and the bias gradients of every layer.
 *
 * With I = 1, the all-steps input projection X (N, I) . W_ih^T is an outer
 * product and dW_ih = dG^T X a weighted column sum: as sgemm calls (K = 1
 * and N = 1) OpenBLAS spends more time packing and clearing than
 * multiplying (LSTM-64 forecasting: 5% of a training step in the forward
 * projection, and a pack of all of dG for dW_ih).  Here the cells form the
 * projection of each row in the step that uses it (cell_input_gates), so
 * the (N, GH) pre-activations are never written and read back, and dW_ih
 * rides on the pass that sums dG's columns for the bias gradients anyway.
 *
 * Not a translation unit of its own: kernels_impl.h includes it once per
 * code path (kernels.h), so these functions are static there.
 */
#include <string.h>

#include "kernels.h"

enum
{
	COL_BLOCK = 512				/* columns whose sums stay in L1 */
};

/*
 * x . W_ih^T for the n gate pre-activations at columns col .. col+n-1 of
 * packed row `row`: read from g (the row of gates the all-steps sgemm
 * filled) or, for a narrow input, I broadcast-multiply-adds of contiguous
 * rows of W_ih^T (I, GH).
 */
static inline __attribute__((always_inline)) v8f
cell_input_gates(const float *g, const RnnCellWeights *w, size_t row, int col,
				 int n, int GH)
{
	const float *x;
	v8f			acc;

	if (w->w_ih_t == NULL)
		return v8_load(g + col, n);
	x = w->x + row * w->I;
	acc = v8_set1(x[0]) * v8_load(w->w_ih_t + col, n);
	for (int i = 1; i < w->I; i++)
		acc += v8_set1(x[i]) * v8_load(w->w_ih_t + (size_t) i * GH + col, n);
	return acc;
}

/*
 * db (GH) += column sums of dg (N, GH), and db2 likewise when not NULL
 * (LSTM and tanh cells: the b_ih and b_hh gradients are the same sums);
 * when x is not NULL (I <= RNN_SMALL_INPUT) also dw_ih (GH, I) += dg^T x.
 * dg is read once, row after row, into a block of up to 512 column sums
 * held in L1 (blocks of columns read in turn would stride through dg and
 * defeat the prefetcher: 8% of an LSTM-64 training step); each column is
 * still summed in row order.
 */
static void
bias_input_grads(float *db, float *db2, float *dw_ih, const float *dg,
				 const float *x, size_t N, int GH, int I)
{
	float		acc[COL_BLOCK];
	float		accw[RNN_SMALL_INPUT * COL_BLOCK];

	for (int c0 = 0; c0 < GH; c0 += COL_BLOCK)
	{
		int			nc = GH - c0 < COL_BLOCK ? GH - c0 : COL_BLOCK;

		memset(acc, 0, sizeof(float) * nc);
		if (x)
			for (int i = 0; i < I; i++)
				memset(accw + i * COL_BLOCK, 0, sizeof(float) * nc);
		for (size_t r = 0; r < N; r++)
		{
			const float *row = dg + r * GH + c0;

			for (int c = 0; c < nc; c += RNN_VW)
			{
				int			n = nc - c < RNN_VW ? nc - c : RNN_VW;
				v8f			d = v8_load(row + c, n);

				v8_store(acc + c, v8_load(acc + c, n) + d, n);
				if (x)
					for (int i = 0; i < I; i++)
					{
						float	   *aw = accw + i * COL_BLOCK + c;

						v8_store(aw, v8_load(aw, n) + d * v8_set1(x[r * I + i]), n);
					}
			}
		}
		for (int c = 0; c < nc; c++)
		{
			db[c0 + c] += acc[c];
			if (db2)
				db2[c0 + c] += acc[c];
			if (x)
				for (int i = 0; i < I; i++)
					dw_ih[(size_t) (c0 + c) * I + i] += accw[i * COL_BLOCK + c];
		}
	}
}
