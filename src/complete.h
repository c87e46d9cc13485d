#ifndef CS_COMPLETE_H
#define CS_COMPLETE_H
/*
 * complete: bash and zsh completion scripts generated from the commands'
 * option tables (`coldstart help --all --format=bash|zsh`, installed by
 * make install), so that a new option completes with no edit here.
 *
 * The script is written in pieces, as help --all walks the commands: the
 * head (the command names), then per command complete_cmd_begin, the
 * command's --help in the completion format (opts_usage calls
 * complete_options; opts_parse_action adds complete_actions), and
 * complete_cmd_end; then the tail. Command side: writes to f only; the
 * format is opts_get_format()'s (OPTS_FORMAT_BASH or OPTS_FORMAT_ZSH).
 */
#include <stddef.h>
#include <stdio.h>

struct opt;

/* names[0 .. n) and their one-line summaries. */
void complete_head(FILE *f, const char *const *names, const char *const *summaries, size_t n);
void complete_cmd_begin(FILE *f, const char *name);
/* The options of one command, flattened (hidden ones left out here). */
void complete_options(FILE *f, const struct opt *const *o, size_t n);
/* The command's actions (cache ls, pages warm): its first operand. */
void complete_actions(FILE *f, const char *const *actions);
void complete_cmd_end(FILE *f);
void complete_tail(FILE *f);

#endif
