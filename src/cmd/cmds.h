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
int cmd_exec(int argc, char **argv);

#endif
