/**
 * The context of `nfr sample generate`: a function tree that grows with the number of controls,
 * a risk taxonomy of two or three levels, and assessment units (function × city) that the
 * controls are owned by. Everything comes from one seeded PRNG, in a fixed order.
 */
import type { AssessmentUnitRecord, RiskThemeRecord, TreeNode } from './context.js';
import { ASPECTS, CATEGORIES, DIVISIONS, DOMAINS, TEAM_QUALIFIERS, UNIT_TYPES } from './generate-words.js';
import type { Random } from '../util/random.js';

const LEVEL_TYPES = ['Group', 'Division', 'Department', 'Unit', 'Team'] as const;

/** About one function per 200 controls, from 20 to 20,000: sized like a real firm's chart. */
export function functionCount(controls: number): number {
  return Math.min(20_000, Math.max(20, Math.round(controls / 200)));
}

/**
 * Group → divisions → departments → units → teams. Each level's first nodes are spread over every
 * parent so the tree is as deep as the counts allow; the rest attach to random parents.
 */
export function generateFunctionTree(r: Random, total: number): TreeNode {
  const l1 = Math.min(DIVISIONS.length, Math.max(4, Math.round(total * 0.04)));
  const l2 = Math.max(l1, Math.round(total * 0.16));
  const l3 = Math.max(0, Math.min(Math.round(total * 0.3), total - 1 - l1 - l2));
  const l4 = Math.max(0, total - 1 - l1 - l2 - l3);
  const counts = [l1, l2, l3, l4];
  let next = 1;
  const makeId = () => `FN-${String(next++).padStart(6, '0')}`;
  const used = new Set<string>();
  const unique = (name: string) => {
    let candidate = name;
    for (let n = 2; used.has(candidate); n++) candidate = `${name} ${n}`;
    used.add(candidate);
    return candidate;
  };

  const root: TreeNode = { id: 'FN-000000', name: 'Group', type: LEVEL_TYPES[0], children: [] };
  used.add(root.name);
  let parents: TreeNode[] = [root];
  counts.forEach((count, level) => {
    const created: TreeNode[] = [];
    for (let i = 0; i < count; i++) {
      const parent = i < parents.length ? (parents[i] as TreeNode) : r.pick(parents);
      const name = unique(functionName(r, level + 1, parent.name, i));
      const node: TreeNode = { id: makeId(), name, type: LEVEL_TYPES[level + 1] ?? 'Team', children: [] };
      parent.children.push(node);
      created.push(node);
    }
    if (created.length > 0) parents = created;
  });
  return root;
}

function functionName(r: Random, level: number, parentName: string, i: number): string {
  if (level === 1) return DIVISIONS[i % DIVISIONS.length] as string;
  if (level === 2 || level === 3) return `${r.pick(DOMAINS)} ${r.pick(UNIT_TYPES)}`;
  return `${parentName} ${r.pick(TEAM_QUALIFIERS)}`;
}

/** Themes to generate: about 80 for small runs (69 of them fixed), growing to 200 at 600,000 controls. */
export function themeCount(controls: number): number {
  return Math.min(200, 80 + Math.floor(controls / 5000));
}

export const GENERATED_TAXONOMY = {
  taxonomy_id: 'NFR-GROUP',
  taxonomy: 'Group Non-Financial Risk Taxonomy',
  taxonomy_description: 'Level 1 risk categories, level 2 risk themes and level 3 sub-themes used to classify controls, issues and loss events across the group.',
} as const;

export interface GeneratedThemes {
  readonly records: RiskThemeRecord[];
  /** Active themes below level 1 that controls may reference, with their category's index. */
  readonly usable: readonly { readonly id: string; readonly category: number }[];
}

/** Categories (level 1) → sub-themes (level 2) → aspects (level 3); a few leaves expired and unused. */
export function generateThemes(r: Random, total: number): GeneratedThemes {
  const records: RiskThemeRecord[] = [];
  const level2: { id: string; name: string; category: number; children: number }[] = [];
  const theme = (id: string, name: string, parent: string | null, status: 'Active' | 'Expired', description: string, considerations: string): RiskThemeRecord => ({
    ...GENERATED_TAXONOMY,
    risk_theme_id: id,
    risk_theme: name,
    risk_theme_description: description,
    risk_theme_mapping_considerations: considerations,
    status,
    parent_id: parent,
  });
  CATEGORIES.forEach((c, ci) => {
    records.push(theme(`RT-${c.code}`, c.name, null, 'Active', `The risk of loss or harm arising from failures in ${c.name.toLowerCase()}.`, `A level 1 category: map controls to one of its level 2 or level 3 themes, such as ${c.subThemes[0]}.`));
    c.subThemes.forEach((s, si) => {
      const id = `RT-${c.code}-${String(si + 1).padStart(2, '0')}`;
      level2.push({ id, name: s, category: ci, children: 0 });
      records.push(theme(id, s, `RT-${c.code}`, 'Active', `The risk that ${s.toLowerCase()} is inadequate, leading to ${r.pick(['financial loss', 'regulatory censure', 'customer harm', 'service disruption', 'reputational damage'])}.`, `Map controls acting on ${r.pick(c.objects)} or ${r.pick(c.objects)}; controls that only report on ${s.toLowerCase()} belong here too.`));
    });
  });
  const usable: { id: string; category: number }[] = [];
  const level3Count = Math.max(0, total - records.length);
  for (let i = 0; i < level3Count; i++) {
    const parent = i < level2.length ? (level2[i] as (typeof level2)[number]) : r.pick(level2);
    if (parent.children >= ASPECTS.length) continue;
    const aspect = ASPECTS[parent.children++] as string;
    const id = `${parent.id}-${String(parent.children).padStart(2, '0')}`;
    // One in 16 third-level themes is expired: it stays in the file (history), but no control references it.
    const expired = i % 16 === 5;
    records.push(theme(id, `${parent.name}: ${aspect}`, parent.id, expired ? 'Expired' : 'Active', `The risk that ${aspect.toLowerCase()} for ${parent.name.toLowerCase()} fails, so that "${parent.name}" controls do not operate as designed.`, `Map controls whose main purpose concerns ${aspect.toLowerCase()} within ${parent.name.toLowerCase()}.`));
    if (!expired) usable.push({ id, category: parent.category });
  }
  for (const p of level2) usable.push({ id: p.id, category: p.category });
  return { records, usable };
}

/** 1-3 cities for each function below division level: the places its controls run from. */
export function generateAssessmentUnits(r: Random, functions: readonly { id: string; name: string; depth: number }[], cities: readonly { id: string; name: string }[]): AssessmentUnitRecord[] {
  const units: AssessmentUnitRecord[] = [];
  for (const f of functions) {
    if (f.depth < 2) continue;
    const n = r.between(1, 3);
    const chosen = new Set<number>();
    while (chosen.size < n) chosen.add(r.int(cities.length));
    for (const ci of [...chosen].sort((a, b) => a - b)) {
      const city = cities[ci] as { id: string; name: string };
      units.push({
        id: `AU-${f.id.slice(3)}-${city.id.slice(4)}`,
        name: `${f.name} ${city.name}`,
        description: `Processes and controls of ${f.name} operated from ${city.name}.`,
        function_id: f.id,
        location_id: city.id,
        location_type: 'location',
      });
    }
  }
  return units;
}
