/** The built-in detectors, in scoring order (sensitive-exfil reads new-destination's state). */
import type { Detector, DetectorSettings } from './types.js';
import { newDestination } from './new-destination.js';
import { newAction } from './new-action.js';
import { rareTransition } from './rare-transition.js';
import { chainShape } from './chain-shape.js';
import { rateBurst } from './rate-burst.js';
import { loop } from './loop.js';
import { bulkAccess } from './bulk-access.js';
import { unusualPrincipal } from './unusual-principal.js';
import { credentialMisuse } from './credential-misuse.js';
import { offHours } from './off-hours.js';
import { delegationOutlives } from './delegation-outlives.js';
import { sensitiveExfil } from './sensitive-exfil.js';
import { revocationEnforced } from './revocation-enforced.js';

export function builtinDetectors(settings: DetectorSettings): Detector<any, any>[] {
  return [
    newDestination(settings),
    newAction(settings),
    rareTransition(settings),
    chainShape(settings),
    rateBurst(),
    loop(),
    bulkAccess(),
    unusualPrincipal(settings),
    credentialMisuse(settings),
    offHours(settings),
    delegationOutlives(),
    sensitiveExfil(),
    revocationEnforced(),
  ];
}

export * from './types.js';
