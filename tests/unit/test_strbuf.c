#include <stdlib.h>
#include <string.h>

#include "core/base/strbuf.h"

#include "tap.h"

/* An empty strbuf that owns nothing: buf is the shared "" (never NULL). */
static void is_empty_slop(const struct strbuf *sb, const char *what)
{
	ok(sb->buf != NULL, "%s: buf is not NULL", what);
	is_str(sb->buf, "", "%s: buf reads as \"\"", what);
	ok(sb->buf == strbuf_slopbuf && sb->len == 0 && sb->alloc == 0, "%s: the slop, owning nothing", what);
}

static void test_init(void)
{
	struct strbuf a = STRBUF_INIT;
	is_empty_slop(&a, "STRBUF_INIT");

	struct strbuf b;
	memset(&b, 0xa5, sizeof(b));
	strbuf_init(&b);
	is_empty_slop(&b, "strbuf_init");

	/* Writing after init grows into memory of its own, never the slop. */
	strbuf_adds(&a, "abc");
	ok(a.buf != strbuf_slopbuf && a.alloc > a.len, "adds after init: its own buffer");
	is_str(a.buf, "abc", "adds after init");
	is_int(a.len, 3, "... len 3");
	is_str(strbuf_slopbuf, "", "the slop is still \"\"");
	strbuf_addch(&b, 'x');
	strbuf_addf(&b, "%d-%s", 42, "y");
	is_str(b.buf, "x42-y", "addch and addf after init");
	strbuf_release(&a);
	strbuf_release(&b);
}

static void test_release(void)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_release(&sb);
	is_empty_slop(&sb, "release of an empty strbuf");
	strbuf_release(&sb);
	is_empty_slop(&sb, "release twice");

	strbuf_adds(&sb, "hello");
	strbuf_release(&sb);
	is_empty_slop(&sb, "release of a grown strbuf: back to the slop");
	strbuf_adds(&sb, "again");
	is_str(sb.buf, "again", "reusable after release");
	strbuf_release(&sb);
}

static void test_detach(void)
{
	struct strbuf sb = STRBUF_INIT;
	char *s = strbuf_detach(&sb);
	ok(s != NULL && s != strbuf_slopbuf, "detach of an empty strbuf: a fresh string, not the slop");
	is_str(s, "", "... reading \"\"");
	is_empty_slop(&sb, "after detach of an empty strbuf");
	free(s);   /* the caller's: freeing it must be fine (ASan would say) */

	strbuf_add(&sb, "ab\0c", 4);
	char *t = strbuf_detach(&sb);
	ok(t && !memcmp(t, "ab\0c", 5), "detach hands over the bytes and the NUL");
	is_empty_slop(&sb, "after detach of a grown strbuf");
	free(t);

	/* A grown but emptied strbuf detaches its own buffer. */
	strbuf_adds(&sb, "xyz");
	strbuf_reset(&sb);
	char *u = strbuf_detach(&sb);
	is_str(u, "", "detach after reset: \"\"");
	free(u);
}

static void test_reset(void)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_reset(&sb);
	is_empty_slop(&sb, "reset of an empty strbuf");
	is_str(strbuf_slopbuf, "", "reset leaves the slop alone");

	strbuf_adds(&sb, "some text");
	size_t alloc = sb.alloc;
	char *keep = sb.buf;
	strbuf_reset(&sb);
	is_str(sb.buf, "", "reset of a grown strbuf: buf is \"\"");
	ok(sb.len == 0 && sb.alloc == alloc && sb.buf == keep, "... its allocation kept");
	strbuf_adds(&sb, "new");
	is_str(sb.buf, "new", "adding after reset starts over");
	strbuf_release(&sb);
}

static void test_growth(void)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 1000; i++)
		strbuf_addch(&sb, (char)('a' + i % 26));
	is_int(sb.len, 1000, "1000 addch: len 1000");
	ok(sb.buf[1000] == '\0' && sb.buf[999] == 'a' + 999 % 26, "... NUL-terminated, the bytes in order");
	strbuf_release(&sb);

	strbuf_grow(&sb, 10);
	ok(sb.alloc >= 11 && sb.buf != strbuf_slopbuf, "grow from empty: room of its own");
	is_str(sb.buf, "", "... still reading \"\"");
	strbuf_release(&sb);
}

int main(void)
{
	test_init();
	test_release();
	test_detach();
	test_reset();
	test_growth();
	return done_testing();
}
