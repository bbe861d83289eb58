/* SPDX-License-Identifier: GPL-2.0 */
/* Helper threads (senders, the IPFIX collector) that never take the process's signals. */
#ifndef SV_THREAD_H
#define SV_THREAD_H

#include <pthread.h>

/* pthread_create with every signal blocked in the new thread: SIGINT and SIGTERM belong to
 * the main loop's signalfd, whatever the main thread has blocked so far. 0 or -errno. */
int sv_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif /* SV_THREAD_H */
