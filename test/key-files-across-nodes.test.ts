// The key file across nodes on one SQLite file (the body is key-files-across-nodes.ts).
import { keyFilesAcrossNodes, sqliteNodes } from './key-files-across-nodes.js';

await keyFilesAcrossNodes(sqliteNodes, { firstBoot: 2, schema: 2 });
