/** Parsers for flag values, so every integer flag is refused the same way (exit 64, naming the flag). */
import { NfrError } from '../errors.js';

/**
 * An integer flag from `min` to `max`, given as decimal digits only (no sign, no exponent, no
 * spaces); `what` says what is expected when the range alone does not (a port number).
 */
export function intFlag(flag: string, min: number, max: number = Number.MAX_SAFE_INTEGER, what?: string): (value: string) => number {
  const expected = what ?? (max === Number.MAX_SAFE_INTEGER ? `a whole number${min > 0 ? ` of at least ${min}` : ''}` : `an integer from ${min} to ${max}`);
  return (value: string) => {
    const n = Number(value);
    if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) throw new NfrError('USAGE', `${flag} ${value}: expected ${expected}`);
    return n;
  };
}
