// The key file across nodes on one PostgreSQL server, a fresh database per case (the body is
// key-files-across-nodes.ts). More rounds of nodes booting at once than on SQLite: each round is 4
// processes creating atrest's tables in the same instant: with the schema upgrade's advisory lock
// taken out, 1 to 2 rounds of 6 failed (duplicate key in pg_type_typname_nsp_index).
import t from 'tap';
import { startPostgres } from '@atrest/testkit';
import { keyFilesAcrossNodes, postgresNodes } from './key-files-across-nodes.js';

const server = await startPostgres();
t.teardown(() => server.stop());

await keyFilesAcrossNodes(postgresNodes(server), { firstBoot: 3, schema: 8 });
