/*
 * kernels_avx2.c -- the kernels (kernels.h) for x86-64-v3: AVX2, FMA, 16
 * ymm registers.  kernels.c runs them only on a CPU that has both.
 */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push (__attribute__((target("arch=x86-64-v3"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC target("arch=x86-64-v3")
/* a * b + c as one FMA, as -std=gnu11 would (-std=c11 keeps them apart) */
#pragma GCC optimize("fp-contract=fast")
#endif

#define RNN_KERNELS_TABLE rnn_kernels_avx2
#define RNN_KERNELS_ISA RNN_ISA_AVX2
#include "kernels_impl.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else							/* not x86-64: no such path */
typedef int rnn_no_avx2_kernels;
#endif
