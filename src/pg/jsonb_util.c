/*
 * jsonb_util.c -- see jsonb_util.h.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "jsonb_util.h"

Jsonb *
rnn_jsonb_from_text(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

void
rnn_json_append_doubles(StringInfo buf, const double *v, size_t n)
{
	appendStringInfoChar(buf, '[');
	for (size_t i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		if (isfinite(v[i]))
			appendStringInfo(buf, "%.17g", v[i]);
		else
			appendStringInfoString(buf, "null");
	}
	appendStringInfoChar(buf, ']');
}

static bool
lookup(Jsonb *jb, const char *key, JsonbValue *out)
{
	JsonbValue *v;

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return false;
	v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), out);
	return v != NULL && v->type != jbvNull;
}

static void
bad_type(const char *key, const char *want)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model metadata key \"%s\" is not %s", key, want),
			 errhint("The row in rnn.models was changed by hand; retrain or re-import the model.")));
}

static double
numeric_value(const JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		bad_type(key, "a number");
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

bool
rnn_jsonb_has(Jsonb *jb, const char *key)
{
	JsonbValue	v;

	return lookup(jb, key, &v);
}

double
rnn_jsonb_double(Jsonb *jb, const char *key, double dflt)
{
	JsonbValue	v;

	return lookup(jb, key, &v) ? numeric_value(&v, key) : dflt;
}

int64
rnn_jsonb_int(Jsonb *jb, const char *key, int64 dflt)
{
	JsonbValue	v;
	double		d;

	if (!lookup(jb, key, &v))
		return dflt;
	d = numeric_value(&v, key);
	if (d != floor(d) || fabs(d) > 9e15)
		bad_type(key, "an integer");
	return (int64) d;
}

bool
rnn_jsonb_bool(Jsonb *jb, const char *key, bool dflt)
{
	JsonbValue	v;

	if (!lookup(jb, key, &v))
		return dflt;
	if (v.type != jbvBool)
		bad_type(key, "a boolean");
	return v.val.boolean;
}

char *
rnn_jsonb_text(Jsonb *jb, const char *key)
{
	JsonbValue	v;

	if (!lookup(jb, key, &v))
		return NULL;
	if (v.type != jbvString)
		bad_type(key, "a string");
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* Iterate the elements of array 'key'; element handler by type. */
static int
array_elements(Jsonb *jb, const char *key, JsonbValue **elems)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n = 0,
				cap = 16;

	*elems = NULL;
	if (!lookup(jb, key, &v))
		return 0;
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		bad_type(key, "an array");
	*elems = palloc(sizeof(JsonbValue) * cap);
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (n == cap)
		{
			cap *= 2;
			*elems = repalloc_huge(*elems, sizeof(JsonbValue) * cap);
		}
		(*elems)[n++] = e;
	}
	return n;
}

double *
rnn_jsonb_doubles(Jsonb *jb, const char *key, int *n)
{
	JsonbValue *elems;
	double	   *out;

	*n = array_elements(jb, key, &elems);
	if (*n == 0)
		return NULL;
	out = palloc(sizeof(double) * *n);
	for (int i = 0; i < *n; i++)
		out[i] = elems[i].type == jbvNull ? NAN : numeric_value(&elems[i], key);
	pfree(elems);
	return out;
}

char **
rnn_jsonb_texts(Jsonb *jb, const char *key, int *n)
{
	JsonbValue *elems;
	char	  **out;

	*n = array_elements(jb, key, &elems);
	if (*n == 0)
		return NULL;
	out = palloc(sizeof(char *) * *n);
	for (int i = 0; i < *n; i++)
	{
		if (elems[i].type != jbvString)
			bad_type(key, "an array of strings");
		out[i] = pnstrdup(elems[i].val.string.val, elems[i].val.string.len);
	}
	pfree(elems);
	return out;
}
