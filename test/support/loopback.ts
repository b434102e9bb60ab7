/** Checks that a server answers on loopback only: this machine's other IPv4 address must refuse the connection. */
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';

/** This machine's first non-loopback IPv4 address, if it has one. */
export function externalIPv4(): string | undefined {
  return Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

/** Whether a TCP connection to address:port is accepted (within 3 s). */
export function accepts(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 3000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });
}
