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
import { section, uleb, wasmName } from './wasm-bytes.js';

/**
 * Where a generation's columns and sums live: typed-array views of one buffer, and the loop over
 * them. The sums cover one block of rows at a time (BLOCK_ROWS, 128 KiB of sums), so they stay in
 * the processor's cache while every column of the query adds to them: at 100,000 controls, sums
 * for all rows at once (3 MiB) made each column's pass twice as slow.
 */
export interface ColumnStore {
  /** `dimension` columns of `stride` float32 values each. */
  readonly columns: Float32Array;
  /** Four float64 sums of one block of rows each. */
  readonly sums: readonly [Float64Array, Float64Array, Float64Array, Float64Array];
  /** Rows per column: the point count rounded up to even (the SIMD loop takes two at a time). */
  readonly stride: number;
  readonly simd: boolean;
  /** Σ v² per row (`stride` values), for cosine(). */
  readonly squares: Float64Array;
  /** sums[k][i] += q × columns[column × stride + first + i] for i < count (count even, ≤ the block). */
  axpy(q: number, column: number, k: 0 | 1 | 2 | 3, first: number, count: number): void;
  /**
   * sums[0][i] = cosine(s0 + s1 + s2 + s3, qq, squares[first + i]) for i < count, as cosine() in
   * top-k.ts computes it; NaN where the row is a zero vector (cosine() says 0 there). qq > 0.
   */
  cosines(qq: number, first: number, count: number): void;
}

/** Rows per block of sums: 4 × 4096 float64 is 128 KiB. Even, as the SIMD loop needs. */
export const BLOCK_ROWS = 4096;

const PAGE = 65536;

/** The part of the WebAssembly API used here (Node's types do not declare it without the DOM library). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => {
    exports: {
      mem: { grow(pages: number): number; buffer: ArrayBuffer };
      axpy: (q: number, col: number, sum: number, n: number) => void;
      cosines: (qq: number, sums: number, step: number, squares: number, n: number) => void;
    };
  };
}
const wasm = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

/**
 * The module: memory of `pages` pages, exported as `mem`; `axpy(q f64, col i32, sum i32, n i32)`
 * and `cosines(qq f64, sums i32, step i32, squares i32, n i32)`.
 */
