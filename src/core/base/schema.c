/* schema: the storage-mode table. */
#include "schema.h"

#include <stdio.h>
#include <string.h>

#include "banned.h"

const struct storage_mode storage_modes[] = {
	{ MODE_NVME, 0, "the model on local NVMe" },
	{ MODE_NVME_PREFETCH, MODE_PREFETCH, "the model on local NVMe, warmed in parallel at launch" },
	{ MODE_NET, MODE_READS_NET, "the model on the network path" },
	{ MODE_STAGED, MODE_READS_NET | MODE_STAGES, "staged from the network path onto NVMe, then started" },
	{ MODE_NET_PREFETCH, MODE_READS_NET | MODE_PREFETCH, "the network path, warmed in parallel at launch" },
	{ MODE_RUNTIME, MODE_NO_WEIGHTS, "the server with no weight loading" },
};
const size_t nstorage_modes = sizeof(storage_modes) / sizeof(storage_modes[0]);

const struct storage_mode *storage_mode_find(const char *name)
{
	for (size_t i = 0; i < nstorage_modes; i++)
		if (!strcmp(storage_modes[i].name, name))
			return &storage_modes[i];
	return NULL;
}

int storage_mode_rank(const char *name)
{
	const struct storage_mode *m = storage_mode_find(name);
	return m ? (int)(m - storage_modes) : 100;
}

const char *storage_mode_list(void)
{
	static char list[128];
	if (!list[0]) {
		size_t n = 0;
		for (size_t i = 0; i < nstorage_modes; i++) {
			const char *sep = i == 0 ? "" : i + 1 == nstorage_modes ? " or " : ", ";
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", sep, storage_modes[i].name);
		}
	}
	return list;
}
