"""Bag-of-n-gram baselines for the sentiment benchmarks (numpy + scipy).

  mnb(train, y, test)     multinomial naive Bayes on unigram + bigram counts,
                          Laplace smoothing (the MNB of Wang & Manning 2012)
  nbsvm(train, y, test)   NBSVM (Wang & Manning 2012): binarized unigrams +
                          bigrams scaled by the naive Bayes log-count ratio
                          r (alpha 1), an L2-regularised squared-hinge SVM
                          (C = 1, liblinear's dual coordinate descent, Hsieh
                          et al. 2008) and the interpolation
                          w' = (1 - beta) mean|w| + beta w, beta = 0.25

Texts are split on whitespace (MR and SST-2 come tokenized); labels are 0/1.
Both return 0/1 predictions for the test texts.
"""
import numpy as np
import scipy.sparse as sp


def ngrams(text):
    w = text.split()
    return w + [a + " " + b for a, b in zip(w, w[1:])]


def _matrices(train, test):
    vocab = {}
    def rows(texts, grow):
        r, c = [], []
        for i, t in enumerate(texts):
            for g in ngrams(t):
                j = vocab.get(g)
                if j is None:
                    if not grow:
                        continue
                    j = vocab[g] = len(vocab)
                r.append(i)
                c.append(j)
        return r, c
    r, c = rows(train, True)
    F = len(vocab)
    Xtr = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(train), F))
    r, c = rows(test, False)
    Xte = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(test), F))
    Xtr.sum_duplicates()
    Xte.sum_duplicates()
    return Xtr, Xte


def mnb(train, y, test):
    Xtr, Xte = _matrices(train, test)
    y = np.asarray(y)
    lp = []
    for c in (0, 1):
        cnt = np.asarray(Xtr[y == c].sum(0)).ravel() + 1.0
        lp.append(np.log(cnt / cnt.sum()))
    prior = np.log(np.bincount(y, minlength=2) / len(y))
    score = Xte @ (lp[1] - lp[0]) + prior[1] - prior[0]
    return (score > 0).astype(int)


def _svm_l2_dual(X, y, C=1.0, epochs=30, seed=0):
    """min 0.5 |w|^2 + C sum max(0, 1 - y w.x)^2 (y in +-1), bias as a
    constant feature; dual coordinate descent (liblinear -s 1)."""
    X = sp.hstack([X, np.ones((X.shape[0], 1))]).tocsr()
    n = X.shape[0]
    w = np.zeros(X.shape[1])
    a = np.zeros(n)
    D = 1.0 / (2 * C)
    Q = np.asarray(X.multiply(X).sum(1)).ravel() + D
    rng = np.random.RandomState(seed)
    ind, ptr, dat = X.indices, X.indptr, X.data
    for _ in range(epochs):
        max_pg = 0.0
        for i in rng.permutation(n):
            s, e = ptr[i], ptr[i + 1]
            g = y[i] * (w[ind[s:e]] @ dat[s:e]) - 1 + D * a[i]
            pg = min(g, 0.0) if a[i] == 0 else g
            max_pg = max(max_pg, abs(pg))
            if pg != 0:
                old = a[i]
                a[i] = max(a[i] - g / Q[i], 0.0)
                w[ind[s:e]] += (a[i] - old) * y[i] * dat[s:e]
        if max_pg < 0.1:
            break
    return w[:-1], w[-1]


def nbsvm(train, y, test, beta=0.25, C=1.0):
    Xtr, Xte = _matrices(train, test)
    Xtr.data[:] = 1
    Xte.data[:] = 1
    y = np.asarray(y)
    p = np.asarray(Xtr[y == 1].sum(0)).ravel() + 1.0
    q = np.asarray(Xtr[y == 0].sum(0)).ravel() + 1.0
    r = np.log(p / p.sum()) - np.log(q / q.sum())
    w, b = _svm_l2_dual(Xtr.multiply(r).tocsr(), np.where(y == 1, 1.0, -1.0), C=C)
    w = (1 - beta) * np.abs(w).mean() + beta * w
    score = Xte.multiply(r).tocsr() @ w + b
    return (score > 0).astype(int)
