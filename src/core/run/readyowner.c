/* readyowner: whether a port is taken, and whose answer a readiness check got. */
#define _GNU_SOURCE
#include "readyowner.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockown.h"
#include "core/base/banned.h"

/* Something listens on 127.0.0.1:port (or a wildcard), as /proc shows it. */
int ro_port_taken(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	uint64_t *ino;
	size_t n = so_listeners((struct sockaddr *)&a, port, &ino);
	free(ino);
	return n > 0;
}

/* " by pid N (comm)" for whoever holds a listener on port, "" if unseen. */
void ro_port_holder(int port, char *buf, size_t len)
{
	uint64_t *ino;
	size_t n = so_listeners(NULL, port, &ino);
	pid_t who = n ? so_holder(ino, n) : 0;
	free(ino);
	buf[0] = 0;
	if (who > 0) {
		char comm[64];
		proc_comm(who, comm, sizeof(comm));
		snprintf(buf, len, " by pid %d (%s)", (int)who, comm);
	}
}

/* The listening socket that answered the readiness check belongs to the
 * server's process tree. Otherwise why says whose it is. */
int ro_answer_owned(const struct ready_spec *rs, const struct proc *p, char *why, size_t len)
{
	char where[96] = "?";
	if (!rs->have_peer) {
		snprintf(why, len,
			 "the readiness check (%s) was answered, but not from an address coldstart could trace "
			 "to a process; pass --ready-owner any to accept it", rs->text);
		return 0;
	}
	const struct sockaddr *peer = (const struct sockaddr *)&rs->peer;
	so_addr_str(peer, where, sizeof(where));
	int port = peer->sa_family == AF_INET ? ntohs(((const struct sockaddr_in *)peer)->sin_port)
					      : ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
	uint64_t *ino;
	size_t n = so_listeners(peer, port, &ino);
	pid_t *pids;
	size_t np = proc_tree(p, &pids);
	int ok = n && so_held_by(pids, np, ino, n);
	free(pids);
	if (!ok && !n) {
		snprintf(why, len,
			 "the readiness check (%s) was answered at %s, but no listening socket there is visible in "
			 "this network namespace (a server in a container, behind NAT or on another host?): "
			 "pass --ready-owner any to accept answers from processes coldstart cannot see", rs->text,
			 where);
	} else if (!ok) {
		pid_t who = so_holder(ino, n);
		char comm[64] = "";
		if (who > 0)
			proc_comm(who, comm, sizeof(comm));
		if (who > 0)
			snprintf(why, len,
				 "the readiness check (%s) was answered at %s by pid %d (%s), which is not part of "
				 "the server's process tree: another server holds that port (a container runtime's "
				 "proxy? then pass --ready-owner any)", rs->text, where, (int)who, comm);
		else
			snprintf(why, len,
				 "the readiness check (%s) was answered at %s by a socket no process of the server's "
				 "tree holds (its owner is not visible to this user): pass --ready-owner any to "
				 "accept it", rs->text, where);
	}
	free(ino);
	return ok;
}

