/*
 * test/pq/concurrency.c -- many clients training and scoring at once.
 *
 *   concurrency [-c clients] [-s seconds] [-d dbname]
 *   (defaults 8 clients, 20 s; env RNN_CONCURRENCY_CLIENTS and
 *   RNN_CONCURRENCY_SECONDS, e.g. 120 for a longer soak; the connection
 *   comes from the usual PG* variables)
 *
 * 1. Set-up, one client: a table of 4 series, a reference model 'ref'
 *    trained alone, its weights' md5, its rnn.forecast output and its
 *    rnn.predict_next output per series, as exact float8 text.
 * 2. N client processes, each on its own connection, for the given time,
 *    cycle through:
 *      - training under its own name c<i> (the version must be the next of
 *        its own; the weights must equal the reference byte for byte: same
 *        data, same seed, one BLAS thread);
 *      - training under the shared name 'shared' (versions must come out
 *        distinct and, over all clients, exactly 1..K);
 *      - scoring a model another client published (rnn.forecast,
 *        rnn.predict_next) and the latest 'shared', and (when
 *        rnn.train_classifier exists) a reference classifier with
 *        rnn.sentiment and rnn.classify: the output must equal the
 *        single-client reference exactly;
 *      - now and then dropping an older version of its own model.
 *    Any error is a failure (the model store serializes versions of one
 *    name, so not even a unique-name conflict is expected).
 * 3. Meanwhile this process keeps one long-lived backend scoring and
 *    samples its VmRSS, RssAnon and RssShmem from /proc every second;
 *    after a warm-up third, the least-squares slopes are reported in kB/s.
 *    VmRSS includes the shared buffers the backend touches, which grow
 *    with rnn.models; only a clear leak of private memory (RssAnon slope
 *    > 1024 kB/s) fails: the machine is noisy.
 *
 * Prints TAP.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_CLIENTS 64
#define MAX_SHARED 4096
#define LEAK_KB_PER_S 1024.0

#define TRAIN_ARGS "'pub', 't', 'v', series_column => 'sensor', hidden_size => 8, " \
	"window_size => 24, horizon => 6, epochs => 2, batch_size => 32"
#define FORECAST_SQL "SELECT string_agg(format('%s:%s:%s:%s:%s', series, step, value, lo, hi), ' ' " \
	"ORDER BY series, step) FROM rnn.forecast($1)"
#define SENTIMENT_SQL "SELECT string_agg(format('%s:%s', rnn.sentiment('ref_cls', body), " \
	"rnn.classify('ref_cls', body)), ' ' ORDER BY i) FROM texts"
#define PREDICT_SQL "SELECT string_agg(format('%s:%s', sensor, p), ' ' ORDER BY sensor) FROM " \
	"(SELECT sensor, rnn.predict_next($1, v, sensor ORDER BY t) AS p FROM pub GROUP BY sensor) x"

typedef struct Result
{
	int			client;
	int			own_trainings;
	int			shared_trainings;
	int			scorings;
	int			drops;
	int			errors;
	int			mismatches;
	char		first_problem[512];
	int			n_shared;
	int			shared_versions[MAX_SHARED];
} Result;

static int	tap_n = 0;
static int	tap_fails = 0;
static char ref_md5[64];
static char *ref_forecast;
static char *ref_predict;
static char *ref_sentiment;		/* NULL without rnn.train_classifier */

static void
tap(int ok, const char *fmt,...)
{
	va_list		ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_fails++;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static PGconn *
connect_db(const char *dbname)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {dbname, "rnn_concurrency", NULL};
	PGconn	   *c = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(c) != CONNECTION_OK)
	{
		printf("Bail out! cannot connect: %s", PQerrorMessage(c));
		exit(1);
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	PQclear(PQexec(c, "SET rnn.blas_threads = 1"));
	return c;
}

/*
 * Run sql with up to one text parameter; return the first value (malloced,
 * "" for NULL) or NULL on error, with "SQLSTATE: message" in err.
 */
static char *
query1(PGconn *c, const char *sql, const char *param, char *err, size_t errlen)
{
	PGresult   *r = PQexecParams(c, sql, param ? 1 : 0, NULL, param ? &param : NULL,
								 NULL, NULL, 0);
	char	   *out = NULL;

	if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
		out = strdup(PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	else if (err)
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		snprintf(err, errlen, "%s: %s", state ? state : "?????", PQresultErrorMessage(r));
		err[strcspn(err, "\n")] = '\0';
	}
	PQclear(r);
	return out;
}

