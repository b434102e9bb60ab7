/**
 * The internal-address rules over every IPv6 form that embeds or maps an IPv4 address or lies outside global
 * unicast, each written in more than one spelling: the verdict must come from the parsed address.
 */
import { describe, expect, it } from 'vitest';
import { internalAddressCategory, ipv6Bytes, resolveWebhookTarget } from '../../shared/webhook-url.ts';

describe('ipv6Bytes', () => {
  it('reads compressed, full, mixed-notation and zoned spellings alike', () => {
    const loopbackMapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1];
    expect(ipv6Bytes('::ffff:127.0.0.1')).toEqual(loopbackMapped);
    expect(ipv6Bytes('::FFFF:7F00:1')).toEqual(loopbackMapped);
    expect(ipv6Bytes('0:0:0:0:0:ffff:7f00:0001')).toEqual(loopbackMapped);
    expect(ipv6Bytes('fe80::1%eth0')).toEqual([0xfe, 0x80, ...new Array(13).fill(0), 1]);
    expect(ipv6Bytes('1::')).toEqual([0, 1, ...new Array(14).fill(0)]);
    expect(ipv6Bytes('not-an-address')).toBeUndefined();
  });
});

describe('internalAddressCategory (IPv6)', () => {
  it.each([
    // unspecified and loopback
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:0', 'unspecified'],
    ['::1', 'loopback'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', 'loopback'],
    // IPv4-mapped internal addresses, in dotted and hex spellings
    ['::ffff:127.0.0.1', 'IPv4-mapped of 127.0.0.1 (loopback)'],
    ['::ffff:7f00:1', 'IPv4-mapped of 127.0.0.1 (loopback)'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'IPv4-mapped of 169.254.169.254 (link-local)'],
    ['::ffff:10.0.0.1', 'IPv4-mapped of 10.0.0.1 (private)'],
    // IPv4-compatible (deprecated), whatever it embeds
    ['::127.0.0.1', 'IPv4-compatible (deprecated)'],
    ['::7f00:1', 'IPv4-compatible (deprecated)'],
    ['::8.8.8.8', 'IPv4-compatible (deprecated)'],
    // IPv4-translated (SIIT)
    ['::ffff:0:127.0.0.1', 'IPv4-translated'],
    ['::ffff:0:a00:1', 'IPv4-translated'],
    // NAT64 well-known prefix with an internal IPv4, and the local-use prefix whatever it holds
    ['64:ff9b::127.0.0.1', 'NAT64 of 127.0.0.1 (loopback)'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of 169.254.169.254 (link-local)'],
    ['64:ff9b:1::8.8.8.8', 'NAT64 local-use'],
    ['64:ff9b:1:ffff::1', 'NAT64 local-use'],
    // 6to4 and Teredo tunnels
    ['2002:7f00:1::', '6to4 tunnel'],
    ['2002:0808:0808::1', '6to4 tunnel'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo tunnel'],
    ['2001::1', 'Teredo tunnel'],
    ['2001:2::1', 'IETF protocol assignments'],
    // non-global ranges
    ['fec0::1', 'site-local (deprecated)'],
    ['feff::1', 'site-local (deprecated)'],
    ['fc00::1', 'unique-local (private)'],
    ['fdff:ffff::1', 'unique-local (private)'],
    ['fe80::1', 'link-local'],
    ['fe80::1%lo', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['ff0e::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001:0db8:ffff::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['3fff:0fff::1', 'documentation'],
    ['100::1', 'discard-only'],
    ['0100:0000:0000:0000:ffff::1', 'discard-only'],
    ['5f00::1', 'segment routing'],
    ['::2:3:4:5', 'not global unicast'],
    ['4000::1', 'not global unicast'],
  ])('refuses %s: %s', (address, category) => {
    expect(internalAddressCategory(address)).toBe(category);
  });

  it.each([
    '2001:4860:4860::8888',
    '2606:4700:4700::1111',
    '2a00:1450:4001:82b::200e',
    '3ffe::1', // outside 3fff::/20
    '2001:200::1', // past the IETF /23
    '::ffff:8.8.8.8', // IPv4-mapped public address: the same host
    '64:ff9b::8.8.8.8', // NAT64 of a public address (DNS64 networks)
  ])('lets %s pass', (address) => {
    expect(internalAddressCategory(address)).toBeUndefined();
  });

  it.each([
    ['203.0.113.5', 'documentation'],
    ['198.51.100.1', 'documentation'],
    ['192.0.2.1', 'documentation'],
    ['255.255.255.255', 'reserved or broadcast'],
    ['192.88.99.1', '6to4 relay anycast'],
  ])('refuses IPv4 %s: %s', (address, category) => {
    expect(internalAddressCategory(address)).toBe(category);
  });
});

describe('resolveWebhookTarget', () => {
  it('judges URL literals after the URL parser has rewritten them', async () => {
    const resolveHost = async () => [];
    // The URL parser turns these into 127.0.0.1 and ::ffff:7f00:1; neither may pass.
    for (const raw of ['https://0x7f.1/hook', 'https://2130706433/hook', 'https://[::ffff:127.0.0.1]/hook', 'https://[64:ff9b::7f00:1]/hook']) {
      expect(await resolveWebhookTarget(raw, { resolveHost }), raw).toMatchObject({ problem: expect.stringMatching(/loopback/) });
    }
  });

  it('returns every resolved address with its family when all pass', async () => {
    const target = await resolveWebhookTarget('https://hooks.example/x', { resolveHost: async () => ['93.184.216.34', '2606:2800:220:1::1'] });
    expect(target).toMatchObject({ host: 'hooks.example', addresses: [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }] });
  });
});
