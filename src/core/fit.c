/*
 * fit.c -- the training loop: shuffled mini-batches (optionally grouped by
 * length so ragged batches carry little padding-free waste), Adam with
 * clipping, a validation pass per epoch, early stopping that restores the
 * best epoch's weights.  Reproducible for a given seed.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rnn.h"

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
rnn_fit_defaults(RnnFitOptions *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->epochs = 20;
	opt->batch_size = 64;
	opt->patience = 5;
	opt->length_buckets = 1;
	opt->seed = 42;
	rnn_optim_defaults(&opt->optim);
}

/* ---------------------------------------------------------------------------
 * Batch buffers: one allocation, sized for the largest batch.
 */
/* Labels: one a sequence, or one a packed row for a per-step head. */
static size_t
label_rows(const RnnConfig *cfg, int B, int T)
{
	return cfg->head == RNN_HEAD_STEPS ? (size_t) B * T : (size_t) B;
}

static size_t
batchbuf_bytes(const RnnConfig *cfg, int B, int T)
{
	size_t		rows = (size_t) B * T;

	return sizeof(int) * B +
		sizeof(float) * rows * (cfg->vocab_size > 0 ? 0 : cfg->input_size) +
		sizeof(int32_t) * (cfg->vocab_size > 0 ? rows : 0) +
		sizeof(float) * (size_t) B * cfg->skip_size +
		sizeof(float) * (size_t) B * cfg->output_size +
		sizeof(int) * label_rows(cfg, B, T) + sizeof(float) * B +
		sizeof(float) * (size_t) B * cfg->output_size;
}

static void *
batchbuf_alloc(RnnBatchBuf *buf, const RnnConfig *cfg, int B, int T)
{
	size_t		rows = (size_t) B * T;
	char	   *p = rnn_alloc(batchbuf_bytes(cfg, B, T));
	char	   *base = p;

	if (p == NULL)
		return NULL;
	/* floats and ints share 4-byte alignment, so packing them is safe */
	buf->lengths = (int *) p;
	p += sizeof(int) * B;
	buf->x = cfg->vocab_size > 0 ? NULL : (float *) p;
	p += sizeof(float) * rows * (cfg->vocab_size > 0 ? 0 : cfg->input_size);
	buf->tokens = cfg->vocab_size > 0 ? (int32_t *) p : NULL;
	p += sizeof(int32_t) * (cfg->vocab_size > 0 ? rows : 0);
	buf->skip = cfg->skip_size > 0 ? (float *) p : NULL;
	p += sizeof(float) * (size_t) B * cfg->skip_size;
	buf->targets = (float *) p;
	p += sizeof(float) * (size_t) B * cfg->output_size;
	buf->labels = (int *) p;
	p += sizeof(int) * label_rows(cfg, B, T);
	buf->weights = (float *) p;
	p += sizeof(float) * B;
	buf->offsets = (float *) p;
	return base;
}

size_t
rnn_fit_memory(const RnnConfig *cfg, int batch_size, int max_steps)
{
	size_t		tr = rnn_trainer_memory(cfg, batch_size, max_steps);

	if (tr == SIZE_MAX)
		return SIZE_MAX;
	return tr + batchbuf_bytes(cfg, batch_size, max_steps) +
		sizeof(float) * rnn_param_count(cfg);	/* best-epoch copy */
}

/* ---------------------------------------------------------------------------
 * Ordering
 */
static int
cmp_len_desc(const void *a, const void *b)
{
	const RnnLenIdx *x = a,
			   *y = b;

	if (x->len != y->len)
		return y->len - x->len;
	return x->idx - y->idx;		/* total order: qsort need not be stable */
}

void
rnn_sort_by_length(RnnLenIdx *items, int n)
{
	qsort(items, n, sizeof(RnnLenIdx), cmp_len_desc);
}

/* Sort idx[0..n) by example length, descending (the packed layout needs it). */
static void
sort_by_length(const RnnDataset *ds, int *idx, int n, RnnLenIdx *tmp)
{
	for (int i = 0; i < n; i++)
	{
		tmp[i].len = ds->length(ds->ctx, idx[i]);
		tmp[i].idx = idx[i];
	}
	rnn_sort_by_length(tmp, n);
	for (int i = 0; i < n; i++)
		idx[i] = tmp[i].idx;
}

