// The policy in force, replaced atomically: readers take one Policy object per decision, so a
// decision never mixes two rule sets. Listeners call back when it changes (to re-check open
// connections). No I/O.

import type { IPAddress } from './address.ts';
import { type OwnListener, Policy } from './engine.ts';
import type { Action, Rule } from './rule.ts';

export class CurrentPolicy {
  private policy: Policy;
  private own: readonly OwnListener[] = [];
  private local: readonly IPAddress[] = [];
  private readonly listeners: ((p: Policy) => void)[] = [];
  private generationCount = 1;

  constructor(rules: readonly Rule[], defaultAction: Action) {
    this.policy = new Policy(rules, { defaultAction });
  }

  get(): Policy {
    return this.policy;
  }

  get generation(): number {
    return this.generationCount;
  }

  onChange(cb: (p: Policy) => void): void {
    this.listeners.push(cb);
  }

  /** Installs a new rule set (keeping the known own listeners) and notifies. */
  replace(rules: readonly Rule[], defaultAction: Action): void {
    this.install(new Policy(rules, { defaultAction, ownListeners: this.own, localAddresses: this.local }));
  }

  /** Records the datapath's own listening sockets (known once they are bound). */
  setOwnListeners(own: readonly OwnListener[], local: readonly IPAddress[]): void {
    this.own = own;
    this.local = local;
    this.install(
      this.policy.withOptions({
        defaultAction: this.policy.defaultAction,
        ownListeners: own,
        localAddresses: local,
      }),
    );
  }

  /** Re-runs the change callbacks without a new rule set (a rule expired). */
  recheck(): void {
    for (const cb of this.listeners) cb(this.policy);
  }

  private install(p: Policy): void {
    this.policy = p;
    this.generationCount++;
    for (const cb of this.listeners) cb(p);
  }
}
