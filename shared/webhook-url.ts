/**
 * Webhook URL safety: a job's webhook is called from inside our network, so it must be https and must not
 * reach private, loopback, link-local or otherwise internal addresses (SSRF). The API checks it at create
 * time; the runner should check again right before sending, since DNS answers can change.
 */
import { isIP } from 'node:net';

/** Resolves a host name to all its addresses (e.g. `dns.promises.lookup(host, { all: true })`). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export interface WebhookCheckOptions {
  resolveHost: ResolveHost;
  /** Development only: allow http and internal addresses. @default false */
  allowPrivate?: boolean;
}

const IPV4_BLOCKED: [string, number, string][] = [
  ['0.0.0.0', 8, 'this-network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function ipv4Category(address: string): string | undefined {
  const value = ipv4ToNumber(address);
  for (const [base, bits, category] of IPV4_BLOCKED) {
    const size = 2 ** (32 - bits);
    const start = ipv4ToNumber(base);
    if (value >= start && value < start + size) return category;
  }
  return undefined;
}

function ipv6Category(address: string): string | undefined {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return ipv4Category(mapped[1]);
  // The URL parser writes IPv4-mapped addresses in hex (::ffff:c0a8:101).
  const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (mappedHex) {
    const [high, low] = [parseInt(mappedHex[1], 16), parseInt(mappedHex[2], 16)];
    return ipv4Category(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
  }
  if (lower === '::1') return 'loopback';
  if (lower === '::') return 'unspecified';
  const first = parseInt(lower.split(':')[0] || '0', 16);
  if ((first & 0xfe00) === 0xfc00) return 'unique-local (private)';
  if ((first & 0xffc0) === 0xfe80) return 'link-local';
  if ((first & 0xff00) === 0xff00) return 'multicast';
  return undefined;
}

/** Why an IP address is internal, or undefined when it is a public address. */
export function internalAddressCategory(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return ipv4Category(address);
  if (family === 6) return ipv6Category(address);
  return 'not an IP address';
}

/**
 * Check a webhook URL.
 *
 * @returns undefined when it is acceptable, else a message saying what is wrong and how to fix it.
 */
export async function checkWebhookUrl(raw: string, options: WebhookCheckOptions): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${JSON.stringify(raw)} is not an absolute URL; give one like https://example.com/hooks/ocd`;
  }
  if (url.protocol !== 'https:' && !(options.allowPrivate && url.protocol === 'http:')) {
    return `must use https, got ${JSON.stringify(url.protocol.replace(/:$/, ''))}`;
  }
  if (url.username || url.password) return 'must not contain credentials; put a secret in the path or verify our signature instead';
  if (options.allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await options.resolveHost(host);
    } catch {
      return `host ${JSON.stringify(host)} does not resolve; use a public host name`;
    }
    if (addresses.length === 0) return `host ${JSON.stringify(host)} does not resolve; use a public host name`;
  }
  for (const address of addresses) {
    const category = internalAddressCategory(address);
    if (category) return `host ${JSON.stringify(host)} resolves to ${address} (${category}); webhooks must reach a public address`;
  }
  return undefined;
}
