// Why a datagram or packet was not accepted. The core never throws on input from the network; it
// returns one of these reasons and counts it, so an attacker can only make counters grow.
export type DropReason =
  | 'malformed' // not a WireGuard message of a valid type and length
  | 'bad-mac1'
  | 'bad-mac2' // under load and no valid cookie: a cookie reply was sent instead
  | 'rate-limited' // under load, source over its handshake budget
  | 'unknown-peer' // initiation from a static key we do not know
  | 'decrypt-failed' // AEAD tag did not verify (wrong keys, tampering)
  | 'replayed-initiation' // handshake timestamp not newer than the last one seen from that peer
  | 'initiation-flood' // initiations from one peer closer than 20 ms
  | 'unknown-index' // receiver index not ours (stale session, peer restarted, garbage)
  | 'unexpected-message' // e.g. a response when no initiation is outstanding
  | 'expired-keypair' // keypair past reject-after-time or reject-after-messages
  | 'replay' // transport counter duplicate or too old
  | 'counter-too-large'
  | 'bad-inner-packet' // decrypted payload is not a valid IPv4/IPv6 packet
  | 'source-not-allowed' // inner source address is not in the sending peer's allowed IPs
  | 'low-order-key';

/** Why an outgoing inner packet was not sent. */
export type SendFailure = 'no-route' | 'no-endpoint' | 'bad-packet' | 'too-large';

/** Misuse of the API by our own code (bad config, duplicate peer): thrown, never from network input. */
export class WireGuardConfigError extends Error {
  override name = 'WireGuardConfigError';
}
