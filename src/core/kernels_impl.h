/*
 * kernels_impl.h -- the body of every kernels_<isa>.c: the kernel sources
 * compiled for the target the including file has set (kernels.h), and their
 * table under the name RNN_KERNELS_TABLE with isa RNN_KERNELS_ISA.
 *
 * Included once per translation unit, after the target pragma, so that every
 * function it pulls in, the static inline helpers of vmath.h and cells.h
 * too, is compiled for that target.
 */
#include "recur_product.c"
#include "input_small.c"
#include "cell_tanh.c"
#include "cell_gru.c"
#include "cell_lstm.c"
#include "optim_loops.c"

static void
recur_matvec_kernel(float *out, const float *h, const float *w_hh_t, int GH, int H)
{
	recur_matvec(out, h, w_hh_t, GH, H);
}

static void
sigmoid_tanh(float *sig, float *th, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i += RNN_VW)
	{
		int			k = n - i < RNN_VW ? (int) (n - i) : RNN_VW;
		v8f			v = v8_load(x + i, k);

		v8_store(sig + i, v8_sigmoid(v), k);
		v8_store(th + i, v8_tanh(v), k);
	}
}

const RnnKernels RNN_KERNELS_TABLE = {
	.isa = RNN_KERNELS_ISA,
	.tanh_forward = cell_tanh_forward,
	.gru_forward = cell_gru_forward,
	.lstm_forward = cell_lstm_forward,
	.tanh_backward = cell_tanh_backward,
	.gru_backward = cell_gru_backward,
	.lstm_backward = cell_lstm_backward,
	.recur_matvec = recur_matvec_kernel,
	.gemm_small = gemm_small,
	.bias_input_grads = bias_input_grads,
	.sigmoid_tanh = sigmoid_tanh,
	.sum_squares = sum_squares,
	.adam_update = adam_update,
};
