/**
 * The real stack for these tests, through `python -m lkbridge.devstack.harness`: livekit-server,
 * the `lkbridge serve` process and device peers, driven with one JSON line per request.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { createInterface } from "node:readline";

/** The repository's root: the nearest folder up from here with a pyproject.toml. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, "pyproject.toml"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("no pyproject.toml above " + __dirname);
    dir = parent;
  }
  return dir;
}

export function pythonPath(): string {
  return process.env.LKBRIDGE_PYTHON ?? path.join(repoRoot(), ".venv", "bin", "python");
}

interface Answer {
  id: number;
  ok: boolean;
  result?: Record<string, unknown>;
  error?: string;
}

export class Harness {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (answer: Answer) => void>();
  private nextId = 1;
  private stderr = "";
  private exited: Promise<number | null>;

  constructor() {
    this.proc = spawn(pythonPath(), ["-m", "lkbridge.devstack.harness"], {
      cwd: repoRoot(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.proc.stderr.on("data", (data: Buffer) => {
      this.stderr = (this.stderr + data.toString()).slice(-4000);
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      const answer = JSON.parse(line) as Answer;
      this.waiting.get(answer.id)?.(answer);
      this.waiting.delete(answer.id);
    });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code) => resolve(code)));
    void this.exited.then((code) => {
      for (const [id, settle] of this.waiting) {
        settle({ id, ok: false, error: `harness exited (${code}): ${this.stderr}` });
      }
      this.waiting.clear();
    });
  }

  async call<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    const answer = await new Promise<Answer>((resolve) => {
      this.waiting.set(id, resolve);
      this.proc.stdin.write(JSON.stringify({ id, op, ...args }) + "\n");
    });
    if (!answer.ok) throw new Error(`harness ${op}: ${answer.error}`);
    return answer.result as T;
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.stdin.end(); // the harness cleans up and exits when stdin closes
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface Sfu {
  url: string;
  api_key: string;
  api_secret: string;
}

export interface Heard {
  seconds: number;
  loud_seconds: number;
  dominant_hz: number;
}
