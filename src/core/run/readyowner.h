#ifndef CS_READYOWNER_H
#define CS_READYOWNER_H
/*
 * readyowner: a readiness answer counts only from the server itself. Both
 * the measured start (runner) and the production one (supervise) refuse a
 * port something else already listens on, and an answer from a socket the
 * server's process tree does not hold (another server on that port, a
 * container runtime's proxy: those say --ready-owner any).
 *
 * Reads /proc (sockown); nothing prints; no state; thread-safe.
 */
#include <stddef.h>

#include "proc.h"
#include "ready.h"

/* Something listens on 127.0.0.1:port (or a wildcard): 1, else 0. */
int ro_port_taken(int port);
/* " by pid N (comm)" for whoever holds a listener on port into buf; ""
 * when it cannot be seen. */
void ro_port_holder(int port, char *buf, size_t len);
/* The socket that answered rs (its peer address, ready_check's) is held
 * by p's process tree: 1. Else 0, with why (len bytes) saying whose it
 * is or why it cannot be told. */
int ro_answer_owned(const struct ready_spec *rs, const struct proc *p, char *why, size_t len);

#endif
