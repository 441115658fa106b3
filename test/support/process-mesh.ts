/**
 * The test meshes' view of mesh/process-mesh.ts: the same ProcessMesh, with the test process's key set
 * (test/support/keys.ts): each process gets its own key, the tests sign with theirs.
 */
import { DATA_SERVICES } from '../../mesh/catalog';
import { ProcessMesh as Mesh } from '../../mesh/process-mesh';
import { freePort } from './ports';
import { TEST_KEYS_DIR, testKeys } from './keys';

export { freePort };

/** The fourteen data services (every process but the orchestrator), in the catalog's order. */
export const MESH_SERVICES = DATA_SERVICES;

/**
 * All fourteen services and the orchestrator as real processes on loopback, each with its own test
 * database (unique names), for tests that kill and restart processes. Crashes are not restarted.
 */
export class ProcessMesh extends Mesh {
  constructor(serverUrl: string, label: string, extraEnv: Record<string, string> = {}) {
    // Four-eyes approval is on by default (orchestrator/config.ts); the test meshes erase tenants at once
    // without it, except where approval is what a test checks (it sets ORCHESTRATOR_FOUR_EYES itself).
    super(serverUrl, label, { ORCHESTRATOR_FOUR_EYES: 'off', ...extraEnv }, TEST_KEYS_DIR);
  }

  override async prepare(): Promise<void> {
    await testKeys(); // the key files exist before any process is started
    await super.prepare();
  }
}
