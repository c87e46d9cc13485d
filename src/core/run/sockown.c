#define _GNU_SOURCE
#include "sockown.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/util.h"
#include "core/base/banned.h"

#define TCP_LISTEN 0x0A

/* Does a listener's address (words as /proc prints them: native-endian
 * 32-bit words of the network-order address) accept connections for addr? */
static int accepts(const uint32_t *w, int v6, const struct sockaddr *addr)
{
	if (!addr)
		return 1;
	uint32_t any[4] = { 0, 0, 0, 0 };
	if (!v6 && !w[0])
		return addr->sa_family == AF_INET;
	if (v6 && !memcmp(w, any, sizeof(any)))
		return 1; /* [::] takes IPv4 too unless IPV6_V6ONLY */
	if (addr->sa_family == AF_INET) {
		uint32_t a;
		memcpy(&a, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		if (!v6)
			return w[0] == a;
		/* ::ffff:a.b.c.d */
		uint32_t mapped[4] = { 0, 0, htonl(0xffff), a };
		return !memcmp(w, mapped, sizeof(mapped));
	}
	if (addr->sa_family == AF_INET6 && v6) {
		uint32_t a[4];
		memcpy(a, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
		return !memcmp(w, a, sizeof(a));
	}
	return 0;
}

static void scan(const char *path, int v6, const struct sockaddr *addr, int port, uint64_t **out, size_t *n,
		 size_t *alloc)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[512];
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned st;
		unsigned long long inode;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %llu", local, &st, &inode) != 3 ||
		    st != TCP_LISTEN || !inode)
			continue;
		char *colon = strchr(local, ':');
		if (!colon || strtol(colon + 1, NULL, 16) != port)
			continue;
		*colon = 0;
		uint32_t w[4] = { 0, 0, 0, 0 };
		size_t nw = v6 ? 4 : 1;
		if (strlen(local) != nw * 8)
			continue;
		for (size_t i = 0; i < nw; i++) {
			char word[9];
			memcpy(word, local + i * 8, 8);
			word[8] = 0;
			w[i] = (uint32_t)strtoul(word, NULL, 16);
		}
		if (!accepts(w, v6, addr))
			continue;
		*out = xgrow(*out, alloc, *n + 1, sizeof(uint64_t));
		(*out)[(*n)++] = inode;
	}
	fclose(f);
}

size_t so_listeners(const struct sockaddr *addr, int port, uint64_t **inodes)
{
	*inodes = NULL;
	size_t n = 0, alloc = 0;
	scan("/proc/net/tcp", 0, addr, port, inodes, &n, &alloc);
	scan("/proc/net/tcp6", 1, addr, port, inodes, &n, &alloc);
	return n;
}

static int holds(pid_t pid, const uint64_t *inodes, size_t n)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char link[320], target[128];
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		ssize_t l = readlink(link, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = 0;
		unsigned long long ino;
		if (sscanf(target, "socket:[%llu]", &ino) != 1)
			continue;
		for (size_t i = 0; i < n && !found; i++)
			found = inodes[i] == ino;
	}
	closedir(d);
	return found;
}

int so_held_by(const pid_t *pids, size_t npids, const uint64_t *inodes, size_t n)
{
	for (size_t i = 0; i < npids; i++)
		if (holds(pids[i], inodes, n))
			return 1;
	return 0;
}

pid_t so_holder(const uint64_t *inodes, size_t n)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	pid_t who = 0;
	struct dirent *de;
	while (!who && (de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' && holds((pid_t)atoi(de->d_name), inodes, n))
			who = (pid_t)atoi(de->d_name);
	closedir(d);
	return who;
}

void so_addr_str(const struct sockaddr *addr, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%d", ip, ntohs(a->sin_port));
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%d", ip, ntohs(a->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}
