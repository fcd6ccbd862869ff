/**
 * Chooses the next piece to fetch and from which parent. Pure: no I/O.
 *
 * Rule: look at the lowest-numbered pieces that are wanted (not held, not in
 * flight, digest known so they can be verified) and available at some parent
 * with a free request slot, up to `window` of them; take the rarest (fewest
 * parents hold it, so scarce pieces spread first), ties to the lowest number
 * (so in-order readers get bytes early). Within that piece, the parent with
 * the fewest requests in flight.
 */
export interface PickerParent {
  id: string;
  has(n: number): boolean;
  inFlight: number;
  /** A parent in back-off after a refusal is skipped until this time. */
  coolUntil: number;
}

export interface PickerState {
  pieceCount: number;
  held(n: number): boolean;
  inFlight(n: number): boolean;
  digestKnown(n: number): boolean;
  parents: PickerParent[];
  perParentLimit: number;
  now: number;
  /** Where to start looking (the first piece not held), to skip scanning held ones. */
  from: number;
}

export interface Pick {
  piece: number;
  parent: PickerParent;
}

export function pickPiece(state: PickerState, window = 16): Pick | undefined {
  const usable = state.parents.filter((p) => p.inFlight < state.perParentLimit && p.coolUntil <= state.now);
  if (usable.length === 0) return undefined;
  let best: { piece: number; holders: PickerParent[] } | undefined;
  let seen = 0;
  for (let n = state.from; n < state.pieceCount && seen < window; n++) {
    if (state.held(n) || state.inFlight(n) || !state.digestKnown(n)) continue;
    const holders = usable.filter((p) => p.has(n));
    if (holders.length === 0) continue;
    seen++;
    if (!best || holders.length < best.holders.length) best = { piece: n, holders };
  }
  if (!best) return undefined;
  let parent = best.holders[0]!;
  for (const p of best.holders) if (p.inFlight < parent.inFlight) parent = p;
  return { piece: best.piece, parent };
}
