/*
 * kernels_avx512.c -- the kernels (kernels.h) for x86-64-v4: AVX-512 F, BW,
 * CD, DQ, VL, 32 zmm registers.  kernels.c runs them only on a CPU (and
 * kernel) that has them.
 */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push (__attribute__((target("arch=x86-64-v4"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC target("arch=x86-64-v4")
/* a * b + c as one FMA, as -std=gnu11 would (-std=c11 keeps them apart) */
#pragma GCC optimize("fp-contract=fast")
#endif

#define RNN_KERNELS_TABLE rnn_kernels_avx512
#define RNN_KERNELS_ISA RNN_ISA_AVX512
#include "kernels_impl.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else							/* not x86-64: no such path */
typedef int rnn_no_avx512_kernels;
#endif
