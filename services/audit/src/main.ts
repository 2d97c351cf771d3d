import { runMain } from '@taskstream/platform';
import { createAuditService } from './index.js';

await runMain([createAuditService]);