/* ---------------------------------------------------------------------------
 * One batch
 */
static RnnStatus
run_batch(RnnTrainer *tr, const RnnDataset *ds, RnnBatchBuf *buf, int *idx, int count,
		  RnnLenIdx *tmp, int train, int l1, double *loss, double *grad_norm)
{
	const RnnConfig *cfg = &rnn_trainer_model(tr)->cfg;
	RnnBatch	batch;
	RnnStatus	st;

	sort_by_length(ds, idx, count, tmp);
	st = ds->load(ds->ctx, idx, count, buf);
	if (st != RNN_OK)
		return st;
	batch.B = count;
	batch.T = buf->lengths[0];
	batch.lengths = buf->lengths;
	batch.x = buf->x;
	batch.tokens = buf->tokens;
	batch.skip = buf->skip;

	st = rnn_forward(tr, &batch, train, NULL);
	if (st == RNN_OK && ds->use_offsets)
		rnn_add_output_offsets(tr, buf->offsets);
	if (st == RNN_OK)
	{
		if (cfg->head == RNN_HEAD_STEPS)
			st = rnn_loss_xent_steps(tr, (const int32_t *) buf->labels, loss, NULL);
		else if (cfg->head == RNN_HEAD_REGRESSION)
			st = l1 ? rnn_loss_mae(tr, buf->targets, loss) : rnn_loss_mse(tr, buf->targets, loss);
		else
			st = rnn_loss_xent(tr, buf->labels, ds->use_weights ? buf->weights : NULL, loss);
	}
	if (st != RNN_OK || !train)
		return st;
	rnn_zero_grad(tr);
	st = rnn_backward(tr);
	if (st == RNN_OK)
		st = rnn_optim_step(tr, grad_norm);
	return st;
}

/* Mean of per-batch losses weighted by batch size. */
static RnnStatus
evaluate(RnnTrainer *tr, const RnnDataset *ds, const RnnFitOptions *opt, RnnBatchBuf *buf,
		 int *idx, RnnLenIdx *tmp, int first, int count, int batch_size, double *mean)
{
	double		total = 0.0;

	for (int start = 0; start < count; start += batch_size)
	{
		int			n = count - start < batch_size ? count - start : batch_size;
		double		loss;
		RnnStatus	st;

		/* a validation pass can be as long as an epoch: stay cancellable */
		if (opt && opt->on_batch)
			opt->on_batch(opt->cb_ctx);
		for (int i = 0; i < n; i++)
			idx[i] = first + start + i;
		st = run_batch(tr, ds, buf, idx, n, tmp, 0, opt && opt->l1_loss, &loss, NULL);
		if (st != RNN_OK)
			return st;
		total += loss * n;
	}
	*mean = count > 0 ? total / count : NAN;
	return RNN_OK;
}

/*
 * The epoch's batches: a shuffled order cut into batch_size pieces.  With
 * length buckets, each window of 50 batches is sorted by length first and the
 * batch order shuffled again, so a batch holds similar lengths.
 */
static int
plan_epoch(const RnnDataset *ds, const RnnFitOptions *opt, RnnRng *rng,
		   int *order, int *starts, RnnLenIdx *tmp)
{
	int			n = ds->n_train;
	int			nb = 0;

	for (int i = 0; i < n; i++)
		order[i] = i;
	rnn_rng_shuffle(rng, order, n);
	if (opt->length_buckets)
	{
		int			window = opt->batch_size * 50;

		for (int s = 0; s < n; s += window)
			sort_by_length(ds, order + s, n - s < window ? n - s : window, tmp);
	}
	for (int s = 0; s < n; s += opt->batch_size)
		starts[nb++] = s;
	rnn_rng_shuffle(rng, starts, nb);
	return nb;
}

/*
 * Weight averaging: avg moves towards the weights after each step.  At
 * validation the average is swapped into the model (raw weights kept in
 * scratch) and swapped back after.
 */
