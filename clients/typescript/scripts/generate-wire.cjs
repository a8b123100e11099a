// The package's wire types come from the contract, not from a hand-written copy of it: every
// build copies the repository's proto/ into the package (it ships the .proto for
// @grpc/proto-loader to load at run time) and generates src/generated/ from that copy with
// proto-loader-gen-types, the generator made for the runtime the client uses. The flags match
// LOADER_OPTIONS in src/wire.ts; test/unit/wire.test.ts fails when the two disagree or when
// src/generated/ is stale.
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const PACKAGE = path.resolve(__dirname, "..");
const CONTRACT = path.resolve(PACKAGE, "../../proto/livekit_bridge.proto");
const PROTO_DIR = "proto"; // relative: the generated files name it, so it must not vary by machine
const PROTO_FILE = "livekit_bridge.proto";
const GENERATED = path.join(PACKAGE, "src", "generated");

const FLAGS = [
  "--longs=Number",
  "--enums=String",
  "--bytes=Buffer",
  "--defaults",
  "--oneofs",
  "--includeComments",
  "--grpcLib=@grpc/grpc-js",
];

/** Copy the contract into the package; returns its path there. */
function copyContract() {
  const target = path.join(PACKAGE, PROTO_DIR, PROTO_FILE);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(CONTRACT, target);
  return target;
}

/** Generate the TypeScript types of the packaged .proto into `outDir` (emptied first). */
function generate(outDir = GENERATED) {
  fs.rmSync(outDir, { recursive: true, force: true });
  const bin = require.resolve("@grpc/proto-loader/build/bin/proto-loader-gen-types.js", {
    paths: [PACKAGE],
  });
  const args = [bin, ...FLAGS, "-I", PROTO_DIR, "-O", outDir, PROTO_FILE];
  const run = spawnSync(process.execPath, args, { cwd: PACKAGE, encoding: "utf8" });
  if (run.status !== 0) {
    throw new Error(`proto-loader-gen-types failed (${run.status}): ${run.stderr || run.error}`);
  }
}

/** Every generated file, relative path -> text, for comparing two generations. */
function readTree(dir) {
  const files = {};
  const walk = (sub) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else files[rel] = fs.readFileSync(path.join(dir, rel), "utf8");
    }
  };
  walk("");
  return files;
}

module.exports = { CONTRACT, GENERATED, PACKAGE, PROTO_FILE, copyContract, generate, readTree };

if (require.main === module) {
  copyContract();
  generate();
}
