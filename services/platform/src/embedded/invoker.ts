import http from 'node:http';
import { Duplex } from 'node:stream';
import type { InvokeRequest, InvokeResponse, Invoker } from '../ports.js';

/**
 * The embedded host serves every service's routes on one HTTP server, so "calling another app"
 * is a call of the same route the Dapr sidecar would call, with the same app token, through that
 * server in this process: the request travels over an in-memory connection handed to the server
 * as a new connection (node:http accepts any duplex stream on both ends), so it passes the same
 * middleware, body limits and error handling as any request, without a socket. On loopback TCP
 * each call cost two socket writes, and most of a write's time went to the kernel switching to
 * the reader. Connections are kept alive and reused, as a socket agent does.
 */
export function createEmbeddedInvoker(options: {
  server: () => http.Server | undefined;
  appToken?: string;
}): Invoker {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  // The agent pools what createConnection returns like sockets.
  (agent as unknown as { createConnection: () => Duplex }).createConnection = () => {
    const server = options.server();
    if (!server) throw new Error('the embedded host is not serving yet');
    const [client, served] = memoryConnection();
    server.emit('connection', served);
    return client;
  };
  return {
    invoke<T>(request: InvokeRequest): Promise<InvokeResponse<T>> {
      const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
      const headers: Record<string, string | number> = { ...request.headers };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      if (options.appToken) headers['dapr-api-token'] = options.appToken;
      return new Promise((resolve, reject) => {
        const call = http.request(
          new URL(request.path, 'http://embedded'),
          { method: request.method, headers, agent },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('error', reject);
            response.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let body: unknown = text;
              try {
                body = text ? JSON.parse(text) : undefined;
              } catch {
                // not JSON: hand back the text
              }
              resolve({ status: response.statusCode ?? 0, body: body as T });
            });
          },
        );
        call.on('error', reject);
        call.end(payload);
      });
    },
  };
}

/**
 * Two connected in-memory duplex streams: what one side writes, the other reads; ending or
 * destroying one ends the other. Carries the few socket methods node:http calls on a connection.
 */
function memoryConnection(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const side = (other: () => Duplex) => {
    const stream = new Duplex({
      read() {},
      write(chunk, _encoding, done) {
        other().push(chunk);
        done();
      },
      final(done) {
        other().push(null);
        done();
      },
      destroy(err, done) {
        const peer = other();
        if (!peer.destroyed) peer.destroy();
        done(err);
      },
    });
    const socketLike = stream as Duplex & Record<string, unknown>;
    for (const method of ['setNoDelay', 'setKeepAlive', 'ref', 'unref']) socketLike[method] = () => stream;
    // No idle timer: an in-memory connection costs no socket, and lives as long as both ends keep it.
    socketLike.setTimeout = () => stream;
    socketLike.remoteAddress = '127.0.0.1';
    socketLike.remotePort = 0;
    return stream;
  };
  sides.push(
    side(() => sides[1]!),
    side(() => sides[0]!),
  );
  return [sides[0]!, sides[1]!];
}
