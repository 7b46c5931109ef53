/**
 * Messages each preceded by its length as 4 bytes, big-endian: how the Collector's file exporter
 * writes protobuf (`format: proto`) and compressed JSON (`compression: zstd` without its native
 * compression gate), one OTLP request per message.
 */
import { InputFormatError } from './errors.js';

/**
 * Past this a length is not a message's but a sign the bytes are something else: the Collector
 * writes one export batch a message, and chainwatch's receiver takes bodies up to 64 MiB.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface Message {
  /** 1 for the first message. */
  index: number;
  /** Byte offset of the message's length prefix in the (decompressed) input. */
  offset: number;
  bytes: Buffer;
}

/**
 * The messages of a byte stream, in order. Throws InputFormatError (naming `name`, the message
 * and its offset) when the stream ends inside a message or a length is past MAX_MESSAGE_BYTES;
 * the messages before it were yielded.
 */
export async function* lengthPrefixed(chunks: AsyncIterable<Buffer>, name: string): AsyncGenerator<Message> {
  let pending: Buffer[] = [];
  let held = 0;
  let offset = 0;
  let index = 0;
  let want = -1;
  const take = (n: number): Buffer => {
    const all = pending.length === 1 ? pending[0] : Buffer.concat(pending, held);
    pending = all.length > n ? [all.subarray(n)] : [];
    held -= n;
    return all.subarray(0, n);
  };
  for await (const chunk of chunks) {
    pending.push(chunk);
    held += chunk.length;
    for (;;) {
      if (want < 0) {
        if (held < 4) break;
        want = take(4).readUInt32BE(0);
        if (want > MAX_MESSAGE_BYTES) throw new InputFormatError(`message ${index + 1} at byte ${offset} claims ${want} bytes, more than the ${MAX_MESSAGE_BYTES} a message may have: ${index === 0 ? 'not' : 'damaged, or no longer'} a file of length-prefixed messages (the Collector file exporter's format: proto, or its compressed JSON)`, name);
      }
      // Concatenated once it is whole, not once per chunk (a message of megabytes arrives in 64 KB chunks).
      if (held < want) break;
      index++;
      yield { index, offset, bytes: take(want) };
      offset += 4 + want;
      want = -1;
    }
  }
  if (held > 0 || want >= 0) {
    const length = want >= 0 ? `its length says ${want} bytes, ${held} follow` : `${held} of its 4 length bytes`;
    throw new InputFormatError(`cut short in message ${index + 1} at byte ${offset} (${length}): the ${index} messages before it were read`, name);
  }
}
