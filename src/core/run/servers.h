#ifndef CS_SERVERS_H
#define CS_SERVERS_H
/*
 * servers: the built-in server templates of run and bench and where their
 * programs are -- vLLM (when on the PATH), this binary's refserve, and
 * llama.cpp (llama-server, else coldstart's llama_serve.mjs on
 * node-llama-cpp). Each template gives the server {max_model_len}, so a
 * row's max_model_len is what the server was told.
 *
 * Nothing prints; the strings returned are malloc'd (the caller frees
 * them). Reads $PATH, $COLDSTART_LLAMA_SERVE and /proc/self/exe.
 */
#include "core/base/util.h"

#define SRV_VLLM_TEMPLATE "vllm serve {model} --port {port} --max-model-len {max_model_len}"

/* 1 when an executable prog is in a directory of $PATH. */
int srv_on_path(const char *prog);
/* This binary's refserve as a template (its path quoted for tmpl_argv). */
char *srv_refserve_template(void);
/* 1 when path is a GGUF file: by its name or its magic. */
int srv_gguf_file(const char *path);
/*
 * --server llama.cpp: llama-server when it is on the PATH (*js NULL), else
 * node on coldstart's llama_serve.mjs (*js its path): $COLDSTART_LLAMA_SERVE,
 * else beside this binary (a checkout: bench/servers/; installed by make
 * install: ../share/coldstart/servers/), its path made canonical, with
 * node-llama-cpp installed next to it and node on the PATH. NULL with err
 * (ENOENT) saying what is missing and how to get it.
 */
char *srv_llama_template(char **js, struct cs_err *err);

#endif
