import { beforeEach, describe } from 'vitest';
import type { ApprovalStore, DeliveryStore, LockStore, RunStore, SequenceStore } from '../../../src/domain/ports.js';
import { useDynalite } from '../../support/dynalite.js';
import {
  MemoryApprovalStore,
  MemoryDeliveryStore,
  MemoryLockStore,
  MemoryRunStore,
  MemorySequenceStore,
} from '../../support/memory-stores.js';

export interface Stores {
  runs: RunStore;
  locks: LockStore;
  approvals: ApprovalStore;
  deliveries: DeliveryStore;
  sequences: SequenceStore;
}

/**
 * Runs one contract suite against both implementations of the store ports: the DynamoDB adapters on
 * dynalite (one server per file, fresh tables per test) and the in-memory fakes (new per test). A
 * case that passes on one and fails on the other is a fake that lies about the adapter.
 */
export function storeContract(name: string, suite: (stores: () => Stores) => void): void {
  describe(`${name}: DynamoDB adapter on dynalite`, () => {
    const dynamo = useDynalite();
    suite(() => dynamo.stores);
  });
  describe(`${name}: in-memory fake`, () => {
    let stores: Stores;
    beforeEach(() => {
      stores = {
        runs: new MemoryRunStore(),
        locks: new MemoryLockStore(),
        approvals: new MemoryApprovalStore(),
        deliveries: new MemoryDeliveryStore(),
        sequences: new MemorySequenceStore(),
      };
    });
    suite(() => stores);
  });
}
