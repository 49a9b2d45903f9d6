import type { Socket } from 'node:net';

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** First byte of a TLS record carrying a handshake (ClientHello). */
const TLS_HANDSHAKE = 0x16;

/**
 * Reads the first bytes of a connection without consuming them, then calls `decide` with
 * whether they start the HTTP/2 connection preface (h2c with prior knowledge) or not.
 */
export function sniffHttp2Preface(socket: Socket, decide: (isHttp2: boolean) => void): void {
  peek(socket, HTTP2_PREFACE.length, (bytes) => {
    const n = Math.min(bytes.length, HTTP2_PREFACE.length);
    decide(n >= 3 && bytes.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n)));
  });
}

/** Whether a connection starts with a TLS handshake record (PERMISSIVE mode's detection). */
export function sniffTls(socket: Socket, decide: (isTls: boolean) => void): void {
  peek(socket, 1, (bytes) => decide(bytes.length > 0 && bytes[0] === TLS_HANDSHAKE));
}

/**
 * Waits for up to `want` bytes (or whatever the first packet brings, or the end of the
 * stream), puts them back with `unshift`, and hands them to `done`.
 */
function peek(socket: Socket, want: number, done: (bytes: Buffer) => void): void {
  let collected: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    socket.off('data', onData);
    socket.off('end', finish);
    socket.pause();
    if (collected.length > 0) socket.unshift(collected);
    done(collected);
  };
  const onData = (chunk: Buffer) => {
    collected = collected.length === 0 ? chunk : Buffer.concat([collected, chunk]);
    // A prefix that already differs decides at once; a matching one waits for enough bytes.
    if (collected.length >= want || collected[0] !== 0x50) finish();
  };
  socket.on('data', onData);
  socket.once('end', finish);
  socket.resume(); // a socket an earlier peek paused does not flow again by itself
  socket.once('error', () => socket.destroy());
}

/**
 * Hands a sniffed plaintext connection to an HTTP/1.1 server. The server parses straight from
 * the socket's handle, so the bytes put back by the sniffer are replayed by resuming the stream.
 */
export function handOffHttp1(server: { emit(event: 'connection', socket: Socket): boolean }, socket: Socket): void {
  server.emit('connection', socket);
  if (socket.readableLength > 0) socket.resume();
}
