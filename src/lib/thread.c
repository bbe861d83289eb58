// SPDX-License-Identifier: GPL-2.0
/* Helper threads; see thread.h. A thread inherits the creator's signal mask, so blocking
 * everything around pthread_create is what keeps signals off it. */
#include <signal.h>
#include "thread.h"

int sv_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}
