/** The simulator's seeded PRNG (mulberry32), for generated test inputs: the same seed, the same cases. */
export { mulberry32 as rng } from '../../src/simulate.js';
