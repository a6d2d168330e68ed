/**
 * What the resident rankings (the keyword postings, the embedded index's generation) keep of each
 * control besides its vectors: the id and title a result shows, and the attributes filters look
 * at, held by column in typed arrays rather than as one object per control.
 *
 * An object per control costs about half a kilobyte in V8 (the object, a string per attribute,
 * an array for the risk themes) and gives the collector a million pointers to trace at 100,000
 * controls. Here the repeated values (status, family, owning function and location, risk themes)
 * are numbers into a dictionary of the distinct values, so a control costs its id and title
 * strings plus about 30 bytes, and a filter is decided by comparing numbers.
 */
import { matchesFilter, type FilterFields, type SearchFilter } from './types.js';

/** A control's id, title and filter attributes, as a result row shows them. */
export interface ControlAttributes extends FilterFields {
  readonly control_id: string;
  readonly title: string;
}

/** Distinct strings numbered from 1 in the order first met; 0 stands for null. */
class Dictionary {
  readonly values: string[] = [];
  readonly #codes = new Map<string, number>();

  code(value: string | null): number {
    if (value === null) return 0;
    let c = this.#codes.get(value);
    if (c === undefined) {
      this.values.push(value);
      c = this.values.length;
      this.#codes.set(value, c);
    }
    return c;
  }

  value(code: number): string | null {
    return code === 0 ? null : (this.values[code - 1] as string);
  }

  /** The codes of `wanted` that exist (a value never seen admits nothing). */
  codes(wanted: readonly string[]): Set<number> {
    const out = new Set<number>();
    for (const w of wanted) {
      const c = this.#codes.get(w);
      if (c !== undefined) out.add(c);
    }
    return out;
  }

  get bytes(): number {
    let b = 0;
    for (const v of this.values) b += 64 + 2 * v.length;
    return b;
  }
}

/** Rows are added in order by {@link AttributeTable.builder}, up to the capacity given. */
export class AttributeTableBuilder {
  readonly #ids: string[] = [];
  readonly #titles: string[] = [];
  readonly #status: Uint32Array;
  readonly #family: Uint32Array;
  readonly #fn: Uint32Array;
  readonly #location: Uint32Array;
  /** -1 null, 0 false, 1 true. */
  readonly #key: Int8Array;
  /** Row r's risk themes are #themes[#themeStart[r] .. #themeStart[r + 1]). */
  readonly #themeStart: Uint32Array;
  #themes = new Uint32Array(1024);
  #themeCount = 0;
  readonly #dicts = { status: new Dictionary(), family: new Dictionary(), fn: new Dictionary(), location: new Dictionary(), theme: new Dictionary() };

  constructor(readonly capacity: number) {
    this.#status = new Uint32Array(capacity);
    this.#family = new Uint32Array(capacity);
    this.#fn = new Uint32Array(capacity);
    this.#location = new Uint32Array(capacity);
    this.#key = new Int8Array(capacity);
    this.#themeStart = new Uint32Array(capacity + 1);
  }

  get size(): number {
    return this.#ids.length;
  }

