import { runMain } from '@taskstream/platform';
import { createSyncService } from './index.js';

await runMain([createSyncService]);
