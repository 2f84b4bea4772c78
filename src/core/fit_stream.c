/*
 * fit_stream.c -- language models over one token stream: truncated
 * backpropagation through time with the state carried between chunks
 * (rnn.h, "Language models over a token stream").
 *
 * Layout of a batch: B parallel streams of S tokens each (stream b starts
 * at token offset + b * S of the data); chunk k holds steps k*bptt ..
 * k*bptt + T - 1 of every stream, all of the same length T, so the packed
 * row of (step t, stream b) is t * B + b.  Inputs are tokens, targets the
 * tokens one step later.  After a chunk the final states h_n/c_n are copied
 * to the carry buffers the next chunk starts from (rnn_trainer_set_state);
 * gradients stop there.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <string.h>
#include <time.h>

#include "network.h"

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
rnn_stream_defaults(RnnStreamOptions *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->epochs = 10;
	opt->batch_size = 32;
	opt->bptt = 64;
	opt->patience = 3;
	opt->seed = 42;
	rnn_optim_defaults(&opt->optim);
}

/* ---------------------------------------------------------------------------
 * Buffers of one chunk and the carried state
 */
typedef struct Chunk
{
	int			B;
	int			bptt;
	int			n_out;			/* output_size: targets at or above are masked */
	int		   *lengths;		/* (B), all equal */
	int32_t    *inputs;			/* (B * bptt) packed */
	int32_t    *targets;		/* (B * bptt) packed */
	float	   *carry_h;		/* (L*dirs, B, H) */
	float	   *carry_c;		/* (L*dirs, B, H) LSTM, else NULL */
	size_t		state_floats;
	void	   *mem;
} Chunk;

static size_t
chunk_bytes(const RnnConfig *cfg, int B, int bptt)
{
	size_t		state = (size_t) cfg->num_layers * (cfg->bidirectional ? 2 : 1) * B *
		cfg->hidden_size;

	return sizeof(int) * B + 2 * sizeof(int32_t) * (size_t) B * bptt +
		sizeof(float) * state * (cfg->cell == RNN_CELL_LSTM ? 2 : 1);
}

static RnnStatus
chunk_alloc(Chunk *c, const RnnConfig *cfg, int B, int bptt)
{
	char	   *p;

	memset(c, 0, sizeof(*c));
	c->B = B;
	c->bptt = bptt;
	c->n_out = cfg->output_size;
	c->state_floats = (size_t) cfg->num_layers * (cfg->bidirectional ? 2 : 1) * B *
		cfg->hidden_size;
	p = c->mem = rnn_alloc(chunk_bytes(cfg, B, bptt));
	if (p == NULL)
		return RNN_ERR_NOMEM;
	/* 4-byte ints and floats only: packing them is aligned */
	c->lengths = (int *) p;
	p += sizeof(int) * B;
	c->inputs = (int32_t *) p;
	p += sizeof(int32_t) * (size_t) B * bptt;
	c->targets = (int32_t *) p;
	p += sizeof(int32_t) * (size_t) B * bptt;
	c->carry_h = (float *) p;
	p += sizeof(float) * c->state_floats;
	c->carry_c = cfg->cell == RNN_CELL_LSTM ? (float *) p : NULL;
	return RNN_OK;
}

static void
chunk_reset_state(Chunk *c)
{
	memset(c->carry_h, 0, sizeof(float) * c->state_floats);
	if (c->carry_c)
		memset(c->carry_c, 0, sizeof(float) * c->state_floats);
}

/* Fill steps t0 .. t0+T-1 of every stream; returns T. */
static int
chunk_fill(Chunk *c, const int32_t *data, size_t offset, size_t S, size_t t0)
{
	int			T = (int) (S - t0 < (size_t) c->bptt ? S - t0 : (size_t) c->bptt);

	for (int b = 0; b < c->B; b++)
	{
		const int32_t *s = data + offset + (size_t) b * S + t0;

		c->lengths[b] = T;
		for (int t = 0; t < T; t++)
		{
			c->inputs[(size_t) t * c->B + b] = s[t];
			/* the target of a stream's last step is the next stream's first
			 * token; a token the head does not predict is masked */
			c->targets[(size_t) t * c->B + b] = s[t + 1] < c->n_out ? s[t + 1] : -1;
		}
	}
	return T;
}

