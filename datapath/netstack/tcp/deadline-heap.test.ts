import assert from 'node:assert/strict';
import { it } from 'node:test';
import { seededRandom } from '../../../e2e/testing/seeded-random.ts';
import { DeadlineHeap, type HeapItem } from './deadline-heap.ts';

interface Item extends HeapItem {
  id: number;
}

it('pops items in deadline order through 20,000 random sets, moves and removals (checked against a plain model)', () => {
  const random = seededRandom(7);
  const heap = new DeadlineHeap<Item>();
  const items: Item[] = Array.from({ length: 300 }, (_, id) => ({ id, heapIndex: -1, heapKey: -1 }));
  const model = new Map<number, number>(); // id → deadline
  let now = 0;
  for (let step = 0; step < 20_000; step++) {
    const it = items[Math.floor(random() * items.length)];
    const r = random();
    if (r < 0.6) {
      const d = now + Math.floor(random() * 1000);
      heap.set(it, d);
      model.set(it.id, d);
    } else if (r < 0.75) {
      heap.set(it, -1);
      model.delete(it.id);
    } else if (r < 0.85) {
      heap.remove(it);
      model.delete(it.id);
    } else {
      now += Math.floor(random() * 50);
      const popped: Item[] = [];
      for (let x = heap.popDue(now); x !== null; x = heap.popDue(now)) popped.push(x);
      const expected = [...model].filter(([, d]) => d <= now);
      assert.equal(popped.length, expected.length, 'exactly the due items');
      for (let i = 1; i < popped.length; i++)
        assert.ok(popped[i - 1].heapKey <= popped[i].heapKey, 'in order');
      for (const p of popped) {
        assert.equal(p.heapKey, model.get(p.id));
        assert.equal(p.heapIndex, -1);
        model.delete(p.id);
      }
    }
    assert.equal(heap.size, model.size);
    const min = model.size === 0 ? -1 : Math.min(...model.values());
    assert.equal(heap.peekKey(), min);
  }
});

it('an item not due is not popped, however many are queued', () => {
  const heap = new DeadlineHeap<Item>();
  for (let id = 0; id < 10_000; id++) heap.set({ id, heapIndex: -1, heapKey: -1 }, 60_000 + id);
  assert.equal(heap.popDue(59_999), null);
  assert.equal(heap.size, 10_000);
  assert.equal(heap.popDue(60_000)?.id, 0);
});
