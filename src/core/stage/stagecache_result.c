#define _GNU_SOURCE
#include "stagecache.h"

#include <jansson.h>
#include <stdio.h>

#include "core/base/banned.h"

json_t *sc_result_json(const char *name, const struct sc_result *r)
{
	json_t *j = json_object();
	json_object_set_new(j, "path", json_string(r->path));
	json_object_set_new(j, "name", json_string(name));
	json_object_set_new(j, "noop", json_boolean(r->noop));
	json_object_set_new(j, "waited", json_boolean(r->waited));
	json_object_set_new(j, "replaced", json_boolean(r->replaced));
	json_object_set_new(j, "repaired", json_boolean(r->repaired));
	json_object_set_new(j, "replaced_source", r->replaced_source ? json_string(r->replaced_source) : json_null());
	json_object_set_new(j, "files", json_integer((json_int_t)r->files));
	json_object_set_new(j, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(j, "copied_bytes", json_integer((json_int_t)r->copied));
	json_object_set_new(j, "resumed_bytes", json_integer((json_int_t)r->resumed));
	json_object_set_new(j, "linked_files", json_integer((json_int_t)r->linked));
	json_object_set_new(j, "seconds", json_real(r->seconds));
	json_object_set_new(j, "copy_s", json_real(r->copy_s));
	json_object_set_new(j, "verify_s", json_real(r->verify_s));
	json_object_set_new(j, "verify", json_string(r->verify == SC_VERIFY_XXH3 ? "xxh3" : "size"));
	json_object_set_new(j, "store_checked_files", json_integer((json_int_t)r->store_checked));
	if (r->store_alg[0])
		json_object_set_new(j, "store_checksum", json_string(r->store_alg));
	json_object_set_new(j, "kernel_copy", json_boolean(r->kernel_copy));
	json_object_set_new(j, "jobs", r->jobs ? json_integer(r->jobs) : json_null());
	json_t *ev = json_array();
	for (size_t i = 0; i < r->nevicted; i++)
		json_array_append_new(ev, json_string(r->evicted[i]));
	json_object_set_new(j, "evicted", ev);
	return j;
}

void sc_result_describe(const char *name, const struct sc_result *r, cs_msg_fn say, void *arg)
{
	char a[32], b[32];
	if (r->noop)
		cs_say(say, arg, "'%s' is already staged from the unchanged source%s (%s, %zu files)", name,
		       r->waited ? " (by the process it waited for)" : "", fmt_bytes(a, sizeof(a), r->bytes), r->files);
	else {
		char store[128] = "";
		if (r->store_checked)
			snprintf(store, sizeof(store), ", and %zu of them by the store's own %s", r->store_checked,
				 r->store_alg);
		cs_say(say, arg, "staged %s in %.2fs (%.2f GB/s), %zu files, verified by %s%s%s%s%s; %d copy thread%s",
		       fmt_bytes(a, sizeof(a), r->bytes), r->seconds,
		       r->seconds > 0 ? (double)r->bytes / r->seconds / 1e9 : 0, r->files,
		       r->verify == SC_VERIFY_XXH3 ? "xxh3 (source vs copy read back)" : "file count and sizes", store,
		       r->resumed ? "; resumed with " : "", r->resumed ? fmt_bytes(b, sizeof(b), r->resumed) : "",
		       r->resumed ? " already there" : "", r->jobs, r->jobs == 1 ? "" : "s");
	}
	if (r->replaced && r->replaced_source)
		cs_say(say, arg, "replaced the copy of '%s' (--replace) with this source's", r->replaced_source);
	else if (r->replaced && r->repaired)
		cs_say(say, arg, "the staged copy was damaged (the source had not changed): copied %s again, kept %zu "
		       "intact file%s, and swapped the repaired copy in", fmt_bytes(b, sizeof(b), r->copied), r->linked,
		       r->linked == 1 ? "" : "s");
	else if (r->replaced)
		cs_say(say, arg, "the source had changed: copied %s, took %zu unchanged file%s from the old copy, "
		       "and swapped the new copy in", fmt_bytes(b, sizeof(b), r->copied), r->linked,
		       r->linked == 1 ? "" : "s");
}
