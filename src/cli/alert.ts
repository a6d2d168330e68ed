/** `nfr alert test`: sends a test alert to every NFR_ALERT_WEBHOOK_URL and says what each answered. */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { sendTestAlert } from '../alerts/webhook.js';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { emit } from './output.js';

export function registerAlertCommands(program: Command): void {
  const alert = program.command('alert').description('webhook alerts (NFR_ALERT_WEBHOOK_URL)');
  alert
    .command('test')
    .description('send a test alert to every receiver and print what each answered (exit 7 if one did not accept it)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const result = await sendTestAlert(loadConfig().alerts, `cli@${hostname()}:${process.pid}`);
      emit(opts, result, (r) => r.answers.map((a) => `${a.ok ? 'ok  ' : 'FAIL'} ${a.receiver}: ${a.status === null ? 'no answer' : `HTTP ${a.status}`}${a.body ? ` ${a.body}` : ''}`).join('\n'));
      const failed = result.answers.filter((a) => !a.ok);
      if (failed.length > 0) {
        throw new NfrError('TOOL_FAILED', `${failed.length} of ${result.answers.length} receiver(s) did not accept the test alert: ${failed.map((a) => `${a.receiver} (${a.status ?? a.body})`).join(', ')}`, { details: { reported: opts.json === true } });
      }
    });
}
