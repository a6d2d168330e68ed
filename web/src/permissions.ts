/** What each role may do (README, HTTP API: restore, delete, prune and undo need admin). */
export type Role = 'reader' | 'operator' | 'admin';

const RANK: Record<Role, number> = { reader: 1, operator: 2, admin: 3 };

export const ACTIONS = {
  verify: 'reader',
  deepVerify: 'operator',
  create: 'operator',
  upload: 'operator',
  ingestContext: 'operator',
  indexSync: 'operator',
  restore: 'admin',
  undo: 'admin',
  delete: 'admin',
  prune: 'admin',
  cancelJob: 'operator',
  changeSchedules: 'admin',
  viewAudit: 'admin',
} as const satisfies Record<string, Role>;

export type Action = keyof typeof ACTIONS;

/** null when the role may take the action, else the reason it may not, for a disabled control. */
export function deniedReason(role: Role, action: Action): string | null {
  const needed = ACTIONS[action];
  return RANK[role] >= RANK[needed] ? null : `Needs the ${needed} role; your token has ${role}.`;
}
