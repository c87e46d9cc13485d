#!/usr/bin/env node
// llama_serve: a small llama.cpp server on node-llama-cpp's prebuilt
// llama.cpp, for coldstart's tests, demo and benchmarks where no
// llama-server binary is installed.
//
// It loads the GGUF model (mmap by default), creates a context, evaluates
// one token (with mmap this is where the weights arrive: by page faults),
// and only then answers, on 127.0.0.1 (or --host):
//   GET  /health          200 {"status":"ok"}
//   GET  /v1/models       the model, and how it was loaded
//   POST /v1/completions  {"prompt": "...", "max_tokens": N} -> real tokens
// llama.cpp's own log lines go to stderr as they come, with its phase lines:
//   llama_serve: model loaded in 0.512 s (mmap)
//   llama_serve: context created in 0.020 s
//   llama_serve: first evaluation took 0.734 s (1 token)
//   llama_serve: listening on http://127.0.0.1:8080
// Exit status 1 with a message when the model cannot be loaded.
import http from "node:http";
import os from "node:os";
import process from "node:process";
import { performance } from "node:perf_hooks";

const usage = `usage: llama_serve.mjs MODEL.gguf [--port N] [--host ADDR] [--no-mmap]
       [--direct-io] [--vocab-only] [--ctx-size N] [--threads N] [--quiet]

  --port N       port to listen on (default 8080)
  --host ADDR    address to listen on (default 127.0.0.1)
  --no-mmap      read the weights into memory instead of mapping the file
  --direct-io    read the weights with llama.cpp's direct I/O (O_DIRECT)
  --vocab-only   load the vocabulary only: the runtime without weights
  -c, --ctx-size N
                 context size in tokens (default 256; llama-server's
                 option, also --ctx N); llama.cpp's log says what it used
                 (n_ctx)
  --threads N    CPU threads (default: the CPUs this process may use)
  --quiet        only llama.cpp's warnings and errors
`;

function parseArgs(argv) {
	const o = { port: 8080, host: "127.0.0.1", mmap: true, directIo: false, vocabOnly: false, ctx: 256,
		threads: os.availableParallelism(), quiet: false, model: null };
	const num = (name, v) => {
		const n = Number(v);
		if (!Number.isInteger(n) || n < 0)
			fail(`${name} needs a non-negative integer, not '${v}'`, 2);
		return n;
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const val = () => {
			if (i + 1 >= argv.length)
				fail(`${a} needs a value`, 2);
			return argv[++i];
		};
		if (a === "-h" || a === "--help") {
			process.stdout.write(usage);
			process.exit(0);
		} else if (a === "--port") o.port = num(a, val());
		else if (a === "--host") o.host = val();
		else if (a === "--no-mmap") o.mmap = false;
		else if (a === "--direct-io") o.directIo = true;
		else if (a === "--vocab-only") o.vocabOnly = true;
		else if (a === "--ctx" || a === "--ctx-size" || a === "-c") o.ctx = num(a, val());
		else if (a === "--threads") o.threads = Math.max(1, num(a, val()));
		else if (a === "--quiet" || a === "-q") o.quiet = true;
		else if (a.startsWith("-")) fail(`unknown option '${a}'\n${usage}`, 2);
		else if (o.model === null) o.model = a;
		else fail(`unexpected argument '${a}'`, 2);
	}
	if (o.model === null)
		fail(`missing MODEL\n${usage}`, 2);
	if (o.port > 65535)
		fail(`--port ${o.port} is out of range`, 2);
	return o;
}

function fail(msg, code = 1) {
	process.stderr.write(`llama_serve: ${msg}\n`);
	process.exit(code);
}

const opt = parseArgs(process.argv.slice(2));
const say = (msg) => process.stderr.write(`llama_serve: ${msg}\n`);
const secs = (t0) => ((performance.now() - t0) / 1000).toFixed(3);

// llama.cpp writes pieces of lines (the progress dots, lines without their
// newline); keep whole lines so each gets its own timestamp downstream.
let pending = "";
function engineLog(level, message) {
	if (opt.quiet && level !== "warn" && level !== "error" && level !== "fatal")
		return;
	pending += message;
	let nl;
	while ((nl = pending.indexOf("\n")) >= 0) {
		process.stderr.write(pending.slice(0, nl + 1));
		pending = pending.slice(nl + 1);
	}
	// A line llama.cpp ends without "\n" still reaches the log now, unless
	// it is one of the progress dots.
	if (pending && !/^\.+$/.test(pending)) {
		process.stderr.write(pending + "\n");
		pending = "";
	}
}

let mod;
try {
	mod = await import("node-llama-cpp");
} catch (e) {
	fail(`cannot load node-llama-cpp (run 'make deps' in coldstart's checkout): ${e.message}`);
}
const { getLlama, LlamaLogLevel } = mod;

