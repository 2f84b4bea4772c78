/*
 * rng.c -- seeded random numbers: xoshiro128** seeded through splitmix64.
 *
 * Training must be reproducible for a given seed on any platform, so the
 * engine carries its own generator instead of rand().
 */
#include <math.h>

#include "rnn.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void
rnn_rng_seed(RnnRng *rng, uint64_t seed)
{
	uint64_t	x = seed;
	uint64_t	a = splitmix64(&x);
	uint64_t	b = splitmix64(&x);

	rng->s[0] = (uint32_t) a;
	rng->s[1] = (uint32_t) (a >> 32);
	rng->s[2] = (uint32_t) b;
	rng->s[3] = (uint32_t) (b >> 32);
	if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
		rng->s[0] = 1;			/* the all-zero state is a fixed point */
}

static inline uint32_t
rotl(uint32_t x, int k)
{
	return (x << k) | (x >> (32 - k));
}

uint32_t
rnn_rng_u32(RnnRng *rng)
{
	uint32_t   *s = rng->s;
	uint32_t	result = rotl(s[1] * 5, 7) * 9;
	uint32_t	t = s[1] << 9;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 11);
	return result;
}

float
rnn_rng_uniform(RnnRng *rng)
{
	/* 24 random bits: every value exactly representable, never 1.0 */
	return (float) (rnn_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

float
rnn_rng_normal(RnnRng *rng)
{
	/* Box-Muller; u1 in (0, 1] so log() is finite */
	float		u1 = 1.0f - rnn_rng_uniform(rng);
	float		u2 = rnn_rng_uniform(rng);

	return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

uint32_t
rnn_rng_below(RnnRng *rng, uint32_t n)
{
	/* Lemire's multiply-shift with rejection: unbiased */
	uint64_t	m = (uint64_t) rnn_rng_u32(rng) * n;
	uint32_t	low = (uint32_t) m;

	if (low < n)
	{
		uint32_t	threshold = (uint32_t) (-n) % n;

		while (low < threshold)
		{
			m = (uint64_t) rnn_rng_u32(rng) * n;
			low = (uint32_t) m;
		}
	}
	return (uint32_t) (m >> 32);
}

void
rnn_rng_shuffle(RnnRng *rng, int *v, int n)
{
	for (int i = n - 1; i > 0; i--)
	{
		int			j = (int) rnn_rng_below(rng, (uint32_t) i + 1);
		int			tmp = v[i];

		v[i] = v[j];
		v[j] = tmp;
	}
}
