#ifndef CS_CLI_H
#define CS_CLI_H
/*
 * cli: helpers shared by the command layer (src/cmd/): usage errors,
 * option parsing glue, signal flags, progress display, JSON output.
 * These print (stderr for humans, stdout for results); core never does.
 */
#include <jansson.h>
#include <signal.h>
#include <stdint.h>

/* Name of the running subcommand, used as the message prefix; may be NULL. */
extern const char *cs_cmdname;

/* Reporting, command side only (core reports through struct cs_err):
 * "coldstart: CMD: message" on stderr. error() returns EXIT_FAIL, an exit
 * status, so commands can `return error(...)`; die() exits 1; error_errno
 * append strerror(errno). Every command returns 0, EXIT_FAIL, EXIT_USAGE
 * or cli_signal_exit() (128 + the signal). */
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A cs_msg_fn for the engine's notices of what went wrong without failing:
 * each msg through warning() (arg unused). */
void warning_cb(const char *msg, void *arg);
/* A cs_msg_fn that passes a line through: msg and a newline on stdout,
 * flushed (a server's output, as it comes; arg unused). */
void stdout_line_cb(const char *msg, void *arg);

/* Once, before a command runs: the engine's out-of-memory path reports and
 * exits through die(). */
void cli_init(void);

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* Print "coldstart: CMD: message" and a hint to --help; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report getopt_long's '?' or ':' result for argv; returns EXIT_USAGE. */
int bad_option(int c, char **argv);

/* Exactly one operand left after the options (named `what` in messages):
 * stores it and returns 0, or reports and returns EXIT_USAGE. */
int one_operand(int argc, char **argv, const char *what, const char **out);

/* Set by SIGINT/SIGTERM once cli_catch_signals() ran; holds the signal. */
extern volatile sig_atomic_t cli_signal;
void cli_catch_signals(void);
/* 128 + signal for an interrupted command. */
int cli_signal_exit(void);
/* After cli_catch_signals and before any thread starts, for a command
 * whose state survives kill -9 (stage's journal, a verify, a read-only
 * pass) and that starts no child: once SIGINT, SIGTERM or SIGHUP came, the
 * process ends with 128 + signal at most `seconds` later, even when its
 * work is stuck in the kernel where no flag is looked at (a read of a hung
 * network mount, which a handled signal does not interrupt). A thread of
 * its own takes the signals; every other thread, and what they start,
 * has them blocked. Not for a command that must stop children first (run,
 * bench, exec keep their own grace). 0, or -1 when no thread could start
 * (then the handler alone sets the flag). */
int cli_signal_deadline(unsigned seconds);
/* The deadline the commands that take one use. */
#define CLI_SIGNAL_DEADLINE_S 1

/* Progress bar on stderr, only when stderr is a TTY (and not quiet). */
struct progress {
	int enabled;
	const char *label;
	uint64_t start_ns, last_ns;
	int drawn;
};
void progress_init(struct progress *p, const char *label, int quiet);
void progress_update(struct progress *p, uint64_t done, uint64_t total);
void progress_done(struct progress *p);
/* A (done, total, struct progress *) callback for core functions. */
void progress_cb(uint64_t done, uint64_t total, void *progress);

/* --cacert's help: what TLS trusts without it (source/httpsrc.h's order). */
#define CLI_CACERT_DEFAULTS "\n(default $AWS_CA_BUNDLE for s3://, then\n$CURL_CA_BUNDLE, then $SSL_CERT_FILE and\n" \
	"$SSL_CERT_DIR, else the system's store)"

/* Dump JSON to stdout with a newline; returns 0 or -1. Steals j. */
int print_json(json_t *j);

/*
 * --json's failures: a command given --json (the option parser sees it)
 * answers on stdout with one JSON document whatever happens. When it
 * fails without printing its result, cli_json_finish (at the end, and in
 * die) prints {"error": {"message": the first error's message, "command",
 * "exit_status", and the fields the command added}}; the message still goes
 * to stderr as always. cli_error_field adds "path" and the like (value
 * copied, URLs redacted; ignored without --json). Thread-safe.
 */
void cli_json_errors(void);
void cli_error_field(const char *key, const char *value);
/* rc, after printing the error object if one is due. */
int cli_json_finish(int rc);

#endif
