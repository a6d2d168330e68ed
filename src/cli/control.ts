/** `nfr control show ID [--as-of TIMESTAMP]`: one control now, or as it was at a moment. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { controlDetail, parseAsOf, type ControlDetail } from '../controls/detail.js';
import { resolveTarget, withClient } from '../postgres/connection.js';
import { emit, table } from './output.js';

export function registerControlCommands(program: Command): void {
  const control = program.command('control').description('look at one control: attributes, links, enrichment, history');
  control
    .command('show')
    .description('a control with its owning function and location, risk themes, enrichment and version history')
    .argument('<id>', 'the control id, e.g. AC-2')
    .option('--as-of <timestamp>', 'what the control looked like at that moment (ISO 8601, e.g. 2026-11-30T12:00:00Z)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { asOf?: string; json?: boolean }) => {
      const asOf = parseAsOf(opts.asOf);
      const config = loadConfig();
      const detail = await withClient(await resolveTarget(config), (client) => controlDetail(client, id, asOf), 'nfr control');
      emit(opts, detail, render);
    });
}

function render(d: ControlDetail): string {
  const named = (x: { id: string; name: string | null } | null) => (x ? `${x.id}${x.name ? ` (${x.name})` : ''}` : '-');
  const a = d.attributes;
  const lines = [
    `${d.control_id}  ${String(a.title ?? '')}`,
    `  as of       ${d.as_of}`,
    `  status      ${String(a.status ?? '-')}    family ${String(a.family_id ?? '-')}${a.family ? ` (${String(a.family)})` : ''}    key control ${a.key_control === null || a.key_control === undefined ? '-' : a.key_control ? 'yes' : 'no'}`,
    `  owner       ${named(d.owning_function)} at ${named(d.owning_location)}`,
  ];
  if (d.related_functions.length) lines.push(`  related     functions ${d.related_functions.map(named).join(', ')}`);
  if (d.related_locations.length) lines.push(`              locations ${d.related_locations.map(named).join(', ')}`);
  if (d.risk_themes.length) lines.push(`  risk themes ${d.risk_themes.map((t) => named(t)).join(', ')}`);
  if (a.description) lines.push('', `  ${String(a.description).replace(/\n/g, '\n  ')}`);
  if (d.enrichment) {
    lines.push('', `  summary     ${d.enrichment.summary}`, `  keywords    ${d.enrichment.keywords.join(', ')}`);
    if (d.enrichment.taxonomy_mapping.length) lines.push(`  mapped to   ${d.enrichment.taxonomy_mapping.map((m) => `${m.risk_theme_id} (${m.score.toFixed(2)})`).join(', ')}`);
  }
  lines.push('', '  history', table(['VERSION', 'FROM', 'TO', 'STATUS', 'UPLOAD', 'TITLE'], d.history.map((h) => [String(h.version_id), h.tx_from, h.tx_to ?? 'current', h.status ?? '-', h.upload_id ?? '-', h.title.length > 50 ? `${h.title.slice(0, 47)}...` : h.title])));
  return lines.join('\n');
}
