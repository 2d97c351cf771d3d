import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import express, {
  type ErrorRequestHandler,
  type Express,
  type NextFunction,
  type Request,
  type Response,
} from 'express';
import type { z } from 'zod';
import { isDatabaseUnavailable } from './db.js';
import { HttpError, validationError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { securityHeaders } from './security-headers.js';
import { inSpan, SpanKind } from './telemetry.js';
import { traceIdOf } from './trace.js';

declare global {
  // biome-ignore lint/suspicious/noRedeclare: augments the global Express namespace, not the imported default
  namespace Express {
    interface Request {
      id: string;
      traceparent: string;
      log: Logger;
    }
  }
}

export interface HttpAppOptions {
  logger: Logger;
  metrics: Metrics;
  bodyLimitBytes: number;
  /** Named readiness checks; /readyz is 503 while any of them fails. */
  readiness?: Record<string, () => Promise<boolean>>;
  /** Deeper JSON bodies are refused with 400 invalid_json. */
  maxJsonDepth?: number;
  /** Where `/metrics` is served: here (default), or on its own port (METRICS_PORT) or nowhere public. */
  metricsHere?: boolean;
  /** A readiness check that has not answered within this counts as failing (default 800 ms). */
  readinessTimeoutMs?: number;
  /** Express 'trust proxy' (TRUST_PROXY): whose X-Forwarded-For gives req.ip. Default loopback. */
  trustProxy?: string | number | boolean;
}

/** What a client is told to wait before trying again while the database is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

const MAX_JSON_DEPTH = 64;

/** Throws 400 invalid_json when the JSON text nests arrays/objects deeper than `max` (strings skipped). */
export function checkJsonDepth(buf: Buffer, encoding: string, max: number) {
  let text: string;
  try {
    text = /^utf-?8$/i.test(encoding) ? buf.toString('utf8') : new TextDecoder(encoding).decode(buf);
  } catch {
    return; // a charset we cannot decode here: the parser answers for it
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max)
        throw new HttpError(400, 'invalid_json', `request body nests deeper than ${max} levels`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** An express app with ids, logs, metrics, JSON parsing, and health endpoints; add routes, then `finishApp`. */
export function createHttpApp(options: HttpAppOptions): Express {
  const { logger, metrics } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? 'loopback');
  app.use(securityHeaders());
  const requests = metrics.histogram(
    'http_request_duration_seconds',
    'HTTP request duration',
    ['method', 'route', 'status'],
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );

  // The request's logger (its id and trace id bound), made when first used: most requests log
  // nothing, and a pino child per request cost more CPU than the rest of this middleware (ADR 0026).
  // Before this app's middleware has run there is none, as before.
  const children = new WeakMap<Request, Logger>();
  Object.defineProperty(app.request, 'log', {
    configurable: true,
    get(this: Request): Logger | undefined {
      if (this.traceparent === undefined) return undefined;
      let log = children.get(this);
      if (!log) {
        log = logger.child({ request_id: this.id, trace_id: traceIdOf(this.traceparent) });
        children.set(this, log);
      }
      return log;
    },
    set(this: Request, log: Logger) {
      children.set(this, log);
    },
  });

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    req.id = req.header('x-request-id')?.slice(0, 100) || randomUUID();
    res.setHeader('x-request-id', req.id);
    // The request's span: its traceparent goes on every outbox row and event the request causes.
    void inSpan(`${req.method}`, req.header('traceparent'), SpanKind.SERVER, (traceparent, span) => {
      req.traceparent = traceparent;
      return new Promise<void>((done) => {
        res.on('finish', () => {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
          requests.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
          if (span.isRecording()) {
            span.updateName(`${req.method} ${route}`);
            span.setAttributes({
              'http.request.method': req.method,
              'http.route': route,
              'http.response.status_code': res.statusCode,
            });
          }
          if (res.statusCode >= 500 && !res.locals.logged)
            req.log.error(
              { method: req.method, url: req.originalUrl, status: res.statusCode },
              'request failed',
            );
          done();
        });
        res.on('close', () => done());
        next();
      });
    });
  });

  const parseJson = express.json({
    limit: options.bodyLimitBytes,
    strict: true,
    type: ['application/json', 'application/*+json'],
    // JSON.parse copes with any depth, but JSON.stringify, zod and friends recurse: a body of
    // 200,000 nested arrays would end in a stack overflow (a 500) wherever it is handled.
    verify: (_req, _res, buf, encoding) =>
      checkJsonDepth(buf, encoding, options.maxJsonDepth ?? MAX_JSON_DEPTH),
  });
  // Under Dapr, /events/* are the sidecar's bulk deliveries (token-checked, parsed with a limit
  // sized for a batch by the Dapr ports); every other body is a client's.
  app.use((req, res, next) => (req.path.startsWith('/events/') ? next() : parseJson(req, res, next)));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Answers within the timeout whatever the database does: a probe that hangs on a frozen
  // database would only tell the orchestrator as much as a timeout, later.
  app.get('/readyz', async (_req, res) => {
    const timeoutMs = options.readinessTimeoutMs ?? 800;
    const results = await Promise.all(
      Object.entries(options.readiness ?? {}).map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const outcome = await Promise.race([check().catch(() => false), late]);
        clearTimeout(timer);
        return [name, outcome === true ? 'ok' : outcome === 'timeout' ? 'timeout' : 'failing'] as const;
      }),
    );
    const checks = Object.fromEntries(results);
    const ready = results.every(([, state]) => state === 'ok');
    // Not ready is an answer, not a failed request: probes ask every few seconds.
    res.locals.logged = true;
    if (!ready) res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });
  if (options.metricsHere ?? true) app.get('/metrics', metricsHandler(metrics));
  return app;
}

