import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { ServerMessage, StreamClose } from '../protocol.js';

export interface SseFrame {
  event: string;
  id?: string;
  data: string;
}

/**
 * A raw `GET /api/sync/stream` reader for tests: the frames as sent (ids, event names, comments),
 * where an EventSource would hide the ids and comments. `pause()` stops reading at the socket.
 */
export class SseProbe {
  readonly frames: SseFrame[] = [];
  readonly comments: string[] = [];
  readonly response: Promise<IncomingMessage>;
  readonly ended: Promise<void>;
  private readonly req: ClientRequest;
  private res: IncomingMessage | undefined;
  private buffer = '';
  /** Everything received (an error's JSON body, too). */
  raw = '';

  constructor(url: string, headers: Record<string, string> = {}) {
    let resolveEnded!: () => void;
    this.ended = new Promise((r) => {
      resolveEnded = r;
    });
    this.req = request(url, { headers: { accept: 'text/event-stream', ...headers } });
    this.response = new Promise((resolve, reject) => {
      this.req.on('response', (res) => {
        this.res = res;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.take(chunk));
        res.on('end', resolveEnded);
        res.on('close', resolveEnded);
        resolve(res);
      });
      this.req.on('error', (err) => {
        resolveEnded();
        reject(err);
      });
    });
    this.req.end();
  }

  private take(chunk: string) {
    this.raw += chunk;
    this.buffer += chunk;
    for (let at = this.buffer.indexOf('\n\n'); at >= 0; at = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 2);
      const frame: SseFrame = { event: 'message', data: '' };
      let isComment = true;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        isComment = false;
        const colon = line.indexOf(':');
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') frame.event = value;
        else if (field === 'id') frame.id = value;
        else if (field === 'data') frame.data += value;
      }
      if (!isComment) this.frames.push(frame);
    }
  }

  /** The frames that carry a LiveMessage (all but `close`). */
  get messages(): ServerMessage[] {
    return this.frames.filter((f) => f.event !== 'close').map((f) => JSON.parse(f.data) as ServerMessage);
  }

  get close(): StreamClose | undefined {
    const frame = this.frames.find((f) => f.event === 'close');
    return frame ? (JSON.parse(frame.data) as StreamClose) : undefined;
  }

  /** Resolves once `count` frames matched, or fails after `timeoutMs`. */
  async waitFor(predicate: (probe: SseProbe) => boolean, timeoutMs = 10000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > until)
        throw new Error(`timed out; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves after `hello` (the replay is done). */
  live = () => this.waitFor((p) => p.frames.some((f) => f.event === 'hello'));

  /** The status and whole body of a refused request. */
  async refusal(): Promise<{ status: number; body: { error?: { code?: string; message?: string } } }> {
    const res = await this.response;
    await this.ended;
    return { status: res.statusCode ?? 0, body: JSON.parse(this.raw || '{}') };
  }

  pause() {
    this.res?.socket?.pause();
    this.res?.pause();
  }

  resume() {
    this.res?.socket?.resume();
    this.res?.resume();
  }

  /** Vanishes without a goodbye. */
  destroy() {
    this.req.destroy();
    this.res?.socket?.destroy();
  }
}
