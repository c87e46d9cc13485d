#!/usr/bin/env node
// server-files.mjs DIR PACKAGE...: the node_modules folders (relative to
// DIR) that PACKAGE and everything it depends on resolve to, by Node's own
// lookup (nested node_modules first, then each folder up), from DIR's
// package-lock.json; one a line. Only the packages installed there are
// named (an optional dependency for another platform is left out). For
// make install: llama_serve.mjs needs node-llama-cpp, not the tests'
// packages.
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

const [dir, ...want] = process.argv.slice(2);
if (!dir || !want.length) {
	process.stderr.write("usage: server-files.mjs DIR PACKAGE...\n");
	process.exit(2);
}
const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8"));
const pkgs = lock.packages || {};
const installed = (p) => pkgs[p] && fs.existsSync(path.join(dir, p, "package.json"));
// Where `name`, required from the package at `from` ("" is the root), resolves.
function resolve(from, name) {
	for (let at = from; ; ) {
		const p = (at ? at + "/" : "") + "node_modules/" + name;
		if (installed(p))
			return p;
		if (!at)
			return null;
		const i = at.lastIndexOf("node_modules/");
		at = i > 0 ? at.slice(0, i - 1) : "";
	}
}
const seen = new Set();
const todo = [];
for (const name of want) {
	const p = resolve("", name);
	if (!p) {
		process.stderr.write(`server-files.mjs: ${name} is not installed in ${dir}\n`);
		process.exit(1);
	}
	todo.push(p);
}
while (todo.length) {
	const p = todo.pop();
	if (seen.has(p))
		continue;
	seen.add(p);
	const e = pkgs[p];
	for (const name of Object.keys({ ...e.dependencies, ...e.optionalDependencies, ...e.peerDependencies })) {
		const q = resolve(p, name);
		if (q)
			todo.push(q);
		else if (!(e.optionalDependencies || {})[name] && !(e.peerDependenciesMeta || {})[name]?.optional)
			process.stderr.write(`server-files.mjs: ${p} needs ${name}, which is not installed\n`);
	}
}
process.stdout.write([...seen].sort().join("\n") + "\n");
