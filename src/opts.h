#ifndef CS_OPTS_H
#define CS_OPTS_H
/*
 * opts: one declarative option table per command (after git's
 * parse-options and tmux's cmd_entry). Each entry names its option, its
 * type and the field it writes; the parser validates and converts, the
 * help text is generated from the same table, and groups (the run options,
 * the loader options) are tables included in others.
 *
 * Types: FLAG (int = 1), STRING (const char *, NONEMPTY refuses ""),
 * LIST (appends to a char ** array with a size_t count), INT (long in
 * [min, max]), SIZE / RATE (uint64_t bytes or bytes/s in [min, max], max 0:
 * no bound), DURATION (uint64_t ns; a bare number is seconds), LATENCY (a
 * duration whose unit is required), ENUM (int index into choices, or the
 * string through a const char * with ENUM_STR), U64 (uint64_t, a seed),
 * CALLBACK (the command's own
 * function), GROUP (another table).
 *
 * A bad value is a usage error: "invalid --NAME 'VALUE' (HINT)", exit 2.
 * Command side: prints.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/base/workpool.h"

enum opt_type {
	OPT_END, OPT_GROUP, OPT_FLAG, OPT_STRING, OPT_LIST, OPT_INT, OPT_SIZE, OPT_RATE, OPT_DURATION,
	OPT_LATENCY, OPT_ENUM, OPT_ENUM_STR, OPT_CALLBACK, OPT_U64,
};

enum {
	OPTF_OPTIONAL = 1,   /* the value may be left out (--prefetch[=N]) */
	OPTF_NONZERO = 2,    /* 0 is not a valid value */
	OPTF_NONEMPTY = 4,   /* "" is not a valid value */
	OPTF_HIDDEN = 8,     /* not in the help */
};

struct opt;
/* A callback: 0, or a usage error's exit status (after reporting it). */
typedef int (*opt_fn)(const struct opt *o, const char *arg);

struct opt {
	enum opt_type type;
	int short_name;              /* 0: none */
	const char *long_name;
	const char *argname;         /* "N", "SIZE" (help) */
	const char *help;            /* lines joined by \n */
	void *value;                 /* the field written */
	long long min, max;          /* INT, SIZE, RATE bounds */
	const char *hint;            /* in the error message: "1 to 256", "e.g. 90s" */
	const char *const *choices;  /* ENUM: NULL-terminated */
	opt_fn cb;                   /* CALLBACK */
	int flags;
	const struct opt *group;     /* GROUP */
	size_t *count;               /* LIST: the number of entries */
	int *seen;                   /* set to 1 when the option is given (may be NULL) */
};

#define OPT_END_() { .type = OPT_END }
/* The range of a thread count (--jobs and the like): 1 to WP_JOBS_MAX. */
#define OPT_JOBS_RANGE .min = 1, .max = WP_JOBS_MAX, .hint = "1 to " WP_JOBS_MAX_S
/* --jobs auto|N: an OPT_CALLBACK for a long (WP_JOBS_AUTO for auto), N in
 * .min..max. */
struct opt;
int opt_jobs_cb(const struct opt *o, const char *arg);
/* --prefetch[=JOBS] into an int: JOBS, or WP_JOBS_DEFAULT when left out. */
int opt_prefetch_cb(const struct opt *o, const char *arg);
#define OPT_JOBS_AUTO .type = OPT_CALLBACK, .cb = opt_jobs_cb, .min = 1

/*
 * One option, one entry (after git's OPT_BOOL, OPT_STRING, ...): each
 * macro expands to the struct opt initialiser of its type. The arguments
 * are the short name (0: none), the long name, the field written, the
 * value's name in the help (argname), what the type needs, and the help;
 * anything after the help is more designated initialisers for the entry
 * (.flags = OPTF_NONEMPTY, .seen = &given, .count = &n), so an option that
 * needs one is still one macro. hint (NULL: none) is what a bad value's
 * error message adds; min/max bound INT, SIZE and RATE values as struct
 * opt says.
 */
