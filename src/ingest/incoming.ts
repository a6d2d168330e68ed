/**
 * `DATA_INGESTED_PATH/.incoming/`: where an upload is streamed before it is stored as
 * `UPL-YYYY-NNNN.csv`. A part file is named for the process receiving it
 * (`<pid>@<host>.<uuid>.part`), so one left by a killed server can be told from one another
 * server is still receiving: it is abandoned when its process is gone from this host, or when
 * nobody has written to it for an hour.
 */
import { randomUUID } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { processAlive } from '../util/process.js';

export const INCOMING_DIR = '.incoming';

/** An upload idle this long is abandoned whoever receives it. */
const ABANDONED_AFTER_MS = 60 * 60 * 1000;

const PART = /^(\d+)@(.+)\.[0-9a-f-]{36}\.part$/;

export function incomingDir(dataIngestedPath: string): string {
  return path.join(dataIngestedPath, INCOMING_DIR);
}

/** A new part file name for an upload this process receives. */
export function newPartFile(dataIngestedPath: string): string {
  return path.join(incomingDir(dataIngestedPath), `${process.pid}@${encodeURIComponent(hostname())}.${randomUUID()}.part`);
}

/** Part files of uploads nobody is receiving any more (names); reads only. */
export async function abandonedParts(dataIngestedPath: string, now = Date.now()): Promise<string[]> {
  const dir = incomingDir(dataIngestedPath);
  const found: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.part')) continue;
    const st = await stat(path.join(dir, name)).catch(() => undefined);
    if (!st) continue;
    const m = PART.exec(name);
    const ownerGone = m !== null && decodeURIComponent(m[2] ?? '') === hostname() && Number(m[1]) !== process.pid && !processAlive(Number(m[1]));
    if (ownerGone || now - st.mtimeMs > ABANDONED_AFTER_MS) found.push(name);
  }
  return found;
}

/** Removes part files of uploads nobody is receiving any more; returns their names. */
export async function removeAbandonedParts(dataIngestedPath: string, now = Date.now()): Promise<string[]> {
  const names = await abandonedParts(dataIngestedPath, now);
  for (const name of names) await rm(path.join(incomingDir(dataIngestedPath), name), { force: true });
  return names;
}
