/**
 * NFR_INDEX_MEMORY_MB, for everything `nfr serve` keeps resident for search: the keyword postings
 * and the embedded index's live generation share one budget. Each holder claims its estimated
 * size before it builds; a claim replaces the holder's earlier one (a rebuild frees the old copy),
 * and one that does not fit beside the others' is refused with a message saying what does not
 * fit, what searches do instead, and what to raise. The keyword postings claim first (the server
 * builds them first): they are small, and without them keyword ranking runs in PostgreSQL.
 */

/** A holder whose data would exceed the budget: searches fall back to a slower path and say why. */
export class ResidentDoesNotFit extends Error {}

export class ResidentBudget {
  readonly #claims = new Map<string, number>();

  constructor(readonly maxBytes: number) {}

  /** Bytes claimed by holders other than `owner`. */
  others(owner: string): number {
    let sum = 0;
    for (const [o, b] of this.#claims) if (o !== owner) sum += b;
    return sum;
  }

  /**
   * Claims `bytes` for `owner`, or throws ResidentDoesNotFit naming `what`, `fallback` (what
   * searches do instead) and the sizes; the refused owner's earlier claim is released.
   */
  claim(owner: string, bytes: number, what: string, fallback: string): void {
    const others = this.others(owner);
    if (others + bytes > this.maxBytes) {
      this.#claims.delete(owner);
      const mib = (b: number) => Math.ceil(b / 1048576);
      throw new ResidentDoesNotFit(
        `${what} need about ${mib(bytes)} MiB of memory${others > 0 ? ` beside the ${mib(others)} MiB already resident` : ''}, more than NFR_INDEX_MEMORY_MB=${mib(this.maxBytes)} allows; ${fallback} (raise NFR_INDEX_MEMORY_MB to ${mib(others + bytes) + 16} or more to keep them in memory)`,
      );
    }
    this.#claims.set(owner, bytes);
  }

  release(owner: string): void {
    this.#claims.delete(owner);
  }
}

const budgets = new Map<number, ResidentBudget>();

/** The process's budget for `maxBytes` (one per setting: tests run servers with different ones). */
export function residentBudget(maxBytes: number): ResidentBudget {
  let b = budgets.get(maxBytes);
  if (!b) budgets.set(maxBytes, (b = new ResidentBudget(maxBytes)));
  return b;
}
