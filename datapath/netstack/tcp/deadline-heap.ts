// A binary min-heap of items keyed by their next deadline, indexed so that an item's key can be
// changed or the item removed in O(log n). The stack keeps every connection that has a timer armed
// here, so a tick visits only the connections whose deadline has come — not every connection (with
// thousands of idle or closing connections, scanning all of them every 10 ms was the tick's cost).
// Each item carries its own position (`heapIndex`, -1 when not queued) and key (`heapKey`): no side
// map, no stale entries, and an item removed from the heap is not kept alive by it.

export interface HeapItem {
  /** Position in the heap array, -1 when not queued. Owned by the heap. */
  heapIndex: number;
  /** The deadline it is queued for (ms). Owned by the heap. */
  heapKey: number;
}

export class DeadlineHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Queues `item` for `deadline`, moving it if it was queued for another; -1 removes it. */
  set(item: T, deadline: number): void {
    if (deadline === -1) {
      this.remove(item);
      return;
    }
    const i = item.heapIndex;
    if (i === -1) {
      item.heapKey = deadline;
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
      return;
    }
    if (item.heapKey === deadline) return;
    const earlier = deadline < item.heapKey;
    item.heapKey = deadline;
    if (earlier) this.up(i);
    else this.down(i);
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i === -1) return;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
  }

  /** The earliest deadline queued, or -1. */
  peekKey(): number {
    return this.items.length === 0 ? -1 : this.items[0].heapKey;
  }

  /** Removes and returns the earliest item if its deadline is at or before `now`, else null. */
  popDue(now: number): T | null {
    if (this.items.length === 0 || this.items[0].heapKey > now) return null;
    const top = this.items[0];
    this.remove(top);
    return top;
  }

  private up(i: number): void {
    const a = this.items;
    const x = a[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].heapKey <= x.heapKey) break;
      a[i] = a[p];
      a[i].heapIndex = i;
      i = p;
    }
    a[i] = x;
    x.heapIndex = i;
  }

  private down(i: number): void {
    const a = this.items;
    const n = a.length;
    const x = a[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1].heapKey < a[c].heapKey) c++;
      if (a[c].heapKey >= x.heapKey) break;
      a[i] = a[c];
      a[i].heapIndex = i;
      i = c;
    }
    a[i] = x;
    x.heapIndex = i;
  }
}
