// SPDX-License-Identifier: GPL-2.0
/* Runs a libFuzzer target's corpus without libFuzzer: built with gcc and the sanitizers, it
 * is how `make unit` checks in a second that no seed crashes the post's parsers.
 *   replay_NAME FILE|DIR...
 * Each file named, and each file in each directory named (in name order), is read into a
 * buffer of its exact size and given to LLVMFuzzerTestOneInput once. Prints one PASS line;
 * a crash or a sanitizer's report ends the program with a non-zero status instead. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	FILE *f = fopen(path, "rb");
	int err = 0;

	if (!buf || !f || fread(buf, 1, size, f) != size)
		err = errno ? -errno : -EIO;
	else
		LLVMFuzzerTestOneInput(buf, size);
	if (f)
		fclose(f);
	free(buf);
	return err;
}

static int skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* The inputs replayed from path, or -errno with the failing file in bad. */
static int replay(const char *path, char *bad, size_t len)
{
	struct dirent **names;
	struct stat st;
	int i, n, count = 0, err = 0;

	snprintf(bad, len, "%s", path);
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		err = replay_file(path, st.st_size);
		return err ? err : 1;
	}
	n = scandir(path, &names, skip_dot, alphasort);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		char file[4096];

		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (!err && !stat(file, &st) && S_ISREG(st.st_mode)) {
			err = replay_file(file, st.st_size);
			count++;
			if (err)
				snprintf(bad, len, "%s", file);
		}
		free(names[i]);
	}
	free(names);
	return err ? err : count;
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char bad[4096];
	int i, n, total = 0;

	for (i = 1; i < argc; i++) {
		n = replay(argv[i], bad, sizeof(bad));
		if (n < 0) {
			printf("FAIL: %s: cannot read %s: %s\n", name, bad, strerror(-n));
			return 1;
		}
		total += n;
	}
	if (!total) {
		printf("FAIL: %s: no inputs (usage: %s FILE|DIR...)\n", name, name);
		return 1;
	}
	printf("PASS: %s: %d inputs replayed, no crash\n", name, total);
	return 0;
}
