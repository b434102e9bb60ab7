/**
 * One webhook POST over a connection pinned to an address that was checked: the host name stays in the URL
 * (so the Host header and TLS SNI/certificate check use it) while the socket's DNS lookup is replaced by one
 * that answers with the checked address. There is no second lookup between the check and the connect, so a
 * DNS answer that changes in between (rebinding) cannot move the request to an internal address.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';

export interface PinnedPost {
  url: URL;
  /** The checked address to connect to, and its family. */
  address: { address: string; family: 4 | 6 };
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

/** Sends one POST; resolves with the response status (the body is discarded). Redirects are not followed. */
export type WebhookTransport = (post: PinnedPost) => Promise<number>;

export const postPinned: WebhookTransport = ({ url, address, headers, body, signal }) =>
  new Promise<number>((resolve, reject) => {
    const lookup: LookupFunction = (_hostname, options, callback) => {
      if (options.all) callback(null, [address]);
      else callback(null, address.address, address.family);
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      lookup,
      // A fresh connection each time: a pooled socket could be one opened for an address checked earlier.
      agent: false,
      signal,
    });
    request.once('response', (response: IncomingMessage) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once('error', reject);
    request.end(body);
  });
