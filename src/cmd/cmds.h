#ifndef CS_CMDS_H
#define CS_CMDS_H
/* One function per subcommand, each in src/cmd/<name>.c. Each returns the
 * process exit status: 0 success, 1 failure, 2 usage error, 128+N on signal. */
int cmd_mkmodel(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_pages(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_netsim(int argc, char **argv);
int cmd_refserve(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_stage(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_report(int argc, char **argv);

struct rp_thresholds;
/* The file beside a CSV with its ".csv" replaced by ext (".md", ".meta.json"). */
char *report_sibling(const char *csv, const char *ext);
/* Write CSV's Markdown report and SVG chart (NULL paths: next to the CSV);
 * with json, also the numbers on stdout. An output naming an input (or the
 * other output) is a usage error. Reports errors; 0, EXIT_FAIL or EXIT_USAGE. */
int report_write(const char *csv, const char *md, const char *svg, const char *meta, const char *model,
		 const struct rp_thresholds *th, int json, int quiet);
#endif
