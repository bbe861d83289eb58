/* SPDX-License-Identifier: GPL-2.0 */
/* The post's tokens and what each may do (docs/security.md): ingest tokens, bound to boxes or
 * not, and admin tokens, which alone may change the virtual TAP's rules. */
#ifndef SV_AUTH_H
#define SV_AUTH_H

enum sv_role {
	SV_ROLE_INGEST = 1, /* deliver records, fetch and report its boxes' tap rules, read */
	SV_ROLE_ADMIN = 2, /* add and delete tap rules, read */
	SV_ROLE_READ = 3, /* read the API and the dashboard's data (--read-token) */
};

struct sv_token {
	char *token;
	enum sv_role role;
	char **boxes; /* SV_ROLE_INGEST: the boxes it speaks for; none: any box */
	int n_boxes;
};

struct sv_auth {
	struct sv_token *t;
	int n;
	int n_ingest, n_unbound; /* ingest tokens, those of them bound to no box */
};

/* One "TOKEN [BOX...]" line (boxes for ingest tokens only). 0, -EINVAL (said why), -ENOMEM. */
int sv_auth_add(struct sv_auth *a, enum sv_role role, char *line);
/* The entry whose token is t (compared in constant time against each), or NULL. */
const struct sv_token *sv_auth_find(const struct sv_auth *a, const char *t);
/* Whether a and b are equal, in time independent of where they differ. */
int sv_auth_eq(const char *a, const char *b);
/* Whether the token may speak for box: an ingest token bound to it or to no box. */
int sv_auth_box(const struct sv_token *t, const char *box);
void sv_auth_free(struct sv_auth *a);

#endif /* SV_AUTH_H */