#define OPT_GROUP_(table) { .type = OPT_GROUP, .group = (table) }
#define OPT_FLAG_(s, l, v, h, ...) \
	{ .type = OPT_FLAG, .short_name = (s), .long_name = (l), .value = (v), .help = (h), __VA_ARGS__ }
#define OPT_STRING_(s, l, v, a, h, ...) \
	{ .type = OPT_STRING, .short_name = (s), .long_name = (l), .argname = (a), .value = (v), .help = (h), __VA_ARGS__ }
/* v: a char ** array, n: its size_t count. */
#define OPT_LIST_(s, l, v, n, a, h, ...) \
	{ .type = OPT_LIST, .short_name = (s), .long_name = (l), .argname = (a), .value = (v), .count = (n), \
	  .help = (h), __VA_ARGS__ }
#define OPT_INT_(s, l, v, a, lo, hi, hnt, h, ...) \
	{ .type = OPT_INT, .short_name = (s), .long_name = (l), .argname = (a), .value = (v), .min = (lo), \
	  .max = (hi), .hint = (hnt), .help = (h), __VA_ARGS__ }
/* An INT thread count, 1 to WP_JOBS_MAX (OPT_JOBS_RANGE). */
#define OPT_JOBS_(s, l, v, a, h, ...) \
	{ .type = OPT_INT, .short_name = (s), .long_name = (l), .argname = (a), .value = (v), OPT_JOBS_RANGE, \
	  .help = (h), __VA_ARGS__ }
/* auto|N into a long (opt_jobs_cb): N from 1 to hi. */
#define OPT_JOBS_AUTO_(s, l, v, a, hi, h, ...) \
	{ OPT_JOBS_AUTO, .max = (hi), .short_name = (s), .long_name = (l), .argname = (a), .value = (v), \
	  .help = (h), __VA_ARGS__ }
/* The entries below share one form: a type, the value's name in the help
 * (a), a hint for a bad value (hnt), and what each type adds (lo..hi
 * bounds, the choices). */
#define OPT_TYPED_(t, s, l, v, a, hnt, h, ...) \
	{ .type = (t), .short_name = (s), .long_name = (l), .argname = (a), .value = (v), .hint = (hnt), \
	  .help = (h), __VA_ARGS__ }
#define OPT_SIZE_(s, l, v, a, lo, hi, hnt, h, ...) OPT_TYPED_(OPT_SIZE, s, l, v, a, hnt, h, .min = (lo), .max = (hi), __VA_ARGS__)
#define OPT_RATE_(s, l, v, a, lo, hi, hnt, h, ...) OPT_TYPED_(OPT_RATE, s, l, v, a, hnt, h, .min = (lo), .max = (hi), __VA_ARGS__)
#define OPT_DURATION_(s, l, v, a, hnt, h, ...) OPT_TYPED_(OPT_DURATION, s, l, v, a, hnt, h, __VA_ARGS__)
#define OPT_LATENCY_(s, l, v, a, hnt, h, ...) OPT_TYPED_(OPT_LATENCY, s, l, v, a, hnt, h, __VA_ARGS__)
/* ch: the NULL-terminated choices; v an int (their index). */
#define OPT_ENUM_(s, l, v, a, ch, hnt, h, ...) OPT_TYPED_(OPT_ENUM, s, l, v, a, hnt, h, .choices = (ch), __VA_ARGS__)
/* The same, v a const char * (the choice itself). */
#define OPT_ENUM_STR_(s, l, v, a, ch, hnt, h, ...) \
	OPT_TYPED_(OPT_ENUM_STR, s, l, v, a, hnt, h, .choices = (ch), __VA_ARGS__)
#define OPT_U64_(s, l, v, a, hnt, h, ...) OPT_TYPED_(OPT_U64, s, l, v, a, hnt, h, __VA_ARGS__)
#define OPT_CALLBACK_(s, l, v, a, fn, h, ...) \
	{ .type = OPT_CALLBACK, .short_name = (s), .long_name = (l), .argname = (a), .value = (v), .cb = (fn), \
	  .help = (h), __VA_ARGS__ }

/* The help of a command: usage lines and a description before the
 * generated options, more after them. */