static void
average_update(float *avg, const float *w, size_t n, float decay, long step)
{
	float		d = (1.0f + step) / (10.0f + step);
	float		a;

	if (d > decay)
		d = decay;
	a = 1.0f - d;
	for (size_t i = 0; i < n; i++)
		avg[i] += a * (w[i] - avg[i]);
}

static void
swap_weights(float *params, float *other, float *scratch, size_t n)
{
	memcpy(scratch, params, sizeof(float) * n);
	memcpy(params, other, sizeof(float) * n);
	memcpy(other, scratch, sizeof(float) * n);
}

RnnStatus
rnn_fit(RnnModel *model, const RnnDataset *ds, const RnnFitOptions *opt, RnnFitResult *res)
{
	RnnTrainer *tr = NULL;
	RnnBatchBuf buf;
	void	   *bufmem = NULL;
	int		   *order = NULL,
			   *starts = NULL,
			   *idx = NULL;
	RnnLenIdx	   *tmp = NULL;
	float	   *best = NULL,
			   *avg = NULL,
			   *scratch = NULL;
	int			averaging = opt->average_decay > 0.0f;
	long		steps = 0;
	RnnRng		rng;
	RnnStatus	st;
	double		t0 = now_seconds();
	int			B = opt->batch_size;
	int			since_best = 0;
	int			have_best = 0;
	int			n_batches_max;

	res->epochs_run = 0;
	res->best_epoch = 0;
	res->best_valid_loss = NAN;
	res->seconds = 0.0;
	if (B < 1 || opt->epochs < 1 || ds->n_train < 1 || ds->max_steps < 1)
		return RNN_ERR_CONFIG;

	st = rnn_trainer_create(&tr, model, B, ds->max_steps, &opt->optim, opt->seed ^ 0x5eed);
	if (st != RNN_OK)
		return st;
	n_batches_max = opt->batches_per_epoch > 0 ? opt->batches_per_epoch
		: (ds->n_train + B - 1) / B;
	bufmem = batchbuf_alloc(&buf, &model->cfg, B, ds->max_steps);
	order = rnn_alloc(sizeof(int) * ds->n_train);
	starts = rnn_alloc(sizeof(int) * ((ds->n_train + B - 1) / B));
	idx = rnn_alloc(sizeof(int) * B);
	tmp = rnn_alloc(sizeof(RnnLenIdx) * (size_t) (B * 50 > ds->n_train ? B * 50 : ds->n_train));
	best = rnn_alloc(sizeof(float) * model->n_params);
	if (averaging)
	{
		avg = rnn_alloc(sizeof(float) * model->n_params);
		scratch = rnn_alloc(sizeof(float) * model->n_params);
	}
	if (!bufmem || !order || !starts || !idx || !tmp || !best ||
		(averaging && (!avg || !scratch)))
	{
		st = RNN_ERR_NOMEM;
		goto done;
	}
	rnn_rng_seed(&rng, opt->seed);
	memcpy(best, model->params, sizeof(float) * model->n_params);
	if (averaging)
		memcpy(avg, model->params, sizeof(float) * model->n_params);

	/*
	 * The starting point competes too (as "epoch 0"): a model that starts
	 * from a closed-form solution must not end worse than it started.
	 */
	if (ds->n_valid > 0)
	{
		st = evaluate(tr, ds, opt, &buf, idx, tmp, ds->n_train, ds->n_valid, B, &res->best_valid_loss);
		if (st != RNN_OK)
			goto done;
		have_best = 1;
	}

	for (int epoch = 1; epoch <= opt->epochs; epoch++)
	{
		RnnEpochReport rep;
		double		sum_loss = 0.0,
					sum_norm = 0.0;
		int			seen = 0,
					nb;

		if (opt->batches_per_epoch > 0)
			nb = n_batches_max;
		else
			nb = plan_epoch(ds, opt, &rng, order, starts, tmp);

		for (int k = 0; k < nb; k++)
		{
			int			n;
			double		loss,
						norm = 0.0;

			if (opt->on_batch)
				opt->on_batch(opt->cb_ctx);
			if (opt->batches_per_epoch > 0)
			{
				/* sampled: B examples drawn uniformly (huge data sets) */
				n = B < ds->n_train ? B : ds->n_train;
				for (int i = 0; i < n; i++)
					idx[i] = (int) rnn_rng_below(&rng, (uint32_t) ds->n_train);
			}
			else
			{
				n = ds->n_train - starts[k] < B ? ds->n_train - starts[k] : B;
				memcpy(idx, order + starts[k], sizeof(int) * n);
			}
			st = run_batch(tr, ds, &buf, idx, n, tmp, 1, opt->l1_loss, &loss, &norm);
			if (st != RNN_OK)
				goto done;
			if (averaging)
				average_update(avg, model->params, model->n_params, opt->average_decay,
							   steps++);
			sum_loss += loss * n;
			sum_norm += norm;
			seen += n;
		}

		rep.epoch = epoch;
		rep.train_loss = sum_loss / seen;
		rep.grad_norm = sum_norm / nb;
		rep.valid_loss = NAN;
		/* from here to the end of the epoch the model holds the average */
		if (averaging)
			swap_weights(model->params, avg, scratch, model->n_params);
		if (ds->n_valid > 0)
		{
			st = evaluate(tr, ds, opt, &buf, idx, tmp, ds->n_train, ds->n_valid, B, &rep.valid_loss);
			if (st != RNN_OK)
				goto done;
		}

		/* early stopping on validation loss (train loss without a split) */
		{
			double		score = ds->n_valid > 0 ? rep.valid_loss : rep.train_loss;

			if (!have_best || score < res->best_valid_loss)
			{
				have_best = 1;
				res->best_valid_loss = score;
				res->best_epoch = epoch;
				memcpy(best, model->params, sizeof(float) * model->n_params);
				since_best = 0;
			}
			else
				since_best++;
		}
		if (averaging)
			swap_weights(model->params, avg, scratch, model->n_params);
		if (res->train_curve)
			res->train_curve[epoch - 1] = rep.train_loss;
		if (res->valid_curve)
			res->valid_curve[epoch - 1] = rep.valid_loss;
		res->epochs_run = epoch;
		rep.best_epoch = res->best_epoch;
		rep.seconds = now_seconds() - t0;
		if (opt->on_epoch && opt->on_epoch(opt->cb_ctx, &rep))
			break;
		if (opt->patience > 0 && since_best >= opt->patience)
			break;
	}
	/* restore the best epoch */
	memcpy(model->params, best, sizeof(float) * model->n_params);
	st = RNN_OK;

done:
	res->seconds = now_seconds() - t0;
	rnn_free(scratch);
	rnn_free(avg);
	rnn_free(best);
	rnn_free(tmp);
	rnn_free(idx);
	rnn_free(starts);
	rnn_free(order);
	rnn_free(bufmem);
	rnn_trainer_free(tr);
	return st;
}

RnnStatus
rnn_evaluate_loss(RnnModel *model, const RnnDataset *ds, int first, int count,
				  int batch_size, double *loss)
{
	RnnTrainer *tr = NULL;
	RnnBatchBuf buf;
	void	   *bufmem;
	int		   *idx;
	RnnLenIdx	   *tmp;
	RnnStatus	st;

	st = rnn_trainer_create(&tr, model, batch_size, ds->max_steps, NULL, 0);
	if (st != RNN_OK)
		return st;
	bufmem = batchbuf_alloc(&buf, &model->cfg, batch_size, ds->max_steps);
	idx = rnn_alloc(sizeof(int) * batch_size);
	tmp = rnn_alloc(sizeof(RnnLenIdx) * batch_size);
	if (!bufmem || !idx || !tmp)
		st = RNN_ERR_NOMEM;
	else
		st = evaluate(tr, ds, NULL, &buf, idx, tmp, first, count, batch_size, loss);
	rnn_free(tmp);
	rnn_free(idx);
	rnn_free(bufmem);
	rnn_trainer_free(tr);
	return st;
}
