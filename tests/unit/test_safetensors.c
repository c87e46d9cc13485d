#include "core/model/safetensors.h"

#include <stdint.h>

#include "tap.h"

/* Build "len | json | data" in a static buffer; returns total size. */
static unsigned char buf[1 << 16];
static size_t mk(const char *json, size_t data_len, int64_t lie)
{
	size_t n = strlen(json);
	uint64_t len = lie >= 0 ? (uint64_t)lie : n;
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(len >> (8 * i));
	memcpy(buf + 8, json, n);
	memset(buf + 8 + n, 0x3c, data_len);
	return 8 + n + data_len;
}

static void rejects(const char *json, size_t data, int64_t lie, const char *needle, const char *what)
{
	struct st_header h;
	struct cs_err e = { 0, "" };
	size_t total = mk(json, data, lie);
	int r = st_header_parse(buf, total, total, &h, &e);
	ok(r < 0 && strstr(e.msg, needle), "%s: rejected with '%s' (got rc %d: %s)", what, needle, r, e.msg);
	if (r == 0)
		st_header_release(&h);
}

int main(void)
{
	struct st_header h;
	struct cs_err e;
	const char *good = "{\"__metadata__\":{\"format\":\"pt\"},"
			   "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[8,20]},"
			   "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
	size_t total = mk(good, 20, -1);
	ok(st_header_parse(buf, total, total, &h, &e) == 0, "valid header parses");
	is_int(h.ntensors, 2, "two tensors");
	is_str(h.tensors[0].name, "a", "sorted by offset: a first");
	is_int(h.tensors[1].nelem, 6, "nelem of b");
	is_int(h.tensors[1].dtype, ST_BF16, "dtype of b");
	is_int(h.nmeta, 1, "one metadata entry");
	is_str(h.meta_vals[0], "pt", "metadata value");
	is_int(h.data_start, 8 + strlen(good), "data_start");
	st_header_release(&h);

	/* An empty model (no tensors, no data) is valid. */
	total = mk("{}", 0, -1);
	ok(st_header_parse(buf, total, total, &h, &e) == 0 && h.ntensors == 0, "empty header valid");
	st_header_release(&h);

	/* Zero-element tensor. */
	total = mk("{\"z\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[0,0]}}", 0, -1);
	ok(st_header_parse(buf, total, total, &h, &e) == 0, "zero-size tensor valid");
	st_header_release(&h);

	/* Sub-byte dtype: 4 F4 values are 2 bytes. */
	total = mk("{\"q\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 2, -1);
	ok(st_header_parse(buf, total, total, &h, &e) == 0, "F4 spans half a byte per element");
	st_header_release(&h);

	ok(st_header_parse(buf, 4, 4, &h, &e) < 0 && strstr(e.msg, "too short"), "4-byte file: too short");
	rejects("{}", 0, 200000000, "exceeds", "header length over 100 MB");
	rejects("{}", 0, 500, "past the end", "header length past EOF");
	rejects("[1,2]", 0, -1, "JSON object", "array header");
	rejects("{\"a\":1,", 0, -1, "not valid JSON", "broken JSON");
	/* A name defined twice: both places named (offsets in the file). */
	rejects("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", 4, -1,
		"tensor 'a' is defined twice in the header: at bytes 9 and 62", "duplicate tensor");
	rejects("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\n \"b\" : {\"x\":\"{\\\"a\\\":\"},  \"\\u0061\" :{}}",
		4, -1, "tensor 'a' is defined twice in the header: at bytes 9 and 88", "written another way, after a string with braces");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"dtype\":\"F16\",\"data_offsets\":[0,4]}}", 4, -1,
		"tensor 't': key 'dtype' is given twice in the header, at bytes 14 and 40", "a tensor's key twice");
	rejects("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, -1,
		"\"__metadata__\": key 'k' is given twice in the header", "a metadata key twice");
	rejects("{\"__metadata__\":{},\"__metadata__\":{}}", 0, -1, "\"__metadata__\" is defined twice", "metadata twice");
	rejects("{\"t\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1, "unknown dtype 'Q7'", "unknown dtype");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1, "needs 12", "wrong span");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, -1, "shape[0]", "negative dim");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, -1, "before begin", "end before begin");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, -1, "data_offsets", "missing offsets");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, -1, "overlaps", "overlap");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, -1, "gap of 4 bytes", "gap");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, -1, "trailing", "trailing bytes");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, -1, "past the end of the data", "truncated data");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4, -1,
		"overflows", "shape overflow");
	rejects("{\"__metadata__\":{\"k\":1}}", 0, -1, "not a string", "metadata value not a string");
	rejects("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 3, "JSON", "header length cut short");
	/* Invalid UTF-8 inside a key. */
	rejects("{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1, "not valid JSON", "invalid UTF-8");

	is_int(st_dtype_parse("BF16"), ST_BF16, "dtype parse BF16");
	is_int(st_dtype_bits(ST_F8_E4M3), 8, "F8 is 8 bits");
	is_int(st_dtype_parse("bf16"), -1, "dtype names are case-sensitive");
	ok(!st_safe_name("../x") && !st_safe_name("..") && !st_safe_name("a/b") && st_safe_name("m.safetensors"),
	   "st_safe_name");
	return done_testing();
}
