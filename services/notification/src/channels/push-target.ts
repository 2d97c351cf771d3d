import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/**
 * Where a Web Push request may go. A push endpoint is a URL the browser hands over, so a user
 * controls it: without these checks the server would POST, with its VAPID signature, to
 * anything its network reaches (loopback, the pod network, the cloud metadata service).
 */

/** The push services of the browsers in use: the default allowlist in production (host suffixes). */
export const DEFAULT_PUSH_HOSTS = [
  'fcm.googleapis.com', // Chrome, Edge on Android, Opera, Samsung
  'updates.push.services.mozilla.com', // Firefox
  'web.push.apple.com', // Safari
  'notify.windows.com', // Edge on Windows (wns2-*.notify.windows.com)
];

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (the injected form lets tests answer without DNS). */
export type PushResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: PushResolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

export interface PushTargetPolicy {
  /** Host suffixes a push endpoint must be on; undefined: any host (the addresses are still checked). */
  allowedHosts?: string[];
  /** Development and tests only: a push service on loopback (127.0.0.0/8, ::1), over http too. */
  allowLoopback: boolean;
}

/** The endpoint, and the one checked address the request must connect to. */
export interface PushTarget {
  url: URL;
  hostname: string;
  address: string;
  family: 4 | 6;
}

/** An endpoint the policy refuses: a 400 at subscribe time, a permanent delivery failure at send time. */
export class PushTargetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PushTargetRefused';
  }
}

// Global unicast (IANA): anything outside it is not a push service on the Internet.
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

/** Why an address is refused, or undefined when a request may go there. */
export function addressRefusal(address: string, allowLoopback: boolean): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return `${address} is not an IP address`;
  }
  // An IPv4-mapped IPv6 address reaches the IPv4 address inside it.
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress())
    ip = (ip as ipaddr.IPv6).toIPv4Address();
  const range = ip.range();
  if (range === 'loopback' && allowLoopback) return undefined;
  if (range !== 'unicast') return `${address} is not a public address (${range})`;
  if (ip.kind() === 'ipv6' && !ip.match(IPV6_GLOBAL_UNICAST))
    return `${address} is not a public address (outside 2000::/3)`;
  return undefined;
}

function hostAllowed(hostname: string, allowed: string[]) {
  return allowed.some((suffix) => hostname === suffix || hostname.endsWith(`.${suffix}`));
}

/**
 * Checks an endpoint and resolves its host once: every address it resolves to must be allowed
 * (a name with one private address among public ones is refused), and the caller connects to
 * the returned address, so a second DNS answer cannot send the request elsewhere.
 */
export async function resolvePushTarget(
  endpoint: string,
  policy: PushTargetPolicy,
  resolve: PushResolver,
): Promise<PushTarget> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new PushTargetRefused('push endpoint is not a URL');
  }
  if (url.protocol !== 'https:' && !(policy.allowLoopback && url.protocol === 'http:'))
    throw new PushTargetRefused('push endpoint must be an https URL');
  if (url.username || url.password) throw new PushTargetRefused('push endpoint must not carry credentials');
  const hostname = url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (policy.allowedHosts && !hostAllowed(hostname, policy.allowedHosts))
    throw new PushTargetRefused(
      `push endpoint host ${hostname} is not an allowed push service (PUSH_ALLOWED_HOSTS)`,
    );

  let addresses: ResolvedAddress[];
  if (ipaddr.isValid(hostname)) {
    addresses = [{ address: hostname, family: ipaddr.parse(hostname).kind() === 'ipv6' ? 6 : 4 }];
  } else {
    addresses = await resolve(hostname);
    if (addresses.length === 0) throw new Error(`push endpoint host ${hostname} has no address`);
  }
  for (const { address } of addresses) {
    const refusal = addressRefusal(address, policy.allowLoopback);
    if (refusal) throw new PushTargetRefused(`push endpoint host ${hostname}: ${refusal}`);
  }
  const loopback = addresses.every(({ address }) => addressRefusal(address, false) !== undefined);
  // Plain http is for a push service on this machine in development, never across a network.
  if (url.protocol === 'http:' && !loopback)
    throw new PushTargetRefused('push endpoint must be an https URL');
  const first = addresses[0]!;
  return { url, hostname, address: first.address, family: first.family };
}