struct opts_help {
	const char *usage;           /* "usage: coldstart run --model PATH ..." and the description */
	const char *after;           /* examples and the rest, may be NULL */
	const struct opts_list *list;/* a table printed before `after` (presets, profiles), may be NULL */
};

/* A list of named things from the engine's tables, in the help:
 * "TITLE:" then "  NAME  TEXT" per entry. */
struct opts_list {
	const char *title;
	size_t (*count)(void);
	const char *(*name)(size_t i);
	const char *(*text)(size_t i);
	int width;                   /* of the name column */
};

/*
 * Parse argv (argv[0] is the command's name) against the table. Options
 * and operands may be mixed; the operands are moved behind the options and
 * *first_operand indexes them (as getopt's optind): argv[*first_operand ..
 * argc) are the operands, each once, in order; the "--" that ended the
 * options (if any) stays just before them. --help / -h prints the
 * help on stdout: returns OPTS_HELP then (the command returns 0). Returns
 * 0, OPTS_HELP, or EXIT_USAGE after reporting.
 */
#define OPTS_HELP (-2)
int opts_parse(const struct opt *table, const struct opts_help *help, int argc, char **argv, int *first_operand);
/* What a command returns for opts_parse's answer (OPTS_HELP: 0). */
static inline int opts_exit(int rc)
{
	return rc == OPTS_HELP ? 0 : rc;
}
/* opts_parse for a command whose operands are a command line (exec's
 * "-- SERVER ARGS..."): they must follow a "--", at least one, and none may
 * come before it (a stray word would become the command's argv[0]). Return
 * -1 to go on with argv[*first .. argc) the command, else what the command
 * returns (0 after --help, EXIT_USAGE); what names the command line in the
 * messages ("the server's command"). */
int opts_parse_cmd(const struct opt *table, const struct opts_help *help, int argc, char **argv, const char *what,
		   int *first);
/* opts_parse for a command of exactly one operand (what names it in the
 * messages), stored in *operand; and for a command of none. Return -1 to
 * go on, else what the command returns (0 after --help, EXIT_USAGE). */
int opts_parse_one(const struct opt *table, const struct opts_help *help, int argc, char **argv, const char *what,
		   const char **operand);
int opts_parse_none(const struct opt *table, const struct opts_help *help, int argc, char **argv);
/* For a command of actions ("cache ls", "pages warm"): the first operand
 * must be one of actions (NULL-terminated); *action set, optind past it. */
int opts_parse_action(const struct opt *table, const struct opts_help *help, int argc, char **argv,
		      const char *const *actions, const char **action);
/* The generated help (as --help prints it). */
void opts_usage(FILE *f, const struct opt *table, const struct opts_help *help);


/*
 * The help as documentation, for `coldstart help --all`: opts_usage
 * renders the same tables and texts as a man page (troff) or as Markdown
 * once the format is set (or as bash and zsh completion data: complete.h).
 * The free texts are read as blocks between blank
 * lines: runs of lines that start with a space are preformatted, the rest
 * prose, a short "Title:" line over such a run a heading. The format is
 * process-wide, set before any help is printed (not thread-safe); the
 * default is the plain text of --help.
 */
enum opts_format { OPTS_FORMAT_TEXT, OPTS_FORMAT_MAN, OPTS_FORMAT_MARKDOWN, OPTS_FORMAT_BASH, OPTS_FORMAT_ZSH };
/* The completion formats (complete.h): the options as a shell script's
 * data, not as text. */
static inline int opts_format_completion(enum opts_format f)
{
	return f == OPTS_FORMAT_BASH || f == OPTS_FORMAT_ZSH;
}
void opts_set_format(enum opts_format format);
enum opts_format opts_get_format(void);
/* In the current format, for the document around the commands' help:
 * text escaped (no markup); a heading (1: a section, 2: a command, 3: a
 * part of one); free text as opts_usage renders it; text preformatted; one
 * entry of a list of names. */
void opts_doc_put(FILE *f, const char *text);
void opts_doc_heading(FILE *f, int level, const char *title);
void opts_doc_text(FILE *f, const char *text);
void opts_doc_pre(FILE *f, const char *text);
void opts_doc_item(FILE *f, const char *name, const char *text);

#endif
