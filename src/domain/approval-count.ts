/**
 * The two-person rule: an approval needs `required` distinct people. Each approval is one conditional
 * update of the approval record (ApprovalStore.addApproval), made against the count the approver saw;
 * when another approver got there first the count moved, the write is refused, and the approval is
 * tried again against the new count. So the Nth distinct person, and only they, flips it to approved.
 */
import type { ApprovalGrant, ApprovalRecord, ApprovalStore, DecideResult } from './ports.js';
import type { StageApproval } from './run.js';

/** Approvals recorded so far and how many are needed (records from before the rule need one). */
export function approvalProgress(approval: Pick<ApprovalRecord, 'required' | 'approvals'>): {
  approvals: ApprovalGrant[];
  required: number;
} {
  return { approvals: approval.approvals ?? [], required: approval.required ?? 1 };
}

/** Whether any of `ids` (one person's identities) already approved. */
export function alreadyApproved(approval: Pick<ApprovalRecord, 'approverIds'>, ids: readonly string[]): boolean {
  const seen = new Set(approval.approverIds ?? []);
  return ids.some((id) => seen.has(id));
}

export type ApprovalOutcome =
  /** Counted, and more approvers are needed: the run keeps waiting. */
  | { outcome: 'recorded'; approval: ApprovalRecord }
  /** Counted, and it was the last one needed: the approval is approved. */
  | { outcome: 'approved'; approval: ApprovalRecord }
  /** This person had already approved; nothing changed. */
  | { outcome: 'duplicate'; approval: ApprovalRecord }
  /** Decided, expired or superseded meanwhile (or gone): nothing changed. */
  | { outcome: 'closed'; approval: ApprovalRecord | undefined };

/** Tries against a moving count this often; each retry means another approver's write landed. */
const MAX_ATTEMPTS = 12;

/**
 * Records `grant` (one person, by every identity they have) on a pending approval. `current` is the
 * record as the caller read it.
 */
export async function recordApproval(
  store: ApprovalStore,
  current: ApprovalRecord,
  grant: { by: string; ids: string[] },
  now: Date,
): Promise<ApprovalOutcome> {
  let record: ApprovalRecord | undefined = current;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (record?.status !== 'pending' || record.expiresAt <= Math.floor(now.getTime() / 1000))
      return { outcome: 'closed', approval: record };
    if (alreadyApproved(record, grant.ids)) return { outcome: 'duplicate', approval: record };
    const { approvals, required } = approvalProgress(record);
    const completes = approvals.length + 1 >= required;
    const result: DecideResult = await store.addApproval(
      record.id,
      grant,
      { expected: approvals.length, completes },
      now,
    );
    if (result.decided) return { outcome: completes ? 'approved' : 'recorded', approval: result.approval };
    record = result.approval;
  }
  // Only a storm of concurrent approvals gets here; nothing was recorded for this person.
  return { outcome: 'closed', approval: record };
}

/** The approval as the run record and its JSON show it: status, who decided, and who approved so far. */
export function stageApprovalView(
  approval: ApprovalRecord,
  extra: { by?: string; at?: string; reason?: string } = {},
): StageApproval {
  const { approvals, required } = approvalProgress(approval);
  return {
    id: approval.id,
    status: approval.status,
    ...(extra.by ? { by: extra.by } : {}),
    ...(extra.at ? { at: extra.at } : {}),
    ...(extra.reason ? { reason: extra.reason } : {}),
    required,
    approvals: approvals.map((grant) => ({ by: grant.by, at: grant.at })),
    ...(approval.change ? { change: approval.change } : {}),
  };
}

/** "alice@example.com and @bob": everyone who approved, for "approved by …". */
export function approverNames(approval: Pick<ApprovalRecord, 'approvals' | 'decidedBy'>): string {
  const names = (approval.approvals ?? []).map((grant) => grant.by);
  if (names.length === 0) return approval.decidedBy ?? 'someone';
  if (names.length === 1) return names[0]!;
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