let llama, model, context, sequence;
const loadMode = opt.vocabOnly ? "vocab-only" : opt.directIo ? "direct-io" : opt.mmap ? "mmap" : "no-mmap";
try {
	llama = await getLlama({
		gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
		logLevel: opt.quiet ? LlamaLogLevel.warn : LlamaLogLevel.info, logger: engineLog,
		maxThreads: opt.threads,
	});
	let t0 = performance.now();
	model = await llama.loadModel({
		modelPath: opt.model, gpuLayers: 0, vocabOnly: opt.vocabOnly,
		useMmap: opt.mmap && !opt.directIo, useDirectIo: opt.directIo,
	});
	say(`model loaded in ${secs(t0)} s (${loadMode})`);
	if (!opt.vocabOnly) {
		t0 = performance.now();
		// An explicit thread count: node-llama-cpp's default spins more
		// threads than a small VM has cores, and each op's barrier then
		// waits a scheduler tick (450 ms a token instead of 4 on 2 cores).
		context = await model.createContext({ contextSize: opt.ctx, sequences: 1, threads: opt.threads });
		sequence = context.getSequence();
		say(`context created in ${secs(t0)} s`);
		t0 = performance.now();
		const bos = model.tokens.bos ?? model.tokenize("a")[0];
		// One token through every layer: each weight is touched once.
		await sequence.evaluateWithoutGeneratingNewTokens([bos]);
		await sequence.clearHistory();
		say(`first evaluation took ${secs(t0)} s (1 token)`);
	}
} catch (e) {
	fail(`cannot load '${opt.model}': ${e.message}`);
}

const modelId = opt.model.split("/").pop();
let busy = Promise.resolve();

async function complete(prompt, maxTokens) {
	const tokens = model.tokenize(prompt);
	const out = [];
	for await (const t of sequence.evaluate(tokens, { temperature: 0 })) {
		out.push(t);
		if (out.length >= maxTokens || model.isEogToken?.(t))
			break;
	}
	await sequence.clearHistory();
	return { promptTokens: tokens.length, tokens: out, text: model.detokenize(out) };
}

function reply(res, code, obj) {
	const body = JSON.stringify(obj);
	res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
	res.end(body);
}

function readBody(req, limit = 1 << 20) {
	return new Promise((resolve, reject) => {
		let n = 0;
		const parts = [];
		req.on("data", (c) => {
			n += c.length;
			if (n > limit) {
				reject(new Error("request body over 1 MiB"));
				req.destroy();
			} else parts.push(c);
		});
		req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
		req.on("error", reject);
	});
}

const server = http.createServer(async (req, res) => {
	const url = (req.url || "/").split("?")[0];
	try {
		if (req.method === "GET" && url === "/health")
			return reply(res, 200, { status: "ok" });
		if (req.method === "GET" && url === "/v1/models")
			return reply(res, 200, { object: "list", data: [{ id: modelId, object: "model", owned_by: "llama.cpp",
				path: opt.model, load_mode: loadMode, parameters: model.fileInsights?.totalParameters ?? null }] });
		if (req.method === "POST" && url === "/v1/completions") {
			if (opt.vocabOnly)
				return reply(res, 503, { error: { message: "loaded with --vocab-only: no weights to generate with" } });
			let body;
			try {
				body = JSON.parse(await readBody(req) || "{}");
			} catch (e) {
				return reply(res, 400, { error: { message: `bad JSON body: ${e.message}` } });
			}
			const prompt = typeof body.prompt === "string" ? body.prompt : "Hello";
			const maxTokens = Number.isInteger(body.max_tokens) && body.max_tokens > 0 ? Math.min(body.max_tokens, 256) : 16;
			const run = busy.then(() => complete(prompt, maxTokens));
			busy = run.catch(() => {});
			const r = await run;
			return reply(res, 200, { id: `cmpl-${Date.now()}`, object: "text_completion", model: modelId,
				choices: [{ index: 0, text: r.text, token_ids: r.tokens, finish_reason: r.tokens.length >= maxTokens ? "length" : "stop" }],
				usage: { prompt_tokens: r.promptTokens, completion_tokens: r.tokens.length,
					total_tokens: r.promptTokens + r.tokens.length } });
		}
		return reply(res, 404, { error: { message: `no route ${req.method} ${url}` } });
	} catch (e) {
		return reply(res, 500, { error: { message: e.message } });
	}
});

server.on("error", (e) => fail(`cannot listen on ${opt.host}:${opt.port}: ${e.message}`));
server.listen(opt.port, opt.host, () => say(`listening on http://${opt.host}:${server.address().port}`));

let stopping = false;
async function stop(sig) {
	if (stopping)
		return;
	stopping = true;
	say(`${sig}: stopping`);
	server.close();
	try {
		await context?.dispose();
		await model?.dispose();
		await llama?.dispose();
	} catch {
		// exiting anyway
	}
	process.exit(0);
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
