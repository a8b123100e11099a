/**
 * Run by the integration tests as a node process of its own: a client that did real work (a
 * session, an audio() loop, sent audio, a playback still playing) is disposed, and then this
 * process must end by itself. A handle the client left open would keep it alive: the test
 * waits for the exit and reports what was still open.
 */
import { LiveKitGrpcClient, type JoinParams } from "../../src";

interface ProbeArgs {
  target: string;
  userId: string;
  join: JoinParams;
  playUrl: string;
  leave: boolean;
}

/** This process's own stdio: what may stay open. */
const STDIO = new Set(["PipeWrap", "TTYWrap"]);

/**
 * What is still open besides stdio, once the sockets and calls that dispose() ended have
 * closed (a closing socket takes a few turns of the loop): [] when nothing stays. Bounded: after
 * 5 s what is still there is what the client left open.
 */
async function whatStaysOpen(): Promise<string[]> {
  const others = (): string[] => process.getActiveResourcesInfo().filter((name) => !STDIO.has(name));
  for (let turn = 0; turn < 250 && others().length > 0; turn++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return others();
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as ProbeArgs;
  const client = new LiveKitGrpcClient({ userId: args.userId, target: args.target });
  await client.connect(args.join);
  const feed = (async () => {
    for await (const audio of client.audio()) void audio;
  })();
  await client.sendAudio(Buffer.alloc(3_200));
  await client.flush();
  const playback = client.playAudio({ url: args.playUrl });
  const outcome = playback.then(
    () => "completed",
    (error: Error) => error.message,
  );
  const events = playback[Symbol.asyncIterator]();
  const first = await events.next(); // STARTED: the call is live when dispose() comes
  await client.getStatus();
  await client.dispose({ leave: args.leave });
  await feed;
  const report = {
    first: first.done ? "done" : first.value.type,
    playback: await outcome,
    state: client.state,
    open: await whatStaysOpen(),
  };
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`probe failed: ${String(error)}\n`);
  process.exitCode = 1;
});
