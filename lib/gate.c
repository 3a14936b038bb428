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

struct gate {
	qvfs *vfs;
	char *path;         /* resolved when the file system can */
	pid_t pid;          /* the process whose writers it orders */
	int refs;
	int busy;           /* a writer of this process holds the file */
	pthread_t owner;    /* the thread that holds it, when busy */
	/* Turns are served in arrival order: a writer that commits in a loop
	 * must not starve the others (a compaction's final round waits here
	 * while the writer it has to stop keeps committing). */
	uint64_t next_ticket, serving;
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

int gate_enter(struct gate *g)
{
	pthread_t self = pthread_self();
	pthread_mutex_lock(&gates_mu);
	if (g->busy && pthread_equal(g->owner, self)) {
		pthread_mutex_unlock(&gates_mu); /* waiting would never end */
		return -1;
	}
	uint64_t ticket = g->next_ticket++;
	while (g->busy || g->serving != ticket)
		pthread_cond_wait(&g->cv, &gates_mu);
	g->busy = 1;
	g->owner = self;
	pthread_mutex_unlock(&gates_mu);
	return 0;
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
	g->busy = 0;
	g->serving++;
	pthread_cond_broadcast(&g->cv); /* the next ticket may be anyone's */
	pthread_mutex_unlock(&gates_mu);
}
