/**
 * The five context provider files of SPEC §4.1, as the sample commands write them under
 * `DIR/context/<provider>/<date>/`, and the tree type the organization generators build.
 */
import { type SampleFile, writeJsonl } from './writer.js';

export interface FunctionRecord {
  readonly id: string;
  readonly id_type: string;
  readonly id_status: string;
  readonly name: string;
  readonly out_id: readonly string[];
}

export interface LocationRecord {
  readonly id: string;
  readonly id_type: string;
  readonly location_name: readonly string[];
  readonly location_status: string;
  readonly out_id: readonly string[];
}

export interface ConsolidatedRecord {
  readonly location_id: string;
  readonly location_name: readonly string[];
  readonly location_status: string;
  readonly out_id: readonly string[];
}

export interface RiskThemeRecord {
  readonly taxonomy_id: string;
  readonly taxonomy: string;
  readonly taxonomy_description: string;
  readonly risk_theme_id: string;
  readonly risk_theme: string;
  readonly risk_theme_description: string;
  readonly risk_theme_mapping_considerations: string;
  readonly status: 'Active' | 'Expired';
  readonly parent_id: string | null;
}

export interface AssessmentUnitRecord {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly function_id: string;
  readonly location_id: string;
  readonly location_type: string;
}

/** Everything under `context/`; small enough (thousands of records) to hold in memory. */
export interface ContextData {
  readonly functions: readonly FunctionRecord[];
  readonly locations: readonly LocationRecord[];
  readonly consolidated: readonly ConsolidatedRecord[];
  readonly riskThemes: readonly RiskThemeRecord[];
  readonly assessmentUnits: readonly AssessmentUnitRecord[];
}

/** A node of an organization tree before it is flattened into provider records. */
export interface TreeNode {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly children: TreeNode[];
}

/** A flattened node: its ancestors' names (root first, itself last), depth and children's ids. */
export interface FlatNode {
  readonly node: TreeNode;
  readonly path: readonly string[];
  readonly depth: number;
  readonly childIds: readonly string[];
}

/** Depth-first, parents before children, so every file lists a parent before its children. */
export function flatten(root: TreeNode): FlatNode[] {
  const out: FlatNode[] = [];
  const visit = (node: TreeNode, parentPath: readonly string[]): void => {
    const nodePath = [...parentPath, node.name];
    out.push({ node, path: nodePath, depth: nodePath.length - 1, childIds: node.children.map((c) => c.id) });
    for (const child of node.children) visit(child, nodePath);
  };
  visit(root, []);
  return out;
}

export function functionRecords(root: TreeNode): FunctionRecord[] {
  return flatten(root).map((f) => ({ id: f.node.id, id_type: f.node.type, id_status: 'Active', name: f.node.name, out_id: f.childIds }));
}

export function locationRecords(root: TreeNode): LocationRecord[] {
  return flatten(root).map((f) => ({ id: f.node.id, id_type: f.node.type, location_name: f.path, location_status: 'Active', out_id: f.childIds }));
}

export function consolidatedRecords(root: TreeNode): ConsolidatedRecord[] {
  return flatten(root).map((f) => ({ location_id: f.node.id, location_name: f.path, location_status: 'Active', out_id: f.childIds }));
}

/** Where each provider file goes, relative to the output directory. */
export function contextPaths(date: string) {
  return {
    functions: `context/organization/${date}/functions.jsonl`,
    locations: `context/organization/${date}/locations.jsonl`,
    consolidated: `context/organization/${date}/consolidated.jsonl`,
    riskThemes: `context/risk_theme/${date}/risk_theme.jsonl`,
    assessmentUnits: `context/assessment_unit/${date}/assessment_units.jsonl`,
  } as const;
}

/** Writes the five provider files (each atomically) and returns what was written. */
export async function writeContext(outDir: string, date: string, data: ContextData): Promise<SampleFile[]> {
  const p = contextPaths(date);
  return [
    await writeJsonl(outDir, p.functions, data.functions),
    await writeJsonl(outDir, p.locations, data.locations),
    await writeJsonl(outDir, p.consolidated, data.consolidated),
    await writeJsonl(outDir, p.riskThemes, data.riskThemes),
    await writeJsonl(outDir, p.assessmentUnits, data.assessmentUnits),
  ];
}
