#ifndef CS_SOCKOWN_H
#define CS_SOCKOWN_H
/*
 * sockown: which process owns a listening TCP socket.
 *
 * Listening sockets come from /proc/net/tcp and /proc/net/tcp6 (this
 * network namespace only); their owners from the socket:[INODE] links under
 * /proc/PID/fd (readable for the caller's own processes, all of them as
 * root). A readiness answer counts only when it came from a socket the
 * server's own process tree holds.
 *
 * Nothing prints; no state; thread-safe.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Inodes of the sockets listening on addr's port that accept connections
 * for addr (same address, a wildcard 0.0.0.0 / ::, or the IPv4-mapped
 * form). With addr NULL: every listener on `port`, any address. *inodes is
 * malloc'd (NULL when none). */
size_t so_listeners(const struct sockaddr *addr, int port, uint64_t **inodes);

/* 1 if one of pids holds one of the sockets. */
int so_held_by(const pid_t *pids, size_t npids, const uint64_t *inodes, size_t n);

/* A process (any, as far as /proc lets us see) holding one of the sockets;
 * 0 when none is visible. */
pid_t so_holder(const uint64_t *inodes, size_t n);

/* "127.0.0.1:8000" / "[::1]:8000" into buf. */
void so_addr_str(const struct sockaddr *addr, char *buf, size_t len);

#endif
