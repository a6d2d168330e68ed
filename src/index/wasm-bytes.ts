/** Pieces of a WebAssembly binary module, for the hand-assembled kernels (dot-kernel.ts, column-kernel.ts). */

/** LEB128 of an unsigned number. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** A section: its id, its length, its content. */
export const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];

/** A name as the binary format writes it: its UTF-8 length, then its bytes. */
export const wasmName = (s: string): number[] => [...uleb(Buffer.byteLength(s)), ...Buffer.from(s, 'utf8')];
