/*
 * forecast_linear.c -- closed-form start for a forecaster's linear skip path.
 *
 * A forecaster's output is  head(recurrent state) + skip_w . last K values.
 * On hourly data such as ETTh1 a ridge regression on the last few hundred
 * values is already a strong forecaster (as good as published deep models),
 * and Adam needs many epochs to find it through a 336-wide linear layer
 * while the recurrent part overfits.  So before training we solve the
 * ridge problem exactly on the training windows, put the solution into
 * skip_w and head.bias, and zero head.weight: the untrained model *is* the
 * ridge forecaster, and training only has to learn what the recurrent part
 * adds on top.  The ridge strength is chosen on the validation windows.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "forecast.h"

#define CHUNK 256

/* Cholesky solve of A x = b for several right-hand sides; A (n, n) is
 * overwritten.  Returns false when A is not positive definite. */
static bool
cholesky_solve(double *A, double *B, int n, int nrhs)
{
	for (int j = 0; j < n; j++)
	{
		double		d = A[(size_t) j * n + j];

		/* O(n^3): with a window of thousands, seconds per solve */
		CHECK_FOR_INTERRUPTS();

		for (int k = 0; k < j; k++)
			d -= A[(size_t) j * n + k] * A[(size_t) j * n + k];
		if (!(d > 0))
			return false;
		d = sqrt(d);
		A[(size_t) j * n + j] = d;
		for (int i = j + 1; i < n; i++)
		{
			double		s = A[(size_t) i * n + j];

			for (int k = 0; k < j; k++)
				s -= A[(size_t) i * n + k] * A[(size_t) j * n + k];
			A[(size_t) i * n + j] = s / d;
		}
	}
	for (int r = 0; r < nrhs; r++)
	{
		CHECK_FOR_INTERRUPTS();
		/* L y = b, then L^T x = y; B is (n, nrhs) */
		for (int i = 0; i < n; i++)
		{
			double		s = B[(size_t) i * nrhs + r];

			for (int k = 0; k < i; k++)
				s -= A[(size_t) i * n + k] * B[(size_t) k * nrhs + r];
			B[(size_t) i * nrhs + r] = s / A[(size_t) i * n + i];
		}
		for (int i = n - 1; i >= 0; i--)
		{
			double		s = B[(size_t) i * nrhs + r];

			for (int k = i + 1; k < n; k++)
				s -= A[(size_t) k * n + i] * B[(size_t) k * nrhs + r];
			B[(size_t) i * nrhs + r] = s / A[(size_t) i * n + i];
		}
	}
	return true;
}

/*
 * A least-squares fit of n coefficients is settled long before millions of
 * windows: beyond this many, the Gram matrices are summed over evenly spaced
 * windows (on the 10M-row scale benchmark, 250,000 of 7.3M training
 * windows; ETTh1's 8,600 are all used).
 */
static int64
linear_windows(int n)
{
	return Max((int64) 250000, (int64) 200 * n);
}

/*
 * A window with a target that missing => 'interpolate' filled (NaN, see
 * fc_fill_window) is left out of the ridge fit: its coefficients are fitted
 * on observed values only, and a per-step mask would need one Gram matrix
 * per forecast step.
 */
static bool
has_masked_target(const float *y, int Hz)
{
	for (int h = 0; h < Hz; h++)
		if (isnan(y[h]))
			return true;
	return false;
}

/*
 * Gram matrices of windows: XtX (n, n) and XtY (n, Hz) with n = K + 1
 * (the K skip inputs and a constant 1 for the intercept), in double,
 * accumulated from float sgemm over chunks of windows.
 */
static void
gram(const FcWindows *w, int K, double *XtX, double *XtY)
{
	int			n = K + 1;
	int			Hz = w->shape.horizon;
	const FcData *data = w->data;

	/*
	 * A chunk costs 2 n^2 B flops between two interrupt checks: for wide
	 * windows take fewer windows at a time (about 2 GFLOP, a fraction of a
	 * second), but not so few that adding up the chunks dominates.
	 */
	int			chunk = (int) Max(32, Min(CHUNK, ((int64) 1 << 30) / ((int64) n * n)));
	float	   *X = palloc(sizeof(float) * chunk * n);
	float	   *Y = palloc(sizeof(float) * chunk * Hz);
	float	   *gx = palloc(sizeof(float) * n * n);
	float	   *gy = palloc(sizeof(float) * n * Hz);

	int64		count = Min(w->count, linear_windows(n));

	memset(XtX, 0, sizeof(double) * n * n);
	memset(XtY, 0, sizeof(double) * n * Hz);
	for (int64 i0 = 0; i0 < count; i0 += chunk)
	{
		int			B = (int) Min(chunk, count - i0);

		CHECK_FOR_INTERRUPTS();
		for (int b = 0; b < B; b++)
		{
			int			s,
						start;

			fc_windows_locate(w, fc_windows_sample(w, count, i0 + b), &s, &start);
			fc_fill_window(data, &data->series[s], start, &w->shape, NULL, 0,
						   X + (size_t) b * n, K, Y + (size_t) b * Hz, NULL);
			X[(size_t) b * n + K] = 1.0f;
			if (has_masked_target(Y + (size_t) b * Hz, Hz))
			{
				/* a zero row adds nothing to either Gram matrix */
				memset(X + (size_t) b * n, 0, sizeof(float) * n);
				memset(Y + (size_t) b * Hz, 0, sizeof(float) * Hz);
			}
		}
		rnn_sgemm(1, 0, n, n, B, 1.0f, X, n, X, n, 0.0f, gx, n);
		rnn_sgemm(1, 0, n, Hz, B, 1.0f, X, n, Y, Hz, 0.0f, gy, Hz);
		for (int i = 0; i < n * n; i++)
			XtX[i] += gx[i];
		for (int i = 0; i < n * Hz; i++)
			XtY[i] += gy[i];
	}
	pfree(X);
	pfree(Y);
	pfree(gx);
	pfree(gy);
}

