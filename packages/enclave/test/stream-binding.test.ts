// EnclaveStream chunk binding on the native backend (the suite: stream-binding.suite.ts).
import { describe } from 'vitest';

import { bindingSuite } from './stream-binding.suite.js';

describe('EnclaveStream chunks are bound to their stream and place (native backend)', bindingSuite);
