#define _GNU_SOURCE
#include "core/run/srvlog.h"
#include "core/base/fsutil.h"

#include <fcntl.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

int main(void)
{
	char tmpl[] = "/tmp/cs-test-srvlog-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char *path = path_join(dir, "log");
	int p[2];
	ok(pipe(p) == 0, "pipe");
	regex_t re;
	regcomp(&re, "Application startup complete", REG_EXTENDED | REG_NOSUB);
	struct srvlog l;
	struct cs_err e;
	ok(srvlog_start(&l, p[0], path, now_ns(), &re, NULL, NULL, &e) == 0, "start");
	const char *text = "first\r\nprogress 10%\rprogress 50%\rprogress 100%\nINFO: Application startup complete.\nno newline at end";
	ok(write(p[1], text, strlen(text)) == (ssize_t)strlen(text), "write");
	close(p[1]);
	srvlog_stop(&l, 2000000000ULL);
	ok(srvlog_match_ns(&l) > 0, "readiness regex matched");
	is_int(l.lines, 6, "six lines: CRLF, three \\r redraws, a line, an unterminated tail");
	char *tail = srvlog_tail(&l);
	ok(strstr(tail, "    progress 50%\n") && strstr(tail, "    no newline at end\n"), "tail has the lines");
	free(tail);
	srvlog_release(&l);
	int fd = open(path, O_RDONLY);
	char buf[4096] = { 0 };
	ok(read(fd, buf, sizeof(buf) - 1) > 0, "log written");
	close(fd);
	ok(strstr(buf, "s] first\n") != NULL, "CRLF line without the CR");
	ok(strstr(buf, "s] progress 10%\n[") != NULL, "lone CR ends a line");
	int stamped = 0;
	for (char *q = buf; (q = strstr(q, "s] ")); q++)
		stamped++;
	is_int(stamped, 6, "every line stamped");
	regfree(&re);
	fs_remove_tree(dir);
	free(path);
	return done_testing();
}
