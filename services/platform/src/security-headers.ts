import type { RequestHandler } from 'express';
import helmet, { contentSecurityPolicy, strictTransportSecurity } from 'helmet';

const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  workerSrc: ["'self'"],
  manifestSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/**
 * The same policy plus `'unsafe-eval'`, for one static page whose library compiles JSON Schema
 * validators at run time (AsyncAPI's renderer uses ajv). Only that page gets it; it shows a
 * document of ours, takes no input and reads no token.
 */
export function cspAllowingEval(): RequestHandler {
  return contentSecurityPolicy({
    useDefaults: false,
    directives: { ...CSP_DIRECTIVES, scriptSrc: ["'self'", "'unsafe-eval'"] },
  });
}

/**
 * Browser hardening on every response, from helmet: a CSP the web UI keeps to (its own scripts,
 * styles, images, service worker and same-origin API and WebSocket; no inline script, no
 * framing), nosniff, no referrer, no framing. HSTS only on a request that came over TLS: here
 * or, per the app's `trust proxy`, at a proxy in front that says so (X-Forwarded-Proto).
 */
export function securityHeaders(): RequestHandler[] {
  const hsts = strictTransportSecurity({ maxAge: 365 * 24 * 3600, includeSubDomains: true });
  const headers = fixedHeaders(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: CSP_DIRECTIVES,
      },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: false,
    }),
  );
  return [
    (req, res, next) => {
      for (const [name, value] of headers.set) res.setHeader(name, value);
      for (const name of headers.removed) res.removeHeader(name);
      if (req.secure) hsts(req, res, next);
      else next();
    },
  ];
}

/**
 * What a helmet middleware does to every response, found once by running it on a stand-in
 * response: with these options (no nonces, no functions) its headers never depend on the
 * request, and setting them in one loop spares each request helmet's chain of eleven
 * middlewares (ADR 0026). Helmet stays the source of the policy.
 */
function fixedHeaders(middleware: RequestHandler): { set: [string, string][]; removed: string[] } {
  const set: [string, string][] = [];
  const removed: string[] = [];
  const response = {
    setHeader: (name: string, value: unknown) => set.push([name, String(value)]),
    removeHeader: (name: string) => removed.push(name),
  };
  let done = false;
  middleware(
    {} as Parameters<RequestHandler>[0],
    response as unknown as Parameters<RequestHandler>[1],
    (err) => {
      if (err) throw err;
      done = true;
    },
  );
  if (!done) throw new Error('helmet did not finish synchronously: its headers are not fixed');
  return { set, removed };
}