function moduleBytes(pages: number): Uint8Array {
  const LOCAL_GET = 0x20;
  const LOCAL_SET = 0x21;
  const I32_CONST = 0x41;
  const I32_ADD = 0x6a;
  const I32_MUL = 0x6c;
  const SIMD = 0xfd;
  const memarg = [0x00, 0x00]; // alignment hint 1, offset 0
  const V128_LOAD = [SIMD, 0x00, ...memarg];
  const V128_STORE = [SIMD, 0x0b, ...memarg];
  const F64X2_ADD = [SIMD, 0xf0, 0x01];
  const F64X2_MUL = [SIMD, 0xf2, 0x01];
  const F64X2_DIV = [SIMD, 0xf3, 0x01];
  const F64X2_SQRT = [SIMD, 0xef, 0x01];
  const F64X2_SPLAT = [SIMD, 0x14];
  const advance = (local: number, bytes: number) => [LOCAL_GET, local, I32_CONST, bytes, I32_ADD, LOCAL_SET, local];
  const axpy = [
    0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: 4 (v128: q in both lanes), 5 (i32: end of the column)
    LOCAL_GET, 0, ...F64X2_SPLAT, LOCAL_SET, 4,
    LOCAL_GET, 1, LOCAL_GET, 3, I32_CONST, 2, 0x74, I32_ADD, LOCAL_SET, 5, // end = col + n << 2
    0x02, 0x40, 0x03, 0x40, // block, loop
    LOCAL_GET, 1, LOCAL_GET, 5, 0x4f, 0x0d, 1, // col >= end: break
    LOCAL_GET, 2, // store address
    LOCAL_GET, 2, ...V128_LOAD, // the two sums
    LOCAL_GET, 1, SIMD, 0x5d, ...memarg, SIMD, 0x5f, // v128.load64_zero two float32, f64x2.promote_low_f32x4
    LOCAL_GET, 4, ...F64X2_MUL,
    ...F64X2_ADD,
    ...V128_STORE,
    ...advance(1, 8),
    ...advance(2, 16),
    0x0c, 0, // br loop
    0x0b, 0x0b, 0x0b, // end loop, end block, end function
  ];
  // Params 0 qq, 1 sums (the first sum's address; the others follow `step` bytes apart), 2 step,
  // 3 squares, 4 n; locals 5 (v128: qq in both lanes), 6 (i32: end of the first sum).
  const sumAt = (k: number) => [LOCAL_GET, 1, LOCAL_GET, 2, I32_CONST, k, I32_MUL, I32_ADD, ...V128_LOAD];
  const cosines = [
    0x02, 0x01, 0x7b, 0x01, 0x7f,
    LOCAL_GET, 0, ...F64X2_SPLAT, LOCAL_SET, 5,
    LOCAL_GET, 1, LOCAL_GET, 4, I32_CONST, 3, 0x74, I32_ADD, LOCAL_SET, 6, // end = sums + n << 3
    0x02, 0x40, 0x03, 0x40,
    LOCAL_GET, 1, LOCAL_GET, 6, 0x4f, 0x0d, 1,
    LOCAL_GET, 1, // store address: the first sum
    ...sumAt(0), ...sumAt(1), ...F64X2_ADD, ...sumAt(2), ...F64X2_ADD, ...sumAt(3), ...F64X2_ADD, // ((s0 + s1) + s2) + s3
    LOCAL_GET, 5, LOCAL_GET, 3, ...V128_LOAD, ...F64X2_MUL, ...F64X2_SQRT, // sqrt(qq × vv)
    ...F64X2_DIV,
    ...V128_STORE,
    ...advance(1, 16),
    ...advance(3, 16),
    0x0c, 0,
    0x0b, 0x0b, 0x0b,
  ];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: 0 (f64 i32 i32 i32) -> (), 1 (f64 i32 i32 i32 i32) -> ()
    ...section(1, [2, 0x60, 4, 0x7c, 0x7f, 0x7f, 0x7f, 0, 0x60, 5, 0x7c, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(3, [2, 0, 1]),
    ...section(5, [1, 0x00, ...uleb(pages)]),
    ...section(7, [3, ...wasmName('axpy'), 0x00, 0, ...wasmName('cosines'), 0x00, 1, ...wasmName('mem'), 0x02, 0]),
    ...section(10, [2, ...uleb(axpy.length), ...axpy, ...uleb(cosines.length), ...cosines]),
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

/**
 * A store for `rows` rows of `dimension` columns; SIMD unless `forceJs` or WebAssembly is
 * unavailable. `blockRows` (even) is for tests.
 */
export function columnStore(rows: number, dimension: number, options: { forceJs?: boolean; blockRows?: number } = {}): ColumnStore {
  const stride = rows + (rows % 2);
  const block = Math.max(2, Math.min(options.blockRows ?? BLOCK_ROWS, stride));
  const columnBytes = stride * dimension * 4;
  const squaresAt = Math.ceil(columnBytes / 16) * 16;
  const sumsAt = squaresAt + stride * 8;
  const bytes = sumsAt + 4 * block * 8;
  const module = options.forceJs ? null : simdModule();
  if (wasm && module && bytes <= 2 ** 32 - PAGE) {
    try {
      const { mem, axpy: axpyWasm, cosines: cosinesWasm } = new wasm.Instance(module).exports;
      mem.grow(Math.ceil(bytes / PAGE));
      const buffer = mem.buffer;
      const sums = [0, 1, 2, 3].map((k) => new Float64Array(buffer, sumsAt + k * block * 8, block)) as unknown as ColumnStore['sums'];
      return {
        columns: new Float32Array(buffer, 0, stride * dimension),
        squares: new Float64Array(buffer, squaresAt, stride),
        sums,
        stride,
        simd: true,
        axpy: (q, column, k, first, count) => axpyWasm(q, (column * stride + first) * 4, sumsAt + k * block * 8, count),
        cosines: (qq, first, count) => cosinesWasm(qq, sumsAt, block * 8, squaresAt + first * 8, count),
      };
    } catch {
      // Memory refused (RangeError): the JavaScript loop below, on ordinary typed arrays.
    }
  }
  const columns = new Float32Array(stride * dimension);
  const squares = new Float64Array(stride);
  const sums = [new Float64Array(block), new Float64Array(block), new Float64Array(block), new Float64Array(block)] as const;
  const [s0, s1, s2, s3] = sums;
  return {
    columns,
    squares,
    sums,
    stride,
    simd: false,
    cosines(qq, first, count) {
      for (let i = 0; i < count; i++) {
        const qv = (s0[i] as number) + (s1[i] as number) + (s2[i] as number) + (s3[i] as number);
        s0[i] = qv / Math.sqrt(qq * (squares[first + i] as number));
      }
    },
    axpy(q, column, k, first, count) {
      const sum = sums[k];
      const base = column * stride + first;
      for (let i = 0; i < count; i++) sum[i] = (sum[i] as number) + q * (columns[base + i] as number);
    },
  };
}
