/**
 * Generated controls: one at a time from the seeded PRNG, so any number can be streamed. Titles
 * and descriptions are composed from the category's vocabulary and templates, with commas, quotes
 * and line breaks in some of them so the CSV writer and parsers are exercised.
 */
import type { AssessmentUnitRecord } from './context.js';
import { type ControlRecord, type ControlStatus, type ControlType, type Execution, FREQUENCIES, type Frequency } from './controls-csv.js';
import { ACTIVITIES, CATEGORIES, type Category, CONDITIONS, DOCUMENTS, ESCALATIONS, FREQUENCY_WORDS, OBJECTIVES, OWNER_ROLES, REGULATIONS, STEPS, SYSTEMS, THRESHOLDS } from './generate-words.js';
import { dayString } from './options.js';
import type { Random } from '../util/random.js';

export interface ControlUniverse {
  readonly units: readonly AssessmentUnitRecord[];
  readonly functionIds: readonly string[];
  readonly functionNames: ReadonlyMap<string, string>;
  readonly locationIds: readonly string[];
  readonly themes: readonly { readonly id: string; readonly category: number }[];
  /** Days since 1970-01-01 of the sample date. */
  readonly today: number;
  readonly total: number;
}

function weighted<T>(r: Random, items: readonly (readonly [T, number])[]): T {
  let x = r.next() * items.reduce((s, [, w]) => s + w, 0);
  for (const [v, w] of items) if ((x -= w) < 0) return v;
  return (items[items.length - 1] as readonly [T, number])[0];
}

/** Up to n distinct items of a list, none equal to `except`. */
function distinct(r: Random, items: readonly string[], n: number, except?: string): string[] {
  const out: string[] = [];
  for (let tries = 0; out.length < n && tries < n * 4; tries++) {
    const v = r.pick(items);
    if (v !== except && !out.includes(v)) out.push(v);
  }
  return out;
}

const PERFORMERS = ['control owner', 'process owner', 'operations analyst', 'team lead', 'independent reviewer', 'control performer'];

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function title(r: Random, activity: string, object: string, freq: Frequency): string {
  switch (r.int(5)) {
    case 0:
      return `${FREQUENCY_WORDS[freq][0]} ${activity} of ${object}`;
    case 1:
      return cap(`${object} ${activity}`);
    case 2:
      return `${cap(activity)} of ${object} in ${r.pick(SYSTEMS)}`;
    case 3:
      return `${cap(activity)} of ${object}, ${r.pick(ACTIVITIES)[0]} and escalation`;
    default:
      return `${cap(object)} ${activity} ("${r.pick(DOCUMENTS)}")`;
  }
}

/** One to many sentences until the description reaches a length drawn from 100 B to 2 KB. */
function description(r: Random, c: Category, owner: string, verb: string, object: string, freq: Frequency, activity: string): string {
  const target = 100 + Math.floor(r.next() ** 2 * 1900);
  let text = `The ${owner} ${verb} ${object} ${FREQUENCY_WORDS[freq][1]} to ensure that ${r.pick(OBJECTIVES)}.`;
  let steps = false;
  // Tracked rather than read back with endsWith, which would flatten the growing string each time.
  let afterList = false;
  const sep = () => (afterList ? ((afterList = false), '') : ' ');
  while (text.length < target) {
    switch (r.int(7)) {
      case 0:
        text += sep() + `Evidence of each ${activity} is retained in ${r.pick(SYSTEMS)} for ${r.between(3, 10)} years.`;
        break;
      case 1:
        text += sep() + `Exceptions above ${r.pick(THRESHOLDS)} are escalated to ${r.pick(ESCALATIONS)} within ${r.between(2, 5)} business days.`;
        break;
      case 2:
        text += sep() + `Where ${r.pick(CONDITIONS)}, the ${activity} is performed by a delegate and reviewed by ${r.pick(ESCALATIONS)}.`;
        break;
      case 3:
        text += sep() + `The scope covers ${distinct(r, c.objects, 3).join(', ').replace(/, ([^,]*)$/, ' and $1')}.`;
        break;
      case 4:
        text += sep() + `The control is documented in the "${r.pick(DOCUMENTS)}" and tested by the second line ${r.pick(['annually', 'every two years', 'on a risk basis'])}.`;
        break;
      case 5: {
        if (steps) break;
        steps = true;
        const list = distinct(r, STEPS, r.between(2, 5));
        text += `\nSteps:\n${list.map((s, i) => `${i + 1}. ${cap(s)}.`).join('\n')}\n`;
        afterList = true;
        break;
      }
      default:
        text += sep() + `This mitigates the risk that ${r.pick(c.objects)} ${r.pick(['are incomplete', 'are not approved', 'are inaccurate', 'are not reviewed', 'are processed late', 'are duplicated'])}.`;
    }
  }
  return text.trimEnd();
}

/** A function that makes control number i (1-based, in order: parents refer to earlier numbers). */
export function controlFactory(r: Random, u: ControlUniverse): (i: number) => ControlRecord {
  const width = Math.max(7, String(u.total).length);
  const idOf = (i: number) => `CTL-${String(i).padStart(width, '0')}`;
  return (i) => {
    const unit = r.pick(u.units);
    const themeCount = weighted(r, [[0, 5], [1, 60], [2, 25], [3, 10]] as const);
    const themes: string[] = [];
    let category = r.int(CATEGORIES.length);
    for (let t = 0; t < themeCount; t++) {
      const theme = r.pick(u.themes);
      if (t === 0) category = theme.category;
      if (!themes.includes(theme.id)) themes.push(theme.id);
    }
    const c = CATEGORIES[category] as Category;
    const freq = r.pick(FREQUENCIES);
    const [activity, verb] = r.pick(ACTIVITIES);
    const object = r.pick(c.objects);
    const fnName = u.functionNames.get(unit.function_id) ?? unit.function_id;
    const owner = `${r.pick(OWNER_ROLES)} ${fnName}`;
    const keyControl = r.chance(0.3);
    const effective = u.today - r.between(30, 2500);
    const cycle = keyControl ? 182 : 365;
    return {
      control_id: idOf(i),
      title: title(r, activity, object, freq),
      description: description(r, c, r.pick(PERFORMERS), verb, object, freq, activity),
      parent_control_id: i > 1 && r.chance(0.1) ? idOf(r.between(1, i - 1)) : null,
      family_id: c.code,
      family: c.name,
      key_control: keyControl,
      control_type: weighted<ControlType>(r, [['preventative', 50], ['detective', 40], ['corrective', 10]]),
      execution: weighted<Execution>(r, [['manual', 40], ['automated', 30], ['semi-automated', 30]]),
      frequency: freq,
      status: weighted<ControlStatus>(r, [['active', 85], ['inactive', 5], ['draft', 6], ['retired', 4]]),
      owner,
      effective_date: dayString(effective),
      review_date: dayString(effective + cycle * Math.max(1, Math.ceil((u.today - effective) / cycle))),
      sox_relevant: r.chance(0.25),
      gdpr_relevant: r.chance(0.3),
      regulatory_references: distinct(r, REGULATIONS, r.int(4)),
      owning_function_id: unit.function_id,
      owning_location_id: unit.location_id,
      related_function_ids: distinct(r, u.functionIds, r.int(4), unit.function_id),
      related_location_ids: distinct(r, u.locationIds, r.int(4), unit.location_id),
      risk_theme_ids: themes,
    };
  };
}