function metricsHandler(metrics: Metrics): express.RequestHandler {
  return async (_req, res) => {
    if (!metrics.enabled) {
      res
        .status(404)
        .json({ error: { code: 'not_found', message: 'metrics are off (METRICS_ENABLED=false)' } });
      return;
    }
    res.setHeader('content-type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  };
}

/** `/metrics` alone, for its own port (METRICS_PORT): what Prometheus scrapes and no Ingress routes. */
export function createMetricsApp(metrics: Metrics): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders());
  app.get('/metrics', metricsHandler(metrics));
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: 'only /metrics is served here' } });
  });
  return app;
}

/** Unknown routes and every thrown error become the JSON error shape; never an HTML page. */
export function finishApp(app: Express): Express {
  app.use((req, _res, next) =>
    next(new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`)),
  );
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const http = toHttpError(err);
    if (http.code === 'unavailable') {
      // Repeats are counted by the logger, one line per interval (LOG_REPEAT_INTERVAL_MS).
      (req.log ?? console).error({ err }, 'database unavailable; answered 503');
      res.locals.logged = true; // not again as a failed request
      if (!res.headersSent) res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
    } else if (http.status >= 500) (req.log ?? console).error({ err }, 'unhandled error');
    if (res.headersSent) return res.end();
    res
      .status(http.status)
      .json({ error: { code: http.code, message: http.message, details: http.details } });
  };
  app.use(onError);
  return app;
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { type?: string; status?: number; message?: string; limit?: number };
  if (e?.type === 'entity.parse.failed')
    return new HttpError(400, 'invalid_json', `request body is not valid JSON: ${e.message}`);
  if (e?.type === 'entity.too.large')
    return new HttpError(413, 'payload_too_large', `request body is larger than ${e.limit} bytes`);
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new HttpError(415, 'unsupported_encoding', e.message ?? 'unsupported encoding');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500)
    return new HttpError(e.status, 'bad_request', e.message ?? 'bad request');
  if (isDatabaseUnavailable(err))
    return new HttpError(503, 'unavailable', 'the database is unavailable; try again shortly');
  return new HttpError(500, 'internal', 'internal server error');
}

/** Parse a part of the request with its contract schema or throw a 400 naming the field. */
export function parse<S extends z.ZodTypeAny>(
  schema: S,
  value: unknown,
  where: 'body' | 'query' | 'params' | 'header' = 'body',
): z.infer<S> {
  const result = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

/** Express 5 forwards rejected promises itself; this only types the handler. */
export type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

export interface RunningServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Listen, and on close stop intake then wait for in-flight requests (bounded). */
export function listen(app: Express, port: number, host: string, timeoutMs = 10000): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => {
      if (err) return reject(err);
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      resolve({
        server,
        port: actual,
        close: () =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => {
              server.closeAllConnections();
              done();
            }, timeoutMs);
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
    server.on('error', reject);
  });
}
