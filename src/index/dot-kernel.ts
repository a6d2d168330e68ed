/**
 * Dot products of one query with many consecutive rows, in WebAssembly SIMD: what a query of the
 * approximate index (ivf.ts) spends most of its time on, about three times faster than the
 * JavaScript loop of top-k.ts dot().
 *
 * Bit for bit the same as dot(): dot() keeps four running sums in float64, s0 over dimensions
 * 0, 4, 8, ..., s1 over 1, 5, 9, ... (each a float32 × float32 product taken in float64, then
 * added), and returns ((s0 + s1) + s2) + s3. Here two float64x2 registers hold (s0, s1) and
 * (s2, s3): each group of four float32 values is widened (exactly) to two float64x2 halves,
 * multiplied and added lane by lane (one rounding each, as in JavaScript: WebAssembly has no
 * fused multiply-add), and the lanes are summed in the same order. So the server's resident
 * search, which uses this, and the CLI's streamed search, which uses dot(), score every row the
 * same. Only for dimensions that are a multiple of 4 (the remainder loop of dot() adds to s0);
 * other dimensions, or a runtime without WebAssembly SIMD, keep dot().
 *
 * The rows live in the kernel's own memory (allocated once, never grown, so the views into it
 * stay valid): the caller fills `data` and asks for the products of rows [first, first + count).
 */
import { section, uleb, wasmName } from './wasm-bytes.js';

/**
 * The module, assembled by hand (WebAssembly binary format, version 1). One function,
 * `dots(query, data, rows, rowBytes, out)`: byte offsets into the imported memory `env.memory`.
 *
 *   (func (param $q i32) (param $row i32) (param $rows i32) (param $rowBytes i32) (param $out i32)
 *     (local $r i32) (local $g i32) (local $a v128) (local $b v128) (local $lo v128) (local $hi v128)
 *     block $done loop $each_row
 *       (br_if $done (i32.ge_u $r $rows))
 *       $lo = 0; $hi = 0; $g = 0
 *       block $row_done loop $each_group
 *         (br_if $row_done (i32.ge_u $g $rowBytes))
 *         $a = v128.load($q + $g); $b = v128.load($row + $g)
 *         $lo += promote_low($a) * promote_low($b)
 *         $hi += promote_low(high half of $a) * promote_low(high half of $b)
 *         $g += 16; br $each_group
 *       end end
 *       f64.store($out, ((lo[0] + lo[1]) + hi[0]) + hi[1])
 *       $out += 8; $row += $rowBytes; $r += 1; br $each_row
 *     end end)
 */
/** The few WebAssembly names used here (the project's TypeScript lib, without the DOM's, does not declare them). */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}

const SIMD = 0xfd;
const op = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  f64Add: 0xa0,
  f64Store: 0x39,
  empty: 0x40,
} as const;
// SIMD opcodes, after the 0xfd prefix (LEB128).
const v128Load = [SIMD, 0x00, 0x02, 0x00]; // memarg: align 2^2, offset 0
const v128Zero = [SIMD, 0x0c, ...new Array<number>(16).fill(0)];
const highHalf = [SIMD, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]; // i8x16.shuffle: bytes 8..15 of the first operand to the low half
const promoteLow = [SIMD, 0x5f]; // f64x2.promote_low_f32x4
const f64x2Mul = [SIMD, 0xf2, 0x01];
const f64x2Add = [SIMD, 0xf0, 0x01];
const lane = (i: number) => [SIMD, 0x21, i]; // f64x2.extract_lane

const [Q, ROW, ROWS, ROW_BYTES, OUT, R, G, A, B, LO, HI] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const get = (l: number) => [op.localGet, l];
const set = (l: number) => [op.localSet, l];
const addTo = (l: number, n: number) => [...get(l), op.i32Const, n, op.i32Add, ...set(l)];
const addLocal = (l: number, m: number) => [...get(l), ...get(m), op.i32Add, ...set(l)];
/** The low two floats of a v128 local, widened; or its high two (shuffled down first, from the local twice: the shuffle takes two operands). */
const low = (l: number) => [...get(l), ...promoteLow];
const high = (l: number) => [...get(l), ...get(l), ...highHalf, ...promoteLow];
/** $acc += half($a) * half($b) */
const accumulate = (acc: number, half: (l: number) => number[]) => [...get(acc), ...half(A), ...half(B), ...f64x2Mul, ...f64x2Add, ...set(acc)];

