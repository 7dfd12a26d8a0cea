import { describe, expect, it } from 'vitest';
import { LeaseBook, type LeaseRun, type TaskRequest } from '../machines/index.js';

const run = (id: string, attempt = 1): LeaseRun => ({ request: { id } as TaskRequest, attempt });
const ids = (runs: Array<LeaseRun | undefined>) => runs.map((r) => r?.request.id);

describe('LeaseBook', () => {
  it('should create a lease waiting for a worker, then grant it one from a time', () => {
    const book = new LeaseBook<string>();
    const lease = book.create('L1', 5000);
    expect(lease).toMatchObject({ leaseId: 'L1', timeoutMs: 5000, grantedAt: 0, expired: false, slot: undefined });
    expect(book.get('L1')).toBe(lease);
    expect(book.has('L1')).toBe(true);
    expect(book.grant('L1', 'worker-0', 1234)).toBe(lease);
    expect(lease).toMatchObject({ slot: 'worker-0', grantedAt: 1234 });
  });

  it('should not grant a lease it does not have', () => {
    const book = new LeaseBook<string>();
    expect(book.grant('gone', 'worker-0', 1)).toBeUndefined();
    expect(book.get('gone')).toBeUndefined();
  });

  it('should keep waiting runs in order, a requeued one at the front', () => {
    const book = new LeaseBook<string>();
    const lease = book.create('L1', 1000);
    book.enqueue(lease, run('a'));
    book.enqueue(lease, run('b'));
    book.requeueFront(lease, run('r', 2));
    expect(book.pendingCount(lease)).toBe(3);
    const first = book.takeRun(lease);
    expect(first).toEqual(run('r', 2));
    expect(ids([book.takeRun(lease), book.takeRun(lease), book.takeRun(lease)])).toEqual(['a', 'b', undefined]);
    expect(book.pendingCount(lease)).toBe(0);
  });

  it('should cancel a waiting run on whichever lease has it, keeping the rest in order', () => {
    const book = new LeaseBook<string>();
    const one = book.create('L1', 1000);
    const two = book.create('L2', 1000);
    book.enqueue(one, run('a'));
    for (const id of ['b', 'c', 'd']) book.enqueue(two, run(id));
    expect(book.cancelRun('c')?.request.id).toBe('c');
    expect(book.cancelRun('c')).toBeUndefined();
    expect(book.cancelRun('nowhere')).toBeUndefined();
    expect(ids([book.takeRun(one), book.takeRun(one)])).toEqual(['a', undefined]);
    expect(ids([book.takeRun(two), book.takeRun(two), book.takeRun(two)])).toEqual(['b', 'd', undefined]);
  });

  it('should keep an expired lease, holding no worker, until it is removed', () => {
    const book = new LeaseBook<string>();
    const lease = book.create('L1', 1000);
    book.grant('L1', 'worker-0', 10);
    expect(book.anyActive).toBe(true);
    book.expire(lease);
    expect(lease).toMatchObject({ expired: true, slot: undefined, grantedAt: 10 });
    expect(book.get('L1')).toBe(lease);
    // An expired lease holds no worker: a draining pool does not wait for its owner.
    expect(book.anyActive).toBe(false);
    expect(book.size).toBe(1);
    expect(book.remove('L1')).toBe(lease);
    expect(book.remove('L1')).toBeUndefined();
    expect(book.size).toBe(0);
  });

  it('should count a lease still waiting for a worker as active', () => {
    const book = new LeaseBook<string>();
    expect(book.anyActive).toBe(false);
    book.create('L1', 1000);
    expect(book.anyActive).toBe(true);
  });

  it('should leave waiting runs to take after a lease is removed, and list ids as a copy', () => {
    const book = new LeaseBook<string>();
    const lease = book.create('L1', 1000);
    book.create('L2', 1000);
    book.enqueue(lease, run('a'));
    const listed = book.ids();
    for (const id of listed) book.remove(id);
    expect(listed).toEqual(['L1', 'L2']);
    expect(book.size).toBe(0);
    expect(book.takeRun(lease)?.request.id).toBe('a');
  });
});
