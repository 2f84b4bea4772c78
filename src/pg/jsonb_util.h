/*
 * jsonb_util.h -- reading the few shapes of jsonb rnn_ext stores
 * (hyperparams, normalization, metrics): scalars and flat arrays by key.
 */
#ifndef RNN_JSONB_UTIL_H
#define RNN_JSONB_UTIL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* Parse JSON text built with a StringInfo into jsonb. */
Jsonb	   *rnn_jsonb_from_text(const char *json);

/* Append a JSON array of doubles ("%.17g"; NaN/Inf become null). */
void		rnn_json_append_doubles(StringInfo buf, const double *v, size_t n);

/* Lookups of a top-level key; the defaults are returned when the key is
 * absent or JSON null.  Wrong types raise DATA_CORRUPTED naming the key. */
bool		rnn_jsonb_has(Jsonb *jb, const char *key);
double		rnn_jsonb_double(Jsonb *jb, const char *key, double dflt);
int64		rnn_jsonb_int(Jsonb *jb, const char *key, int64 dflt);
bool		rnn_jsonb_bool(Jsonb *jb, const char *key, bool dflt);
char	   *rnn_jsonb_text(Jsonb *jb, const char *key);	/* NULL if absent */

/* Arrays: palloc'd, *n elements; NULL and *n = 0 when absent. */
double	   *rnn_jsonb_doubles(Jsonb *jb, const char *key, int *n);
char	  **rnn_jsonb_texts(Jsonb *jb, const char *key, int *n);

#endif							/* RNN_JSONB_UTIL_H */
