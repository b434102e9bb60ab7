/**
 * Webhook URL safety: a job's webhook is called from inside our network, so it must be https and must not
 * reach private, loopback, link-local or otherwise internal addresses (SSRF). The API checks it at create
 * time; the runner checks it again at each delivery and connects only to an address that passed (DNS answers
 * can change between the two: see gpu-runner/worker/webhook-transport.ts).
 *
 * Addresses are judged from their parsed bytes, never their spelling, so `::ffff:7f00:1`, `::ffff:127.0.0.1`
 * and `0:0:0:0:0:ffff:7f00:0001` are the same loopback address.
 */
import { lookup } from 'node:dns/promises';
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** Resolves a host name to all its addresses (e.g. `dns.promises.lookup(host, { all: true })`). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

/** The system resolver: every address a host name resolves to, as the OS gives them. */
export const resolveHostWithDns: ResolveHost = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

export interface WebhookCheckOptions {
  resolveHost: ResolveHost;
  /** Development only: allow http and internal addresses. @default false */
  allowPrivate?: boolean;
}

/** Why a webhook URL was refused; `unresolved` when only the DNS lookup failed (worth another try later). */
export interface WebhookRefusal {
  problem: string;
  unresolved?: true;
}

/** A webhook URL that passed, with the addresses its host resolved to (each one checked). */
export interface WebhookTarget {
  url: URL;
  /** Host name (or IP literal) without IPv6 brackets. */
  host: string;
  addresses: { address: string; family: 4 | 6 }[];
}

const IPV4_INTERNAL: [string, number, string][] = [
  ['0.0.0.0', 8, 'this-network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved or broadcast'],
];

/**
 * IPv6 ranges refused whole (prefix, bits, why). Checked in order after the forms that embed an IPv4 address
 * (IPv4-mapped, NAT64 64:ff9b::/96), whose embedded address decides instead. Anything outside global unicast
 * 2000::/3 is refused as well.
 */
const IPV6_INTERNAL: [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::ffff:0:0:0', 96, 'IPv4-translated'],
  ['::', 96, 'IPv4-compatible (deprecated)'],
  ['64:ff9b:1::', 48, 'NAT64 local-use'],
  ['100::', 64, 'discard-only'],
  ['2001::', 32, 'Teredo tunnel'],
  ['2001::', 23, 'IETF protocol assignments'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4 tunnel'],
  ['3fff::', 20, 'documentation'],
  ['5f00::', 16, 'segment routing'],
  ['fc00::', 7, 'unique-local (private)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** The 16 bytes of a valid IPv6 address (a zone id is dropped). */
export function ipv6Bytes(address: string): number[] | undefined {
  const text = address.split('%')[0];
  if (!isIPv6(text)) return undefined;
  const words = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = ipv4Bytes(group);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [left, right] = text.split('::') as [string, string | undefined];
  const head = words(left);
  const tail = right === undefined ? [] : words(right);
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return all.flatMap((word) => [word >> 8, word & 0xff]);
}

function inPrefix(bytes: number[], prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> i % 8;
    if ((bytes[i >> 3] & mask) !== (prefix[i >> 3] & mask)) return false;
  }
  return true;
}

function ipv4Category(bytes: number[]): string | undefined {
  for (const [base, bits, category] of IPV4_INTERNAL) if (inPrefix(bytes, ipv4Bytes(base), bits)) return category;
  return undefined;
}

function ipv6Category(bytes: number[]): string | undefined {
  const embedded = bytes.slice(12);
  const describeEmbedded = (form: string) => {
    const inner = ipv4Category(embedded);
    return inner && `${form} of ${embedded.join('.')} (${inner})`;
  };
  if (inPrefix(bytes, ipv6Bytes('::ffff:0:0')!, 96)) return describeEmbedded('IPv4-mapped');
  if (inPrefix(bytes, ipv6Bytes('64:ff9b::')!, 96)) return describeEmbedded('NAT64');
  for (const [base, bits, category] of IPV6_INTERNAL) if (inPrefix(bytes, ipv6Bytes(base)!, bits)) return category;
  if (!inPrefix(bytes, ipv6Bytes('2000::')!, 3)) return 'not global unicast';
  return undefined;
}

/** Why an IP address is internal, or undefined when it is a public address. */
export function internalAddressCategory(address: string): string | undefined {
  if (isIPv4(address)) return ipv4Category(ipv4Bytes(address));
  const bytes = ipv6Bytes(address);
  return bytes ? ipv6Category(bytes) : 'not an IP address';
}

/**
 * Parse a webhook URL, resolve its host and check every address.
 *
 * @returns the target, or a message saying what is wrong and how to fix it. With `allowPrivate` (development)
 *   internal addresses pass.
 */
export async function resolveWebhookTarget(raw: string, options: WebhookCheckOptions): Promise<WebhookTarget | WebhookRefusal> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: `${JSON.stringify(raw)} is not an absolute URL; give one like https://example.com/hooks/ocd` };
  }
  if (url.protocol !== 'https:' && !(options.allowPrivate && url.protocol === 'http:')) {
    return { problem: `must use https, got ${JSON.stringify(url.protocol.replace(/:$/, ''))}` };
  }
  if (url.username || url.password) return { problem: 'must not contain credentials; put a secret in the path or verify our signature instead' };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    const unresolved = { problem: `host ${JSON.stringify(host)} does not resolve; use a public host name`, unresolved: true } as const;
    try {
      addresses = await options.resolveHost(host);
    } catch {
      return unresolved;
    }
    if (addresses.length === 0) return unresolved;
  }
  for (const address of addresses) {
    const category = internalAddressCategory(address);
    if (category === 'not an IP address') return { problem: `host ${JSON.stringify(host)} resolved to ${JSON.stringify(address)}, which is not an IP address` };
    if (category && !options.allowPrivate) return { problem: `host ${JSON.stringify(host)} resolves to ${address} (${category}); webhooks must reach a public address` };
  }
  return { url, host, addresses: addresses.map((address) => ({ address, family: isIPv4(address) ? 4 : 6 })) };
}

/**
 * Check a webhook URL (the API, at create time).
 *
 * @returns undefined when it is acceptable, else a message saying what is wrong and how to fix it.
 */
export async function checkWebhookUrl(raw: string, options: WebhookCheckOptions): Promise<string | undefined> {
  // Development: the host need not resolve yet; only the URL's form is checked.
  const resolveHost: ResolveHost = options.allowPrivate ? async () => ['127.0.0.1'] : options.resolveHost;
  const target = await resolveWebhookTarget(raw, { ...options, resolveHost });
  return 'problem' in target ? target.problem : undefined;
}
