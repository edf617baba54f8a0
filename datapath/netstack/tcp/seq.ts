// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4). Pure.
// Comparisons look at the signed 32-bit difference, which is right as long as the two numbers are
// less than 2^31 apart — always true for numbers inside one window.

export const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
export const seqSub = (a: number, b: number): number => (a - b) | 0;
export const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
export const seqLe = (a: number, b: number): boolean => ((a - b) | 0) <= 0;
export const seqGt = (a: number, b: number): boolean => ((a - b) | 0) > 0;
export const seqGe = (a: number, b: number): boolean => ((a - b) | 0) >= 0;
export const seqMax = (a: number, b: number): number => (seqGt(a, b) ? a : b);
export const seqMin = (a: number, b: number): number => (seqLt(a, b) ? a : b);
/** a ≤ x < b, modulo 2^32. */
export const seqInRange = (x: number, a: number, b: number): boolean => seqLe(a, x) && seqLt(x, b);
