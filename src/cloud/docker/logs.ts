import { StringDecoder } from 'node:string_decoder';

/*
 * Docker's log stream for a container without a TTY is multiplexed: frames
 * of an 8-byte header (stream type: 1 stdout, 2 stderr; three zero bytes; the
 * payload size, 32-bit big-endian) followed by the payload. This turns it
 * into text lines, one stream at a time, without ever holding more than one
 * line per stream: a line longer than `maxLineBytes` is cut into pieces.
 * Pure over its input (an async iterable of buffers); no I/O here.
 */

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** The line without its newline (invalid UTF-8 replaced). */
  text: string;
}

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;
const HEADER = 8;

class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private parts: string[] = [];
  private bytes = 0;

  constructor(
    private readonly stream: LogLine['stream'],
    private readonly maxLineBytes: number,
  ) {}

  /** Lines completed by `chunk`. */
  push(chunk: Buffer): LogLine[] {
    const out: LogLine[] = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      let piece = chunk.subarray(start, end);
      while (this.bytes + piece.length > this.maxLineBytes) {
        const room = this.maxLineBytes - this.bytes;
        this.add(piece.subarray(0, room));
        out.push(this.take());
        piece = piece.subarray(room);
      }
      this.add(piece);
      if (newline === -1) break;
      out.push(this.take());
      start = newline + 1;
    }
    return out;
  }

  /** The unfinished last line, if any. */
  end(): LogLine[] {
    const rest = this.decoder.end();
    if (rest) this.parts.push(rest);
    return this.parts.length > 0 || this.bytes > 0 ? [this.take()] : [];
  }

  private add(piece: Buffer): void {
    if (piece.length === 0) return;
    this.parts.push(this.decoder.write(piece));
    this.bytes += piece.length;
  }

  private take(): LogLine {
    const text = (this.parts.join('') + this.decoder.end()).replace(/\r$/, '');
    this.parts = [];
    this.bytes = 0;
    return { stream: this.stream, text };
  }
}

/** Lines from Docker's multiplexed log stream (a stream type other than 1 or 2 counts as stdout). */
export async function* demuxLines(
  body: AsyncIterable<Buffer>,
  maxLineBytes = DEFAULT_MAX_LINE_BYTES,
): AsyncGenerator<LogLine> {
  const splitters = {
    stdout: new LineSplitter('stdout', maxLineBytes),
    stderr: new LineSplitter('stderr', maxLineBytes),
  };
  let header = Buffer.alloc(0);
  let remaining = 0;
  let current: LineSplitter = splitters.stdout;
  for await (const data of body) {
    let chunk = data;
    while (chunk.length > 0) {
      if (remaining === 0) {
        const need = HEADER - header.length;
        header = Buffer.concat([header, chunk.subarray(0, need)]);
        chunk = chunk.subarray(need);
        if (header.length < HEADER) break;
        current = header[0] === 2 ? splitters.stderr : splitters.stdout;
        remaining = header.readUInt32BE(4);
        header = Buffer.alloc(0);
        continue;
      }
      const payload = chunk.subarray(0, remaining);
      chunk = chunk.subarray(payload.length);
      remaining -= payload.length;
      yield* current.push(payload);
    }
  }
  yield* splitters.stdout.end();
  yield* splitters.stderr.end();
}