/* Mean squared error of coefficients W (n, Hz) on windows, from their Gram
 * matrices: sum |Y - X W|^2 = tr(Y'Y) - 2 tr(W' X'Y) + tr(W' X'X W). */
static double
gram_sse(const double *XtX, const double *XtY, double yty, const double *W, int n, int Hz)
{
	double		sse = yty;

	for (int h = 0; h < Hz; h++)
	{
		for (int i = 0; i < n; i++)
		{
			double		xw = 0.0;

			for (int j = 0; j < n; j++)
				xw += XtX[(size_t) i * n + j] * W[(size_t) j * Hz + h];
			sse += W[(size_t) i * Hz + h] * (xw - 2.0 * XtY[(size_t) i * Hz + h]);
		}
	}
	return sse;
}

static double
targets_sq(const FcWindows *w, int K)
{
	int			Hz = w->shape.horizon;
	float	   *Y = palloc(sizeof(float) * Hz);
	double		sum = 0.0;
	int64		count = Min(w->count, linear_windows(K + 1));

	for (int64 i = 0; i < count; i++)
	{
		int			s,
					start;

		CHECK_FOR_INTERRUPTS();
		fc_windows_locate(w, fc_windows_sample(w, count, i), &s, &start);
		fc_fill_window(w->data, &w->data->series[s], start, &w->shape, NULL, 0,
					   NULL, 0, Y, NULL);
		if (has_masked_target(Y, Hz))
			continue;
		for (int h = 0; h < Hz; h++)
			sum += (double) Y[h] * Y[h];
	}
	pfree(Y);
	return sum;
}

void
fc_fit_linear(RnnModel *model, const FcWindows *train, const FcWindows *valid,
			  double *alpha_out)
{
	int			K = model->cfg.skip_size;
	int			Hz = model->cfg.output_size;
	int			n = K + 1;
	double	   *XtX = palloc(sizeof(double) * n * n);
	double	   *XtY = palloc(sizeof(double) * n * Hz);
	double	   *vXtX = NULL,
			   *vXtY = NULL;
	double	   *A = palloc(sizeof(double) * n * n);
	double	   *W = palloc(sizeof(double) * n * Hz);
	double	   *best = palloc(sizeof(double) * n * Hz);
	double		vyy = 0.0,
				best_sse = INFINITY,
				best_alpha = 0.0,
				trace = 0.0;
	static const double grid[] = {1e-4, 1e-3, 1e-2, 1e-1, 1.0};
	int			n_grid = valid && valid->count > 0 ? lengthof(grid) : 1;

	Assert(K > 0);
	gram(train, K, XtX, XtY);
	if (n_grid > 1)
	{
		vXtX = palloc(sizeof(double) * n * n);
		vXtY = palloc(sizeof(double) * n * Hz);
		gram(valid, K, vXtX, vXtY);
		vyy = targets_sq(valid, K);
	}
	for (int i = 0; i < K; i++)
		trace += XtX[(size_t) i * n + i];

	/* ridge strength relative to the mean input energy; intercept unpenalised */
	for (int g = 0; g < n_grid; g++)
	{
		double		alpha = (n_grid > 1 ? grid[g] : 1e-2) * Max(trace / K, 1e-12);
		double		sse;

		memcpy(A, XtX, sizeof(double) * n * n);
		for (int i = 0; i < K; i++)
			A[(size_t) i * n + i] += alpha;
		A[(size_t) K * n + K] += 1e-9 * Max(trace / K, 1.0);
		memcpy(W, XtY, sizeof(double) * n * Hz);
		if (!cholesky_solve(A, W, n, Hz))
			continue;
		sse = n_grid > 1 ? gram_sse(vXtX, vXtY, vyy, W, n, Hz) : 0.0;
		if (sse < best_sse)
		{
			best_sse = sse;
			best_alpha = alpha;
			memcpy(best, W, sizeof(double) * n * Hz);
		}
	}
	if (!isfinite(best_sse))
		return;					/* degenerate data: keep the random start */

	for (int h = 0; h < Hz; h++)
	{
		for (int k = 0; k < K; k++)
			model->p.skip_w[(size_t) h * K + k] = (float) best[(size_t) k * Hz + h];
		model->p.head_b[h] = (float) best[(size_t) K * Hz + h];
	}
	memset(model->p.head_w, 0, sizeof(float) * Hz * rnn_feature_size(&model->cfg));
	if (alpha_out)
		*alpha_out = best_alpha;
}