  add(a: ControlAttributes): void {
    const r = this.#ids.length;
    if (r >= this.capacity) throw new Error(`attribute table: more than the ${this.capacity} rows it was sized for`);
    const d = this.#dicts;
    this.#ids.push(a.control_id);
    this.#titles.push(a.title);
    this.#status[r] = d.status.code(a.status);
    this.#family[r] = d.family.code(a.family_id);
    this.#fn[r] = d.fn.code(a.owning_function_id);
    this.#location[r] = d.location.code(a.owning_location_id);
    this.#key[r] = a.key_control === null ? -1 : a.key_control ? 1 : 0;
    for (const t of a.risk_theme_ids) {
      if (this.#themeCount === this.#themes.length) {
        const grown = new Uint32Array(this.#themes.length * 2);
        grown.set(this.#themes);
        this.#themes = grown;
      }
      this.#themes[this.#themeCount++] = d.theme.code(t);
    }
    this.#themeStart[r + 1] = this.#themeCount;
  }

  /** Estimated bytes per row of the rows added so far (the strings, the columns, the themes). */
  get bytesPerRow(): number {
    const n = this.#ids.length;
    if (n === 0) return 0;
    let strings = 0;
    for (let r = 0; r < n; r++) strings += 48 + (this.#ids[r] as string).length + (this.#titles[r] as string).length;
    return strings / n + 8 * 2 + 21 + (this.#themeCount * 4) / n;
  }

  /** The table of the rows added (its arrays trimmed to them). */
  finish(): AttributeTable {
    const n = this.#ids.length;
    const trim = <T extends Uint32Array | Int8Array>(a: T, length: number): T => (a.length === length ? a : (a.slice(0, length) as T));
    return new AttributeTable(
      this.#ids,
      this.#titles,
      trim(this.#status, n),
      trim(this.#family, n),
      trim(this.#fn, n),
      trim(this.#location, n),
      trim(this.#key, n),
      trim(this.#themeStart, n + 1),
      trim(this.#themes, this.#themeCount),
      this.#dicts,
    );
  }
}

export class AttributeTable {
  constructor(
    private readonly ids: readonly string[],
    private readonly titles: readonly string[],
    private readonly status: Uint32Array,
    private readonly family: Uint32Array,
    private readonly fn: Uint32Array,
    private readonly location: Uint32Array,
    private readonly key: Int8Array,
    private readonly themeStart: Uint32Array,
    private readonly themes: Uint32Array,
    private readonly dicts: { status: Dictionary; family: Dictionary; fn: Dictionary; location: Dictionary; theme: Dictionary },
  ) {}

  static builder(capacity: number): AttributeTableBuilder {
    return new AttributeTableBuilder(capacity);
  }

  get size(): number {
    return this.ids.length;
  }

  controlId(row: number): string {
    return this.ids[row] as string;
  }

  /** Row `row` as an object (a result's attributes). */
  row(row: number): ControlAttributes {
    const d = this.dicts;
    const themes: string[] = [];
    for (let i = this.themeStart[row] as number; i < (this.themeStart[row + 1] as number); i++) themes.push(d.theme.value(this.themes[i] as number) as string);
    const key = this.key[row] as number;
    return {
      control_id: this.ids[row] as string,
      title: this.titles[row] as string,
      status: d.status.value(this.status[row] as number),
      family_id: d.family.value(this.family[row] as number),
      owning_function_id: d.fn.value(this.fn[row] as number),
      owning_location_id: d.location.value(this.location[row] as number),
      key_control: key === -1 ? null : key === 1,
      risk_theme_ids: themes,
    };
  }

  /**
   * Per row, 1 when it passes `filter` and 0 when not; decided on the codes, as matchesFilter()
   * decides on the strings (a test checks the two agree).
   */
  admitted(filter: SearchFilter): { rows: Uint8Array; count: number } {
    const n = this.ids.length;
    const d = this.dicts;
    const conds: ((r: number) => boolean)[] = [];
    const list = (want: readonly string[] | undefined, dict: Dictionary, codes: Uint32Array) => {
      if (want === undefined || want.length === 0) return;
      const set = dict.codes(want);
      conds.push((r) => set.has(codes[r] as number));
    };
    list(filter.status, d.status, this.status);
    list(filter.family_id, d.family, this.family);
    list(filter.owning_function_id, d.fn, this.fn);
    list(filter.owning_location_id, d.location, this.location);
    if (filter.key_control !== undefined) {
      const want = filter.key_control ? 1 : 0;
      conds.push((r) => this.key[r] === want);
    }
    if (filter.risk_theme_id !== undefined && filter.risk_theme_id.length > 0) {
      const set = d.theme.codes(filter.risk_theme_id);
      conds.push((r) => {
        for (let i = this.themeStart[r] as number; i < (this.themeStart[r + 1] as number); i++) if (set.has(this.themes[i] as number)) return true;
        return false;
      });
    }
    const rows = new Uint8Array(n);
    let count = 0;
    outer: for (let r = 0; r < n; r++) {
      for (const c of conds) if (!c(r)) continue outer;
      rows[r] = 1;
      count++;
    }
    return { rows, count };
  }

  /** Whether row `row` passes `filter` (the object way, for a few rows). */
  matches(row: number, filter: SearchFilter): boolean {
    return matchesFilter(this.row(row), filter);
  }

  /** Estimated memory: the strings (V8 one-byte strings with their headers), the arrays and dictionaries. */
  get bytes(): number {
    let strings = 0;
    for (const s of this.ids) strings += 24 + s.length;
    for (const s of this.titles) strings += 24 + s.length;
    const d = this.dicts;
    return strings + 8 * 2 * this.ids.length + this.status.byteLength * 4 + this.key.byteLength + this.themeStart.byteLength + this.themes.byteLength + d.status.bytes + d.family.bytes + d.fn.bytes + d.location.bytes + d.theme.bytes;
  }
}
