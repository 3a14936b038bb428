/*
 * gate.c - process-wide writer gates, one per open file (see gate.h).
 *
 * A list under one mutex: handles are opened rarely and a process has few
 * files open, and the waits are as long as the write transactions anyway.
 * A forked child inherits the list but none of the writers: its handles
 * get gates of their own (gates remember the process that made them), and
 * the mutex is held across fork so that the child's copy is consistent.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate.h"

/* A writer waiting for its turn (on its own stack). */
struct waiter {
	pthread_t self;
	int granted;            /* the gate was handed to it */
	struct waiter *next;
};

struct gate {
	qvfs *vfs;
	char *path;         /* resolved when the file system can */
	pid_t pid;          /* the process whose writers it orders */
	int refs;
	int busy;           /* a writer of this process holds the file */
	pthread_t owner;    /* the thread that holds it, when busy */
	/* Turns are served in arrival order, by handing the gate to the
	 * first waiter: a writer that commits in a loop must not starve the
	 * others (a compaction's final round waits here while the writer it
	 * has to stop keeps committing). A waiter that gives up (its cancel
	 * flag) leaves the queue. */
	struct waiter *head, *tail;
	pthread_cond_t cv;
	struct gate *next;
};

static pthread_mutex_t gates_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gate *gates;
static pthread_once_t gates_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&gates_mu);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&gates_mu);
}

static void gates_init(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}

struct gate *gate_get(qvfs *vfs, const char *path)
{
	/* a test VFS's paths name nothing on disk: then as given */
	char *key = realpath(path, NULL);
	pid_t pid = getpid();
	struct gate *g;
	if (!key && !(key = strdup(path)))
		return NULL;
	pthread_once(&gates_once, gates_init);
	pthread_mutex_lock(&gates_mu);
	for (g = gates; g; g = g->next)
		if (g->vfs == vfs && g->pid == pid && strcmp(g->path, key) == 0)
			break;
	if (g) {
		g->refs++;
		free(key);
	} else if ((g = calloc(1, sizeof *g)) != NULL) {
		*g = (struct gate){.vfs = vfs, .path = key, .pid = pid,
				   .refs = 1, .next = gates};
		pthread_cond_init(&g->cv, NULL);
		gates = g;
	} else {
		free(key);
	}
	pthread_mutex_unlock(&gates_mu);
	return g;
}

void gate_put(struct gate *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&gates_mu);
	if (--g->refs == 0) {
		struct gate **p = &gates;
		while (*p != g)
			p = &(*p)->next;
		*p = g->next;
		pthread_cond_destroy(&g->cv);
		free(g->path);
		free(g);
	}
	pthread_mutex_unlock(&gates_mu);
}

static void unqueue(struct gate *g, struct waiter *w)
{
	struct waiter **p = &g->head, *prev = NULL;
	while (*p != w) {
		prev = *p;
		p = &(*p)->next;
	}
	*p = w->next;
	if (g->tail == w)
		g->tail = prev;
}

int gate_enter(struct gate *g, _Atomic int *cancel)
{
	pthread_t self = pthread_self();
	int r = GATE_OK;
	pthread_mutex_lock(&gates_mu);
	if (g->busy && pthread_equal(g->owner, self)) {
		r = GATE_MINE; /* waiting would never end */
	} else if (!g->busy && !g->head) {
		g->busy = 1;
		g->owner = self;
	} else {
		struct waiter w = {.self = self};
		if (g->tail)
			g->tail->next = &w;
		else
			g->head = &w;
		g->tail = &w;
		while (!w.granted && !(cancel && atomic_load(cancel)))
			pthread_cond_wait(&g->cv, &gates_mu);
		if (!w.granted) {
			unqueue(g, &w);
			r = GATE_CANCELED;
		}
	}
	pthread_mutex_unlock(&gates_mu);
	return r;
}

void gate_wake(struct gate *g)
{
	pthread_mutex_lock(&gates_mu);
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&gates_mu);
}

int gate_waiting(struct gate *g)
{
	int n = 0;
	pthread_mutex_lock(&gates_mu);
	for (struct waiter *w = g->head; w; w = w->next)
		n++;
	pthread_mutex_unlock(&gates_mu);
	return n;
}

int gate_held(struct gate *g)
{
	pthread_mutex_lock(&gates_mu);
	int mine = g->busy && pthread_equal(g->owner, pthread_self());
	pthread_mutex_unlock(&gates_mu);
	return mine;
}

void gate_leave(struct gate *g)
{
	pthread_mutex_lock(&gates_mu);
	struct waiter *w = g->head;
	if (w) { /* hand it over: nobody can slip in between */
		unqueue(g, w);
		w->granted = 1;
		g->owner = w->self;
		pthread_cond_broadcast(&g->cv);
	} else {
		g->busy = 0;
	}
	pthread_mutex_unlock(&gates_mu);
}
