/*
 * driver.c -- replays files through a fuzz target without libFuzzer, so CI
 * can run the seed corpus (and any past crash inputs) as regression tests
 * under ASan/UBSan.  Usage: replay_x FILE_OR_DIR...
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int			LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int	n_files;

static int
run_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *buf;
	long		size;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
		fseek(f, 0, SEEK_SET) != 0)
	{
		fprintf(stderr, "cannot read %s\n", path);
		if (f)
			fclose(f);
		return 1;
	}
	/* exact size, so ASan sees reads past the end */
	buf = malloc(size ? (size_t) size : 1);
	if (buf == NULL || fread(buf, 1, (size_t) size, f) != (size_t) size)
	{
		fprintf(stderr, "cannot read %s\n", path);
		fclose(f);
		free(buf);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t) size);
	free(buf);
	n_files++;
	return 0;
}

static int
run_path(const char *path)
{
	struct stat st;
	DIR		   *d;
	struct dirent *e;
	int			rc = 0;

	if (stat(path, &st) != 0)
	{
		fprintf(stderr, "cannot stat %s\n", path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	if ((d = opendir(path)) == NULL)
		return 1;
	while ((e = readdir(d)) != NULL)
	{
		char		sub[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rc |= run_path(sub);
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	int			rc = 0;

	for (int i = 1; i < argc; i++)
		rc |= run_path(argv[i]);
	printf("%s: %d inputs replayed%s\n", argv[0], n_files, rc ? ", some unreadable" : "");
	return rc;
}
