/** Input checks shared by the schedulers; each message names the value received and what is allowed. */

/** Throws unless `value` is one of `allowed`; `what` names the config key. */
export function requireSupported<T>(what: string, value: T, allowed: readonly T[], why = ''): void {
  if (!allowed.includes(value)) {
    throw new Error(`${what} = ${JSON.stringify(value)} is not supported; allowed: ${allowed.map((a) => JSON.stringify(a)).join(', ')}${why ? ` (${why})` : ''}.`);
  }
}

/** Throws unless every array has the length of the first one. */
export function requireSameLength(arrays: Record<string, ArrayLike<number>>): void {
  const entries = Object.entries(arrays);
  const [firstName, first] = entries[0];
  for (const [name, array] of entries.slice(1)) {
    if (array.length !== first.length) {
      throw new Error(`${name} has ${array.length} values but ${firstName} has ${first.length}; they must be the same tensor shape.`);
    }
  }
}

/** Throws unless `n` is a whole number of inference steps in 1..numTrainTimesteps. */
export function requireStepCount(n: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(n) || n < 1 || n > numTrainTimesteps) {
    throw new Error(`numInferenceSteps = ${n} is invalid; use a whole number from 1 to num_train_timesteps (${numTrainTimesteps}).`);
  }
}

/** The message every scheduler throws when `step` comes before `setTimesteps`. */
export function missingTimestepsError(schedulerName: string): Error {
  return new Error(`${schedulerName}.step was called before setTimesteps; call setTimesteps(numInferenceSteps) before each denoising run.`);
}
