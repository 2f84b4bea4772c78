/*
 * alloc.c -- allocation hooks and status messages.
 *
 * The engine never calls malloc directly: inside PostgreSQL the hooks point
 * at palloc in the current memory context, so an ereport() (query cancel,
 * out-of-memory) unwinding through engine code loses nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "rnn.h"

static void *
default_alloc(size_t size)
{
	return calloc(1, size);
}

static RnnAllocFn alloc_hook = default_alloc;
static RnnFreeFn free_hook = free;

void
rnn_set_allocator(RnnAllocFn alloc_fn, RnnFreeFn free_fn)
{
	alloc_hook = alloc_fn ? alloc_fn : default_alloc;
	free_hook = free_fn ? free_fn : free;
}

void *
rnn_alloc(size_t size)
{
	if (size == 0)
		size = 1;
	return alloc_hook(size);
}

void
rnn_free(void *ptr)
{
	if (ptr != NULL)
		free_hook(ptr);
}

const char *
rnn_status_message(RnnStatus status)
{
	switch (status)
	{
		case RNN_OK:
			return "success";
		case RNN_ERR_NOMEM:
			return "out of memory";
		case RNN_ERR_CONFIG:
			return "invalid model configuration";
		case RNN_ERR_INPUT:
			return "malformed batch";
		case RNN_ERR_NONFINITE:
			return "non-finite value (NaN or Infinity) in loss or gradients";
		case RNN_ERR_TRUNCATED:
			return "weight blob is truncated";
		case RNN_ERR_MAGIC:
			return "not an rnn_ext weight blob (bad magic number)";
		case RNN_ERR_VERSION:
			return "weight blob was written by a newer format version";
		case RNN_ERR_CHECKSUM:
			return "weight blob checksum mismatch";
		case RNN_ERR_CORRUPT:
			return "weight blob is corrupted";
	}
	return "unknown error";
}
