/*
 * kernels.c -- which compiled code path (kernels.h) runs: chosen once, at
 * the first kernel call, from the CPU, unless the environment variable
 * RNN_ISA or rnn_isa_set() (the server's rnn.isa) names one.  The
 * environment variable RNN_ISA_MAX caps the paths counted as supported, as
 * if the CPU had none above it (the tests use it to check that a missing
 * path is refused, on a CPU that has them all).
 *
 * "Supports" means the CPU has the instructions and the operating system
 * saves the registers they use (AVX state in XCR0): GCC's
 * __builtin_cpu_supports checks both.  x86-64-v3 is AVX2 + FMA (with BMI,
 * F16C, MOVBE, which the kernels do not need); x86-64-v4 is AVX-512 F, BW,
 * CD, DQ and VL.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

static const char *const isa_names[RNN_ISA_COUNT] = {"generic", "avx2", "avx512"};

static const RnnKernels *active;

const char *
rnn_isa_name(RnnIsa isa)
{
	return (unsigned) isa < RNN_ISA_COUNT ? isa_names[isa] : "unknown";
}

static int
cpu_supports(RnnIsa isa)
{
	switch (isa)
	{
		case RNN_ISA_GENERIC:
			return 1;
#if defined(__x86_64__) && defined(__GNUC__)
		case RNN_ISA_AVX2:
			__builtin_cpu_init();
			return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		case RNN_ISA_AVX512:
			__builtin_cpu_init();
			return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
				__builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
				__builtin_cpu_supports("avx512vl");
#endif
		default:
			return 0;
	}
}

int
rnn_isa_supported(RnnIsa isa)
{
	const char *cap = getenv("RNN_ISA_MAX");
	RnnIsa		max;

	if (cap != NULL)
	{
		for (max = RNN_ISA_GENERIC; max < RNN_ISA_COUNT; max++)
			if (strcmp(cap, isa_names[max]) == 0)
				break;
		if (max < RNN_ISA_COUNT && isa > max)
			return 0;
	}
	return cpu_supports(isa);
}

RnnIsa
rnn_isa_best(void)
{
	for (int i = RNN_ISA_COUNT - 1; i > 0; i--)
		if (rnn_isa_supported((RnnIsa) i))
			return (RnnIsa) i;
	return RNN_ISA_GENERIC;
}

int
rnn_isa_parse(const char *name, RnnIsa *isa)
{
	if (strcmp(name, "auto") == 0)
	{
		*isa = rnn_isa_best();
		return 1;
	}
	for (int i = 0; i < RNN_ISA_COUNT; i++)
		if (strcmp(name, isa_names[i]) == 0)
		{
			*isa = (RnnIsa) i;
			return 1;
		}
	return 0;
}

static const RnnKernels *
table_of(RnnIsa isa)
{
	switch (isa)
	{
#if defined(__x86_64__)
		case RNN_ISA_AVX2:
			return &rnn_kernels_avx2;
		case RNN_ISA_AVX512:
			return &rnn_kernels_avx512;
#endif
		default:
			return &rnn_kernels_generic;
	}
}

RnnStatus
rnn_isa_set(RnnIsa isa)
{
	if (!rnn_isa_supported(isa))
		return RNN_ERR_CONFIG;
	active = table_of(isa);
	return RNN_OK;
}

RnnStatus
rnn_isa_from_env(const char **why)
{
	const char *name = getenv("RNN_ISA");
	RnnIsa		isa;

	if (name == NULL || name[0] == '\0')
		name = "auto";
	if (!rnn_isa_parse(name, &isa))
	{
		if (why)
			*why = "RNN_ISA is not one of auto, generic, avx2, avx512";
		return RNN_ERR_CONFIG;
	}
	if (rnn_isa_set(isa) != RNN_OK)
	{
		if (why)
			*why = "RNN_ISA names a code path this CPU does not support";
		return RNN_ERR_CONFIG;
	}
	return RNN_OK;
}

RnnIsa
rnn_isa_current(void)
{
	return rnn_kernels()->isa;
}

const RnnKernels *
rnn_kernels(void)
{
	/* a bad RNN_ISA leaves the best path; rnn_isa_from_env reports it */
	if (active == NULL && rnn_isa_from_env(NULL) != RNN_OK)
		active = table_of(rnn_isa_best());
	return active;
}
