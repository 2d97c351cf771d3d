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
  return [
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: CSP_DIRECTIVES,
      },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: false,
    }),
    (req, res, next) => (req.secure ? hsts(req, res, next) : next()),
  ];
}