/* Forward (and backward) of one chunk from the carried state; carries on. */
static RnnStatus
chunk_run(RnnTrainer *tr, Chunk *c, int T, int train, double *loss, int *counted,
		  double *grad_norm)
{
	RnnBatch	batch;
	RnnStatus	st;

	memset(&batch, 0, sizeof(batch));
	batch.B = c->B;
	batch.T = T;
	batch.lengths = c->lengths;
	batch.tokens = c->inputs;
	rnn_trainer_set_state(tr, c->carry_h, c->carry_c);
	st = rnn_forward(tr, &batch, train, NULL);
	if (st == RNN_OK)
		st = rnn_loss_xent_steps(tr, c->targets, loss, counted);
	if (st != RNN_OK)
		return st;
	memcpy(c->carry_h, rnn_trainer_h_n(tr), sizeof(float) * c->state_floats);
	if (c->carry_c)
		memcpy(c->carry_c, rnn_trainer_c_n(tr), sizeof(float) * c->state_floats);
	if (!train)
		return RNN_OK;
	rnn_zero_grad(tr);
	st = rnn_backward(tr);
	if (st == RNN_OK)
		st = rnn_optim_step(tr, grad_norm);
	return st;
}

/* Mean NLL per prediction of data (n tokens) read as c->B streams. */
static RnnStatus
stream_eval(RnnTrainer *tr, Chunk *c, const int32_t *data, size_t n,
			void (*on_batch) (void *), void *cb_ctx, double *nll, size_t *count)
{
	size_t		S = (n - 1) / (size_t) c->B;

	*nll = 0.0;
	*count = 0;
	if (S < 1)
		return RNN_ERR_INPUT;
	chunk_reset_state(c);
	for (size_t t0 = 0; t0 < S; t0 += (size_t) c->bptt)
	{
		int			T = chunk_fill(c, data, 0, S, t0);
		double		loss;
		int			counted;
		RnnStatus	st;

		if (on_batch)
			on_batch(cb_ctx);
		st = chunk_run(tr, c, T, 0, &loss, &counted, NULL);
		if (st != RNN_OK)
			return st;
		*nll += loss * counted;
		*count += (size_t) counted;
	}
	return RNN_OK;
}

static int
ids_in_range(const int32_t *v, size_t n, int V)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0 || v[i] >= V)
			return 0;
	return 1;
}

/* ---------------------------------------------------------------------------
 * Public API
 */
size_t
rnn_fit_stream_memory(const RnnConfig *cfg, int batch_size, int bptt)
{
	size_t		tr = rnn_trainer_memory(cfg, batch_size, bptt);

	if (tr == SIZE_MAX || cfg->head != RNN_HEAD_STEPS)
		return SIZE_MAX;
	/* trainer, a validation batch of at most the same size, chunk, best copy */
	return 2 * tr + 2 * chunk_bytes(cfg, batch_size, bptt) +
		sizeof(float) * rnn_param_count(cfg);
}

RnnStatus
rnn_stream_nll(RnnModel *model, const int32_t *tokens, size_t n, int batch_size, int bptt,
			   double *nll, size_t *count)
{
	RnnTrainer *tr = NULL;
	Chunk		c;
	RnnStatus	st;
	int			B;

	*nll = 0.0;
	*count = 0;
	if (model->cfg.head != RNN_HEAD_STEPS || model->cfg.bidirectional ||
		model->cfg.output_size > model->cfg.vocab_size || n < 2 ||
		batch_size < 1 || bptt < 1)
		return RNN_ERR_INPUT;
	if (!ids_in_range(tokens, n, model->cfg.vocab_size))
		return RNN_ERR_INPUT;
	B = (size_t) batch_size <= n - 1 ? batch_size : (int) (n - 1);
	st = rnn_trainer_create_mode(&tr, model, B, bptt, NULL, 0, 0);
	if (st != RNN_OK)
		return st;
	st = chunk_alloc(&c, &model->cfg, B, bptt);
	if (st == RNN_OK)
		st = stream_eval(tr, &c, tokens, n, NULL, NULL, nll, count);
	rnn_free(c.mem);
	rnn_trainer_free(tr);
	return st;
}

