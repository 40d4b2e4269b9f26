// Shared pieces of the @strongroom/buffer tests.
import { fileURLToPath } from 'node:url';

import { SecretBuffer } from '../src/index.js';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Child snippets run from the package folder and import its built dist/. */
export const CHILD = { cwd: PACKAGE_DIR };

export const PREAMBLE = `
import { SecretBuffer } from '@strongroom/buffer';
import * as core from '@strongroom/core-native';
`;

export const COPY_MODE = SecretBuffer.viewMode === 'copy';

