/**
 * Parent scoring, pure: the same inputs always give the same score.
 *
 *   score = 0.6·load + 0.2·IDC + 0.1·location + 0.1·host type
 *
 * - load = ½·(free upload slots / upload limit) + ½·(pieces held / piece count):
 *   an idle parent that already has much of the content serves a child fastest.
 * - IDC = 1 when both hosts name the same IDC (case-insensitive), else 0.
 * - location = shared leading elements of "country|province|city|…" divided by
 *   5 (1 when equal), as Dragonfly's calculateMultiElementAffinityScore.
 * - host type = 1 for a seed peer (it has, or is fetching, the whole content).
 *
 * The weights are those of SPEC.md §5; the affinity functions follow Dragonfly
 * (dragonflyoss/Dragonfly2 scheduler/scheduling/evaluator/evaluator_base.go).
 */

/** Weights of the score's four terms (they sum to 1). */
export const LOAD_WEIGHT = 0.6;
/** See {@link LOAD_WEIGHT}. */
export const IDC_WEIGHT = 0.2;
/** See {@link LOAD_WEIGHT}. */
export const LOCATION_WEIGHT = 0.1;
/** See {@link LOAD_WEIGHT}. */
export const HOST_TYPE_WEIGHT = 0.1;
/** Location labels compare at most this many '|'-separated elements. */
export const MAX_LOCATION_ELEMENTS = 5;

/** What the evaluator reads about a candidate parent. */
export interface CandidateView {
  isSeed: boolean;
  freeUploadSlots: number;
  uploadLimit: number;
  /** Pieces held / piece count, in [0, 1]. */
  heldRatio: number;
  idc: string;
  location: string;
}

/** What the evaluator reads about the child being scheduled. */
export interface ChildView {
  idc: string;
  location: string;
}

/** The parent's score for this child, in [0, 1]; higher is better. */
export function score(parent: CandidateView, child: ChildView): number {
  return (
    LOAD_WEIGHT * loadScore(parent) +
    IDC_WEIGHT * idcAffinity(parent.idc, child.idc) +
    LOCATION_WEIGHT * locationAffinity(parent.location, child.location) +
    HOST_TYPE_WEIGHT * (parent.isSeed ? 1 : 0)
  );
}

/** ½·free upload slot ratio + ½·held piece ratio, each clamped to [0, 1]. */
export function loadScore(parent: CandidateView): number {
  const free =
    parent.uploadLimit > 0 ? Math.max(0, Math.min(1, parent.freeUploadSlots / parent.uploadLimit)) : 0;
  const held = Math.max(0, Math.min(1, parent.heldRatio));
  return 0.5 * free + 0.5 * held;
}

/** 1 when both IDC labels are set and equal (case-insensitive), else 0. */
export function idcAffinity(a: string, b: string): number {
  if (a === '' || b === '') return 0;
  return a.toLowerCase() === b.toLowerCase() ? 1 : 0;
}

/** Shared leading '|'-separated elements / 5; 1 when equal; 0 when either is empty. */
export function locationAffinity(a: string, b: string): number {
  if (a === '' || b === '') return 0;
  if (a.toLowerCase() === b.toLowerCase()) return 1;
  const left = a.toLowerCase().split('|');
  const right = b.toLowerCase().split('|');
  const length = Math.min(left.length, right.length, MAX_LOCATION_ELEMENTS);
  let shared = 0;
  while (shared < length && left[shared] === right[shared]) shared++;
  return shared / MAX_LOCATION_ELEMENTS;
}
