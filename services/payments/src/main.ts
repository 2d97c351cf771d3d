import { runMain } from '@taskstream/platform';
import { createPaymentsService } from './index.js';

await runMain([createPaymentsService]);