RnnStatus
rnn_fit_stream(RnnModel *model, const int32_t *train, size_t n_train,
			   const int32_t *valid, size_t n_valid, const RnnStreamOptions *opt,
			   RnnFitResult *res)
{
	const RnnConfig *cfg = &model->cfg;
	RnnTrainer *tr = NULL,
			   *ev = NULL;
	Chunk		c,
				vc;
	float	   *best = NULL;
	RnnRng		rng;
	RnnStatus	st;
	double		t0 = now_seconds();
	int			B = opt->batch_size;
	int			vB = 0;
	int			since_best = 0;
	int			have_best = 0;
	int			out_of_time = 0;

	memset(&c, 0, sizeof(c));
	memset(&vc, 0, sizeof(vc));
	res->epochs_run = 0;
	res->best_epoch = 0;
	res->best_valid_loss = NAN;
	res->seconds = 0.0;
	if (cfg->head != RNN_HEAD_STEPS || cfg->bidirectional || cfg->vocab_size < 1 ||
		cfg->output_size > cfg->vocab_size || opt->epochs < 1 || B < 1 || opt->bptt < 1 || n_train < 2 || n_valid == 1)
		return RNN_ERR_CONFIG;
	if (!ids_in_range(train, n_train, cfg->vocab_size) ||
		!ids_in_range(valid, n_valid, cfg->vocab_size))
		return RNN_ERR_INPUT;
	/* a stream of at least one full chunk each, or fewer streams */
	if ((n_train - 1) / (size_t) opt->bptt < (size_t) B)
		B = (int) ((n_train - 1) / (size_t) opt->bptt > 0 ? (n_train - 1) / (size_t) opt->bptt : 1);
	if (n_valid >= 2)
		vB = (size_t) opt->batch_size <= n_valid - 1 ? opt->batch_size : (int) (n_valid - 1);

	st = rnn_trainer_create(&tr, model, B, opt->bptt, &opt->optim, opt->seed ^ 0x5eed);
	if (st == RNN_OK)
		st = chunk_alloc(&c, cfg, B, opt->bptt);
	if (st == RNN_OK && vB > 0)
	{
		st = rnn_trainer_create_mode(&ev, model, vB, opt->bptt, NULL, 0, 0);
		if (st == RNN_OK)
			st = chunk_alloc(&vc, cfg, vB, opt->bptt);
	}
	best = rnn_alloc(sizeof(float) * model->n_params);
	if (st == RNN_OK && best == NULL)
		st = RNN_ERR_NOMEM;
	if (st != RNN_OK)
		goto done;
	rnn_rng_seed(&rng, opt->seed);
	memcpy(best, model->params, sizeof(float) * model->n_params);

	for (int epoch = 1; epoch <= opt->epochs && !out_of_time; epoch++)
	{
		RnnEpochReport rep;
		size_t		offset = opt->bptt > 1 && n_train - 1 > (size_t) B * opt->bptt
			? rnn_rng_below(&rng, (uint32_t) opt->bptt) : 0;
		size_t		S = (n_train - 1 - offset) / (size_t) B;
		double		sum_loss = 0.0,
					sum_norm = 0.0;
		size_t		seen = 0;
		int			nb = 0;

		chunk_reset_state(&c);
		for (size_t s0 = 0; s0 < S; s0 += (size_t) opt->bptt)
		{
			int			T = chunk_fill(&c, train, offset, S, s0);
			double		loss,
						norm = 0.0;
			int			counted;

			if (opt->on_batch)
				opt->on_batch(opt->cb_ctx);
			st = chunk_run(tr, &c, T, 1, &loss, &counted, &norm);
			if (st != RNN_OK)
				goto done;
			sum_loss += loss * counted;
			seen += (size_t) counted;
			sum_norm += norm;
			nb++;
			if (opt->max_seconds > 0 && now_seconds() - t0 >= opt->max_seconds)
			{
				out_of_time = 1;
				break;
			}
		}

		rep.epoch = epoch;
		rep.train_loss = seen > 0 ? sum_loss / seen : NAN;
		rep.grad_norm = nb > 0 ? sum_norm / nb : NAN;
		rep.valid_loss = NAN;
		if (vB > 0)
		{
			size_t		cnt;

			st = stream_eval(ev, &vc, valid, n_valid, opt->on_batch, opt->cb_ctx,
							 &rep.valid_loss, &cnt);
			if (st != RNN_OK)
				goto done;
			rep.valid_loss = cnt > 0 ? rep.valid_loss / (double) cnt : NAN;
		}
		{
			double		score = vB > 0 ? rep.valid_loss : rep.train_loss;

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
	memcpy(model->params, best, sizeof(float) * model->n_params);
	st = RNN_OK;

done:
	res->seconds = now_seconds() - t0;
	rnn_free(best);
	rnn_free(vc.mem);
	rnn_free(c.mem);
	rnn_trainer_free(ev);
	rnn_trainer_free(tr);
	return st;
}
