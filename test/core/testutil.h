/*
 * testutil.h -- TAP output, a named tolerant float checker and the reader of
 * the PyTorch fixture files written by gen_fixtures.py, for the engine tests.
 *
 * Header-only (static inline), so each test_*.c is one translation unit plus
 * the engine sources.  Plain C11 + stdio; nothing here knows the engine's
 * internals, only rnn.h.
 */
#ifndef RNN_TESTUTIL_H
#define RNN_TESTUTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rnn.h"

/* ---------------------------------------------------------------------------
 * TAP: one "ok N - description" / "not ok N - description" line per
 * assertion group; diagnostics are "# ..." comment lines.
 */
static int	tap_count;
static int	tap_failed;

static inline int
tap_ok(int pass, const char *fmt,...)
{
	va_list		ap;

	tap_count++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return pass;
}

static inline void
tap_diag(const char *fmt,...)
{
	va_list		ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Prints the plan (at the end, which TAP allows); returns the exit code. */
static inline int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

/* ---------------------------------------------------------------------------
 * check_close: all |got - want| <= atol + rtol * |want|.  Prints one
 * diagnostic line with the max absolute and relative differences (and the
 * worst index) and returns 1 if every element passes.  NaN never passes.
 */
static inline int
check_close(const char *name, const float *got, const float *want, size_t n,
			double rtol, double atol)
{
	double		max_abs = 0.0,
				max_rel = 0.0,
				worst_use = 0.0;	/* max d / allowed: < 1 passes */
	size_t		worst = 0,
				bad = 0;
	double		worst_excess = -1.0;

	if (got == NULL || want == NULL)
	{
		tap_diag("%-32s missing (got %p, want %p)", name, (const void *) got,
				 (const void *) want);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
	{
		double		g = got[i],
					w = want[i];
		double		d = fabs(g - w);
		double		r = d / (fabs(w) > 1e-30 ? fabs(w) : 1e-30);
		double		lim = atol + rtol * fabs(w);

		if (isnan(d))
			d = INFINITY;
		if (d > max_abs)
			max_abs = d;
		if (fabs(w) > atol && r > max_rel)
			max_rel = r;
		if (d / lim > worst_use)
			worst_use = d / lim;
		if (!(d <= lim))
		{
			bad++;
			if (d - lim > worst_excess)
			{
				worst_excess = d - lim;
				worst = i;
			}
		}
	}
	if (bad)
		tap_diag("%-32s FAIL n=%zu bad=%zu max_abs=%.3g max_rel=%.3g "
				 "worst[%zu] got=%.7g want=%.7g", name, n, bad, max_abs,
				 max_rel, worst, (double) got[worst], (double) want[worst]);
	else
		tap_diag("%-32s ok   n=%zu max_abs=%.3g max_rel=%.3g (%.0f%% of tolerance)",
				 name, n, max_abs, max_rel, 100 * worst_use);
	return bad == 0;
}

/* Scalar version (losses, norms). */
static inline int
check_close1(const char *name, double got, double want, double rtol, double atol)
{
	double		d = fabs(got - want);
	int			pass = d <= atol + rtol * fabs(want);

	tap_diag("%-32s %s got=%.9g want=%.9g abs=%.3g", name, pass ? "ok  " : "FAIL",
			 got, want, d);
	return pass;
}

/* ---------------------------------------------------------------------------
 * Fixture files (format documented in gen_fixtures.py).
 */
#define FIX_NCFG 12

typedef struct FixTensor
{
	char		name[49];
	int			dtype;			/* 0 float32, 1 int32 */
	int			ndim;
	int			dims[4];
	size_t		n;				/* elements */
	void	   *data;			/* float or int32_t */
} FixTensor;

typedef struct Fixture
{
	char		name[128];
	int			cfg[FIX_NCFG];
	int			n_tensors;
	FixTensor  *t;
} Fixture;

static inline int32_t
fix_le32(const unsigned char *p)
{
	return (int32_t) ((uint32_t) p[0] | (uint32_t) p[1] << 8 |
					  (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
}

static inline void
fixture_free(Fixture *f)
{
	if (f->t)
	{
		for (int i = 0; i < f->n_tensors; i++)
			free(f->t[i].data);
		free(f->t);
	}
	memset(f, 0, sizeof(*f));
}

/* Loads dir/name.bin; returns 0 on success, prints why on failure. */
static inline int
fixture_load(Fixture *f, const char *dir, const char *name)
{
	char		path[1024];
	FILE	   *fp;
	long		len;
	unsigned char *buf,
			   *p,
			   *end;

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
	fp = fopen(path, "rb");
	if (!fp)
	{
		tap_diag("cannot open %s", path);
		return -1;
	}
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc(len > 0 ? (size_t) len : 1);
	if (!buf || fread(buf, 1, (size_t) len, fp) != (size_t) len)
	{
		tap_diag("cannot read %s", path);
		fclose(fp);
		free(buf);
		return -1;
	}
	fclose(fp);
	p = buf;
	end = buf + len;
#define NEED(k) do { if ((size_t) (end - p) < (size_t) (k)) goto corrupt; } while (0)
	NEED(8 + 4);
	if (memcmp(p, "RNNFIX01", 8) != 0)
		goto corrupt;
	p += 8;
	if (fix_le32(p) != FIX_NCFG)
		goto corrupt;
	p += 4;
	NEED(4 * FIX_NCFG + 4);
	for (int i = 0; i < FIX_NCFG; i++, p += 4)
		f->cfg[i] = fix_le32(p);
	f->n_tensors = fix_le32(p);
	p += 4;
	if (f->n_tensors < 0 || f->n_tensors > 10000)
		goto corrupt;
	f->t = calloc((size_t) f->n_tensors + 1, sizeof(FixTensor));
	for (int i = 0; i < f->n_tensors; i++)
	{
		FixTensor  *t = &f->t[i];

		NEED(48 + 24);
		memcpy(t->name, p, 48);
		t->name[48] = '\0';
		p += 48;
		t->dtype = fix_le32(p);
		t->ndim = fix_le32(p + 4);
		t->n = 1;
		for (int d = 0; d < 4; d++)
		{
			t->dims[d] = fix_le32(p + 8 + 4 * d);
			if (t->dims[d] < 0)
				goto corrupt;
			t->n *= (size_t) t->dims[d];
		}
		p += 24;
		NEED(4 * t->n);
		t->data = malloc(4 * t->n + 4);
		/* little-endian host assumed for the payload (x86, arm64) */
		memcpy(t->data, p, 4 * t->n);
		p += 4 * t->n;
	}
	if (p != end)
		goto corrupt;
#undef NEED
	free(buf);
	return 0;
corrupt:
	tap_diag("corrupt fixture %s at byte %ld", path, (long) (p - buf));
	free(buf);
	fixture_free(f);
	return -1;
}

static inline FixTensor *
fixture_get(const Fixture *f, const char *name)
{
	for (int i = 0; i < f->n_tensors; i++)
		if (strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	return NULL;
}

static inline const float *
fixture_f32(const Fixture *f, const char *name, size_t *n)
{
	FixTensor  *t = fixture_get(f, name);

	if (n)
		*n = 0;
	if (!t || t->dtype != 0)
		return NULL;
	if (n)
		*n = t->n;
	return (const float *) t->data;
}

static inline const int32_t *
fixture_i32(const Fixture *f, const char *name, size_t *n)
{
	FixTensor  *t = fixture_get(f, name);

	if (n)
		*n = 0;
	if (!t || t->dtype != 1)
		return NULL;
	if (n)
		*n = t->n;
	return (const int32_t *) t->data;
}

static inline void
fixture_config(const Fixture *f, RnnConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cell = (RnnCellKind) f->cfg[0];
	cfg->num_layers = f->cfg[1];
	cfg->bidirectional = f->cfg[2];
	cfg->input_size = f->cfg[3];
	cfg->vocab_size = f->cfg[4];
	cfg->embedding_dim = f->cfg[5];
	cfg->hidden_size = f->cfg[6];
	cfg->output_size = f->cfg[7];
	cfg->head = (RnnHeadKind) f->cfg[8];
	cfg->pooling = (RnnPooling) f->cfg[9];
	cfg->skip_size = f->cfg[10];
	cfg->dropout = (float) f->cfg[11] / 1e6f;
}

/* Directory of the fixtures: argv[1], else $RNN_FIXTURES, else "fixtures". */
static inline const char *
fixture_dir(int argc, char **argv)
{
	const char *env = getenv("RNN_FIXTURES");

	if (argc > 1)
		return argv[1];
	return env && *env ? env : "fixtures";
}

/* ---------------------------------------------------------------------------
 * Small helpers shared by the tests.
 */

/* Packs padded (B, T, I) data (batch-major, T = lengths[0]) into (N, I). */
static inline void
pack_padded(float *dst, const float *src, const int *lengths, int B, int I)
{
	int			T = lengths[0];
	size_t		row = 0;

	for (int t = 0; t < T; t++)
		for (int b = 0; b < B && lengths[b] > t; b++, row++)
			memcpy(dst + row * I, src + ((size_t) b * T + t) * I,
				   sizeof(float) * I);
}

static inline double
now_seconds(void)
{
	return (double) clock() / CLOCKS_PER_SEC;
}

#endif							/* RNN_TESTUTIL_H */
