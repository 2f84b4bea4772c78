/*
 * vmath.h -- 8-wide float vectors for the engine's elementwise loops (gate
 * nonlinearities and their derivatives), with a vectorizable exp, sigmoid
 * and tanh.
 *
 * Why: glibc's expf/tanhf are scalar calls (tanhf goes through expm1f), and
 * without -ffast-math GCC neither vectorizes them nor, at -O2, the loops
 * around them; on the small shapes they took over half of a training step.
 * These use GCC/Clang vector extensions, so they are explicit SIMD with no
 * intrinsics: AVX/AVX-512 with -march=native, pairs of SSE ops without it.
 *
 * Accuracy (checked on every code path by test/core/test_isa.c against
 * double precision):
 * exp has a relative error below 1e-7 on [-87, 88]; sigmoid and tanh a max
 * absolute error below 1e-7 on [-100, 100] (required: < 1e-6), and tanh
 * keeps a relative error near 1e-7 down to tiny |x| (odd polynomial below
 * |x| < 0.625, where 1 - 2/(e^2x + 1) would cancel).
 * NaN in gives NaN out.  Outside the clamp ranges the results saturate
 * exactly as float would (sigmoid -> 0 / 1, tanh -> +-1).
 *
 * Tails: a row of H floats is processed in blocks of RNN_VW; the last block
 * loads and stores only its valid lanes (v8_load_n/v8_store_n), so results
 * do not depend on H mod 8 and nothing reads past a buffer.
 */
#ifndef RNN_VMATH_H
#define RNN_VMATH_H

#include <stdint.h>
#include <string.h>

/* the helpers are static inline: the AVX-argument ABI note GCC prints for
 * 32-byte vectors in a build without -mavx does not apply */
#pragma GCC diagnostic ignored "-Wpsabi"

#define RNN_VW 8

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline v8f
v8_set1(float x)
{
	v8f			v = {x, x, x, x, x, x, x, x};

	return v;
}

/* n valid lanes (1..8); the others read as 0 and are never stored */
static inline __attribute__((always_inline)) v8f
v8_load(const float *p, int n)
{
	v8f			v;

	if (n == RNN_VW)
		memcpy(&v, p, sizeof(v));
	else
	{
		v = v8_set1(0.0f);
		memcpy(&v, p, sizeof(float) * (size_t) n);
	}
	return v;
}

static inline __attribute__((always_inline)) void
v8_store(float *p, v8f v, int n)
{
	if (n == RNN_VW)
		memcpy(p, &v, sizeof(v));
	else
		memcpy(p, &v, sizeof(float) * (size_t) n);
}

/* mask ? a : b, mask lanes all-ones or all-zeros (a comparison result) */
static inline v8f
v8_select(v8i mask, v8f a, v8f b)
{
	return (v8f) (((v8i) a & mask) | ((v8i) b & ~mask));
}

/* exp(x): Cephes expf.  Round-to-nearest n = x/ln2 with the 1.5*2^23 trick
 * (valid in the default rounding mode), r = x - n*ln2 in two pieces, a
 * degree-7 polynomial for exp(r) on |r| <= ln2/2, times 2^n built in the
 * exponent bits.  x is clamped to [-87, 88] so 2^n stays a normal float. */
static inline v8f
v8_exp(v8f x)
{
	const v8f	hi = v8_set1(88.0f),
				lo = v8_set1(-87.0f);
	const v8f	magic = v8_set1(12582912.0f);	/* 1.5 * 2^23 */
	v8f			n,
				r,
				y;
	v8i			e;

	x = v8_select(x > hi, hi, x);	/* NaN compares false: kept */
	x = v8_select(x < lo, lo, x);
	n = x * v8_set1(1.44269504088896341f) + magic;
	n = n - magic;
	r = x - n * v8_set1(0.693359375f);
	r = r - n * v8_set1(-2.12194440e-4f);
	y = v8_set1(1.9875691500E-4f);
	y = y * r + v8_set1(1.3981999507E-3f);
	y = y * r + v8_set1(8.3334519073E-3f);
	y = y * r + v8_set1(4.1665795894E-2f);
	y = y * r + v8_set1(1.6666665459E-1f);
	y = y * r + v8_set1(5.0000001201E-1f);
	y = y * (r * r) + r + v8_set1(1.0f);
	e = __builtin_convertvector(n, v8i);
	e = (e + 127) << 23;
	return y * (v8f) e;
}

static inline v8f
v8_sigmoid(v8f x)
{
	return v8_set1(1.0f) / (v8_set1(1.0f) + v8_exp(-x));
}

/* tanh(x): odd polynomial (Cephes tanhf) for |x| < 0.625, else
 * sign(x) * (1 - 2 / (exp(2|x|) + 1)). */
static inline v8f
v8_tanh(v8f x)
{
	const v8i	sign = (v8i) x & 0x80000000;
	v8f			ax = (v8f) ((v8i) x & 0x7fffffff);
	v8f			z = x * x;
	v8f			p,
				big;

	p = v8_set1(-5.70498872745E-3f);
	p = p * z + v8_set1(2.06390887954E-2f);
	p = p * z + v8_set1(-5.37397155531E-2f);
	p = p * z + v8_set1(1.33314422036E-1f);
	p = p * z + v8_set1(-3.33332819422E-1f);
	p = p * z * x + x;

	big = v8_set1(1.0f) - v8_set1(2.0f) / (v8_exp(ax + ax) + v8_set1(1.0f));
	big = (v8f) ((v8i) big | sign);
	return v8_select(ax < v8_set1(0.625f), p, big);
}

/* scalar forms, same arithmetic (lane 0 of the vector forms) */
static inline float
rnn_sigmoidf(float x)
{
	return v8_sigmoid(v8_set1(x))[0];
}

static inline float
rnn_tanhf(float x)
{
	return v8_tanh(v8_set1(x))[0];
}

#endif							/* RNN_VMATH_H */