static char *
must(PGconn *c, const char *sql, const char *param)
{
	char		err[1024];
	char	   *v = query1(c, sql, param, err, sizeof(err));

	if (v == NULL)
	{
		printf("Bail out! %s: %s\n", sql, err);
		exit(1);
	}
	return v;
}

/* ---------------------------------------------------------------------------
 * One client
 */
static void
problem(Result *res, const char *fmt,...)
{
	va_list		ap;

	if (res->first_problem[0])
		return;
	va_start(ap, fmt);
	vsnprintf(res->first_problem, sizeof(res->first_problem), fmt, ap);
	va_end(ap);
}

/* score model 'name' with rnn.forecast and rnn.predict_next; compare */
static void
score(PGconn *c, Result *res, const char *name)
{
	char		err[1024];
	char	   *f = query1(c, FORECAST_SQL, name, err, sizeof(err));
	char	   *p;

	if (f == NULL)
	{
		res->errors++;
		problem(res, "forecast %s: %s", name, err);
		return;
	}
	p = query1(c, PREDICT_SQL, name, err, sizeof(err));
	if (p == NULL)
	{
		res->errors++;
		problem(res, "predict_next %s: %s", name, err);
		free(f);
		return;
	}
	res->scorings++;
	if (ref_sentiment)
	{
		char	   *s = query1(c, SENTIMENT_SQL, NULL, err, sizeof(err));

		if (s == NULL)
		{
			res->errors++;
			problem(res, "sentiment: %s", err);
		}
		else if (strcmp(s, ref_sentiment) != 0)
		{
			res->mismatches++;
			problem(res, "ref_cls scores differently from the single-client reference: %.80s", s);
		}
		free(s);
	}
	if (strcmp(f, ref_forecast) != 0 || strcmp(p, ref_predict) != 0)
	{
		res->mismatches++;
		problem(res, "%s scores differently from the single-client reference: %.80s",
				name, strcmp(f, ref_forecast) != 0 ? f : p);
	}
	free(f);
	free(p);
}

/* train under name; return the version (0 on error) */
static int
train(PGconn *c, Result *res, const char *name)
{
	char		err[1024];
	char	   *v = query1(c, "SELECT version FROM rnn.train_forecaster($1, " TRAIN_ARGS ")",
						   name, err, sizeof(err));
	int			version;
	char		sql[256];
	char	   *md5;

	if (v == NULL)
	{
		res->errors++;
		problem(res, "training %s: %s", name, err);
		return 0;
	}
	version = atoi(v);
	free(v);
	snprintf(sql, sizeof(sql), "SELECT md5(weights) FROM rnn.models WHERE name = $1 AND version = %d",
			 version);
	md5 = query1(c, sql, name, err, sizeof(err));
	if (md5 == NULL || strcmp(md5, ref_md5) != 0)
	{
		res->mismatches++;
		problem(res, "%s version %d: weights %s differ from the reference %s", name, version,
				md5 ? md5 : err, ref_md5);
	}
	free(md5);
	return version;
}

static void
run_client(const char *dbname, int id, double deadline, int fd)
{
	PGconn	   *c = connect_db(dbname);
	Result		res;
	char		own[32];
	int			own_version = 0;
	char		err[1024];

	memset(&res, 0, sizeof(res));
	res.client = id;
	snprintf(own, sizeof(own), "c%d", id);
	srand(1234 + id);
	for (int k = 0; now_s() < deadline; k++)
	{
		switch (k % 4)
		{
			case 0:
				{
					int			v = train(c, &res, own);

					if (v > 0)
					{
						if (v != own_version + 1)
						{
							res.mismatches++;
							problem(&res, "%s: version %d after %d", own, v, own_version);
						}
						own_version = v;
						res.own_trainings++;
					}
					/* drop an older version now and then */
					if (v > 2 && k % 8 == 0)
					{
						char		sql[128];
						char	   *d;

						snprintf(sql, sizeof(sql), "SELECT rnn.drop_model($1, %d)", v - 2);
						d = query1(c, sql, own, err, sizeof(err));
						if (d == NULL)
						{
							res.errors++;
							problem(&res, "drop_model %s %d: %s", own, v - 2, err);
						}
						else
							res.drops++;
						free(d);
					}
					break;
				}
			case 1:
				{
					int			v = train(c, &res, "shared");

					if (v > 0 && res.n_shared < MAX_SHARED)
						res.shared_versions[res.n_shared++] = v;
					if (v > 0)
						res.shared_trainings++;
					break;
				}
			case 2:
				{
					/* a model another client published */
					char	   *other = query1(c, "SELECT name FROM rnn.model_list WHERE name ~ '^c[0-9]+$' "
											   "AND name <> $1 ORDER BY random() LIMIT 1",
											   own, err, sizeof(err));

					if (other == NULL)
					{
						res.errors++;
						problem(&res, "model_list: %s", err);
					}
					else if (other[0])
						score(c, &res, other);
					free(other);
					break;
				}
			case 3:
				score(c, &res, "shared");
				break;
		}
	}
	PQfinish(c);
	if (write(fd, &res, sizeof(res)) != sizeof(res))
		_exit(2);
	_exit(0);
}

