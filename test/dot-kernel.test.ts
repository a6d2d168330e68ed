/**
 * The WebAssembly kernel of the approximate index (src/index/dot-kernel.ts): available on the
 * Node this project runs on, and bit for bit the products of top-k.ts dot(), so the server's
 * resident search and the CLI's streamed one score every row the same (test/ivf.test.ts compares
 * their results end to end).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DotKernel } from '../src/index/dot-kernel.js';
import { dot } from '../src/index/top-k.js';
import { seededRandom } from '../src/util/random.js';

describe('dot kernel', () => {
  it('gives the same bits as dot() for every row, whatever the dimension (multiple of 4), the values and the rows asked for', () => {
    const random = seededRandom(7).next;
    for (const dimension of [4, 8, 100, 384, 1536]) {
      const rows = 300;
      const kernel = DotKernel.create(dimension, rows, rows);
      assert.ok(kernel, `a kernel for ${dimension} dimensions (WebAssembly SIMD on this Node)`);
      // Values of very different sizes, negative zeros and zeros: rounding must match step by step.
      for (let i = 0; i < kernel.data.length; i++) kernel.data[i] = i % 97 === 0 ? -0 : i % 89 === 0 ? 0 : (random() - 0.5) * 10 ** Math.floor(random() * 8 - 4);
      const query = Float32Array.from({ length: dimension }, () => (random() - 0.5) * 10 ** Math.floor(random() * 6 - 3));
      for (const [first, count] of [[0, rows], [17, 5], [rows - 1, 1], [40, 0]] as const) {
        const products = kernel.dots(query, first, count);
        assert.equal(products.length, count);
        for (let i = 0; i < count; i++) {
          assert.ok(Object.is(products[i], dot(query, 0, kernel.data, (first + i) * dimension, dimension)), `${dimension} dimensions, row ${first + i}: ${products[i]}`);
        }
      }
    }
  });

  it('declines dimensions that are not a multiple of 4, and refuses rows outside its memory', () => {
    assert.equal(DotKernel.create(10, 5, 5), undefined);
    assert.equal(DotKernel.create(0, 5, 5), undefined);
    const kernel = DotKernel.create(8, 10, 4);
    assert.ok(kernel);
    assert.throws(() => kernel.dots(new Float32Array(8), 8, 3), RangeError);
    assert.throws(() => kernel.dots(new Float32Array(8), 0, 5), RangeError);
  });
});
