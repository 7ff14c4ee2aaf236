// @atrest/testkit public API.
export { runProviderConformance } from './conformance.js';
export type { ConformanceOptions } from './conformance.js';
export { createTestTls } from './tls.js';
export type { TestTls } from './tls.js';
