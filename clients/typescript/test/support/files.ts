/** A real HTTP server for playback URLs: the bridge fetches from it like from a CDN. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export class FileServer {
  private readonly files = new Map<string, { body: Buffer; type: string }>();
  private readonly server: Server;

  constructor() {
    this.server = createServer((request, response) => {
      const file = this.files.get((request.url ?? "").split("?")[0]!);
      if (!file) {
        response.writeHead(404, { "content-type": "text/plain" }).end("not found");
        return;
      }
      response.writeHead(200, { "content-type": file.type, "content-length": file.body.length });
      response.end(file.body);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  /** Serve `body` at `name` and return its URL. */
  add(name: string, body: Buffer, type = "application/octet-stream"): string {
    this.files.set(`/${name}`, { body, type });
    return this.url(name);
  }

  url(name: string): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/${name}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
