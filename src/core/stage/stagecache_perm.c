/* stagecache: the permission bits of a staged copy -- the source's, masked
 * by the umask, or --chmod's. */
#define _GNU_SOURCE
#include "stagecache_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/fsutil.h"
#include "core/base/banned.h"

int sc_chmod_parse(const char *spec, struct sc_chmod *c)
{
	memset(c, 0, sizeof(*c));
	const char *p = spec ? spec : "";
	if (!*p)
		return -1;
	while (*p) {
		int which = SC_CHMOD_FILES | SC_CHMOD_DIRS;
		if (*p == 'D' || *p == 'F')
			which = *p++ == 'D' ? SC_CHMOD_DIRS : SC_CHMOD_FILES;
		size_t n = strspn(p, "01234567");
		if (!n || n > 4 || (p[n] && p[n] != ','))
			return -1;
		unsigned v = 0;
		for (size_t k = 0; k < n; k++)
			v = v * 8 + (unsigned)(p[k] - '0');
		if (v > 0777)
			return -1;   /* permission bits only: no setuid, setgid or sticky */
		if (which & SC_CHMOD_FILES)
			c->file = (mode_t)v;
		if (which & SC_CHMOD_DIRS)
			c->dir = (mode_t)v;
		c->set |= which;
		p += n;
		if (*p == ',' && !*++p)
			return -1;
	}
	return 0;
}

mode_t sc_umask(void)
{
	/* /proc says it without changing it (umask() would, for a moment,
	 * for every thread). */
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned v = 0;
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "Umask: %o", &v) == 1;
	if (f)
		fclose(f);
	if (found)
		return (mode_t)v & 0777;
	mode_t u = umask(022);
	umask(u);
	return u & 0777;
}

/* The bits of what path names (0 when it cannot be read). */
static mode_t bits_of(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? sb.st_mode & 0777 : 0;
}

mode_t sci_file_mode(const struct sc_opts *o, const struct splan *p, size_t i, mode_t um)
{
	if (o->chmod.set & SC_CHMOD_FILES)
		return o->chmod.file;
	mode_t m = p->remote ? 0644 : bits_of(p->f[i].abs);
	return (m ? m : 0644) & ~um;
}

/* A directory keeps its owner's rwx whatever else: the cache must be able
 * to replace and evict what it holds. */
mode_t sci_dir_mode(const struct sc_opts *o, const struct splan *p, const char *rel, mode_t um)
{
	if (o->chmod.set & SC_CHMOD_DIRS)
		return o->chmod.dir | S_IRWXU;
	mode_t m = 0755;
	if (!p->remote) {
		char *path = *rel ? path_join(p->src, rel) : xstrdup(p->src);
		m = bits_of(path);
		free(path);
	}
	return ((m ? m : 0755) & ~um) | S_IRWXU;
}

/* Every directory of the plan's files, relative, deepest first ("" last:
 * the copy itself). malloc'd, *n of them. */
static char **plan_dirs(const struct splan *p, size_t *n)
{
	char **v = NULL;
	size_t alloc = 0;
	*n = 0;
	for (size_t i = 0; i < p->n; i++) {
		char *d = xstrdup(p->f[i].rel);
		for (char *s = strrchr(d, '/'); s; s = strrchr(d, '/')) {
			*s = 0;
			int seen = 0;
			for (size_t k = 0; k < *n && !seen; k++)
				seen = !strcmp(v[k], d);
			if (!seen) {
				v = xgrow(v, &alloc, *n + 1, sizeof(char *));
				v[(*n)++] = xstrdup(d);
			}
		}
		free(d);
	}
	/* Deepest first: more slashes first. */
	for (size_t a = 0; a < *n; a++)
		for (size_t b = a + 1; b < *n; b++) {
			size_t sa = 0, sb = 0;
			for (const char *c = v[a]; *c; c++)
				sa += *c == '/';
			for (const char *c = v[b]; *c; c++)
				sb += *c == '/';
			if (sb > sa) {
				char *t = v[a];
				v[a] = v[b];
				v[b] = t;
			}
		}
	v = xgrow(v, &alloc, *n + 1, sizeof(char *));
	v[(*n)++] = xstrdup("");
	return v;
}

/* path to mode: 1 when it had another, 0 when not, -1 on error. */
static int set_mode(const char *path, mode_t mode, int fix, struct cs_err *err)
{
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return cs_fail_errno(err, errno, "cannot read the mode of '%s'", path);
	if ((sb.st_mode & 0777) == mode || S_ISLNK(sb.st_mode))
		return 0;
	if (fix && chmod(path, mode) < 0)
		return cs_fail_errno(err, errno, "cannot set the mode of '%s'", path);
	return 1;
}

int sci_apply_modes(const struct sc_opts *o, const struct splan *p, const char *dir, int fix, struct cs_err *err)
{
	mode_t um = sc_umask();
	int n = 0, rc = 0;
	for (size_t i = 0; i < p->n && rc >= 0; i++) {
		char *path = path_join(dir, p->f[i].rel);
		rc = set_mode(path, sci_file_mode(o, p, i, um), fix, err);
		n += rc > 0;
		free(path);
	}
	size_t nd;
	char **dirs = plan_dirs(p, &nd);
	for (size_t k = 0; k < nd; k++) {
		if (rc >= 0) {
			char *path = *dirs[k] ? path_join(dir, dirs[k]) : xstrdup(dir);
			rc = set_mode(path, sci_dir_mode(o, p, dirs[k], um), fix, err);
			n += rc > 0;
			free(path);
		}
		free(dirs[k]);
	}
	free(dirs);
	if (rc >= 0) {   /* the manifest: readable by whom the copy is, never executable */
		char *path = path_join(dir, SC_MANIFEST);
		struct stat sb;
		if (lstat(path, &sb) == 0) {
			rc = set_mode(path, sci_dir_mode(o, p, "", um) & 0666, fix, err);
			n += rc > 0;
		}
		free(path);
	}
	return rc < 0 ? -1 : n;
}
