// SPDX-License-Identifier: GPL-2.0
/* The post's tokens; see auth.h. A token file's lines are "TOKEN [BOX...]"; a token without
 * boxes is what every token was before bound ones existed: good for any box. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "log.h"

#define TOKEN_MIN 8

int sv_auth_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la; i++)
		d |= a[i] ^ b[i % (lb ? lb : 1)];
	return !d;
}

static int add_box(struct sv_token *t, const char *box)
{
	char **n = realloc(t->boxes, (t->n_boxes + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	t->boxes = n;
	t->boxes[t->n_boxes] = strdup(box);
	return t->boxes[t->n_boxes++] ? 0 : -ENOMEM;
}

static void token_free(struct sv_token *t)
{
	int i;

	for (i = 0; i < t->n_boxes; i++)
		free(t->boxes[i]);
	free(t->boxes);
	free(t->token);
}

int sv_auth_add(struct sv_auth *a, enum sv_role role, char *line)
{
	struct sv_token t = { .role = role }, *n;
	char *save = NULL, *w = strtok_r(line, " \t", &save);
	int err = 0;

	if (!w || strlen(w) < TOKEN_MIN) {
		pr_warn("tokens need at least %d characters and no spaces\n", TOKEN_MIN);
		return -EINVAL;
	}
	t.token = strdup(w);
	err = t.token ? 0 : -ENOMEM;
	while (!err && (w = strtok_r(NULL, " \t", &save))) {
		if (role != SV_ROLE_INGEST) {
			pr_warn("only ingest tokens are bound to boxes: '%s' after a token\n", w);
			err = -EINVAL;
		} else {
			err = add_box(&t, w);
		}
	}
	n = err ? NULL : realloc(a->t, (a->n + 1) * sizeof(*n));
	if (!n) {
		token_free(&t);
		return err ? err : -ENOMEM;
	}
	a->t = n;
	a->t[a->n++] = t;
	if (role == SV_ROLE_INGEST) {
		a->n_ingest++;
		a->n_unbound += !t.n_boxes;
	}
	return 0;
}

const struct sv_token *sv_auth_find(const struct sv_auth *a, const char *t)
{
	const struct sv_token *found = NULL;
	int i;

	for (i = 0; t && i < a->n; i++)
		if (sv_auth_eq(t, a->t[i].token) && !found)
			found = &a->t[i];
	return found;
}

int sv_auth_box(const struct sv_token *t, const char *box)
{
	int i;

	if (!t || t->role != SV_ROLE_INGEST)
		return 0;
	if (!t->n_boxes)
		return 1;
	for (i = 0; box && i < t->n_boxes; i++)
		if (!strcmp(box, t->boxes[i]))
			return 1;
	return 0;
}

void sv_auth_free(struct sv_auth *a)
{
	int i;

	for (i = 0; i < a->n; i++)
		token_free(&a->t[i]);
	free(a->t);
	a->t = NULL;
	a->n = a->n_ingest = a->n_unbound = 0;
}
