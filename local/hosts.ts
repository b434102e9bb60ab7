/** Where the local stack listens: loopback unless asked otherwise, and how this machine reaches a listener. */
export const LOOPBACK = '127.0.0.1';

/** The address clients on this machine use to reach a server listening on `host` (a wildcard means loopback). */
export function reachableHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? LOOPBACK : host;
}