const BODY = [
  // locals: 2 × i32 ($r, $g), 4 × v128 ($a, $b, $lo, $hi)
  0x02, 0x02, 0x7f, 0x04, 0x7b,
  op.block, op.empty, op.loop, op.empty,
  ...get(R), ...get(ROWS), op.i32GeU, op.brIf, 1,
  ...v128Zero, ...set(LO), ...v128Zero, ...set(HI), op.i32Const, 0, ...set(G),
  op.block, op.empty, op.loop, op.empty,
  ...get(G), ...get(ROW_BYTES), op.i32GeU, op.brIf, 1,
  ...get(Q), ...get(G), op.i32Add, ...v128Load, ...set(A),
  ...get(ROW), ...get(G), op.i32Add, ...v128Load, ...set(B),
  ...accumulate(LO, low),
  ...accumulate(HI, high),
  ...addTo(G, 16), op.br, 0,
  op.end, op.end,
  ...get(OUT),
  ...get(LO), ...lane(0), ...get(LO), ...lane(1), op.f64Add, ...get(HI), ...lane(0), op.f64Add, ...get(HI), ...lane(1), op.f64Add,
  op.f64Store, 0x03, 0x00, // memarg: align 2^3, offset 0
  ...addTo(OUT, 8), ...addLocal(ROW, ROW_BYTES), ...addTo(R, 1), op.br, 0,
  op.end, op.end,
  op.end,
];


const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 5, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]), // type: (i32 × 5) → ()
  ...section(2, [1, ...wasmName('env'), ...wasmName('memory'), 0x02, 0x00, 0x01]), // import env.memory, at least one page
  ...section(3, [1, 0]), // one function of type 0
  ...section(7, [1, ...wasmName('dots'), 0x00, 0]), // export it as "dots"
  ...section(10, [1, ...uleb(BODY.length), ...BODY]),
]);

const PAGE = 65536;
/** wasm32 memory: 65,536 pages of 64 KiB. */
const MAX_BYTES = 65536 * PAGE;

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is not available. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(MODULE);
    } catch {
      // A runtime without SIMD (Node 20 has it; test/dot-kernel.test.ts checks): dot() then.
      compiled = null;
    }
  }
  return compiled;
}

type Dots = (query: number, row: number, rows: number, rowBytes: number, out: number) => void;

export class DotKernel {
  /** The rows, `dimension` floats each, in the kernel's memory: the caller fills them. */
  readonly data: Float32Array;
  readonly #query: Float32Array;
  readonly #out: Float64Array;
  readonly #dots: Dots;

  private constructor(
    readonly dimension: number,
    readonly rows: number,
    readonly maxBatch: number,
    memory: WebAssembly.Memory,
    instance: WebAssembly.Instance,
  ) {
    const queryBytes = dimension * 4;
    const outAt = align16(queryBytes);
    const dataAt = align16(outAt + maxBatch * 8);
    this.#query = new Float32Array(memory.buffer, 0, dimension);
    this.#out = new Float64Array(memory.buffer, outAt, maxBatch);
    this.data = new Float32Array(memory.buffer, dataAt, rows * dimension);
    this.#dots = instance.exports.dots as Dots;
  }

  /**
   * A kernel for `rows` rows of `dimension` floats, asked for at most `maxBatch` rows at a time;
   * undefined when it cannot be had (a dimension not a multiple of 4, no WebAssembly SIMD, more
   * than wasm32's 4 GiB): the caller keeps dot().
   */
  static create(dimension: number, rows: number, maxBatch: number): DotKernel | undefined {
    if (dimension % 4 !== 0 || dimension === 0) return undefined;
    const bytes = align16(align16(dimension * 4) + Math.max(1, maxBatch) * 8) + rows * dimension * 4;
    if (bytes > MAX_BYTES) return undefined;
    const module = kernelModule();
    if (!module) return undefined;
    const pages = Math.max(1, Math.ceil(bytes / PAGE));
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    return new DotKernel(dimension, rows, Math.max(1, maxBatch), memory, instance);
  }

  /** Bytes of its memory beyond the rows (the query and the products). */
  get overheadBytes(): number {
    return this.data.byteOffset;
  }

  /**
   * The products of `query` with rows [first, first + count), count ≤ maxBatch, each equal to
   * dot(query, 0, data, row × dimension, dimension): a view valid until the next call.
   */
  dots(query: Float32Array, first: number, count: number): Float64Array {
    if (count > this.maxBatch || first < 0 || first + count > this.rows) throw new RangeError(`dots: rows ${first}..${first + count} of ${this.rows}, at most ${this.maxBatch} at a time`);
    this.#query.set(query);
    const rowBytes = this.dimension * 4;
    this.#dots(0, this.data.byteOffset + first * rowBytes, count, rowBytes, this.#out.byteOffset);
    return this.#out.subarray(0, count);
  }
}

const align16 = (n: number) => (n + 15) & ~15;
