// The package ships the contract's .proto next to its code; the repository's proto/ is the one
// source, copied here on every build so the two cannot drift.
const fs = require("node:fs");
const path = require("node:path");

const source = path.resolve(__dirname, "../../../proto/livekit_bridge.proto");
const target = path.resolve(__dirname, "../proto/livekit_bridge.proto");
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.copyFileSync(source, target);
