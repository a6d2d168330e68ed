/**
 * The inner loop of the resident index: `sum[r] += q × column[r]` over a column of float32
 * values into float64 sums, in WebAssembly SIMD two rows at a time, or in JavaScript where
 * WebAssembly is unavailable (`--jitless`) or the memory cannot be had.
 *
 * Both compute each row exactly as dot() does — the float32 value widened to float64, one IEEE
 * multiplication and one addition, rounded to nearest, no fused multiply-add — so the scores are
 * the same to the bit whichever runs. The module is twelve instructions, encoded below rather than
 * shipped as a binary; a test checks it against the JavaScript loop.
 *
 * The columns and the sums live in the module's own memory, so a generation is one allocation the
 * garbage collector frees with it.
 */

/** Where a generation's columns and sums live: typed-array views of one buffer, and the loop over them. */
export interface ColumnStore {
  /** `dimension` columns of `stride` float32 values each. */
  readonly columns: Float32Array;
  /** Four float64 sums of `stride` values each. */
  readonly sums: readonly [Float64Array, Float64Array, Float64Array, Float64Array];
  /** Rows per column: the point count rounded up to even (the SIMD loop takes two at a time). */
  readonly stride: number;
  readonly simd: boolean;
  /** sums[k][r] += q × columns[column × stride + r] for r < stride. */
  axpy(q: number, column: number, k: 0 | 1 | 2 | 3): void;
}

const PAGE = 65536;

/** The part of the WebAssembly API used here (Node's types do not declare it without the DOM library). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { mem: { grow(pages: number): number; buffer: ArrayBuffer }; axpy: (q: number, col: number, sum: number, n: number) => void } };
}
const wasm = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

/** The module: memory of `pages` pages, exported as `mem`; `axpy(q f64, col i32, sum i32, n i32)`. */
function moduleBytes(pages: number): Uint8Array {
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n !== 0) byte |= 0x80;
      out.push(byte);
    } while (n !== 0);
    return out;
  };
  const section = (id: number, content: number[]) => [id, ...leb(content.length), ...content];
  const LOCAL_GET = 0x20;
  const LOCAL_SET = 0x21;
  const I32_CONST = 0x41;
  const I32_ADD = 0x6a;
  const SIMD = 0xfd;
  const memarg = [0x00, 0x00]; // alignment hint 1, offset 0
  const body = [
    0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: 4 (v128: q in both lanes), 5 (i32: end of the column)
    LOCAL_GET, 0, SIMD, 0x14, LOCAL_SET, 4, // f64x2.splat q
    LOCAL_GET, 1, LOCAL_GET, 3, I32_CONST, 2, 0x74, I32_ADD, LOCAL_SET, 5, // end = col + n << 2
    0x02, 0x40, 0x03, 0x40, // block, loop
    LOCAL_GET, 1, LOCAL_GET, 5, 0x4f, 0x0d, 1, // col >= end: break
    LOCAL_GET, 2, // store address
    LOCAL_GET, 2, SIMD, 0x00, ...memarg, // v128.load the two sums
    LOCAL_GET, 1, SIMD, 0x5d, ...memarg, SIMD, 0x5f, // v128.load64_zero two float32, f64x2.promote_low_f32x4
    LOCAL_GET, 4, SIMD, 0xf2, 0x01, // f64x2.mul
    SIMD, 0xf0, 0x01, // f64x2.add
    SIMD, 0x0b, ...memarg, // v128.store
    LOCAL_GET, 1, I32_CONST, 8, I32_ADD, LOCAL_SET, 1,
    LOCAL_GET, 2, I32_CONST, 16, I32_ADD, LOCAL_SET, 2,
    0x0c, 0, // br loop
    0x0b, 0x0b, 0x0b, // end loop, end block, end function
  ];
  const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 4, 0x7c, 0x7f, 0x7f, 0x7f, 0]), // type: (f64 i32 i32 i32) -> ()
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, ...leb(pages)]),
    ...section(7, [2, ...name('axpy'), 0x00, 0, ...name('mem'), 0x02, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

let compiled: object | null | undefined;

/** The module, compiled once; each store instantiates it and grows the instance's memory to its size. */
function simdModule(): object | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = wasm ? new wasm.Module(moduleBytes(1)) : null;
  } catch {
    compiled = null;
  }
  return compiled;
}

/** A store for `rows` rows of `dimension` columns; SIMD unless `forceJs` or WebAssembly is unavailable. */
export function columnStore(rows: number, dimension: number, options: { forceJs?: boolean } = {}): ColumnStore {
  const stride = rows + (rows % 2);
  const columnBytes = stride * dimension * 4;
  const sumsAt = Math.ceil(columnBytes / 16) * 16;
  const bytes = sumsAt + 4 * stride * 8;
  const module = options.forceJs ? null : simdModule();
  if (wasm && module && bytes <= 2 ** 32 - PAGE) {
    try {
      const { mem, axpy: axpyWasm } = new wasm.Instance(module).exports;
      mem.grow(Math.ceil(bytes / PAGE));
      const buffer = mem.buffer;
      const sums = [0, 1, 2, 3].map((k) => new Float64Array(buffer, sumsAt + k * stride * 8, stride)) as unknown as ColumnStore['sums'];
      return {
        columns: new Float32Array(buffer, 0, stride * dimension),
        sums,
        stride,
        simd: true,
        axpy: (q, column, k) => axpyWasm(q, column * stride * 4, sumsAt + k * stride * 8, stride),
      };
    } catch {
      // Memory refused (RangeError): the JavaScript loop below, on ordinary typed arrays.
    }
  }
  const columns = new Float32Array(stride * dimension);
  const sums = [new Float64Array(stride), new Float64Array(stride), new Float64Array(stride), new Float64Array(stride)] as const;
  return {
    columns,
    sums,
    stride,
    simd: false,
    axpy(q, column, k) {
      const sum = sums[k];
      const base = column * stride;
      for (let r = 0; r < stride; r++) sum[r] = (sum[r] as number) + q * (columns[base + r] as number);
    },
  };
}
