import { runMain } from '@taskstream/platform';
import { createRecurringService } from './index.js';

await runMain([createRecurringService]);
