/* httpsrc: where each file's redirects led (hs_hops), so that its chunks
 * go there directly and its resolve URL is asked once, and again once
 * when the URL it led to stops serving (an expired signature). */
#define _GNU_SOURCE
#include "http_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/banned.h"

struct hop {
	char *first;                /* the URL as listed (may hold credentials: never shown) */
	char *final;                /* where its redirects led, or NULL while none is known */
	unsigned gen;               /* bumped at each resolve's end */
	int busy;                   /* one caller resolves it again; the others wait */
	long refused;               /* the status a resolve again was refused with (a 4xx), or 0: from then
				     * on the file's requests fail at once, the Hub not asked again */
	char *why;                  /* ... and what it said (hsi_describe's line), or NULL */
};

struct hs_hops {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hop *v;
	size_t n, alloc;
	uint64_t resolves;          /* resolves kept (hsi_hops_end with a final URL) */
};

struct hs_hops *hs_hops_new(void)
{
	struct hs_hops *h = xcalloc(1, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	return h;
}

void hs_hops_free(struct hs_hops *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].first);
		free(h->v[i].final);
		free(h->v[i].why);
	}
	free(h->v);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

uint64_t hs_hops_resolves(struct hs_hops *h)
{
	pthread_mutex_lock(&h->mu);
	uint64_t n = h->resolves;
	pthread_mutex_unlock(&h->mu);
	return n;
}

/* The entry of first, made when create is set; NULL when there is none.
 * Called locked; an index, not a pointer: the array grows. */
static struct hop *find(struct hs_hops *h, const char *first, int create)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->v[i].first, first))
			return &h->v[i];
	if (!create)
		return NULL;
	h->v = xgrow(h->v, &h->alloc, h->n + 1, sizeof(*h->v));
	h->v[h->n] = (struct hop){ xstrdup(first), NULL, 1, 0, 0, NULL };
	return &h->v[h->n++];
}

char *hsi_hops_begin(struct hs_hops *h, const char *first, struct hop_use *u)
{
	*u = (struct hop_use){ .h = h, .first = first };
	if (!h)
		return NULL;
	pthread_mutex_lock(&h->mu);
	struct hop *e = find(h, first, 0);
	while (e && e->busy && !e->final) {    /* being resolved again: its answer is near */
		pthread_cond_wait(&h->cv, &h->mu);
		e = find(h, first, 0);
	}
	char *s = e && e->final ? xstrdup(e->final) : NULL;
	u->gen = e ? e->gen : 0;
	u->refused = e && !s ? e->refused : 0;
	u->why = u->refused && e->why ? xstrdup(e->why) : NULL;
	u->want = !s && !u->refused;
	pthread_mutex_unlock(&h->mu);
	return s;
}

char *hsi_hops_stale(struct hop_use *u)
{
	struct hs_hops *h = u->h;
	char *s = NULL;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		struct hop *e = find(h, u->first, 1);
		if (e->gen != u->gen && e->final) {    /* resolved again by another meanwhile */
			s = xstrdup(e->final);
			u->gen = e->gen;
			break;
		}
		if (e->gen != u->gen && !e->busy && e->refused) {  /* ... and refused: so is this */
			u->refused = e->refused;
			break;
		}
		if (!e->busy) {                          /* this caller resolves it */
			e->busy = 1;
			free(e->final);
			e->final = NULL;
			u->owner = u->want = 1;
			break;
		}
		pthread_cond_wait(&h->cv, &h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return s;
}

void hsi_hops_end(struct hop_use *u, const char *final, long refused, const char *why)
{
	struct hs_hops *h = u->h;
	if (!h || (!u->want && !u->owner))
		return;
	if (!final && !u->owner) {     /* answered without a redirect, or failed: nothing to keep */
		u->want = 0;
		return;
	}
	pthread_mutex_lock(&h->mu);
	struct hop *e = find(h, u->first, 1);
	if (final) {
		free(e->final);
		e->final = xstrdup(final);
		h->resolves++;
	}
	e->refused = final || !u->owner ? 0 : refused;
	free(e->why);
	e->why = e->refused && why ? xstrdup(why) : NULL;
	e->gen++;
	e->busy = 0;
	u->gen = e->gen;
	u->owner = u->want = 0;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}