/* ---------------------------------------------------------------------------
 * RSS of a backend
 */
static long
proc_kb(int pid, const char *field)
{
	char		path[64],
				line[256];
	FILE	   *f;
	long		kb = -1;
	size_t		len = strlen(field);

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0 && line[len] == ':')
		{
			kb = atol(line + len + 1);
			break;
		}
	fclose(f);
	return kb;
}

static double
slope(const double *t, const double *y, int n)
{
	double		st = 0,
				sy = 0,
				stt = 0,
				sty = 0;

	for (int i = 0; i < n; i++)
	{
		st += t[i];
		sy += y[i];
		stt += t[i] * t[i];
		sty += t[i] * y[i];
	}
	if (n < 2 || n * stt - st * st == 0)
		return 0.0;
	return (n * sty - st * sy) / (n * stt - st * st);
}

static int
cmp_int(const void *a, const void *b)
{
	return *(const int *) a - *(const int *) b;
}

int
main(int argc, char **argv)
{
	const char *dbname = getenv("PGDATABASE") ? getenv("PGDATABASE") : "postgres";
	int			clients = getenv("RNN_CONCURRENCY_CLIENTS") ? atoi(getenv("RNN_CONCURRENCY_CLIENTS")) : 8;
	double		seconds = getenv("RNN_CONCURRENCY_SECONDS") ? atof(getenv("RNN_CONCURRENCY_SECONDS")) : 20;
	int			opt;
	PGconn	   *c;
	int			pipes[MAX_CLIENTS][2];
	pid_t		pids[MAX_CLIENTS];
	double		start,
				deadline;
	int			backend;
	double	   *ts,
			   *rss,
			   *anon,
			   *shmem;
	int			n_samples = 0,
				cap;
	int			scorer_errors = 0,
				scorer_mismatches = 0,
				scorer_rounds = 0;
	char		scorer_problem[512] = "";
	Result	   *results;
	int			total_shared = 0;
	int		   *versions;
	int			nv = 0;

	while ((opt = getopt(argc, argv, "c:s:d:")) != -1)
	{
		switch (opt)
		{
			case 'c':
				clients = atoi(optarg);
				break;
			case 's':
				seconds = atof(optarg);
				break;
			case 'd':
				dbname = optarg;
				break;
			default:
				fprintf(stderr, "usage: %s [-c clients] [-s seconds] [-d dbname]\n", argv[0]);
				return 2;
		}
	}
	if (clients < 1 || clients > MAX_CLIENTS || seconds <= 0)
	{
		fprintf(stderr, "clients must be 1..%d and seconds > 0\n", MAX_CLIENTS);
		return 2;
	}
	printf("1..%d\n", clients + 8);
	printf("# %d clients for %.0f s\n", clients, seconds);

	/* 1. set-up and the single-client reference */
	c = connect_db(dbname);
	free(must(c, "CREATE EXTENSION IF NOT EXISTS rnn_ext", NULL));
	free(must(c, "CREATE TABLE pub AS SELECT 'sensor_' || s AS sensor, i AS t, "
			  "10 * s + 2 * sin(i / 4.0) + ((i * 7919 + s * 104729) % 1000) / 1000.0 AS v "
			  "FROM generate_series(1, 4) s, generate_series(1, 200) i", NULL));
	free(must(c, "SELECT version FROM rnn.train_forecaster('ref', " TRAIN_ARGS ")", NULL));
	{
		char	   *m = must(c, "SELECT md5(weights) FROM rnn.models WHERE name = 'ref'", NULL);

		snprintf(ref_md5, sizeof(ref_md5), "%s", m);
		free(m);
	}
	ref_forecast = must(c, FORECAST_SQL, "ref");
	ref_predict = must(c, PREDICT_SQL, "ref");
	{
		char	   *has = must(c, "SELECT to_regproc('rnn.train_classifier') IS NOT NULL", NULL);

		if (strcmp(has, "t") == 0)
		{
			free(must(c, "CREATE TABLE texts AS SELECT i, CASE WHEN i % 2 = 0 THEN 'good fine great ' "
					  "ELSE 'bad awful poor ' END || (i % 7) || ' film' AS body, i % 2 = 0 AS positive "
					  "FROM generate_series(1, 200) i", NULL));
			free(must(c, "SELECT version FROM rnn.train_classifier('ref_cls', 'texts', 'body', 'positive', "
					  "hidden_size => 8, embedding_dim => 8, epochs => 1, min_count => 1)", NULL));
			ref_sentiment = must(c, SENTIMENT_SQL, NULL);
		}
		free(has);
	}
	tap(ref_forecast[0] != '\0' && ref_predict[0] != '\0',
		"single-client reference: model 'ref' trained and scored (forecast %zu chars)%s",
		strlen(ref_forecast), ref_sentiment ? ", classifier 'ref_cls' too" : "");
	backend = PQbackendPID(c);

	/* 2. the clients */
	start = now_s();
	deadline = start + seconds;
	fflush(stdout);
	for (int i = 0; i < clients; i++)
	{
		if (pipe(pipes[i]) != 0)
		{
			printf("Bail out! pipe: %s\n", strerror(errno));
			return 1;
		}
		pids[i] = fork();
		if (pids[i] < 0)
		{
			printf("Bail out! fork: %s\n", strerror(errno));
			return 1;
		}
		if (pids[i] == 0)
		{
			close(pipes[i][0]);
			run_client(dbname, i, deadline, pipes[i][1]);
		}
		close(pipes[i][1]);
	}

	/* 3. this backend keeps scoring; sample its memory every second */
	cap = (int) seconds + 16;
	ts = calloc(cap, sizeof(double));
	rss = calloc(cap, sizeof(double));
	anon = calloc(cap, sizeof(double));
	shmem = calloc(cap, sizeof(double));
	{
		double		next_sample = start;

		while (now_s() < deadline)
		{
			const char *names[2] = {"ref", "shared"};

			for (int k = 0; k < 2; k++)
			{
				char		err[1024];
				char	   *f = query1(c, FORECAST_SQL, names[k], err, sizeof(err));
				char	   *p = f ? query1(c, PREDICT_SQL, names[k], err, sizeof(err)) : NULL;

				if (f == NULL || p == NULL)
				{
					/* 'shared' may not exist yet in the first moments */
					if (!(k == 1 && strncmp(err, "42704", 5) == 0 && scorer_rounds < 50))
					{
						scorer_errors++;
						if (!scorer_problem[0])
							snprintf(scorer_problem, sizeof(scorer_problem), "%.500s", err);
					}
				}
				else if (strcmp(f, ref_forecast) != 0 || strcmp(p, ref_predict) != 0)
				{
					scorer_mismatches++;
					if (!scorer_problem[0])
						snprintf(scorer_problem, sizeof(scorer_problem), "%s differs: %.80s", names[k], f);
				}
				free(f);
				free(p);
			}
			if (ref_sentiment)
			{
				char		err[1024];
				char	   *s = query1(c, SENTIMENT_SQL, NULL, err, sizeof(err));

				if (s == NULL || strcmp(s, ref_sentiment) != 0)
				{
					if (s == NULL)
						scorer_errors++;
					else
						scorer_mismatches++;
					if (!scorer_problem[0])
						snprintf(scorer_problem, sizeof(scorer_problem), "sentiment: %.400s", s ? s : err);
				}
				free(s);
			}
			scorer_rounds++;
			if (now_s() >= next_sample && n_samples < cap)
			{
				long		r = proc_kb(backend, "VmRSS"),
							a = proc_kb(backend, "RssAnon"),
							sh = proc_kb(backend, "RssShmem");

				ts[n_samples] = now_s() - start;
				rss[n_samples] = r;
				anon[n_samples] = a;
				shmem[n_samples] = sh;
				n_samples++;
				next_sample += 1.0;
			}
		}
	}

	/* 4. collect */
	results = calloc(clients, sizeof(Result));
	versions = calloc((size_t) clients * MAX_SHARED, sizeof(int));
	for (int i = 0; i < clients; i++)
	{
		int			status = 0;
		ssize_t		got = read(pipes[i][0], &results[i], sizeof(Result));

		waitpid(pids[i], &status, 0);
		close(pipes[i][0]);
		if (got != sizeof(Result) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		{
			tap(0, "client %d finished and reported", i);
			continue;
		}
		{
			Result	   *r = &results[i];
			int			ok = r->errors == 0 && r->mismatches == 0 && r->own_trainings > 0;

			tap(ok, "client %d: %d own + %d shared trainings, %d scorings, %d drops; "
				"%d errors, %d results different from the single-client run",
				i, r->own_trainings, r->shared_trainings, r->scorings, r->drops,
				r->errors, r->mismatches);
			if (r->first_problem[0])
				printf("#   %s\n", r->first_problem);
			total_shared += r->shared_trainings;
			for (int k = 0; k < r->n_shared; k++)
				versions[nv++] = r->shared_versions[k];
		}
	}

	/* shared versions: distinct and consecutive, 1..K, K = trainings */
	{
		char		sql[256];
		char	   *stored;
		int			consecutive = 1;

		qsort(versions, nv, sizeof(int), cmp_int);
		for (int i = 0; i < nv; i++)
			if (versions[i] != i + 1)
				consecutive = 0;
		tap(consecutive && nv == total_shared && nv > 0,
			"versions of 'shared' returned to the clients are distinct and exactly 1..%d", nv);
		snprintf(sql, sizeof(sql),
				 "SELECT count(*) = %d AND min(version) = 1 AND max(version) = %d "
				 "FROM rnn.models WHERE name = 'shared'", nv, nv);
		stored = must(c, sql, NULL);
		tap(strcmp(stored, "t") == 0, "rnn.models holds versions 1..%d of 'shared', one row each", nv);
		free(stored);
	}
	{
		char	   *distinct = must(c, "SELECT count(DISTINCT md5(weights)) || '/' || count(*) "
									"FROM rnn.models WHERE kind = 'forecaster'", NULL);

		tap(strncmp(distinct, "1/", 2) == 0,
			"every stored forecaster has the reference's weights byte for byte (distinct/all: %s)", distinct);
		free(distinct);
	}
	tap(scorer_errors == 0 && scorer_mismatches == 0 && scorer_rounds > 0,
		"the long-lived scoring backend: %d rounds, %d errors, %d results different",
		scorer_rounds, scorer_errors, scorer_mismatches);
	if (scorer_problem[0])
		printf("#   %s\n", scorer_problem);

	/*
	 * Memory: slopes after the warm-up third.  VmRSS also counts the pages
	 * of shared buffers the backend has touched (RssShmem), which grow with
	 * rnn.models up to shared_buffers; a leak in the backend's own memory
	 * shows in RssAnon, so that is what must stay flat.
	 */
	{
		int			skip = n_samples / 3;
		int			m = n_samples - skip;
		double		s_rss = slope(ts + skip, rss + skip, m);
		double		s_anon = slope(ts + skip, anon + skip, m);
		double		s_shmem = slope(ts + skip, shmem + skip, m);

		if (n_samples > 0)
			printf("# backend memory: VmRSS %.0f -> %.0f kB, RssAnon %.0f -> %.0f kB, "
				   "RssShmem %.0f -> %.0f kB, %d samples\n",
				   rss[0], rss[n_samples - 1], anon[0], anon[n_samples - 1],
				   shmem[0], shmem[n_samples - 1], n_samples);
		printf("# RSS slope %.1f kB/s (VmRSS), %.1f kB/s (RssAnon), %.1f kB/s (RssShmem), "
			   "over the last %d samples\n", s_rss, s_anon, s_shmem, m);
		tap(n_samples >= 3 && rss[0] > 0 && anon[0] > 0,
			"sampled the scoring backend's memory (%d samples)", n_samples);
		tap(s_anon < LEAK_KB_PER_S,
			"no clear leak in the scoring backend: private memory (RssAnon) slope %.1f kB/s < %.0f kB/s",
			s_anon, LEAK_KB_PER_S);
	}
	{
		char	   *stats = must(c, "SELECT models || ' models, ' || decodes || ' decodes, ' || "
								 "lookups || ' lookups' FROM rnn.model_cache_stats()", NULL);
		char	   *n_models = must(c, "SELECT models FROM rnn.model_cache_stats()", NULL);

		printf("# scoring backend cache: %s\n", stats);
		tap(atoi(n_models) <= 16, "the scoring backend's model cache stays bounded (%s)", stats);
		free(stats);
		free(n_models);
	}
	PQfinish(c);
	return tap_fails == 0 ? 0 : 1;
}
