/*
 * kernels_generic.c -- the kernels (kernels.h) for any CPU: on x86-64 the
 * baseline ISA (SSE2, no FMA) even in a -march=native build, so forcing
 * this path tests what an old CPU runs.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("arch=x86-64")
#elif defined(__x86_64__) && defined(__clang__)
#pragma clang attribute push (__attribute__((target("arch=x86-64"))), apply_to = function)
#endif

#define RNN_KERNELS_TABLE rnn_kernels_generic
#define RNN_KERNELS_ISA RNN_ISA_GENERIC
#include "kernels_impl.h"

#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute pop
#endif
